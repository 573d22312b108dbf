/* simbuf.c - see simbuf.h. */
#include "simbuf.h"

#include <stdint.h>
#include <stdlib.h>

#include "sim.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>

#define SB_MIN_SHIFT 6U		/* classes: 64 B, 128 B, ... */
#define SB_CLASSES 40U
#define SB_HDR 64U		/* keeps the caller's bytes 64-byte aligned */

struct sb_hdr {
	struct sb_hdr *next;	/* on its class's list */
	unsigned cls;
};

static struct sb_hdr *sb_lists[SB_CLASSES];

static size_t sb_bytes(unsigned cls)
{
	return SB_HDR + ((size_t)1 << (cls + SB_MIN_SHIFT));
}

void *simbuf_alloc(size_t len)
{
	unsigned c = 0;
	struct sb_hdr *h;

	while (c < SB_CLASSES && ((size_t)1 << (c + SB_MIN_SHIFT)) < len)
		c++;
	if (c == SB_CLASSES)
		sim_fail("simbuf: %zu bytes", len);
	h = sb_lists[c];
	if (h) {
		ASAN_UNPOISON_MEMORY_REGION(h, sb_bytes(c));
		sb_lists[c] = h->next;
	} else {
		h = aligned_alloc(SB_HDR, sb_bytes(c));
		if (!h)
			sim_fail("out of memory");
		h->cls = c;
	}
	return (uint8_t *)h + SB_HDR;
}

void simbuf_free(void *p)
{
	struct sb_hdr *h;

	if (!p)
		return;
	h = (struct sb_hdr *)((uint8_t *)p - SB_HDR);
	if (__asan_address_is_poisoned(h))
		sim_fail("simbuf: buffer %p freed twice", p);
	h->next = sb_lists[h->cls];
	sb_lists[h->cls] = h;
	ASAN_POISON_MEMORY_REGION(h, sb_bytes(h->cls));
}

void simbuf_release(void)
{
	for (unsigned c = 0; c < SB_CLASSES; c++) {
		while (sb_lists[c]) {
			struct sb_hdr *h = sb_lists[c];

			ASAN_UNPOISON_MEMORY_REGION(h, sb_bytes(c));
			sb_lists[c] = h->next;
			free(h);
		}
	}
}

#else

void *simbuf_alloc(size_t len)
{
	void *p = malloc(len ? len : 1);

	if (!p)
		sim_fail("out of memory");
	return p;
}

void simbuf_free(void *p)
{
	free(p);
}

void simbuf_release(void)
{
}

#endif
