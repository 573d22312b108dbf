/* sched.c - see sched.h: a binary min-heap on (at_us, seq). */
#include "sched.h"

#include <assert.h>
#include <stdlib.h>

void sched_init(struct sched *s)
{
	*s = (struct sched){ 0 };
}

void sched_fini(struct sched *s)
{
	for (size_t i = 0; i < s->n; i++)
		s->heap[i]->slot = (size_t)-1;
	free(s->heap);
	*s = (struct sched){ 0 };
}

static bool before(const struct sim_event *a, const struct sim_event *b)
{
	return a->at_us < b->at_us || (a->at_us == b->at_us && a->seq < b->seq);
}

static void put(struct sched *s, size_t i, struct sim_event *ev)
{
	s->heap[i] = ev;
	ev->slot = i;
}

static void sift_up(struct sched *s, size_t i)
{
	struct sim_event *ev = s->heap[i];

	while (i > 0) {
		size_t p = (i - 1) / 2;

		if (!before(ev, s->heap[p]))
			break;
		put(s, i, s->heap[p]);
		i = p;
	}
	put(s, i, ev);
}

static void sift_down(struct sched *s, size_t i)
{
	struct sim_event *ev = s->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= s->n)
			break;
		if (c + 1 < s->n && before(s->heap[c + 1], s->heap[c]))
			c++;
		if (!before(s->heap[c], ev))
			break;
		put(s, i, s->heap[c]);
		i = c;
	}
	put(s, i, ev);
}

void sched_after(struct sched *s, struct sim_event *ev, uint64_t delay_us,
		 sim_event_fn fn, void *arg, const char *what)
{
	assert(!sched_queued(ev));
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 256;
		s->heap = realloc(s->heap, s->cap * sizeof(*s->heap));
		assert(s->heap);
	}
	ev->at_us = s->now_us + delay_us;
	ev->seq = s->next_seq++;
	ev->fn = fn;
	ev->arg = arg;
	ev->what = what;
	put(s, s->n++, ev);
	sift_up(s, s->n - 1);
}

bool sched_queued(const struct sim_event *ev)
{
	return ev->slot != (size_t)-1;
}

void sched_cancel(struct sched *s, struct sim_event *ev)
{
	size_t i = ev->slot;

	if (!sched_queued(ev))
		return;
	ev->slot = (size_t)-1;
	s->n--;
	if (i == s->n)
		return;
	{
		struct sim_event *moved = s->heap[s->n];

		put(s, i, moved);
		sift_down(s, i);
		sift_up(s, moved->slot);
	}
}

bool sched_step(struct sched *s)
{
	struct sim_event *ev;

	if (!s->n)
		return false;
	ev = s->heap[0];
	s->n--;
	if (s->n) {
		put(s, 0, s->heap[s->n]);
		sift_down(s, 0);
	}
	ev->slot = (size_t)-1;
	if (ev->at_us > s->now_us)
		s->now_us = ev->at_us;
	s->steps++;
	ev->fn(ev);
	return true;
}
