/* main.c - the blockd daemon: start-up, signals, orderly shutdown.
 *
 * Owns: process setup (memory locking, I/O flusher status, signals) and
 * the order in which subsystems start and stop:
 *
 *   config -> loop -> buffers -> disk -> NBD server -> run
 *   SIGTERM (SIGINT, SIGHUP) -> server drains (replies sent) -> disk flush
 *   -> exit 0
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <sys/stat.h>

#include "blockd/daemon/node.h"
#include "common/clock.h"
#include "common/container_of.h"
#include "common/log.h"

#ifndef PR_SET_IO_FLUSHER
#define PR_SET_IO_FLUSHER 57
#endif
#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4
#endif

#define LOOP_ENTRIES 1024
#define BUF_CHUNK_BYTES 4096

struct daemon {
	struct node n;		/* first: commands see only this part */
	int sigfd;
	struct signalfd_siginfo si;
	struct loop_op sig_op;
	struct disk_io final_flush;	/* local only: never held by fencing */
	struct loop_op tick_op;
	struct __kernel_timespec tick_ts;
	struct loop_op leave_op;	/* bounds the clean leave (leave.h) */
	struct __kernel_timespec leave_ts;
	bool leaving;
	bool stopping;
	int exit_code;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: blockd -c FILE [-n NODE] [--KEY VALUE ...]\n"
		"       blockd --name NAME --disk PATH --nbd unix:PATH|tcp:HOST:PORT [--KEY VALUE ...]\n"
		"       blockd --check-config -c FILE [-n NODE]\n"
		"Runs one node of a resource in the foreground, logging to stderr.\n"
		"Every configuration key may be given as --KEY VALUE; see blockd.conf(5).\n");
}

/* The daemon may serve the very kernel that reclaims memory through it:
 * keep our pages resident and let the kernel know we flush I/O. */
static void process_harden(const struct config *cfg)
{
#if defined(__SANITIZE_ADDRESS__)
	const bool sanitized = true;
#else
	const bool sanitized = false;
#endif
	if (cfg->mlock && !sanitized &&
	    mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) < 0)
		log_warn("mlockall: %s; pages may be swapped", strerror(errno));
	if (prctl(PR_SET_IO_FLUSHER, 1, 0, 0, 0) < 0)
		log_warn("PR_SET_IO_FLUSHER: %s", strerror(errno));
}

static void final_flush_done(struct disk_io *r, int err)
{
	struct daemon *d = container_of(r, struct daemon, final_flush);

	if (err < 0) {
		log_err("final flush failed: %s", strerror(-err));
		d->exit_code = 1;
	} else {
		log_info("flushed; exiting");
	}
	loop_stop(&d->n.loop);
}

static void shutdown_rest(struct daemon *d)
{
	link_shutdown(d->n.res.link);
	memset(&d->final_flush, 0, sizeof(d->final_flush));
	d->final_flush.cmd = DISK_FLUSH;
	d->final_flush.done = final_flush_done;
	control_shutdown(d->n.ctl);
	metrics_shutdown(d->n.metrics);
	if (!resource_has_disk(&d->n.res)) {	/* nothing of ours to flush */
		log_info("no disk attached; exiting");
		loop_stop(&d->n.loop);
		return;
	}
	disk_submit(&d->n.res.disk, &d->final_flush);
}

/* How long a Secondary's clean leave may take before the shutdown goes
 * on without it (the peer then resyncs what it wrote last). */
#define LEAVE_MAX_S 3

static void leave_done(void *arg)
{
	struct daemon *d = arg;
	struct io_uring_sqe *sqe;

	if (!d->leaving)
		return;
	d->leaving = false;
	sqe = loop_sqe(&d->n.loop);
	io_uring_prep_timeout_remove(sqe, (__u64)(uintptr_t)&d->leave_op, 0);
	io_uring_sqe_set_data(sqe, NULL);
	shutdown_rest(d);
}

static void leave_expired(struct loop_op *op, int res)
{
	struct daemon *d = container_of(op, struct daemon, leave_op);

	(void)res;
	if (!d->leaving)
		return;
	d->leaving = false;
	log_warn("the peer did not take this node's clean leave within %d s: "
		 "stopping anyway (it resyncs what it wrote last)", LEAVE_MAX_S);
	shutdown_rest(d);
}

static void nbd_drained(void *arg)
{
	struct daemon *d = arg;
	struct io_uring_sqe *sqe;

	d->n.res.stopping = true;
	if (!resource_leave(&d->n.res, leave_done, d)) {
		shutdown_rest(d);
		return;
	}
	d->leaving = true;
	d->leave_ts.tv_sec = LEAVE_MAX_S;
	d->leave_ts.tv_nsec = 0;
	sqe = loop_sqe(&d->n.loop);
	io_uring_prep_timeout(sqe, &d->leave_ts, 0, 0);
	loop_op_arm(&d->n.loop, sqe, &d->leave_op, leave_expired);
}

