/* test_metafmt.c - blockd/core/metafmt.c: the on-disk metadata format.
 *
 * Blocks are also built byte by byte here from the layout metafmt.c
 * documents, sealed with a bitwise CRC32C written in this file, so a
 * mistake shared by the encoder and the decoder (byte order, field
 * offset, CRC coverage) still fails. Corruption cases cover every byte of
 * a superblock, a zeroed slot, and a write torn at every byte offset, and
 * check that meta_sb_pick recovers the newest intact state.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "blockd/core/metafmt.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#define KIB 1024ULL
#define MIB (1024ULL * KIB)
#define GIB (1024ULL * MIB)
#define TIB (1024ULL * GIB)

/* ---- helpers independent of metafmt.c ------------------------------ */

static uint32_t ref_crc32c(uint32_t crc, const uint8_t *p, size_t n)
{
	crc = ~crc;
	for (size_t i = 0; i < n; i++) {
		crc ^= p[i];
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0x82f63b78U & (0U - (crc & 1)));
	}
	return ~crc;
}

static void put_be(uint8_t *p, uint64_t v, int bytes)
{
	for (int i = 0; i < bytes; i++)
		p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
}

/* CRC32C of the whole block with the 4-byte crc field at crc_off zeroed,
 * stored big-endian in that field. */
static void seal(uint8_t b[META_BLOCK], unsigned crc_off)
{
	put_be(b + crc_off, 0, 4);
	put_be(b + crc_off, ref_crc32c(0, b, META_BLOCK), 4);
}

#define SB_CRC_OFF 12
#define AL_CRC_OFF 8

/* A superblock laid out as documented, with any magic and version. */
static void raw_sb(uint8_t b[META_BLOCK], uint64_t magic, uint32_t version,
		   const struct meta_sb *sb)
{
	memset(b, 0, META_BLOCK);
	put_be(b, magic, 8);
	put_be(b + 8, version, 4);
	put_be(b + 16, sb->seq, 8);
	put_be(b + 24, sb->flags, 4);
	put_be(b + 28, sb->al_extents, 4);
	for (int i = 0; i < UUID_N; i++)
		put_be(b + 32 + 8 * i, sb->uuid[i], 8);
	put_be(b + 64, sb->data_bytes, 8);
	put_be(b + 72, sb->node_id, 8);
	put_be(b + 80, sb->primary_since, 8);
	put_be(b + 88, sb->al_seq, 8);
	if (version >= 2)
		memcpy(b + 96, sb->boot_id, META_BOOT_ID_BYTES);
	seal(b, SB_CRC_OFF);
}

/* A superblock whose every field is set and differs from one seq to
 * the next, so two versions of a slot differ in every field. */
static struct meta_sb sample_sb(uint64_t seq)
{
	struct meta_sb sb = {
		.seq = seq,
		.flags = (uint32_t)(seq % 2 ? MDF_CONSISTENT | MDF_WAS_PRIMARY
					    : MDF_CONSISTENT | MDF_PEER_OUTDATED),
		.al_extents = (uint32_t)(100 + seq),
		.uuid = {
			0x1111000000000000ULL + seq, 0x2222000000000000ULL + seq,
			0x3333000000000000ULL + seq, 0x4444000000000000ULL + seq,
		},
		.data_bytes = (1000 + seq) * 4096,
		.node_id = 0xa5a5a5a500000000ULL + seq,
		.primary_since = 1700000000ULL + seq,
		.al_seq = 5000 + seq,
	};

	for (int i = 0; i < META_BOOT_ID_BYTES; i++)
		sb.boot_id[i] = (uint8_t)(0xb0 + i + seq);
	return sb;
}

static void assert_sb_equal(const struct meta_sb *a, const struct meta_sb *b)
{
	assert_true(a->seq == b->seq);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->al_extents, b->al_extents);
	for (int i = 0; i < UUID_N; i++)
		assert_true(a->uuid[i] == b->uuid[i]);
	assert_true(a->data_bytes == b->data_bytes);
	assert_true(a->node_id == b->node_id);
	assert_true(a->primary_since == b->primary_since);
	assert_true(a->al_seq == b->al_seq);
	assert_memory_equal(a->boot_id, b->boot_id, META_BOOT_ID_BYTES);
}

