/* hook.h - running the user's handler programs (fence-peer, split-brain,
 * ...) without blocking the loop.
 *
 * Contract, compatible with DRBD's handlers: argv[1] is the hook name;
 * the environment carries BLOCKD_RESOURCE, BLOCKD_NODE, BLOCKD_PEER,
 * BLOCKD_PEER_ADDRESS and BLOCKD_ROLE. The child's stdout and stderr are
 * logged line by line; the child is reaped through the loop (a pidfd);
 * a child still running at the timeout is killed and reported as
 * -ETIMEDOUT. done() runs exactly once, from a loop callback.
 *
 *   start --spawn--> running --exit--> done(exit code)
 *                      \--timeout--> killed --exit--> done(-ETIMEDOUT)
 */
#ifndef BLOCKD_HOOK_H
#define BLOCKD_HOOK_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/loop.h"

#define HOOK_ENV_MAX 8
#define HOOK_OUT_BYTES 4096

struct hook_run {
	struct loop *loop;
	char name[32];
	pid_t pid;
	int pidfd;
	int out_fd;		/* read end of the child's stdout+stderr */
	bool running, exited, out_eof, timed_out, timer_armed;
	bool draining;		/* timer_op: the output's grace after exit */
	int status;		/* exit code, or -errno */
	struct loop_op wait_op, out_op, timer_op, done_op;
	struct __kernel_timespec ts;
	char out[HOOK_OUT_BYTES];
	size_t out_len;
	void (*done)(struct hook_run *h, int result);
	void *arg;
	uint64_t cookie;	/* the caller's, e.g. which event it answers */
};

/* What a fence-peer handler's exit code says (DRBD's contract, which
 * existing scripts follow). Any other code, or a timeout, says nothing. */
enum fence_peer_exit {
	FENCE_PEER_INCONSISTENT = 3,	/* the peer's disk is Inconsistent */
	FENCE_PEER_OUTDATED = 4,	/* the peer was outdated */
	FENCE_PEER_UNREACHABLE = 5,	/* could not reach the peer: not fenced */
	FENCE_PEER_IS_PRIMARY = 6,	/* the peer is Primary: outdate myself */
	FENCE_PEER_STONITHED = 7,	/* the peer's node was powered off */
};

struct hook_env {
	const char *resource, *node, *peer, *peer_address, *role;
};

/* A hook runner: the daemon's runs programs (hook_process, hook.c),
 * the simulator's answers in their place (tests/sim/simhook.c). The
 * engine is given one and calls it through the table. */
struct hook_ops {
	/* Start path with argv[1] = name. 0, or -errno (done() is not
	 * called). */
	int (*start)(struct hook_run *h, struct loop *l, const char *path,
		     const char *name, const struct hook_env *env,
		     uint32_t timeout_ms,
		     void (*done)(struct hook_run *h, int result), void *arg);
	bool (*running)(const struct hook_run *h);
};

extern const struct hook_ops hook_process;

#endif