static void signal_arm(struct daemon *d);

static void signal_done(struct loop_op *op, int res)
{
	struct daemon *d = container_of(op, struct daemon, sig_op);

	if (res != (int)sizeof(d->si)) {
		log_err("signalfd read: %s", res < 0 ? strerror(-res) : "short");
		signal_arm(d);
		return;
	}
	log_info("signal %u: finishing in-flight I/O and shutting down",
		 d->si.ssi_signo);
	d->stopping = true;
	d->n.res.stopping = true;
	/* Writes held by fencing can never be acknowledged now: fail them,
	 * so the clients are answered and the drain can finish. */
	if (d->n.res.st.io_frozen)
		writepath_fail_held(&d->n.res, -ESHUTDOWN);
	{
		struct io_uring_sqe *sqe = loop_sqe(&d->n.loop);

		io_uring_prep_timeout_remove(sqe, (__u64)(uintptr_t)&d->tick_op, 0);
		io_uring_sqe_set_data(sqe, NULL);
	}
	nbd_server_shutdown(d->n.nbd, nbd_drained, d);
	/* No re-arm: a second signal during drain is ignored (blocked). */
}

static void signal_arm(struct daemon *d)
{
	struct io_uring_sqe *sqe = loop_sqe(&d->n.loop);

	io_uring_prep_read(sqe, d->sigfd, &d->si, sizeof(d->si), 0);
	loop_op_arm(&d->n.loop, sqe, &d->sig_op, signal_done);
}

static void tick_arm(struct daemon *d);

static void tick_done(struct loop_op *op, int res)
{
	struct daemon *d = container_of(op, struct daemon, tick_op);

	(void)res;
	if (d->stopping)
		return;
	resource_tick(&d->n.res, clock_mono_ms());
	nbd_server_tick(d->n.nbd, clock_mono_ms());
	tick_arm(d);
}

/* Ten times a second: resync pacing and retries; status and lazy bitmap
 * saving once a second. */
static void tick_arm(struct daemon *d)
{
	struct io_uring_sqe *sqe = loop_sqe(&d->n.loop);

	d->tick_ts.tv_sec = 0;
	d->tick_ts.tv_nsec = RESOURCE_TICK_MS * 1000 * 1000;
	io_uring_prep_timeout(sqe, &d->tick_ts, 0, 0);
	loop_op_arm(&d->n.loop, sqe, &d->tick_op, tick_done);
}

static int signals_init(struct daemon *d)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	/* SIGTERM always stops the daemon cleanly, even if it was started
	 * with SIGTERM ignored (an ignored signal never reaches the
	 * signalfd). SIGINT and SIGHUP (its terminal went away) do the same
	 * unless started ignored: a shell's background job ignores SIGINT,
	 * and nohup ignores SIGHUP, on purpose. Left at their default, both
	 * would kill the daemon without a flush. */
	signal(SIGTERM, SIG_DFL);
	sigaddset(&set, SIGTERM);
	if (signal(SIGINT, SIG_DFL) != SIG_IGN)
		sigaddset(&set, SIGINT);
	else
		signal(SIGINT, SIG_IGN);
	if (signal(SIGHUP, SIG_DFL) != SIG_IGN)
		sigaddset(&set, SIGHUP);
	else
		signal(SIGHUP, SIG_IGN);
	sigprocmask(SIG_BLOCK, &set, NULL);
	d->sigfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (d->sigfd < 0)
		return -errno;
	signal_arm(d);
	return 0;
}

/* The control socket: configured, or /run/blockd/NAME-NODE.ctl. */
static int control_start(struct node *n)
{
	const struct config_node *self = &n->cfg.nodes[n->cfg.self];

	if (self->control[0]) {
		snprintf(n->control_path, sizeof(n->control_path), "%s",
			 self->control);
	} else {
		mkdir("/run/blockd", 0700);
		snprintf(n->control_path, sizeof(n->control_path),
			 "/run/blockd/%s-%s.ctl", n->cfg.name, self->name);
	}
	return control_new(&n->ctl, &n->loop, n, n->control_path);
}