/* Decode both slots and return the state meta_sb_pick chooses, or
 * false when it finds none. */
static bool recover(const uint8_t s0[META_BLOCK], const uint8_t s1[META_BLOCK],
		    struct meta_sb *out, int *slot)
{
	struct meta_sb d0, d1;
	int r0 = meta_sb_decode(s0, &d0);
	int r1 = meta_sb_decode(s1, &d1);

	*slot = meta_sb_pick(r0, &d0, r1, &d1);
	if (*slot < 0)
		return false;
	assert_true(*slot == 0 || *slot == 1);
	*out = *slot ? d1 : d0;
	return true;
}

/* ---- layout --------------------------------------------------------- */

static void test_constants(void **state)
{
	(void)state;
	assert_int_equal(META_BLOCK, 4096);
	assert_int_equal(META_AL_EXTENTS_MAX, 1016);
	assert_true(META_AL_EXTENTS_DEFAULT <= META_AL_EXTENTS_MAX);
	assert_true(META_EXTENT_BYTES == 4 * MIB);
	assert_true(meta_al_offset() == 2 * 4096);
	assert_true(meta_bitmap_offset() == (2 + 8) * 4096);
	assert_int_equal(MDF_ALL, MDF_CONSISTENT | MDF_WAS_PRIMARY |
			 MDF_PEER_OUTDATED | MDF_CRASHED_PRIMARY | MDF_OUTDATED |
			 MDF_GIVEN_UP | MDF_HOLDS_ACKED | MDF_HOLDS_ACKED_BOOT);
}

/* The encoder's bytes equal the documented layout, magic "BLKMD001". */
static void test_sb_wire_bytes(void **state)
{
	static uint8_t enc[META_BLOCK], ref[META_BLOCK];
	struct meta_sb sb = sample_sb(0x0102030405060708ULL);

	(void)state;
	meta_sb_encode(enc, &sb);
	raw_sb(ref, META_MAGIC, 2, &sb);
	assert_memory_equal(enc, "BLKMD001", 8);
	assert_memory_equal(enc, ref, META_BLOCK);
	/* The version, then seq big-endian at byte 16. */
	assert_memory_equal(enc + 8, "\x00\x00\x00\x02", 4);
	assert_memory_equal(enc + 16, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	assert_memory_equal(enc + 96, sb.boot_id, META_BOOT_ID_BYTES);
	for (size_t i = 112; i < META_BLOCK; i++)
		assert_int_equal(enc[i], 0);
}

static void test_sb_round_trip(void **state)
{
	static const struct meta_sb rows[] = {
		{ .seq = 1, .al_extents = 1 },
		{ .seq = 2, .flags = MDF_ALL, .al_extents = META_AL_EXTENTS_MAX,
		  .uuid = { UUID_JUST_CREATED, 0, 0, 0 } },
		{ .seq = UINT64_MAX, .flags = MDF_CRASHED_PRIMARY,
		  .al_extents = META_AL_EXTENTS_DEFAULT,
		  .uuid = { UINT64_MAX, UINT64_MAX - 1, 1, 2 },
		  .data_bytes = UINT64_MAX, .node_id = UINT64_MAX,
		  .primary_since = UINT64_MAX, .al_seq = UINT64_MAX },
		{ .seq = 0, .flags = MDF_OUTDATED, .al_extents = 7,
		  .uuid = { 0x8000000000000001ULL, 0x7fffffffffffffffULL,
			    0x00ff00ff00ff00ffULL, 0xff00ff00ff00ff00ULL },
		  .data_bytes = 1 * TIB, .node_id = 0xdeadbeef,
		  .primary_since = 1, .al_seq = 1 },
	};
	uint8_t b[META_BLOCK];

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		struct meta_sb out;

		memset(&out, 0xee, sizeof(out));
		meta_sb_encode(b, &rows[i]);
		assert_int_equal(meta_sb_decode(b, &out), 0);
		assert_sb_equal(&out, &rows[i]);
	}
}

