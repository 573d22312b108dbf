/* simhook.c - see simhook.h. */
#include "fence/hook.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "simhook.h"
#include "simloop.h"

struct simhook_run {
	struct sim_event ev;
	struct hook_run *h;
	struct simloop *sl;
	struct simhook_run *next;
};

static void run_done(struct loop_op *op, int res)
{
	struct hook_run *h = (struct hook_run *)((char *)op -
						 offsetof(struct hook_run, done_op));

	if (h->done)
		h->done(h, res);
}

static void unlink_run(struct simhook_run *r)
{
	for (struct simhook_run **pp = &r->sl->hooks; *pp; pp = &(*pp)->next)
		if (*pp == r) {
			*pp = r->next;
			return;
		}
}

static void run_finish(struct sim_event *ev)
{
	struct simhook_run *r = (struct simhook_run *)ev;
	struct hook_run *h = r->h;

	unlink_run(r);
	h->running = false;
	h->exited = true;
	sim_run->current = r->sl->node;
	h->status = sim_hook_finished(r->sl->node, h->name, h->status);
	sim_trace("n%d hook %s answered %d", r->sl->node, h->name, h->status);
	loop_defer(h->loop, &h->done_op, run_done, h->status);
	free(r);
}

static int hook_start(struct hook_run *h, struct loop *l, const char *path,
	       const char *name, const struct hook_env *env,
	       uint32_t timeout_ms, void (*done)(struct hook_run *h, int result),
	       void *arg)
{
	struct simloop *sl = (struct simloop *)((char *)l -
						offsetof(struct simloop, loop));
	struct simhook_run *r = calloc(1, sizeof(*r));
	uint64_t delay_us = 0;
	int code;

	(void)path;
	if (!r)
		return -ENOMEM;
	memset(h, 0, sizeof(*h));
	h->loop = l;
	snprintf(h->name, sizeof(h->name), "%s", name);
	h->pid = -1;
	h->pidfd = h->out_fd = -1;
	h->running = true;
	h->done = done;
	h->arg = arg;
	code = sim_hook_outcome(sl->node, name, &delay_us);
	if (code == SIMHOOK_NEVER || delay_us >= (uint64_t)timeout_ms * 1000) {
		code = -ETIMEDOUT;
		delay_us = (uint64_t)timeout_ms * 1000;
		h->timed_out = true;
	}
	h->status = code;
	sim_trace("n%d hook %s started (role %s): answers %d in %llu ms",
		  sl->node, name, env->role, code,
		  (unsigned long long)(delay_us / 1000));
	r->h = h;
	r->sl = sl;
	r->next = sl->hooks;
	sl->hooks = r;
	sched_event_init(&r->ev);
	sched_after(&sim_run->sched, &r->ev, delay_us, run_finish, r, "hook");
	return 0;
}

static bool hook_running(const struct hook_run *h)
{
	return h->running;
}

void simhook_abandon(struct simloop *sl)
{
	while (sl->hooks) {
		struct simhook_run *r = sl->hooks;

		sl->hooks = r->next;
		sched_cancel(&sim_run->sched, &r->ev);
		free(r);
	}
}

const struct hook_ops simhook_ops = {
	.start = hook_start,
	.running = hook_running,
};
