/* node.c - see node.h. */
#include "node.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blockd/store/metafile.h"
#include "sim.h"
#include "simhook.h"
#include "simnet.h"

#define NODE_AL_EXTENTS 7

const char *const sim_node_names[2] = { "alpha", "bravo" };

static void disk_path(int idx, char *out, size_t len)
{
	snprintf(out, len, "/proc/self/fd/%d", sim_run->disk[idx].fd);
}

int node_create_md(int idx)
{
	char path[64], msg[256];
	int ret;

	disk_path(idx, path, sizeof(path));
	ret = metafile_create("internal", path, sim_node_names[idx],
			      NODE_AL_EXTENTS, true, msg, sizeof(msg));
	sim_trace("n%d create-md: %s", idx, msg);
	return ret;
}

static void config_fill(struct sim_node *n, const struct sim_node_knobs *k)
{
	struct config *c = &n->cfg;

	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "r0");
	c->protocol = k->protocol;
	c->fencing = k->fencing;
	/* Hooks are named only so that the engine runs them: simhook.c
	 * answers in their place. */
	snprintf(c->fence_peer, sizeof(c->fence_peer), "sim:fence-peer");
	snprintf(c->split_brain, sizeof(c->split_brain), "sim:split-brain");
	snprintf(c->local_io_error, sizeof(c->local_io_error), "sim:local-io-error");
	snprintf(c->unfence_peer, sizeof(c->unfence_peer), "sim:unfence-peer");
	c->hook_timeout_ms = k->hook_timeout_ms;
	snprintf(c->secret, sizeof(c->secret), "sim");
	c->io_mode = k->direct ? CONFIG_IO_DIRECT : CONFIG_IO_BUFFERED;
	c->buffer_bytes = k->buffer_bytes;
	c->ping_interval_ms = k->ping_timeout_ms / 4;
	c->ping_timeout_ms = k->ping_timeout_ms;
	c->connect_retry_max_ms = 1000;
	c->al_extents = NODE_AL_EXTENTS;
	c->resync_checksum = k->resync_checksum;
	c->resync_rate_min_mib = 1;
	c->resync_rate_max_mib = k->resync_rate_max_mib;
	c->n_nodes = 2;
	for (int i = 0; i < 2; i++) {
		struct config_node *cn = &c->nodes[i];

		snprintf(cn->name, sizeof(cn->name), "%s", sim_node_names[i]);
		snprintf(cn->address, sizeof(cn->address), "10.0.0.%d:7789", i + 1);
		snprintf(cn->meta, sizeof(cn->meta), "internal");
	}
	snprintf(c->nodes[n->idx].disk, sizeof(c->nodes[n->idx].disk), "%s",
		 n->disk_path);
	c->self = n->idx;
	c->peer = 1 - n->idx;
}

static void tick_fire(struct sim_event *ev)
{
	struct sim_node *n = ev->arg;

	sim_run->current = n->idx;
	resource_tick(&n->res, sim_now_us() / 1000);
	sched_after(&sim_run->sched, &n->tick_ev, RESOURCE_TICK_MS * 1000ULL,
		    tick_fire, n, "tick");
}

/* The store's promise for a FLUSH, checked at the store's own boundary
 * (the engine's checks see it only through both nodes, which can cover
 * for one node's lie): when the store finishes a FLUSH without error,
 * every write the disk had completed by the time the store took that
 * FLUSH is durable. A store that shared one flush between requests, or
 * skipped one, without that holding fails here at once. */
static void watch_submitted(void *arg, const struct disk_io *io)
{
	struct sim_node *n = arg;

	if (io->cmd != DISK_FLUSH)
		return;
	if (n->nflushes == n->capflushes) {
		n->capflushes = n->capflushes ? 2 * n->capflushes : 16;
		n->flushes = realloc(n->flushes,
				     n->capflushes * sizeof(n->flushes[0]));
		if (!n->flushes)
			sim_fail("out of memory");
	}
	n->flushes[n->nflushes++] = (struct sim_flush_mark){
		.io = io, .seq = sim_run->disk[n->idx].next_seq,
	};
}

