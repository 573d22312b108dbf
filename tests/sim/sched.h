/* sched.h - simulated time and the queue of what happens next.
 *
 * Everything in a simulated run that takes time (a disk completion, a
 * frame's arrival, a tick, a client request, an operator action, a fault)
 * is an event: a callback due at a simulated time. sched_step() runs the
 * earliest; events due at the same time run in the order they were added
 * (a sequence number breaks ties), so a run depends only on its seed.
 *
 * An event is embedded by its owner (struct sim_event) and may be queued
 * again from its own callback. Pure: no clock, no I/O.
 */
#ifndef SIM_SCHED_H
#define SIM_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sim_event;
typedef void (*sim_event_fn)(struct sim_event *ev);

struct sim_event {
	uint64_t at_us;		/* due time */
	uint64_t seq;		/* insertion order, for ties */
	sim_event_fn fn;
	void *arg;		/* the owner's */
	size_t slot;		/* index in the heap while queued, else SIZE_MAX */
	const char *what;	/* for traces */
};

struct sched {
	uint64_t now_us;
	uint64_t next_seq;
	struct sim_event **heap;
	size_t n, cap;
	uint64_t steps;
};

void sched_init(struct sched *s);
void sched_fini(struct sched *s);
/* Queue ev to run at now + delay_us (ev must not be queued already). */
void sched_after(struct sched *s, struct sim_event *ev, uint64_t delay_us,
		 sim_event_fn fn, void *arg, const char *what);
bool sched_queued(const struct sim_event *ev);
/* Take ev out of the queue if it is there. */
void sched_cancel(struct sched *s, struct sim_event *ev);
/* Run the earliest event (time jumps to it); false when none is left. */
bool sched_step(struct sched *s);
static inline void sched_event_init(struct sim_event *ev)
{
	ev->slot = (size_t)-1;
}

#endif