static int resource_start(struct node *n)
{
	const struct config_node *self = &n->cfg.nodes[n->cfg.self];
	struct resource *res = &n->res;
	int ret;

	res->name = n->cfg.name;
	res->node = self->name;
	res->loop = &n->loop;
	res->link_new = link_tcp_new;
	res->hook_ops = &hook_process;
	res->protocol = n->cfg.protocol;
	resource_observe(res, &status_observer, n);
	if (!self->disk[0]) {
		log_err("node %s has no disk: set 'disk' or --disk", self->name);
		return -EINVAL;
	}
	ret = bufpool_init(&res->pool, n->cfg.buffer_bytes, BUF_CHUNK_BYTES);
	if (ret < 0) {
		log_err("cannot allocate %llu MiB of I/O buffers: %s",
			(unsigned long long)(n->cfg.buffer_bytes >> 20),
			strerror(-ret));
		return ret;
	}
	loop_register_arena(&n->loop, res->pool.base, res->pool.size_bytes);
	ret = disk_open(&res->disk, &n->loop, self->disk,
			n->cfg.io_mode == CONFIG_IO_DIRECT,
			n->cfg.read_only);
	if (ret < 0)
		return ret;
	res->disk.inline_io = DISK_INLINE_DEFAULT;
	if (!self->nbd[0]) {
		log_err("node %s has no NBD address: set 'nbd' or --nbd", self->name);
		return -EINVAL;
	}
	if (n->cfg.peer >= 0) {
		const struct config_node *peer = &n->cfg.nodes[n->cfg.peer];
		struct link_config lc = {
			.resource = n->cfg.name,
			.self_name = self->name,
			.peer_name = peer->name,
			.listen_addr = self->address,
			.peer_addr = peer->address,
			.secret = n->cfg.secret,
			.ping_interval_ms = n->cfg.ping_interval_ms,
			.ping_timeout_ms = n->cfg.ping_timeout_ms,
			.connect_retry_max_ms = n->cfg.connect_retry_max_ms,
		};
		ret = resource_init(res, &n->cfg, &lc);
	} else {
		ret = resource_init(res, &n->cfg, NULL);
	}
	if (ret < 0)
		return ret;
	resource_nbd_init(&n->nbd_backend, res, &n->cfg);
	ret = nbd_server_new(&n->nbd, &n->loop, &res->pool, &resource_nbd_ops,
			     &n->nbd_backend, self->nbd);
	if (ret < 0)
		return ret;
	nbd_server_set_handshake_timeout(n->nbd, n->cfg.nbd_handshake_timeout_ms);
	ret = control_start(n);
	if (ret == 0 && self->metrics[0])
		ret = metrics_new(&n->metrics, &n->loop, n, self->metrics);
	return ret;
}

int main(int argc, char **argv)
{
	static struct daemon d;
	char **rest;
	int nrest, ret;

	bool check_only = false;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			usage(stdout);
			return 0;
		}
		if (!strcmp(argv[i], "--check-config")) {
			check_only = true;
			memmove(&argv[i], &argv[i + 1], sizeof(char *) * (size_t)(argc - i));
			argc--;
			i--;
		}
	}
	if (config_load(&d.n.cfg, argc - 1, argv + 1, &nrest, &rest) < 0)
		return 2;
	if (config_check(&d.n.cfg) < 0)
		return 2;
	if (check_only) {
		printf("%s: configuration of %s on node %s is valid\n",
		       d.n.cfg.path[0] ? d.n.cfg.path : "flags", d.n.cfg.name,
		       d.n.cfg.nodes[d.n.cfg.self].name);
		return 0;
	}
	if (nrest > 0) {
		fprintf(stderr, "blockd: unexpected argument '%s'\n", rest[0]);
		usage(stderr);
		return 2;
	}
	log_set_prefix(d.n.cfg.name, d.n.cfg.nodes[d.n.cfg.self].name);
	if (getenv("BLOCKD_DEBUG"))
		log_set_level(LOG_LVL_DEBUG);
	process_harden(&d.n.cfg);

	ret = loop_init(&d.n.loop, LOOP_ENTRIES);
	if (ret < 0)
		return 1;
	d.n.loop.poll_ns = (uint64_t)d.n.cfg.poll_us * 1000;
	if (d.n.cfg.poll_us)
		log_info("poll-us %u: the loop polls that long for completions "
			 "before it sleeps (a CPU kept busy for lower latency)",
			 d.n.cfg.poll_us);
	ret = resource_start(&d.n);
	if (ret == 0)
		ret = signals_init(&d);
	if (ret == 0)
		tick_arm(&d);
	if (ret < 0) {
		log_err("start-up failed: %s", strerror(-ret));
		return 1;
	}
	log_info("resource %s: %s %s, %llu bytes, protocol %c, control %s",
		 d.n.cfg.name, role_name(d.n.res.st.role),
		 disk_state_name(d.n.res.st.disk_state),
		 (unsigned long long)d.n.res.disk.size_bytes, d.n.res.protocol,
		 d.n.control_path);
	ret = loop_run(&d.n.loop);
	control_free(d.n.ctl);
	metrics_free(d.n.metrics);
	nbd_server_free(d.n.nbd);
	resource_shutdown_meta(&d.n.res);
	resource_fini(&d.n.res);
	disk_close(&d.n.res.disk);
	bufpool_fini(&d.n.res.pool);
	loop_fini(&d.n.loop);
	return ret < 0 ? 1 : d.exit_code;
}