/* Blocks with a correct CRC but a header a daemon must not use. */
static void test_sb_decode_rules(void **state)
{
	static const struct {
		const char *what;
		uint64_t magic;
		uint32_t version, flags, al_extents;
		int want;
	} rows[] = {
		{ "valid", META_MAGIC, 2, MDF_CONSISTENT, 64, 0 },
		{ "valid, version 1", META_MAGIC, 1, MDF_CONSISTENT, 64, 0 },
		{ "every known flag", META_MAGIC, 2, MDF_ALL, 64, 0 },
		{ "no flags", META_MAGIC, 2, 0, 64, 0 },
		{ "one AL extent", META_MAGIC, 2, 0, 1, 0 },
		{ "AL extents at max", META_MAGIC, 2, 0, META_AL_EXTENTS_MAX, 0 },
		{ "newer version", META_MAGIC, 3, 0, 64, -EPROTONOSUPPORT },
		{ "much newer version", META_MAGIC, 0xffffffffU, 0, 64,
		  -EPROTONOSUPPORT },
		{ "version 0", META_MAGIC, 0, 0, 64, -EBADMSG },
		{ "foreign magic", 0x8374026b00000000ULL, 2, 0, 64, -EBADMSG },
		{ "next magic", 0x424c4b4d44303032ULL, 2, 0, 64, -EBADMSG },
		{ "AL magic", META_AL_MAGIC, 2, 0, 64, -EBADMSG },
		{ "foreign magic, newer version", 0x1234, 3, 0, 64, -EBADMSG },
		{ "flag bit 5 (given up)", META_MAGIC, 2, 1U << 5, 64, 0 },
		{ "flag bit 6 (holds acked)", META_MAGIC, 2, 1U << 6, 64, 0 },
		{ "flag bit 6, version 1", META_MAGIC, 1, 1U << 6, 64, 0 },
		{ "flag bit 7 (holds acked in a boot)", META_MAGIC, 2, 1U << 7,
		  64, 0 },
		{ "flag bit 7, version 1", META_MAGIC, 1, 1U << 7, 64, -EBADMSG },
		{ "flag bit 8", META_MAGIC, 2, 1U << 8, 64, -EBADMSG },
		{ "flag bit 31", META_MAGIC, 2, MDF_CONSISTENT | (1U << 31), 64,
		  -EBADMSG },
		{ "all flag bits", META_MAGIC, 2, 0xffffffffU, 64, -EBADMSG },
		{ "AL extents 0", META_MAGIC, 2, 0, 0, -EBADMSG },
		{ "AL extents max + 1", META_MAGIC, 2, 0,
		  META_AL_EXTENTS_MAX + 1, -EBADMSG },
		{ "AL extents huge", META_MAGIC, 2, 0, 0xffffffffU, -EBADMSG },
	};
	uint8_t b[META_BLOCK];

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		struct meta_sb sb = sample_sb(9), out;
		int ret;

		sb.flags = rows[i].flags;
		sb.al_extents = rows[i].al_extents;
		raw_sb(b, rows[i].magic, rows[i].version, &sb);
		ret = meta_sb_decode(b, &out);
		if (ret != rows[i].want)
			fail_msg("%s: decode %d, want %d", rows[i].what, ret,
				 rows[i].want);
		if (rows[i].version < 2)	/* it has no boot_id */
			memset(sb.boot_id, 0, META_BOOT_ID_BYTES);
		if (ret == 0)
			assert_sb_equal(&out, &sb);
	}
}

/* Any single byte changed anywhere in the block, by one bit or by all
 * eight, makes it invalid; the other slot is picked whichever slot and
 * sequence number the damaged one had. */
