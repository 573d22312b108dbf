/* hook.c - see hook.h. */
#include "fence/hook.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/container_of.h"
#include "common/log.h"

extern char **environ;

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

static void hook_finish(struct hook_run *h);

/* After the hook exits, its output is read until end of file for at most
 * this long: a process it left behind (an ssh ControlPersist master, a
 * `nohup ... &`) may hold the pipe open for as long as it lives, and the
 * hook's answer must not wait for that. */
#define HOOK_OUTPUT_GRACE_MS 1000

static void hook_done_run(struct loop_op *op, int res)
{
	struct hook_run *h = container_of(op, struct hook_run, done_op);

	(void)res;
	h->running = false;
	if (h->done)
		h->done(h, h->status);
}

/* All three (exit, output EOF, timer gone) must be in before done(). */
static void hook_finish(struct hook_run *h)
{
	if (!h->exited || !h->out_eof || h->timer_armed)
		return;
	if (h->out_len) {
		log_info("hook %s: %.*s", h->name, (int)h->out_len, h->out);
		h->out_len = 0;
	}
	close(h->pidfd);
	close(h->out_fd);
	h->pidfd = h->out_fd = -1;
	if (h->timed_out)
		h->status = -ETIMEDOUT;
	log_info("hook %s finished: %s%d", h->name,
		 h->status < 0 ? "error " : "exit code ", h->status);
	loop_defer(h->loop, &h->done_op, hook_done_run, 0);
}

static void hook_timer_done(struct loop_op *op, int res);

static void hook_timer_remove(struct hook_run *h)
{
	struct io_uring_sqe *sqe = loop_sqe(h->loop);

	io_uring_prep_timeout_remove(sqe, (__u64)(uintptr_t)&h->timer_op, 0);
	io_uring_sqe_set_data(sqe, NULL);
}

/* The hook has exited (and timer_op is free): read what is left of its
 * output for HOOK_OUTPUT_GRACE_MS at most. */
static void hook_drain_output(struct hook_run *h)
{
	struct io_uring_sqe *sqe;

	if (h->out_eof || h->draining)
		return;
	h->draining = true;
	h->ts.tv_sec = HOOK_OUTPUT_GRACE_MS / 1000;
	h->ts.tv_nsec = (long long)(HOOK_OUTPUT_GRACE_MS % 1000) * 1000000;
	sqe = loop_sqe(h->loop);
	io_uring_prep_timeout(sqe, &h->ts, 0, 0);
	loop_op_arm(h->loop, sqe, &h->timer_op, hook_timer_done);
	h->timer_armed = true;
}

static void hook_wait_done(struct loop_op *op, int res)
{
	struct hook_run *h = container_of(op, struct hook_run, wait_op);
	siginfo_t si = { 0 };

	if (waitid(P_PID, (id_t)h->pid, &si, WEXITED | WNOHANG) < 0 ||
	    si.si_pid == 0) {
		/* Spurious wake-up: wait again. */
		struct io_uring_sqe *sqe = loop_sqe(h->loop);

		io_uring_prep_poll_add(sqe, h->pidfd, POLLIN);
		loop_op_arm(h->loop, sqe, &h->wait_op, hook_wait_done);
		return;
	}
	h->exited = true;
	h->status = si.si_code == CLD_EXITED ? si.si_status : -EINTR;
	if (h->timer_armed)
		hook_timer_remove(h);	/* hook_timer_done goes on from there */
	else
		hook_drain_output(h);
	hook_finish(h);
}

static void hook_arm_read(struct hook_run *h);

/* Log complete lines; keep a partial one for the next read. */
static void hook_out_done(struct loop_op *op, int res)
{
	struct hook_run *h = container_of(op, struct hook_run, out_op);
	char *nl;

	if (res <= 0) {
		h->out_eof = true;
		if (h->draining && h->timer_armed)
			hook_timer_remove(h);	/* no need to wait any more */
		hook_finish(h);
		return;
	}
	h->out_len += (size_t)res;
	while ((nl = memchr(h->out, '\n', h->out_len))) {
		size_t n = (size_t)(nl - h->out);

		log_info("hook %s: %.*s", h->name, (int)n, h->out);
		memmove(h->out, nl + 1, h->out_len - n - 1);
		h->out_len -= n + 1;
	}
	if (h->out_len == sizeof(h->out)) {
		log_info("hook %s: %.*s", h->name, (int)h->out_len, h->out);
		h->out_len = 0;
	}
	if (h->draining && !h->timer_armed) {
		/* The grace ran out while this read completed: its cancel
		 * found nothing, so stop here rather than read again. */
		h->out_eof = true;
		hook_finish(h);
		return;
	}
	hook_arm_read(h);
}

