/* bitmap.c - see bitmap.h. Range operations work a word at a time in the
 * middle of a range and bit by bit only at its two ends. */
#include "blockd/core/bitmap.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int bitmap_init(struct bitmap *b, uint64_t size_bytes)
{
	memset(b, 0, sizeof(*b));
	b->nbits = (size_bytes + BITMAP_BLOCK_BYTES - 1) / BITMAP_BLOCK_BYTES;
	b->nwords = (b->nbits + 63) / 64;
	b->words = calloc(b->nwords ? b->nwords : 1, sizeof(uint64_t));
	b->npages = (b->nwords + BITMAP_WORDS_PER_PAGE - 1) / BITMAP_WORDS_PER_PAGE;
	b->page_dirty = calloc(b->npages ? b->npages : 1, 1);
	if (!b->words || !b->page_dirty) {
		bitmap_fini(b);
		return -ENOMEM;
	}
	return 0;
}

void bitmap_fini(struct bitmap *b)
{
	free(b->words);
	free(b->page_dirty);
	memset(b, 0, sizeof(*b));
}

/* Set (val=1) or clear bits [first, last], keeping set_bits exact. */
static void bits_apply(struct bitmap *b, uint64_t first, uint64_t last, int val)
{
	uint64_t w = first / 64, wl = last / 64;

	for (; w <= wl; w++) {
		uint64_t lo = w == first / 64 ? first % 64 : 0;
		uint64_t hi = w == wl ? last % 64 : 63;
		uint64_t mask = (hi == 63 ? ~0ULL : ((1ULL << (hi + 1)) - 1)) &
				~((1ULL << lo) - 1);
		uint64_t before = b->words[w];

		if (val)
			b->words[w] |= mask;
		else
			b->words[w] &= ~mask;
		if (b->words[w] != before) {
			b->set_bits += (uint64_t)__builtin_popcountll(b->words[w]);
			b->set_bits -= (uint64_t)__builtin_popcountll(before);
			b->page_dirty[w / BITMAP_WORDS_PER_PAGE] = 1;
		}
	}
}

static bool range_blocks(const struct bitmap *b, uint64_t off, uint64_t len,
			 uint64_t *first, uint64_t *last)
{
	if (len == 0 || b->nbits == 0)
		return false;
	*first = off / BITMAP_BLOCK_BYTES;
	/* A range reaching past 2^64 reaches past the device: clamp. */
	if (len - 1 > UINT64_MAX - off)
		*last = b->nbits - 1;
	else
		*last = (off + len - 1) / BITMAP_BLOCK_BYTES;
	if (*first >= b->nbits)
		return false;
	if (*last >= b->nbits)
		*last = b->nbits - 1;
	return true;
}

void bitmap_mark_range(struct bitmap *b, uint64_t off, uint64_t len)
{
	uint64_t first, last;

	if (range_blocks(b, off, len, &first, &last))
		bits_apply(b, first, last, 1);
}

void bitmap_clear_range(struct bitmap *b, uint64_t off, uint64_t len)
{
	uint64_t first, last;

	if (range_blocks(b, off, len, &first, &last))
		bits_apply(b, first, last, 0);
}

void bitmap_mark_all(struct bitmap *b)
{
	if (b->nbits)
		bits_apply(b, 0, b->nbits - 1, 1);
}

void bitmap_clear_all(struct bitmap *b)
{
	memset(b->words, 0, b->nwords * sizeof(uint64_t));
	memset(b->page_dirty, 1, b->npages);
	b->set_bits = 0;
}

void bitmap_page_encode(const struct bitmap *b, uint64_t page,
			uint8_t out[BITMAP_PAGE_BYTES])
{
	uint64_t w0 = page * BITMAP_WORDS_PER_PAGE;

	memset(out, 0, BITMAP_PAGE_BYTES);
	for (uint64_t i = 0; i < BITMAP_WORDS_PER_PAGE && w0 + i < b->nwords; i++) {
		uint64_t v = b->words[w0 + i];

		for (int k = 0; k < 8; k++)
			out[8 * i + (uint64_t)k] = (uint8_t)(v >> (8 * k));
	}
}

