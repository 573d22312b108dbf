/* metafile.h - synchronous access to the metadata area: where it is,
 * whole-buffer reads and writes, and creating it (blockctl create-md).
 * Used at start-up (meta.c) and offline (blockctl); never on the loop.
 */
#ifndef BLOCKD_METAFILE_H
#define BLOCKD_METAFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

bool metafile_internal(const char *spec);
uint64_t metafile_node_id(const char *name);
int metafile_dev_size(int fd, uint64_t *out);
/* Where the metadata lives for a device: descriptor, byte offset, and
 * the data bytes exported beside it. */
int metafile_locate(const char *spec, int disk_fd, uint64_t dev_bytes,
		    bool create, int *fd, bool *own, uint64_t *base,
		    uint64_t *data_bytes);
int metafile_pread(int fd, void *buf, size_t len, uint64_t off);
int metafile_pwrite(int fd, const void *buf, size_t len, uint64_t off);

/* Write fresh metadata: UUIDs "just created", every block clear. Refuses
 * existing metadata unless force. A one-line result or reason in msg. */
int metafile_create(const char *spec, const char *disk_path,
		    const char *node_name, uint32_t al_extents, bool force,
		    char *msg, size_t msglen);

#endif
