/* bufpool.h - the data-path buffer arena.
 *
 * Owns: one page-aligned arena allocated at start-up and carved into
 * fixed-size chunks; a request takes a contiguous run of chunks big enough
 * for its payload. Pure after init: no allocation, no I/O. When no run is
 * free, bufpool_get() returns NULL and the caller waits for a put: a full
 * pool is back-pressure, never an error to a client.
 *
 * Every buffer is aligned to BUFPOOL_ALIGN, so it is usable for O_DIRECT,
 * and lies inside the arena, so it is usable as io_uring fixed buffer 0.
 */
#ifndef BLOCKD_BUFPOOL_H
#define BLOCKD_BUFPOOL_H

#include <stddef.h>
#include <stdint.h>

#define BUFPOOL_ALIGN 4096U

struct bufpool {
	uint8_t *base;
	size_t size_bytes;
	size_t chunk_bytes;
	uint32_t nchunks;
	uint32_t free_chunks;
	uint32_t hint;		/* word to start a single-chunk search at */
	uint64_t *freemap;	/* bit set = chunk free */
};

/* size_bytes is rounded down to a whole number of chunks. 0 or -errno. */
int bufpool_init(struct bufpool *p, size_t size_bytes, size_t chunk_bytes);
void bufpool_fini(struct bufpool *p);

/* A buffer of at least len bytes (len > 0), or NULL when none is free. */
void *bufpool_get(struct bufpool *p, size_t len);
void bufpool_put(struct bufpool *p, void *buf, size_t len);

#endif