static void watch_finished(void *arg, const struct disk_io *io, int err)
{
	struct sim_node *n = arg;
	const struct simdisk *d = &sim_run->disk[n->idx];
	uint64_t seq;
	size_t i;

	if (io->cmd != DISK_FLUSH)
		return;
	for (i = 0; i < n->nflushes && n->flushes[i].io != io; i++)
		;
	if (i == n->nflushes)
		sim_fail("n%d: the store finished a FLUSH it never took", n->idx);
	seq = n->flushes[i].seq;
	n->flushes[i] = n->flushes[--n->nflushes];
	if (err)
		return;
	for (size_t v = 0; v < d->nvw; v++)
		if (d->vw[v].seq < seq)
			sim_fail("n%d: the store finished a FLUSH, but a write "
				 "the disk completed before the FLUSH was taken "
				 "is still volatile: %u bytes at %llu "
				 "(completion %llu, FLUSH taken at %llu)",
				 n->idx, d->vw[v].len,
				 (unsigned long long)d->vw[v].off,
				 (unsigned long long)d->vw[v].seq,
				 (unsigned long long)seq);
}

/* The steps of resource_start() in blockd/daemon/main.c. */
static int node_assemble(struct sim_node *n)
{
	const struct config *c = &n->cfg;
	const struct config_node *self = &c->nodes[c->self];
	const struct config_node *peer = &c->nodes[c->peer];
	struct resource *res = &n->res;
	struct link_config lc = {
		.resource = c->name,
		.self_name = self->name,
		.peer_name = peer->name,
		.listen_addr = self->address,
		.peer_addr = peer->address,
		.secret = c->secret,
		.ping_interval_ms = c->ping_interval_ms,
		.ping_timeout_ms = c->ping_timeout_ms,
		.connect_retry_max_ms = c->connect_retry_max_ms,
	};
	int ret;

	res->name = c->name;
	res->node = self->name;
	res->loop = &n->sl.loop;
	res->link_new = simlink_new;
	res->hook_ops = &simhook_ops;
	res->protocol = c->protocol;
	ret = bufpool_init(&res->pool, c->buffer_bytes, 4096);
	if (ret < 0)
		return ret;
	loop_register_arena(&n->sl.loop, res->pool.base, res->pool.size_bytes);
	ret = disk_open(&res->disk, &n->sl.loop, self->disk,
			c->io_mode == CONFIG_IO_DIRECT, false);
	if (ret < 0)
		return ret;
	/* As blockd/daemon/main.c: small buffered writes are written at
	 * once (loop_write_now), the path the daemon's buffered mode takes
	 * (and direct mode's for what is not aligned). */
	res->disk.inline_io = DISK_INLINE_DEFAULT;
	n->watch = (struct disk_watch){
		.submitted = watch_submitted, .finished = watch_finished, .arg = n,
	};
	res->disk.watch = &n->watch;
	return resource_init(res, c, &lc);
}

static void observed_event(void *arg, struct resource *res, const char *what)
{
	struct sim_node *n = arg;

	(void)res;
	sim_event(n->idx, what);
}

static void observed_promotion(void *arg, struct resource *res, int ret,
			       const char *err)
{
	struct sim_node *n = arg;

	(void)res;
	sim_promotion_answered(n->idx, ret, err);
}

static const struct resource_observer sim_observer = {
	.event = observed_event,
	.promoted = observed_promotion,
};

struct sim_node *node_start(int idx, const struct sim_node_knobs *k)
{
	struct sim_node *n = calloc(1, sizeof(*n));
	int ret;

	if (!n)
		sim_fail("out of memory");
	n->idx = idx;
	sim_run->current = idx;
	disk_path(idx, n->disk_path, sizeof(n->disk_path));
	config_fill(n, k);
	sched_event_init(&n->tick_ev);
	simloop_init(&n->sl, idx);
	ret = node_assemble(n);
	if (ret < 0) {
		sim_trace("n%d start-up failed: %s", idx, strerror(-ret));
		node_crash(n, false);
		return NULL;
	}
	resource_observe(&n->res, &sim_observer, n);
	if (n->res.disk.map_worker)
		sim_fail("n%d: the disk's block status thread started", idx);
	sim_trace("n%d started: %s %s", idx, role_name(n->res.st.role),
		  disk_state_name(n->res.st.disk_state));
	sched_after(&sim_run->sched, &n->tick_ev, RESOURCE_TICK_MS * 1000ULL,
		    tick_fire, n, "tick");
	return n;
}

void node_stop_ticks(struct sim_node *n)
{
	sched_cancel(&sim_run->sched, &n->tick_ev);
}

void node_crash(struct sim_node *n, bool power)
{
	sim_run->current = n->idx;
	if (power)
		simdisk_crash(&sim_run->disk[n->idx]);
	else
		simdisk_process_crash(&sim_run->disk[n->idx]);
	simloop_abandon(&n->sl);
	simhook_abandon(&n->sl);
	sched_cancel(&sim_run->sched, &n->tick_ev);
	resource_fini(&n->res);
	disk_close(&n->res.disk);
	bufpool_fini(&n->res.pool);
	free(n->flushes);
	free(n);
}