static void test_sb_single_byte_corruption(void **state)
{
	static const uint8_t masks[] = { 0x01, 0x80, 0xff, 0x5a };
	uint8_t good[META_BLOCK], bad[META_BLOCK];
	struct meta_sb older = sample_sb(7), newer = sample_sb(8), out;

	(void)state;
	for (int damaged_newer = 0; damaged_newer < 2; damaged_newer++) {
		const struct meta_sb *keep = damaged_newer ? &older : &newer;
		const struct meta_sb *lose = damaged_newer ? &newer : &older;

		meta_sb_encode(good, keep);
		for (size_t pos = 0; pos < META_BLOCK; pos++) {
			for (size_t m = 0; m < ARRAY_LEN(masks); m++) {
				int slot, ret;

				meta_sb_encode(bad, lose);
				bad[pos] ^= masks[m];
				ret = meta_sb_decode(bad, &out);
				if (ret != -EBADMSG)
					fail_msg("byte %zu ^ 0x%02x: decode %d",
						 pos, masks[m], ret);
				/* Damaged slot 1, then damaged slot 0. */
				assert_true(recover(good, bad, &out, &slot));
				assert_int_equal(slot, 0);
				assert_sb_equal(&out, keep);
				assert_true(recover(bad, good, &out, &slot));
				assert_int_equal(slot, 1);
				assert_sb_equal(&out, keep);
			}
		}
	}
}

static void test_sb_zeroed_and_erased(void **state)
{
	uint8_t good[META_BLOCK], blank[META_BLOCK];
	struct meta_sb sb = sample_sb(3), out;
	int slot;

	(void)state;
	meta_sb_encode(good, &sb);
	memset(blank, 0, sizeof(blank));
	assert_int_equal(meta_sb_decode(blank, &out), -EBADMSG);
	assert_true(recover(blank, good, &out, &slot));
	assert_int_equal(slot, 1);
	assert_sb_equal(&out, &sb);
	assert_true(recover(good, blank, &out, &slot));
	assert_int_equal(slot, 0);
	/* Both blank: a device without metadata. */
	assert_false(recover(blank, blank, &out, &slot));
	assert_int_equal(slot, -1);
	memset(blank, 0xff, sizeof(blank));
	assert_int_equal(meta_sb_decode(blank, &out), -EBADMSG);
	assert_false(recover(blank, blank, &out, &slot));
	/* Only the first sector written: magic and header of a valid
	 * block, zeros where the rest was. */
	memset(blank, 0, sizeof(blank));
	memcpy(blank, good, 512);
	assert_int_equal(meta_sb_decode(blank, &out), 0);
}

/*
 * A slot rewritten from an older state to a newer one, interrupted after
 * `t` bytes: the first t bytes are new, the rest old (and the reverse, for
 * a device that writes the end first). The other slot holds the state in
 * between. The torn slot must either decode as exactly one of its two
 * versions or be rejected; the pick must then be the newest intact state.
 * Past byte 112 both versions are zero, so a tear there (half a block, for
 * instance) leaves one whole version.
 */
static void test_sb_torn_write(void **state)
{
	uint8_t old_b[META_BLOCK], new_b[META_BLOCK], other[META_BLOCK];
	uint8_t torn[META_BLOCK];
	struct meta_sb old_sb = sample_sb(5), mid_sb = sample_sb(6);
	struct meta_sb new_sb = sample_sb(7), out;
	unsigned rejected = 0;

	(void)state;
	meta_sb_encode(old_b, &old_sb);
	meta_sb_encode(new_b, &new_sb);
	meta_sb_encode(other, &mid_sb);
	for (int end_first = 0; end_first < 2; end_first++) {
		for (size_t t = 0; t <= META_BLOCK; t++) {
			const uint8_t *head = end_first ? old_b : new_b;
			const uint8_t *tail = end_first ? new_b : old_b;
			const struct meta_sb *want;
			int ret, slot;

			memcpy(torn, head, t);
			memcpy(torn + t, tail + t, META_BLOCK - t);
			ret = meta_sb_decode(torn, &out);
			if (!memcmp(torn, new_b, META_BLOCK)) {
				assert_int_equal(ret, 0);
				assert_sb_equal(&out, &new_sb);
				want = &new_sb;
			} else if (!memcmp(torn, old_b, META_BLOCK)) {
				assert_int_equal(ret, 0);
				assert_sb_equal(&out, &old_sb);
				want = &mid_sb;
			} else {
				if (ret != -EBADMSG)
					fail_msg("torn at %zu (end first %d): "
						 "decode %d", t, end_first, ret);
				rejected++;
				want = &mid_sb;
			}
			assert_true(recover(other, torn, &out, &slot));
			assert_sb_equal(&out, want);
			assert_true(recover(torn, other, &out, &slot));
			assert_sb_equal(&out, want);
		}
	}
	/* The two versions differ between bytes 16 and 112, so tears there
	 * really produced mixed blocks. */
	assert_true(rejected >= 2 * 60);
}