void bitmap_page_load(struct bitmap *b, uint64_t page,
		      const uint8_t in[BITMAP_PAGE_BYTES])
{
	uint64_t w0 = page * BITMAP_WORDS_PER_PAGE;
	bool zero = true;

	/* A clear page on a clear map changes nothing: leaving its words
	 * untouched keeps a big, mostly clean bitmap out of memory. */
	for (size_t i = 0; i < BITMAP_PAGE_BYTES && zero; i++)
		zero = in[i] == 0;
	for (uint64_t i = 0; zero && i < BITMAP_WORDS_PER_PAGE &&
			     w0 + i < b->nwords; i++)
		zero = b->words[w0 + i] == 0;	/* reading maps no memory */
	if (zero)
		return;
	for (uint64_t i = 0; i < BITMAP_WORDS_PER_PAGE && w0 + i < b->nwords; i++) {
		uint64_t v = 0, before = b->words[w0 + i];

		for (int k = 0; k < 8; k++)
			v |= (uint64_t)in[8 * i + (uint64_t)k] << (8 * k);
		/* Bits past the end of the device are never set. */
		if (w0 + i == b->nwords - 1 && b->nbits % 64)
			v &= (1ULL << (b->nbits % 64)) - 1;
		b->words[w0 + i] = v;
		b->set_bits += (uint64_t)__builtin_popcountll(v);
		b->set_bits -= (uint64_t)__builtin_popcountll(before);
	}
}

void bitmap_mark_pages_dirty(struct bitmap *b, uint64_t off, uint64_t len)
{
	uint64_t first, last;

	if (!range_blocks(b, off, len, &first, &last))
		return;
	for (uint64_t p = first / 64 / BITMAP_WORDS_PER_PAGE;
	     p <= last / 64 / BITMAP_WORDS_PER_PAGE; p++)
		b->page_dirty[p] = 1;
}

bool bitmap_test_range(const struct bitmap *b, uint64_t off, uint64_t len)
{
	uint64_t first, last;

	if (!range_blocks(b, off, len, &first, &last))
		return false;
	return bitmap_next_set(b, first) <= last;
}

static uint64_t next_bit(const struct bitmap *b, uint64_t from, int want)
{
	uint64_t w = from / 64;

	if (from >= b->nbits)
		return b->nbits;
	for (; w < b->nwords; w++) {
		uint64_t word = want ? b->words[w] : ~b->words[w];

		if (w == from / 64)
			word &= ~0ULL << (from % 64);
		if (word) {
			uint64_t bit = w * 64 + (uint64_t)__builtin_ctzll(word);

			return bit < b->nbits ? bit : b->nbits;
		}
	}
	return b->nbits;
}

uint64_t bitmap_next_set(const struct bitmap *b, uint64_t from)
{
	return next_bit(b, from, 1);
}

uint64_t bitmap_next_clear(const struct bitmap *b, uint64_t from)
{
	return next_bit(b, from, 0);
}

static size_t put_varint(uint8_t *out, uint64_t v)
{
	size_t n = 0;

	do {
		uint8_t byte = v & 0x7f;

		v >>= 7;
		out[n++] = byte | (v ? 0x80 : 0);
	} while (v);
	return n;
}

static int get_varint(const uint8_t *in, size_t len, size_t *pos, uint64_t *v)
{
	uint64_t r = 0;

	for (unsigned shift = 0; shift < 64; shift += 7) {
		uint8_t byte;

		if (*pos >= len)
			return -1;
		byte = in[(*pos)++];
		r |= (uint64_t)(byte & 0x7f) << shift;
		if (!(byte & 0x80)) {
			*v = r;
			return 0;
		}
	}
	return -1;
}

size_t bitmap_rle_encode(const struct bitmap *b, uint64_t *pos, uint8_t *out,
			 size_t cap)
{
	uint64_t p = *pos;
	size_t n = 0;

	while (p < b->nbits && cap - n >= 20) {
		uint64_t set = bitmap_next_set(b, p);
		uint64_t clear = set < b->nbits ? bitmap_next_clear(b, set) : set;

		n += put_varint(out + n, set - p);
		n += put_varint(out + n, clear - set);
		p = clear;
	}
	*pos = p;
	return n;
}

int bitmap_rle_or(struct bitmap *b, uint64_t start, uint64_t nblocks,
		  const uint8_t *in, size_t len)
{
	uint64_t p = start, end = start + nblocks;
	size_t i = 0;

	if (start > b->nbits || nblocks > b->nbits - start)
		return -EBADMSG;
	while (i < len) {
		uint64_t clear, set;

		if (get_varint(in, len, &i, &clear) < 0 ||
		    get_varint(in, len, &i, &set) < 0)
			return -EBADMSG;
		if (clear > end - p || set > end - p - clear)
			return -EBADMSG;
		p += clear;
		if (set)
			bits_apply(b, p, p + set - 1, 1);
		p += set;
	}
	return p == end ? 0 : -EBADMSG;
}
