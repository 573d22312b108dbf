/* metafile.c - see metafile.h. */
#include "blockd/store/metafile.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blockd/core/metafmt.h"
#include "common/crc32c.h"

bool metafile_internal(const char *spec)
{
	return !spec[0] || !strcmp(spec, "internal");
}

uint64_t metafile_node_id(const char *name)
{
	return crc32c(0, name, strlen(name));
}


int metafile_dev_size(int fd, uint64_t *out)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (S_ISBLK(st.st_mode))
		return ioctl(fd, BLKGETSIZE64, out) < 0 ? -errno : 0;
	*out = (uint64_t)st.st_size;
	return 0;
}

/* Room for bytes of external metadata: a file grows to it; a block
 * device (a partition set aside for it) cannot grow and must be large
 * enough already. */
static int meta_room(int fd, uint64_t bytes)
{
	struct stat st;
	uint64_t have;
	int ret;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISBLK(st.st_mode))
		return ftruncate(fd, (off_t)bytes) < 0 ? -errno : 0;
	ret = metafile_dev_size(fd, &have);
	if (ret == 0 && have < bytes)
		ret = -ENOSPC;
	return ret;
}

/* Where the metadata lives: (fd, base, data bytes) for a device. */
int metafile_locate(const char *spec, int disk_fd, uint64_t dev_bytes,
		       bool create, int *fd, bool *own, uint64_t *base,
		       uint64_t *data_bytes)
{
	if (metafile_internal(spec)) {
		*data_bytes = meta_data_bytes_internal(dev_bytes);
		if (*data_bytes == 0)
			return -ENOSPC;
		*base = *data_bytes;
		*fd = disk_fd;
		*own = false;
		return 0;
	}
	*fd = open(spec, O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0), 0600);
	if (*fd < 0)
		return -errno;
	*own = true;
	*base = 0;
	*data_bytes = dev_bytes / META_BLOCK * META_BLOCK;
	if (create) {
		int ret = meta_room(*fd, meta_size_bytes(*data_bytes));

		if (ret < 0) {
			close(*fd);
			return ret;
		}
	}
	return 0;
}

int metafile_pread(int fd, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t r = pread(fd, (uint8_t *)buf + done, len - done,
				  (off_t)(off + done));

		if (r < 0)
			return -errno;
		if (r == 0) {
			memset((uint8_t *)buf + done, 0, len - done);
			return 0;
		}
		done += (size_t)r;
	}
	return 0;
}

int metafile_pwrite(int fd, const void *buf, size_t len, uint64_t off)
{
	size_t done = 0;

	while (done < len) {
		ssize_t w = pwrite(fd, (const uint8_t *)buf + done, len - done,
				   (off_t)(off + done));

		if (w <= 0)
			return w < 0 ? -errno : -EIO;
		done += (size_t)w;
	}
	return 0;
}

int metafile_create(const char *spec, const char *disk_path, const char *node_name,
		uint32_t al_extents, bool force, char *err, size_t errlen)
{
	uint8_t *blk = aligned_alloc(META_BLOCK, 1 << 20);
	uint64_t dev = 0, base, data, size;
	struct meta_sb sb = { 0 }, old;
	int disk_fd, fd = -1, ret;
	bool own = false;

	if (!blk)
		return -ENOMEM;
	disk_fd = open(disk_path, O_RDWR | O_CLOEXEC);
	if (disk_fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "cannot open disk %s: %s", disk_path, strerror(errno));
		goto out;
	}
	ret = metafile_dev_size(disk_fd, &dev);
	if (ret == 0)
		ret = metafile_locate(spec, disk_fd, dev, true, &fd, &own, &base, &data);
	if (ret < 0) {
		snprintf(err, errlen, "no room for metadata on %s: %s",
			 metafile_internal(spec) ? disk_path : spec, strerror(-ret));
		goto out;
	}
	for (int slot = 0; slot < META_SB_SLOTS && !force; slot++) {
		if (metafile_pread(fd, blk, META_BLOCK, base + slot * META_BLOCK) == 0 &&
		    meta_sb_decode(blk, &old) != -EBADMSG) {
			snprintf(err, errlen, "%s already holds blockd metadata; "
				 "create-md --force overwrites it (and its "
				 "generation history)",
				 metafile_internal(spec) ? disk_path : spec);
			ret = -EEXIST;
			goto out;
		}
	}
	/* Activity log and bitmap: all clear. */
	memset(blk, 0, 1 << 20);
	size = meta_size_bytes(data);
	for (uint64_t off = META_SB_SLOTS * META_BLOCK; off < size; off += 1 << 20) {
		uint64_t n = size - off < (1 << 20) ? size - off : (1 << 20);

		ret = metafile_pwrite(fd, blk, n, base + off);
		if (ret < 0)
			goto write_fail;
	}
	sb.flags = 0;
	sb.al_extents = al_extents;
	sb.uuid[UUID_CURRENT] = UUID_JUST_CREATED;
	sb.data_bytes = data;
	sb.node_id = metafile_node_id(node_name);
	for (int slot = 0; slot < META_SB_SLOTS; slot++) {
		sb.seq = (uint64_t)slot + 1;
		meta_sb_encode(blk, &sb);
		ret = metafile_pwrite(fd, blk, META_BLOCK, base + slot * META_BLOCK);
		if (ret < 0)
			goto write_fail;
	}
	ret = fdatasync(fd) < 0 ? -errno : 0;
	if (ret == 0) {
		snprintf(err, errlen, "metadata written: %s, %llu bytes of data "
			 "exported, %llu bytes of metadata",
			 metafile_internal(spec) ? "internal" : spec,
			 (unsigned long long)data, (unsigned long long)size);
		goto out;
	}
write_fail:
	snprintf(err, errlen, "writing metadata failed: %s", strerror(-ret));
out:
	if (own && fd >= 0)
		close(fd);
	if (disk_fd >= 0)
		close(disk_fd);
	free(blk);
	return ret;
}