/*
 * The update protocol: state k goes to slot k % 2. Every update is
 * damaged in one of several ways; recovery must find state k when the
 * write landed intact and state k - 1 otherwise.
 */
static void test_sb_update_sequence(void **state)
{
	uint8_t slots[2][META_BLOCK], intact[META_BLOCK];
	struct meta_sb out;
	uint32_t seed = 12345;

	(void)state;
	memset(slots, 0, sizeof(slots));
	meta_sb_encode(slots[0], &(struct meta_sb){ .seq = 0, .al_extents = 1 });
	for (uint64_t k = 1; k <= 400; k++) {
		struct meta_sb sb = sample_sb(k);
		uint8_t *s = slots[k % 2];
		unsigned how;
		int slot;
		bool landed;

		seed = seed * 1103515245U + 12345U;
		how = (seed >> 16) % 5;
		meta_sb_encode(intact, &sb);
		switch (how) {
		case 0:		/* intact */
			memcpy(s, intact, META_BLOCK);
			break;
		case 1:		/* one byte flipped */
			memcpy(s, intact, META_BLOCK);
			s[(seed >> 4) % 128] ^= (uint8_t)(1U << (seed % 8));
			break;
		case 2:		/* never reached the disk: zeros */
			memset(s, 0, META_BLOCK);
			break;
		case 3:		/* torn inside the header */
			memcpy(s, intact, 16 + (seed >> 8) % 80);
			break;
		default:	/* the first half landed */
			memcpy(s, intact, META_BLOCK / 2);
			break;
		}
		landed = !memcmp(s, intact, META_BLOCK);
		assert_true(recover(slots[0], slots[1], &out, &slot));
		if (landed) {
			assert_sb_equal(&out, &sb);
		} else {
			if (out.seq != k - 1)
				fail_msg("update %llu damaged (%u): recovered "
					 "seq %llu", (unsigned long long)k, how,
					 (unsigned long long)out.seq);
			/* Rewrite it intact, as the daemon retries. */
			memcpy(s, intact, META_BLOCK);
		}
	}
}

