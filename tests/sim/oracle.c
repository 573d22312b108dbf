/* oracle.c - see oracle.h. */
#include "oracle.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ORACLE_MAGIC 0x53494d424c4b0a00ULL	/* "SIMBLK\n" */

int oracle_init(struct oracle *o, uint64_t nblocks)
{
	*o = (struct oracle){ 0 };
	o->nblocks = nblocks;
	o->b = calloc(nblocks, sizeof(*o->b));
	o->next_gen = 1;
	return o->b ? 0 : -1;
}

void oracle_fini(struct oracle *o)
{
	free(o->b);
	*o = (struct oracle){ 0 };
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

void oracle_fill(uint64_t block, uint64_t gen, uint8_t *buf)
{
	uint64_t x = block * 0x9e3779b97f4a7c15ULL ^ gen;

	put64(buf, ORACLE_MAGIC);
	put64(buf + 8, block);
	put64(buf + 16, gen);
	/* The rest depends on both, so a torn or stale copy shows (an
	 * arithmetic sequence: cheap, and runs copy gigabytes). */
	x ^= x >> 29;
	for (unsigned i = 24; i + 8 <= ORACLE_BLOCK; i += 8) {
		uint64_t v = x + i * 0xbf58476d1ce4e5b9ULL;

		memcpy(buf + i, &v, 8);	/* host order: fill and parse agree */
	}
	put64(buf + ORACLE_BLOCK - 8, gen);
}

uint64_t oracle_parse(uint64_t block, const uint8_t *buf)
{
	static const uint8_t zero[ORACLE_BLOCK];
	uint8_t want[ORACLE_BLOCK];
	uint64_t gen;

	if (!memcmp(buf, zero, ORACLE_BLOCK))
		return 0;
	if (get64(buf) != ORACLE_MAGIC || get64(buf + 8) != block)
		return (uint64_t)-1;
	gen = get64(buf + 16);
	oracle_fill(block, gen, want);
	return memcmp(buf, want, ORACLE_BLOCK) ? (uint64_t)-1 : gen;
}

uint64_t oracle_issue(struct oracle *o, uint64_t block, bool zero)
{
	struct oracle_block *b = &o->b[block];
	uint64_t gen = o->next_gen++;

	assert(!b->inflight);
	b->issued = gen;
	b->inflight = true;
	if (zero)
		b->last_zero = gen;
	return gen;
}

void oracle_acked(struct oracle *o, uint64_t block, uint64_t gen)
{
	struct oracle_block *b = &o->b[block];

	assert(b->inflight && b->issued == gen);
	b->inflight = false;
	if (b->lost) {
		b->lost = false;
		return;
	}
	if (b->nhist == ORACLE_HIST) {
		memmove(&b->hist[0], &b->hist[1], (ORACLE_HIST - 1) * sizeof(b->hist[0]));
		b->nhist--;
	}
	b->hist[b->nhist].gen = gen;
	b->hist[b->nhist].ack_seq = o->next_ack++;
	b->nhist++;
}

void oracle_failed(struct oracle *o, uint64_t block, uint64_t gen)
{
	struct oracle_block *b = &o->b[block];

	assert(b->inflight && b->issued == gen);
	b->inflight = false;	/* it may or may not have landed */
	b->lost = false;
}

uint64_t oracle_flush_token(const struct oracle *o)
{
	return o->next_ack;
}

void oracle_flush_done(struct oracle *o, uint64_t token)
{
	if (token > o->flushed_ack)
		o->flushed_ack = token;
	for (uint64_t i = 0; i < o->nblocks; i++) {
		struct oracle_block *b = &o->b[i];

		for (unsigned k = b->nhist; k-- > 0;)
			if (b->hist[k].ack_seq < token) {
				if (b->hist[k].gen > b->flushed)
					b->flushed = b->hist[k].gen;
				break;
			}
	}
}

bool oracle_allows(const struct oracle *o, uint64_t block, uint64_t found,
		   enum oracle_promise p, char *why, size_t whylen)
{
	const struct oracle_block *b = &o->b[block];
	uint64_t floor = p == ORACLE_FLUSHED ? b->flushed
		: b->nhist ? b->hist[b->nhist - 1].gen : 0;
	bool ok;

	if (found == (uint64_t)-1) {
		ok = false;
	} else if (found == 0) {
		/* Zeroes: the block as it started, or a zero write that is
		 * the floor or came after it. */
		ok = floor == 0 || (b->last_zero && b->last_zero >= floor);
	} else {
		ok = found >= floor && found <= b->issued;
	}
	if (!ok && why)
		snprintf(why, whylen, "block %llu holds %s%lld, the %s write is "
			 "generation %llu (newest issued %llu%s)",
			 (unsigned long long)block,
			 found == (uint64_t)-1 ? "garbage " : "generation ",
			 found == (uint64_t)-1 ? -1LL : (long long)found,
			 p == ORACLE_FLUSHED ? "newest flushed" : "newest acknowledged",
			 (unsigned long long)floor, (unsigned long long)b->issued,
			 b->inflight ? ", in flight" : "");
	return ok;
}

uint64_t oracle_floor(const struct oracle *o, uint64_t block,
		      enum oracle_promise p)
{
	const struct oracle_block *b = &o->b[block];

	if (p == ORACLE_FLUSHED)
		return b->flushed;
	return b->nhist ? b->hist[b->nhist - 1].gen : 0;
}

bool oracle_allows_floor(const struct oracle *o, uint64_t block,
			 uint64_t found, uint64_t floor, char *why,
			 size_t whylen)
{
	const struct oracle_block *b = &o->b[block];
	bool ok;

	if (found == (uint64_t)-1)
		ok = false;
	else if (found == 0)
		ok = floor == 0 || (b->last_zero && b->last_zero >= floor);
	else
		ok = found >= floor && found <= b->issued;
	if (!ok && why)
		snprintf(why, whylen, "block %llu holds %s%lld, the promised "
			 "write is generation %llu (newest issued %llu%s)",
			 (unsigned long long)block,
			 found == (uint64_t)-1 ? "garbage " : "generation ",
			 found == (uint64_t)-1 ? -1LL : (long long)found,
			 (unsigned long long)floor, (unsigned long long)b->issued,
			 b->inflight ? ", in flight" : "");
	return ok;
}

void oracle_power_loss(struct oracle *o)
{
	for (uint64_t i = 0; i < o->nblocks; i++) {
		struct oracle_block *b = &o->b[i];

		while (b->nhist && b->hist[b->nhist - 1].gen > b->flushed)
			b->nhist--;
	}
}

void oracle_lose_inflight(struct oracle *o)
{
	for (uint64_t i = 0; i < o->nblocks; i++)
		if (o->b[i].inflight)
			o->b[i].lost = true;
}

void oracle_rebase(struct oracle *o, uint64_t block, uint64_t found,
		   uint64_t durable)
{
	struct oracle_block *b = &o->b[block];
	bool durable_ok = durable != (uint64_t)-1 && durable != 0;

	b->nhist = 0;
	b->flushed = 0;
	/* Only what the disk holds durably counts as flushed: the rest of
	 * what it shows may be lost in a power loss like any unflushed
	 * write (its older durable copy then shows). */
	if (durable_ok && durable != found) {
		b->hist[b->nhist].gen = durable;
		b->hist[b->nhist++].ack_seq = o->next_ack++;
		b->flushed = durable;
	}
	if (found != (uint64_t)-1 && found != 0) {
		b->hist[b->nhist].gen = found;
		b->hist[b->nhist++].ack_seq = o->next_ack++;
		if (found == durable)
			b->flushed = found;
	}
}
