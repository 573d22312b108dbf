/* order.c - see order.h. */
#include "order.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int order_init(struct order *o, uint64_t nblocks)
{
	*o = (struct order){ 0 };
	o->nblocks = nblocks;
	o->b = calloc(nblocks, sizeof(*o->b));
	return o->b ? 0 : -1;
}

void order_fini(struct order *o)
{
	free(o->b);
	*o = (struct order){ 0 };
}

void order_acked(struct order *o, uint64_t block, uint64_t gen,
		 uint64_t next_gen, bool zero, int node)
{
	struct order_block *b = &o->b[block];

	if (b->n == ORDER_HIST) {
		memmove(&b->h[0], &b->h[1], (ORDER_HIST - 1) * sizeof(b->h[0]));
		b->n--;
	}
	b->h[b->n++] = (struct order_ack){ gen, next_gen, zero, node };
}

void order_zero_issued(struct order *o, uint64_t block, uint64_t gen)
{
	o->b[block].last_zero = gen;
}

void order_restart(struct order *o, uint64_t next_gen)
{
	if (next_gen > o->floor)
		o->floor = next_gen;
}

/* The newest write of primary's history on b that the write issued as
 * gen newest depends on, or NULL. */
static const struct order_ack *required(const struct order *o,
					const struct order_block *b,
					uint64_t newest, int primary)
{
	for (unsigned k = b->n; k-- > 0;) {
		const struct order_ack *a = &b->h[k];

		if (a->gen < o->floor)
			return NULL;
		if (a->node == primary && a->ack_at <= newest)
			return a;
	}
	return NULL;
}

/* May a block that must hold req or newer hold found? */
static bool holds(const struct order_block *b, const struct order_ack *req,
		  uint64_t found)
{
	if (found == (uint64_t)-1)
		return false;
	if (found != 0)
		return found >= req->gen;
	/* Zeroes: req itself, or a zero write issued after it (answered
	 * or not: one still in flight may have landed). */
	return req->zero || b->last_zero > req->gen;
}

bool order_check(struct order *o, const uint64_t *found, int primary,
		 char *why, size_t len)
{
	uint64_t newest = 0, newest_blk = 0;

	o->checks++;
	for (uint64_t i = 0; i < o->nblocks; i++)
		if (found[i] != (uint64_t)-1 && found[i] > newest) {
			newest = found[i];
			newest_blk = i;
		}
	if (newest < o->floor)
		return true;
	for (uint64_t i = 0; i < o->nblocks; i++) {
		const struct order_block *b = &o->b[i];
		const struct order_ack *req = required(o, b, newest, primary);

		if (!req || holds(b, req, found[i]))
			continue;
		if (why)
			snprintf(why, len, "block %llu holds %s%lld, but "
				 "generation %llu there was acknowledged before "
				 "generation %llu (block %llu) was issued, and "
				 "that one is present",
				 (unsigned long long)i,
				 found[i] == (uint64_t)-1 ? "garbage " : "generation ",
				 found[i] == (uint64_t)-1 ? -1LL : (long long)found[i],
				 (unsigned long long)req->gen,
				 (unsigned long long)newest,
				 (unsigned long long)newest_blk);
		return false;
	}
	return true;
}
