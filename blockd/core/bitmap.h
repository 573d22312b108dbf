/* bitmap.h - what the peer lacks: one bit per 4 KiB block.
 *
 * Pure after init: no I/O, no clock; the words are allocated once for the
 * device size. Ranges are in bytes and widened to whole blocks, so a
 * partial-block write marks the whole block (the resync then sends it
 * whole). Called from the write path and resync.
 */
#ifndef BLOCKD_BITMAP_H
#define BLOCKD_BITMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BITMAP_BLOCK_BYTES 4096ULL

struct bitmap {
	uint64_t *words;
	uint64_t nbits;		/* blocks covered */
	uint64_t nwords;
	uint64_t set_bits;	/* kept current by every change */
	uint8_t *page_dirty;	/* per 4 KiB page of words: changed since saved */
	uint64_t npages;
};

#define BITMAP_PAGE_BYTES 4096U
#define BITMAP_WORDS_PER_PAGE (BITMAP_PAGE_BYTES / 8)

int bitmap_init(struct bitmap *b, uint64_t size_bytes);
void bitmap_fini(struct bitmap *b);

void bitmap_mark_range(struct bitmap *b, uint64_t off, uint64_t len);
void bitmap_clear_range(struct bitmap *b, uint64_t off, uint64_t len);
void bitmap_mark_all(struct bitmap *b);
void bitmap_clear_all(struct bitmap *b);
bool bitmap_test_range(const struct bitmap *b, uint64_t off, uint64_t len);

/* First set block at or after block `from`, or nbits when none. */
uint64_t bitmap_next_set(const struct bitmap *b, uint64_t from);
/* First clear block at or after `from` (to measure a run), or nbits. */
uint64_t bitmap_next_clear(const struct bitmap *b, uint64_t from);

/*
 * Run-length form, for sending a bitmap to the peer: LEB128 varints of
 * alternating run lengths in blocks, clear first (a run may be 0). A
 * chunk starts at block *pos and covers up to the returned *pos; it fits
 * in cap bytes (cap >= 20). Returns the bytes written.
 */
size_t bitmap_rle_encode(const struct bitmap *b, uint64_t *pos, uint8_t *out,
			 size_t cap);
/* OR a chunk covering blocks [start, start + nblocks) into b.
 * 0, or -EBADMSG if it is malformed or runs past nblocks or the map. */
int bitmap_rle_or(struct bitmap *b, uint64_t start, uint64_t nblocks,
		  const uint8_t *in, size_t len);

/* On-disk form: page i holds blocks [i * 32768, (i + 1) * 32768), bit n
 * of byte k is block 8k + n (little-endian words). */
void bitmap_page_encode(const struct bitmap *b, uint64_t page,
			uint8_t out[BITMAP_PAGE_BYTES]);
void bitmap_page_load(struct bitmap *b, uint64_t page,
		      const uint8_t in[BITMAP_PAGE_BYTES]);
/* Pages of the extent [off, off+len), for saving before it leaves the
 * activity log. */
void bitmap_mark_pages_dirty(struct bitmap *b, uint64_t off, uint64_t len);

static inline uint64_t bitmap_dirty_bytes(const struct bitmap *b)
{
	return b->set_bits * BITMAP_BLOCK_BYTES;
}

#endif