static void test_sb_pick_table(void **state)
{
	static const struct {
		int ret0;
		uint64_t seq0;
		int ret1;
		uint64_t seq1;
		int want;
	} rows[] = {
		{ 0, 1, 0, 2, 1 },
		{ 0, 2, 0, 1, 0 },
		{ 0, 100, 0, 99, 0 },
		{ 0, 0, 0, UINT64_MAX, 1 },
		{ 0, UINT64_MAX, 0, 0, 0 },
		{ -EBADMSG, 0, 0, 5, 1 },
		{ 0, 5, -EBADMSG, 0, 0 },
		/* An invalid slot's seq does not count. */
		{ -EBADMSG, 9, 0, 5, 1 },
		{ 0, 5, -EBADMSG, 9, 0 },
		{ -EBADMSG, 0, -EBADMSG, 0, -1 },
		{ -EPROTONOSUPPORT, 0, -EPROTONOSUPPORT, 0, -1 },
		{ -EBADMSG, 0, -EPROTONOSUPPORT, 0, -1 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		struct meta_sb s0 = { .seq = rows[i].seq0 };
		struct meta_sb s1 = { .seq = rows[i].seq1 };
		int got = meta_sb_pick(rows[i].ret0, &s0, rows[i].ret1, &s1);

		if (got != rows[i].want)
			fail_msg("row %zu: pick %d, want %d", i, got,
				 rows[i].want);
	}
}

/* ---- activity log transactions -------------------------------------- */

static void raw_al(uint8_t b[META_BLOCK], uint64_t magic, uint32_t n,
		   uint64_t seq, const uint32_t *ext, uint32_t n_ext)
{
	memset(b, 0, META_BLOCK);
	put_be(b, magic, 8);
	put_be(b + 12, n, 4);
	put_be(b + 16, seq, 8);
	for (uint32_t i = 0; i < n_ext; i++)
		put_be(b + 32 + 4 * i, ext[i], 4);
	seal(b, AL_CRC_OFF);
}

static struct meta_al al_in, al_out;

static void fill_al(struct meta_al *al, uint64_t seq, uint32_t n)
{
	al->seq = seq;
	al->n = n;
	for (uint32_t i = 0; i < n; i++)
		al->ext[i] = i * 2654435761U;
}

static void test_al_wire_bytes(void **state)
{
	uint8_t enc[META_BLOCK], ref[META_BLOCK];

	(void)state;
	fill_al(&al_in, 0x1122334455667788ULL, 5);
	meta_al_encode(enc, &al_in);
	raw_al(ref, META_AL_MAGIC, 5, al_in.seq, al_in.ext, 5);
	assert_memory_equal(enc, "BLKALT01", 8);
	assert_memory_equal(enc, ref, META_BLOCK);
}

static void test_al_round_trip(void **state)
{
	static const uint32_t ns[] = { 0, 1, 2, 3, 100, META_AL_EXTENTS_DEFAULT,
				       META_AL_EXTENTS_MAX - 1,
				       META_AL_EXTENTS_MAX };
	uint8_t b[META_BLOCK];

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(ns); i++) {
		fill_al(&al_in, 1000 + i, ns[i]);
		meta_al_encode(b, &al_in);
		memset(&al_out, 0xee, sizeof(al_out));
		assert_int_equal(meta_al_decode(b, &al_out), 0);
		assert_int_equal(al_out.n, ns[i]);
		assert_true(al_out.seq == al_in.seq);
		for (uint32_t k = 0; k < ns[i]; k++)
			assert_int_equal(al_out.ext[k], al_in.ext[k]);
	}
	/* Extreme values survive. */
	al_in.seq = UINT64_MAX;
	al_in.n = 2;
	al_in.ext[0] = 0;
	al_in.ext[1] = UINT32_MAX;
	meta_al_encode(b, &al_in);
	assert_int_equal(meta_al_decode(b, &al_out), 0);
	assert_true(al_out.seq == UINT64_MAX);
	assert_int_equal(al_out.ext[1], UINT32_MAX);
}

static void test_al_corruption(void **state)
{
	uint8_t good[META_BLOCK], b[META_BLOCK];

	(void)state;
	fill_al(&al_in, 77, 300);
	meta_al_encode(good, &al_in);
	for (size_t pos = 0; pos < META_BLOCK; pos++) {
		memcpy(b, good, META_BLOCK);
		b[pos] ^= (uint8_t)(1U << (pos % 8));
		memset(&al_out, 0xee, sizeof(al_out));
		if (meta_al_decode(b, &al_out) != -EBADMSG)
			fail_msg("AL byte %zu flipped: accepted", pos);
		/* A rejected transaction names nothing. */
		assert_int_equal(al_out.n, 0);
	}
	memset(b, 0, sizeof(b));
	assert_int_equal(meta_al_decode(b, &al_out), -EBADMSG);
	/* Torn: the header of the new transaction, the extents of none. */
	memcpy(b, good, 64);
	assert_int_equal(meta_al_decode(b, &al_out), -EBADMSG);
}

