/* metafmt.h - the on-disk metadata format: superblock, activity log
 * transactions, bitmap area.
 *
 * WARNING: this is an on-disk format. A change to any layout or constant
 * here needs META_VERSION bumped, and a daemon refuses metadata whose
 * version it does not know (newer, or foreign magic) rather than guess.
 *
 * Layout, from the start of the metadata area (all big-endian, all
 * 4 KiB blocks; internal metadata sits at the end of the backing device,
 * aligned down to 4 KiB, and the exported size shrinks by its size):
 *
 *   block 0, 1     superblock slots (written alternately, sequence numbers)
 *   block 2 .. 2+META_AL_SLOTS-1      activity log transactions (a ring)
 *   then           the bitmap, 1 bit per 4 KiB of data, bit 0 of byte 0
 *                  first, rounded up to whole 4 KiB blocks
 *
 * A superblock slot holds the whole state; the valid slot with the higher
 * sequence number wins, so a torn write of one slot loses nothing. Each AL
 * transaction holds the whole set of active extents; the valid one with
 * the highest sequence number is the current set.
 *
 * Pure: no I/O, no allocation. Called from meta.c and the tests.
 */
#ifndef BLOCKD_METAFMT_H
#define BLOCKD_METAFMT_H

#include <stdbool.h>
#include <stdint.h>

#define META_MAGIC		0x424c4b4d44303031ULL	/* "BLKMD001" */
#define META_AL_MAGIC		0x424c4b414c543031ULL	/* "BLKALT01" */
/* 2: the boot identity (boot_id) and MDF_HOLDS_ACKED_BOOT. Version 1
 * (the same layout without them) is read as well. */
#define META_VERSION		2
#define META_VERSION_OLDEST	1
#define META_BLOCK		4096U
#define META_SB_SLOTS		2
#define META_AL_SLOTS		8
#define META_EXTENT_BYTES	(4ULL << 20)	/* activity log granularity */
/* Extents one AL transaction can name: a 4 KiB block less its header. */
#define META_AL_EXTENTS_MAX	((META_BLOCK - 32) / 4)
#define META_AL_EXTENTS_DEFAULT	1007

/* The generation UUID meaning "metadata created, no data yet". */
#define UUID_JUST_CREATED	4ULL

/* Superblock flags. */
#define MDF_CONSISTENT		(1U << 0)	/* data is a usable image */
#define MDF_WAS_PRIMARY		(1U << 1)	/* Primary at last write */
#define MDF_PEER_OUTDATED	(1U << 2)	/* the peer was fenced */
#define MDF_CRASHED_PRIMARY	(1U << 3)	/* Primary and not shut down */
#define MDF_OUTDATED		(1U << 4)	/* this disk was fenced */
/* The disk failed or was detached (or was attached again and is not yet
 * resynced): it may lack writes acknowledged since. It is Inconsistent,
 * the target of a full resync, and never a source. */
#define MDF_GIVEN_UP		(1U << 5)
/* A Secondary's disk durably holds every write its protocol C Primary
 * acknowledged before their connection ended (flushed after it ended):
 * it is the source of that Primary's extents after the Primary crashed,
 * also after a restart of this node. Dropped at the next connection to
 * a Primary, a promotion, or when the disk stops being a whole image. */
#define MDF_HOLDS_ACKED		(1U << 6)
/* A Secondary in sync under its protocol C Primary: every write the
 * Primary acknowledged was written here, perhaps only into the volatile
 * caches (the page cache, the device's) of the boot named by boot_id.
 * Recorded (durably) before any write it covers is acknowledged, while
 * connected; after a restart of the daemon in the same boot, once the
 * start-up flush made those caches durable, it becomes MDF_HOLDS_ACKED;
 * after another boot (a power loss may have taken the caches) it is
 * void. */
#define MDF_HOLDS_ACKED_BOOT	(1U << 7)
#define MDF_ALL			0xffU

/* Bytes of a boot's identity (Linux: /proc/sys/kernel/random/boot_id). */
#define META_BOOT_ID_BYTES	16

enum meta_uuid_idx { UUID_CURRENT, UUID_BITMAP, UUID_HISTORY1, UUID_HISTORY2, UUID_N };

struct meta_sb {
	uint64_t seq;		/* higher wins */
	uint32_t flags;		/* MDF_* */
	uint32_t al_extents;	/* active extents allowed */
	uint64_t uuid[UUID_N];
	uint64_t data_bytes;	/* exported size */
	uint64_t node_id;	/* CRC32C of the node name, to catch swaps */
	uint64_t primary_since;	/* seconds since the epoch, for split brain */
	uint64_t al_seq;	/* last AL transaction written (hint) */
	/* The boot MDF_HOLDS_ACKED_BOOT speaks of; zero: none (version 1). */
	uint8_t boot_id[META_BOOT_ID_BYTES];
};

/* Bytes of metadata for a data area of data_bytes (superblocks, AL,
 * bitmap), a multiple of META_BLOCK. */
uint64_t meta_size_bytes(uint64_t data_bytes);
/* The largest data area whose metadata fits with it in dev_bytes. */
uint64_t meta_data_bytes_internal(uint64_t dev_bytes);
uint64_t meta_al_offset(void);
uint64_t meta_bitmap_offset(void);
uint64_t meta_bitmap_bytes(uint64_t data_bytes);

void meta_sb_encode(uint8_t out[META_BLOCK], const struct meta_sb *sb);
/* 0, -EBADMSG (not metadata / torn), -EPROTONOSUPPORT (newer version).
 * Version 1 decodes with a zero boot_id (and cannot carry its flag). */
int meta_sb_decode(const uint8_t in[META_BLOCK], struct meta_sb *sb);
/* Given both slots' decode results, which slot holds the state (0 or 1),
 * or -1 when neither is valid. */
int meta_sb_pick(int ret0, const struct meta_sb *s0, int ret1,
		 const struct meta_sb *s1);

struct meta_al {
	uint64_t seq;
	uint32_t n;		/* extents in use */
	uint32_t ext[META_AL_EXTENTS_MAX];
};

void meta_al_encode(uint8_t out[META_BLOCK], const struct meta_al *al);
int meta_al_decode(const uint8_t in[META_BLOCK], struct meta_al *al);

#endif
