/* bufpool.c - see bufpool.h.
 *
 * Single chunks (the common 4 KiB case) come from a word scan starting at
 * a rotating hint; runs use a first-fit scan over the bitmap. Both are
 * bounded by nchunks / 64 words. Waiters are a doubly linked FIFO, so a
 * closing owner leaves it in O(1).
 */
#include "common/bufpool.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/container_of.h"

int bufpool_init(struct bufpool *p, size_t size_bytes, size_t chunk_bytes)
{
	size_t words;

	memset(p, 0, sizeof(*p));
	if (chunk_bytes == 0 || chunk_bytes % BUFPOOL_ALIGN)
		return -EINVAL;
	p->nchunks = (uint32_t)(size_bytes / chunk_bytes);
	if (p->nchunks == 0)
		return -EINVAL;
	p->chunk_bytes = chunk_bytes;
	p->size_bytes = (size_t)p->nchunks * chunk_bytes;
	p->base = mmap(NULL, p->size_bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (p->base == MAP_FAILED) {
		p->base = NULL;
		return -ENOMEM;
	}
	words = (p->nchunks + 63) / 64;
	p->freemap = calloc(words, sizeof(uint64_t));
	if (!p->freemap) {
		munmap(p->base, p->size_bytes);
		p->base = NULL;
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < p->nchunks; i++)
		p->freemap[i / 64] |= 1ULL << (i % 64);
	p->free_chunks = p->nchunks;
	return 0;
}

void bufpool_fini(struct bufpool *p)
{
	if (p->base)
		munmap(p->base, p->size_bytes);
	free(p->freemap);
	memset(p, 0, sizeof(*p));
}

static int chunk_free(const struct bufpool *p, uint32_t i)
{
	return (p->freemap[i / 64] >> (i % 64)) & 1;
}

static void mark(struct bufpool *p, uint32_t first, uint32_t n, int freeing)
{
	for (uint32_t i = first; i < first + n; i++) {
		uint64_t bit = 1ULL << (i % 64);

		assert(((p->freemap[i / 64] & bit) != 0) == !freeing);
		if (freeing)
			p->freemap[i / 64] |= bit;
		else
			p->freemap[i / 64] &= ~bit;
	}
	if (freeing)
		p->free_chunks += n;
	else
		p->free_chunks -= n;
}

static int64_t find_one(struct bufpool *p)
{
	uint32_t words = (p->nchunks + 63) / 64;

	for (uint32_t k = 0; k < words; k++) {
		uint32_t w = (p->hint + k) % words;

		if (p->freemap[w]) {
			p->hint = w;
			return (int64_t)w * 64 + __builtin_ctzll(p->freemap[w]);
		}
	}
	return -1;
}

/* The first run of n free chunks below chunk end. */
static int64_t find_run(const struct bufpool *p, uint32_t n, uint32_t end)
{
	uint32_t run = 0;

	for (uint32_t i = 0; i < end; i++) {
		/* Skip whole used words quickly. */
		if (i % 64 == 0 && p->freemap[i / 64] == 0) {
			run = 0;
			i += 63;
			continue;
		}
		run = chunk_free(p, i) ? run + 1 : 0;
		if (run == n)
			return (int64_t)(i + 1 - n);
	}
	return -1;
}

void *bufpool_get(struct bufpool *p, size_t len)
{
	uint32_t n;
	int64_t first;

	assert(len > 0);
	if (len > p->size_bytes)
		return NULL;
	n = (uint32_t)((len + p->chunk_bytes - 1) / p->chunk_bytes);
	if (n > p->free_chunks)
		return NULL;
	first = n == 1 ? find_one(p) : find_run(p, n, p->nchunks);
	if (first < 0)
		return NULL;
	mark(p, (uint32_t)first, n, 0);
	return p->base + (size_t)first * p->chunk_bytes;
}

/* Below the kept tail only: free chunks in pieces would not do for the
 * work a waiting request waits for, one contiguous tail does. */
void *bufpool_get_leaving(struct bufpool *p, size_t len, size_t keep)
{
	uint64_t need = (len + p->chunk_bytes - 1) / p->chunk_bytes;
	uint64_t keep_chunks = (keep + p->chunk_bytes - 1) / p->chunk_bytes;
	uint32_t end;
	int64_t first;

	assert(len > 0);
	if (keep_chunks >= p->nchunks || need > p->nchunks - keep_chunks ||
	    need + keep_chunks > p->free_chunks)
		return NULL;
	end = p->nchunks - (uint32_t)keep_chunks;
	first = need == 1 ? find_one(p) : -1;
	if (first < 0 || first >= end)
		first = find_run(p, (uint32_t)need, end);
	if (first < 0)
		return NULL;
	mark(p, (uint32_t)first, (uint32_t)need, 0);
	return p->base + (size_t)first * p->chunk_bytes;
}

static void waiter_unlink(struct bufpool *p, struct bufpool_waiter *w)
{
	if (w->prev)
		w->prev->next = w->next;
	else
		p->wait_head = w->next;
	if (w->next)
		w->next->prev = w->prev;
	else
		p->wait_tail = w->prev;
	w->next = w->prev = NULL;
	w->waiting = false;
}

/* The deferred wake-up: every waiter that joined before this round, in
 * order. Each is unlinked before its callback, which may wait again (it
 * then joins the next round) or cancel later waiters. */
static void bufpool_wake_run(struct loop_op *op, int res)
{
	struct bufpool *p = container_of(op, struct bufpool, wake_op);
	uint64_t round = ++p->wake_epoch;
	struct bufpool_waiter *w;

	(void)res;
	p->wake_queued = false;
	while ((w = p->wait_head) != NULL && w->epoch < round) {
		waiter_unlink(p, w);
		w->ready(w);
	}
}

void bufpool_put(struct bufpool *p, void *buf, size_t len)
{
	size_t off = (size_t)((uint8_t *)buf - p->base);
	uint32_t n = (uint32_t)((len + p->chunk_bytes - 1) / p->chunk_bytes);

	assert((uint8_t *)buf >= p->base && off < p->size_bytes);
	assert(off % p->chunk_bytes == 0);
	mark(p, (uint32_t)(off / p->chunk_bytes), n, 1);
	if (p->wait_head && !p->wake_queued) {
		p->wake_queued = true;
		p->defer(p->loop, &p->wake_op, bufpool_wake_run, 0);
	}
}

void bufpool_wait_on(struct bufpool *p, struct loop *l, bufpool_defer_fn defer,
		     struct bufpool_waiter *w,
		     void (*ready)(struct bufpool_waiter *w))
{
	assert(!p->loop || p->loop == l);
	p->loop = l;
	p->defer = defer;
	if (w->waiting)
		return;
	w->ready = ready;
	w->epoch = p->wake_epoch;
	w->waiting = true;
	w->next = NULL;
	w->prev = p->wait_tail;
	if (p->wait_tail)
		p->wait_tail->next = w;
	else
		p->wait_head = w;
	p->wait_tail = w;
}

void bufpool_cancel_wait(struct bufpool *p, struct bufpool_waiter *w)
{
	if (w->waiting)
		waiter_unlink(p, w);
}