static void test_al_decode_rules(void **state)
{
	static const uint32_t ext[3] = { 1, 2, 3 };
	static const struct {
		const char *what;
		uint64_t magic;
		uint32_t n;
		int want;
	} rows[] = {
		{ "valid", META_AL_MAGIC, 3, 0 },
		{ "n at max", META_AL_MAGIC, META_AL_EXTENTS_MAX, 0 },
		{ "n past max", META_AL_MAGIC, META_AL_EXTENTS_MAX + 1, -EBADMSG },
		{ "n huge", META_AL_MAGIC, 0xffffffffU, -EBADMSG },
		{ "superblock magic", META_MAGIC, 3, -EBADMSG },
		{ "foreign magic", 0x0123456789abcdefULL, 3, -EBADMSG },
	};
	uint8_t b[META_BLOCK];

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		int ret;

		raw_al(b, rows[i].magic, rows[i].n, 42, ext, 3);
		memset(&al_out, 0xee, sizeof(al_out));
		ret = meta_al_decode(b, &al_out);
		if (ret != rows[i].want)
			fail_msg("%s: decode %d, want %d", rows[i].what, ret,
				 rows[i].want);
		if (ret == 0) {
			assert_int_equal(al_out.n, rows[i].n);
			assert_int_equal(al_out.ext[2], 3);
		} else {
			assert_int_equal(al_out.n, 0);
		}
	}
}

/* A superblock is not an AL transaction and the other way round. */
static void test_block_kinds_distinct(void **state)
{
	uint8_t b[META_BLOCK];
	struct meta_sb sb = sample_sb(1), out;

	(void)state;
	meta_sb_encode(b, &sb);
	assert_int_equal(meta_al_decode(b, &al_out), -EBADMSG);
	fill_al(&al_in, 1, 4);
	meta_al_encode(b, &al_in);
	assert_int_equal(meta_sb_decode(b, &out), -EBADMSG);
}

/* ---- sizes ---------------------------------------------------------- */

/* One bit per 4 KiB of data (partial blocks count), whole 4 KiB blocks. */
static uint64_t ref_bitmap_bytes(uint64_t data)
{
	uint64_t blocks = data / 4096 + (data % 4096 != 0);
	uint64_t bytes = blocks / 8 + (blocks % 8 != 0);

	return (bytes + 4095) / 4096 * 4096;
}

static void test_bitmap_and_meta_sizes(void **state)
{
	static const struct {
		uint64_t data, bitmap;
	} rows[] = {
		{ 0, 0 },
		{ 1, 4096 },
		{ 4096, 4096 },
		{ 1 * MIB, 4096 },
		{ 128 * MIB, 4096 },
		{ 128 * MIB + 1, 8192 },
		{ 128 * MIB + 4096, 8192 },
		{ 256 * MIB, 8192 },
		{ 1 * GIB, 32 * KIB },
		{ 1 * GIB + 512, 36 * KIB },
		{ 1 * TIB, 32 * MIB },
		{ 16 * TIB, 512 * MIB },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		uint64_t got = meta_bitmap_bytes(rows[i].data);

		if (got != rows[i].bitmap)
			fail_msg("data %llu: bitmap %llu, want %llu",
				 (unsigned long long)rows[i].data,
				 (unsigned long long)got,
				 (unsigned long long)rows[i].bitmap);
		assert_true(meta_size_bytes(rows[i].data) ==
			    40960 + rows[i].bitmap);
		assert_true(meta_size_bytes(rows[i].data) % 4096 == 0);
	}
}

