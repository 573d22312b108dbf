/* metafmt.c - see metafmt.h. The only place metadata is converted to and
 * from its on-disk byte order. */
#include "blockd/core/metafmt.h"

#include <errno.h>
#include <string.h>

#include "common/crc32c.h"
#include "common/endian.h"

/* Superblock block layout:
 *   0 magic u64, 8 version u32, 12 crc u32 (of the block with crc = 0),
 *  16 seq u64, 24 flags u32, 28 al_extents u32, 32 uuid[4] u64,
 *  64 data_bytes u64, 72 node_id u64, 80 primary_since u64, 88 al_seq u64,
 *  96 boot_id[16] (version 2; zero in version 1), 112.. zero */
#define SB_CRC_OFF 12

uint64_t meta_bitmap_bytes(uint64_t data_bytes)
{
	uint64_t bits = (data_bytes + 4095) / 4096;
	uint64_t bytes = (bits + 7) / 8;

	return (bytes + META_BLOCK - 1) / META_BLOCK * META_BLOCK;
}

uint64_t meta_al_offset(void)
{
	return (uint64_t)META_SB_SLOTS * META_BLOCK;
}

uint64_t meta_bitmap_offset(void)
{
	return meta_al_offset() + (uint64_t)META_AL_SLOTS * META_BLOCK;
}

uint64_t meta_size_bytes(uint64_t data_bytes)
{
	return meta_bitmap_offset() + meta_bitmap_bytes(data_bytes);
}

uint64_t meta_data_bytes_internal(uint64_t dev_bytes)
{
	uint64_t dev = dev_bytes / META_BLOCK * META_BLOCK;
	uint64_t data;

	if (dev <= meta_size_bytes(0))
		return 0;
	/* The bitmap needs 1/32768 of the data: start from that estimate
	 * and step down until data and metadata fit. */
	data = dev - meta_size_bytes(dev);
	data = data / META_BLOCK * META_BLOCK;
	while (data > 0 && data + meta_size_bytes(data) > dev)
		data -= META_BLOCK;
	while (data + META_BLOCK + meta_size_bytes(data + META_BLOCK) <= dev)
		data += META_BLOCK;
	return data;
}

static uint32_t block_crc(const uint8_t in[META_BLOCK], unsigned crc_off)
{
	uint8_t zero[4] = { 0 };
	uint32_t crc = crc32c(0, in, crc_off);

	crc = crc32c(crc, zero, 4);
	return crc32c(crc, in + crc_off + 4, META_BLOCK - crc_off - 4);
}

void meta_sb_encode(uint8_t out[META_BLOCK], const struct meta_sb *sb)
{
	memset(out, 0, META_BLOCK);
	be_put64(out, META_MAGIC);
	be_put32(out + 8, META_VERSION);
	be_put64(out + 16, sb->seq);
	be_put32(out + 24, sb->flags);
	be_put32(out + 28, sb->al_extents);
	for (int i = 0; i < UUID_N; i++)
		be_put64(out + 32 + 8 * i, sb->uuid[i]);
	be_put64(out + 64, sb->data_bytes);
	be_put64(out + 72, sb->node_id);
	be_put64(out + 80, sb->primary_since);
	be_put64(out + 88, sb->al_seq);
	memcpy(out + 96, sb->boot_id, META_BOOT_ID_BYTES);
	be_put32(out + SB_CRC_OFF, block_crc(out, SB_CRC_OFF));
}

int meta_sb_decode(const uint8_t in[META_BLOCK], struct meta_sb *sb)
{
	uint32_t version;

	memset(sb, 0, sizeof(*sb));
	if (be_get64(in) != META_MAGIC)
		return -EBADMSG;
	version = be_get32(in + 8);
	if (be_get32(in + SB_CRC_OFF) != block_crc(in, SB_CRC_OFF))
		return -EBADMSG;
	if (version > META_VERSION)
		return -EPROTONOSUPPORT;
	if (version < META_VERSION_OLDEST)
		return -EBADMSG;
	sb->seq = be_get64(in + 16);
	sb->flags = be_get32(in + 24);
	sb->al_extents = be_get32(in + 28);
	for (int i = 0; i < UUID_N; i++)
		sb->uuid[i] = be_get64(in + 32 + 8 * i);
	sb->data_bytes = be_get64(in + 64);
	sb->node_id = be_get64(in + 72);
	sb->primary_since = be_get64(in + 80);
	sb->al_seq = be_get64(in + 88);
	if (version >= 2)
		memcpy(sb->boot_id, in + 96, META_BOOT_ID_BYTES);
	else if (sb->flags & MDF_HOLDS_ACKED_BOOT)
		return -EBADMSG;	/* version 1 has no such flag */
	if ((sb->flags & ~MDF_ALL) || sb->al_extents == 0 ||
	    sb->al_extents > META_AL_EXTENTS_MAX)
		return -EBADMSG;
	return 0;
}

int meta_sb_pick(int ret0, const struct meta_sb *s0, int ret1,
		 const struct meta_sb *s1)
{
	if (ret0 == 0 && ret1 == 0)
		return s1->seq > s0->seq ? 1 : 0;
	if (ret0 == 0)
		return 0;
	if (ret1 == 0)
		return 1;
	return -1;
}

/* AL transaction block layout:
 *   0 magic u64, 8 crc u32 (block with crc = 0), 12 n u32, 16 seq u64,
 *  24 reserved u64, 32 ext[n] u32 (extent numbers), rest zero */
#define AL_CRC_OFF 8

void meta_al_encode(uint8_t out[META_BLOCK], const struct meta_al *al)
{
	uint32_t n = al->n > META_AL_EXTENTS_MAX ? META_AL_EXTENTS_MAX : al->n;

	memset(out, 0, META_BLOCK);
	be_put64(out, META_AL_MAGIC);
	be_put32(out + 12, n);
	be_put64(out + 16, al->seq);
	for (uint32_t i = 0; i < n; i++)
		be_put32(out + 32 + 4 * i, al->ext[i]);
	be_put32(out + AL_CRC_OFF, block_crc(out, AL_CRC_OFF));
}

int meta_al_decode(const uint8_t in[META_BLOCK], struct meta_al *al)
{
	al->n = 0;
	al->seq = 0;
	if (be_get64(in) != META_AL_MAGIC ||
	    be_get32(in + AL_CRC_OFF) != block_crc(in, AL_CRC_OFF))
		return -EBADMSG;
	al->n = be_get32(in + 12);
	al->seq = be_get64(in + 16);
	if (al->n > META_AL_EXTENTS_MAX) {
		al->n = 0;
		return -EBADMSG;
	}
	for (uint32_t i = 0; i < al->n; i++)
		al->ext[i] = be_get32(in + 32 + 4 * i);
	return 0;
}