static void hook_arm_read(struct hook_run *h)
{
	struct io_uring_sqe *sqe = loop_sqe(h->loop);

	io_uring_prep_read(sqe, h->out_fd, h->out + h->out_len,
			   (unsigned)(sizeof(h->out) - h->out_len), 0);
	loop_op_arm(h->loop, sqe, &h->out_op, hook_out_done);
}

static void hook_timer_done(struct loop_op *op, int res)
{
	struct hook_run *h = container_of(op, struct hook_run, timer_op);

	h->timer_armed = false;
	if (h->draining) {
		if (!h->out_eof) {
			struct io_uring_sqe *sqe = loop_sqe(h->loop);

			log_warn("hook %s exited, but a process it started still "
				 "holds its output open: no longer reading it",
				 h->name);
			io_uring_prep_cancel(sqe, &h->out_op, 0);
			io_uring_sqe_set_data(sqe, NULL);
		}
	} else if (res == -ETIME && !h->exited) {
		log_warn("hook %s still running after its timeout: killing it",
			 h->name);
		h->timed_out = true;
		kill(h->pid, SIGKILL);
	} else if (h->exited) {
		hook_drain_output(h);
	}
	hook_finish(h);
}

static int hook_start(struct hook_run *h, struct loop *l, const char *path,
	       const char *name, const struct hook_env *env,
	       uint32_t timeout_ms,
	       void (*done)(struct hook_run *h, int result), void *arg)
{
	char *argv[] = { (char *)path, (char *)name, NULL };
	char vars[5][300];
	char **envp;
	size_t n_env = 0;
	posix_spawn_file_actions_t fa;
	int pipefd[2], ret;
	struct io_uring_sqe *sqe;

	memset(h, 0, sizeof(*h));
	h->loop = l;
	h->done = done;
	h->arg = arg;
	h->pidfd = h->out_fd = -1;
	snprintf(h->name, sizeof(h->name), "%s", name);
	while (environ[n_env])
		n_env++;
	envp = calloc(n_env + 6, sizeof(char *));
	if (!envp)
		return -ENOMEM;
	snprintf(vars[0], sizeof(vars[0]), "BLOCKD_RESOURCE=%s", env->resource);
	snprintf(vars[1], sizeof(vars[1]), "BLOCKD_NODE=%s", env->node);
	snprintf(vars[2], sizeof(vars[2]), "BLOCKD_PEER=%s", env->peer ? env->peer : "");
	snprintf(vars[3], sizeof(vars[3]), "BLOCKD_PEER_ADDRESS=%s",
		 env->peer_address ? env->peer_address : "");
	snprintf(vars[4], sizeof(vars[4]), "BLOCKD_ROLE=%s", env->role);
	n_env = 0;
	for (char **e = environ; *e; e++)
		if (strncmp(*e, "BLOCKD_", 7) != 0)
			envp[n_env++] = *e;
	for (int i = 0; i < 5; i++)
		envp[n_env++] = vars[i];
	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		ret = -errno;
		free(envp);
		return ret;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
	posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
	ret = posix_spawn(&h->pid, path, &fa, NULL, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	free(envp);
	close(pipefd[1]);
	if (ret != 0) {
		close(pipefd[0]);
		log_err("hook %s: cannot run %s: %s", name, path, strerror(ret));
		return -ret;
	}
	h->out_fd = pipefd[0];
	h->pidfd = pidfd_open_(h->pid);
	if (h->pidfd < 0) {
		/* No pidfd: wait synchronously is not an option; kill it. */
		ret = -errno;
		kill(h->pid, SIGKILL);
		waitpid(h->pid, NULL, 0);
		close(h->out_fd);
		return ret;
	}
	h->running = true;
	log_info("hook %s: running %s (pid %d)", name, path, (int)h->pid);
	sqe = loop_sqe(l);
	io_uring_prep_poll_add(sqe, h->pidfd, POLLIN);
	loop_op_arm(l, sqe, &h->wait_op, hook_wait_done);
	hook_arm_read(h);
	if (timeout_ms) {
		h->ts.tv_sec = timeout_ms / 1000;
		h->ts.tv_nsec = (long long)(timeout_ms % 1000) * 1000000;
		sqe = loop_sqe(l);
		io_uring_prep_timeout(sqe, &h->ts, 0, 0);
		loop_op_arm(l, sqe, &h->timer_op, hook_timer_done);
		h->timer_armed = true;
	}
	return 0;
}

static bool hook_running(const struct hook_run *h)
{
	return h->running;
}

const struct hook_ops hook_process = {
	.start = hook_start,
	.running = hook_running,
};