static void check_internal(uint64_t dev)
{
	uint64_t data = meta_data_bytes_internal(dev);

	if (data % 4096)
		fail_msg("dev %llu: data %llu not 4 KiB aligned",
			 (unsigned long long)dev, (unsigned long long)data);
	if (data > 0 && data + meta_size_bytes(data) > dev)
		fail_msg("dev %llu: data %llu + meta %llu past the end",
			 (unsigned long long)dev, (unsigned long long)data,
			 (unsigned long long)meta_size_bytes(data));
	/* Metadata fits whenever the device can hold it at all. */
	if (dev >= meta_size_bytes(0))
		assert_true(data + meta_size_bytes(data) <= dev);
	assert_true(meta_size_bytes(data) == 40960 + ref_bitmap_bytes(data));
	/* Maximal: one more block would not fit. */
	if (data + 4096 + meta_size_bytes(data + 4096) <= dev)
		fail_msg("dev %llu: data %llu is not maximal",
			 (unsigned long long)dev, (unsigned long long)data);
}

static void test_data_bytes_internal(void **state)
{
	static const struct {
		uint64_t dev, data;
	} rows[] = {
		{ 0, 0 },
		{ 1, 0 },
		{ 4095, 0 },
		{ 4096, 0 },
		{ 40960, 0 },
		{ 45055, 0 },
		{ 45056, 0 },
		{ 49151, 0 },
		{ 49152, 4096 },
		{ 1 * MIB, 1 * MIB - 45056 },
		{ 1 * MIB + 1000, 1 * MIB - 45056 },
		{ 1 * MIB - 1, 1 * MIB - 4096 - 45056 },
		/* 128 MiB of data + a one-page bitmap fits exactly. */
		{ 128 * MIB + 45056, 128 * MIB },
		/* A block more needs a second bitmap page: no gain. */
		{ 128 * MIB + 45056 + 4096, 128 * MIB },
		{ 128 * MIB + 45056 + 8192, 128 * MIB + 4096 },
		{ 128 * MIB + 45056 + 12288, 128 * MIB + 8192 },
		{ 1 * GIB, 1 * GIB - 73728 },
		{ 1 * GIB + 4095, 1 * GIB - 73728 },
		{ 1 * TIB, 1 * TIB - 40960 - 32 * MIB },
		{ 1 * TIB + 123, 1 * TIB - 40960 - 32 * MIB },
	};
	uint64_t seed = 0x9e3779b97f4a7c15ULL;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		uint64_t got = meta_data_bytes_internal(rows[i].dev);

		if (got != rows[i].data)
			fail_msg("dev %llu: data %llu, want %llu",
				 (unsigned long long)rows[i].dev,
				 (unsigned long long)got,
				 (unsigned long long)rows[i].data);
		check_internal(rows[i].dev);
	}
	/* Around every bitmap page boundary up to 1 GiB, and odd sizes. */
	for (uint64_t pages = 1; pages <= 9; pages++) {
		uint64_t edge = pages * 128 * MIB + 40960 + pages * 4096;

		for (uint64_t d = edge - 3 * 4096; d <= edge + 3 * 4096; d += 511)
			check_internal(d);
	}
	for (int i = 0; i < 2000; i++) {
		seed ^= seed >> 12;
		seed ^= seed << 25;
		seed ^= seed >> 27;
		check_internal((seed * 0x2545f4914f6cdd1dULL) >> (20 + i % 44));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_constants),
		cmocka_unit_test(test_sb_wire_bytes),
		cmocka_unit_test(test_sb_round_trip),
		cmocka_unit_test(test_sb_decode_rules),
		cmocka_unit_test(test_sb_single_byte_corruption),
		cmocka_unit_test(test_sb_zeroed_and_erased),
		cmocka_unit_test(test_sb_torn_write),
		cmocka_unit_test(test_sb_update_sequence),
		cmocka_unit_test(test_sb_pick_table),
		cmocka_unit_test(test_al_wire_bytes),
		cmocka_unit_test(test_al_round_trip),
		cmocka_unit_test(test_al_corruption),
		cmocka_unit_test(test_al_decode_rules),
		cmocka_unit_test(test_block_kinds_distinct),
		cmocka_unit_test(test_bitmap_and_meta_sizes),
		cmocka_unit_test(test_data_bytes_internal),
	};

	return cmocka_run_group_tests_name("metafmt", tests, NULL, NULL);
}
