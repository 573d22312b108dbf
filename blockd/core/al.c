/* al.c - see al.h. Lookups are a direct map from extent to slot (4 bytes
 * per 4 MiB of device); eviction scans the slots for the oldest idle one,
 * which only happens on a miss. */
#include "blockd/core/al.h"

#include <assert.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int al_init(struct al *al, uint32_t cap, uint64_t data_bytes)
{
	memset(al, 0, sizeof(*al));
	if (cap == 0 || cap > META_AL_EXTENTS_MAX)
		return -EINVAL;
	al->cap = cap;
	al->n_extents = (uint32_t)((data_bytes + META_EXTENT_BYTES - 1) /
				   META_EXTENT_BYTES);
	al->slots = calloc(cap, sizeof(*al->slots));
	al->slot_of = calloc(al->n_extents ? al->n_extents : 1, sizeof(uint32_t));
	al->evicted = calloc(2 * (size_t)cap, sizeof(uint32_t));
	if (!al->slots || !al->slot_of || !al->evicted) {
		al_fini(al);
		return -ENOMEM;
	}
	return 0;
}

void al_fini(struct al *al)
{
	free(al->slots);
	free(al->slot_of);
	free(al->evicted);
	memset(al, 0, sizeof(*al));
}

static bool ext_range(const struct al *al, uint64_t off, uint64_t len,
		      uint32_t *first, uint32_t *last)
{
	uint64_t f, l;

	if (len == 0 || al->n_extents == 0)
		return false;
	f = off / META_EXTENT_BYTES;
	if (f >= al->n_extents)
		return false;
	/* A range reaching past 2^64 reaches past the device. */
	l = len - 1 > UINT64_MAX - off ? al->n_extents - 1
				       : (off + len - 1) / META_EXTENT_BYTES;
	if (l >= al->n_extents)
		l = al->n_extents - 1;
	*first = (uint32_t)f;
	*last = (uint32_t)l;
	return true;
}

uint32_t al_span(const struct al *al, uint64_t off, uint64_t len)
{
	uint32_t first, last;

	return ext_range(al, off, len, &first, &last) ? last - first + 1 : 0;
}

/* A slot for ext: a free one, else the least recently used idle ACTIVE
 * one (recorded as evicted). -1 when every slot is busy or pending. */
static int slot_find(struct al *al)
{
	int best = -1;

	for (uint32_t i = 0; i < al->cap; i++) {
		struct al_slot *s = &al->slots[i];

		if (s->state == AL_FREE)
			return (int)i;
		if (s->state == AL_ACTIVE && s->refs == 0 &&
		    (best < 0 || s->last_use < al->slots[best].last_use))
			best = (int)i;
	}
	if (best >= 0) {
		struct al_slot *s = &al->slots[best];

		al->slot_of[s->ext] = 0;
		al->evicted[al->n_evicted++] = s->ext;
		s->state = AL_FREE;
	}
	return best;
}

static bool stage(struct al *al, uint32_t ext)
{
	int i = slot_find(al);

	if (i < 0)
		return false;
	al->slots[i].ext = ext;
	al->slots[i].state = AL_STAGED;
	al->slots[i].refs = 0;
	al->slots[i].last_use = ++al->tick;
	al->slot_of[ext] = (uint32_t)i + 1;
	al->staged++;
	return true;
}

enum al_begin_result al_begin(struct al *al, uint64_t off, uint64_t len)
{
	uint32_t first, last;
	bool ready = true, all_slotted = true;

	if (!ext_range(al, off, len, &first, &last))
		return AL_READY;
	/* References first, on every extent already in the log, so staging
	 * the missing ones below cannot evict this write's own extents. */
	for (uint32_t e = first; e <= last; e++) {
		uint32_t s = al->slot_of[e];

		if (s) {
			al->slots[s - 1].refs++;
			al->slots[s - 1].last_use = ++al->tick;
		}
	}
	for (uint32_t e = first; e <= last; e++) {
		uint32_t s = al->slot_of[e];

		if (!s) {
			if (stage(al, e))
				al->slots[al->slot_of[e] - 1].refs++;
			else
				all_slotted = false;
			ready = false;
		} else if (al->slots[s - 1].state != AL_ACTIVE) {
			ready = false;
		}
	}
	if (all_slotted)
		return ready ? AL_READY : AL_WAIT_HELD;
	/* No slot for some extent: hold nothing, so al_end never has to
	 * guess which references are ours. What was staged stays staged. */
	for (uint32_t e = first; e <= last; e++) {
		uint32_t s = al->slot_of[e];

		if (s && al->slots[s - 1].refs)
			al->slots[s - 1].refs--;
	}
	return AL_WAIT;
}

void al_end(struct al *al, uint64_t off, uint64_t len)
{
	uint32_t first, last;

	if (!ext_range(al, off, len, &first, &last))
		return;
	for (uint32_t e = first; e <= last; e++) {
		uint32_t s = al->slot_of[e];

		/* A write gives back only what it holds: an extent not in the
		 * log, or one without references, means a reference was lost
		 * and the extent could have left the log with writes in
		 * flight (not resynced after a crash). */
		assert(s && al->slots[s - 1].refs);
		al->slots[s - 1].refs--;
	}
}

bool al_commit_due(const struct al *al)
{
	return al->staged > 0 && !al->committing;
}

void al_commit_prepare(struct al *al, struct meta_al *out,
		       const uint32_t **evicted, uint32_t *n_evicted)
{
	out->n = 0;
	out->seq = ++al->seq;
	for (uint32_t i = 0; i < al->cap; i++) {
		struct al_slot *s = &al->slots[i];

		if (s->state == AL_STAGED) {
			s->state = AL_COMMITTING;
			al->staged--;
		}
		if (s->state != AL_FREE)
			out->ext[out->n++] = s->ext;
	}
	al->committing = true;
	al->n_committing_evicted = al->n_evicted;
	*evicted = al->evicted;
	*n_evicted = al->n_evicted;
}

void al_commit_done(struct al *al)
{
	for (uint32_t i = 0; i < al->cap; i++)
		if (al->slots[i].state == AL_COMMITTING)
			al->slots[i].state = AL_ACTIVE;
	/* Evictions staged after the prepare stay for the next commit. */
	memmove(al->evicted, al->evicted + al->n_committing_evicted,
		(al->n_evicted - al->n_committing_evicted) * sizeof(uint32_t));
	al->n_evicted -= al->n_committing_evicted;
	al->n_committing_evicted = 0;
	al->committing = false;
}

void al_load(struct al *al, const struct meta_al *in)
{
	al->seq = in->seq;
	for (uint32_t i = 0; i < in->n && i < al->cap; i++) {
		uint32_t e = in->ext[i];

		if (e >= al->n_extents || al->slot_of[e])
			continue;
		al->slots[i].ext = e;
		al->slots[i].state = AL_ACTIVE;
		al->slots[i].refs = 0;
		al->slots[i].last_use = ++al->tick;
		al->slot_of[e] = i + 1;
	}
}

uint32_t al_extents(const struct al *al, uint32_t *out, uint32_t max)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < al->cap && n < max; i++)
		if (al->slots[i].state != AL_FREE)
			out[n++] = al->slots[i].ext;
	return n;
}
