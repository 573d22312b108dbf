/* resource.c - see resource.h: set-up, and the dispatch of each request
 * to the read path (local only) or the write path. */
#include "blockd/engine/resource.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "blockd/core/sm.h"
#include "common/clock.h"
#include "common/container_of.h"
#include "common/log.h"
#include "common/rand.h"

/* The disk state the metadata proves at start-up, before the peer is
 * reached. A clean image is Consistent: it cannot know whether its peer
 * went on writing after they parted, so it is not promotable until the
 * handshake makes it UpToDate (or Outdated). Only a node that durably
 * recorded its peer outdated or fenced (as Primary: fence-peer exit 3, 4
 * or 7, or the peer reporting itself Outdated) knows it is the newest. */
static enum disk_state disk_state_from_meta(const struct meta *m)
{
	if (m->sb.uuid[UUID_CURRENT] == UUID_JUST_CREATED ||
	    !(m->sb.flags & MDF_CONSISTENT))
		return DS_INCONSISTENT;
	if (m->sb.flags & MDF_OUTDATED)
		return DS_OUTDATED;
	if (m->sb.flags & MDF_PEER_OUTDATED)
		return DS_UPTODATE;
	return DS_CONSISTENT;
}

static void res_meta_durable(void *arg)
{
	resource_meta_done(arg);
}

static void res_meta_failed(void *arg, int err)
{
	resource_disk_failed(arg, err);
}

static const struct meta_ops res_meta_ops = {
	.durable = res_meta_durable,
	.failed = res_meta_failed,
};

void resource_meta_bind(struct resource *res)
{
	meta_bind(&res->meta, res->loop, &res->oos, &res_meta_ops, res);
}

int resource_init(struct resource *res, const struct config *cfg,
		  const struct link_config *peer)
{
	const struct config_node *self = &cfg->nodes[cfg->self];
	int ret;

	res->cfg = cfg;
	resource_disk_bind(res);
	res->st.peer_role = ROLE_UNKNOWN;
	res->st.peer_disk = DS_DUNKNOWN;
	res->st.repl = RS_OFF;
	res->instance = rand_u64();
	if (strcmp(self->meta, "none") != 0) {
		ret = meta_open(&res->meta, self->meta, res->disk.fd,
				res->disk.size_bytes, self->name, cfg->al_extents,
				&res->oos);
		if (ret < 0)
			return ret;
		resource_meta_bind(res);
		res->disk.size_bytes = meta_data_bytes(&res->meta);
	}
	ret = writepath_init(res);
	if (ret < 0)
		return ret;
	if (!peer) {
		/* One node: a standalone Primary with nothing to replicate. */
		res->st.role = ROLE_PRIMARY;
		res->st.disk_state = DS_UPTODATE;
		res->st.peer_conn = CS_STANDALONE;
		return 0;
	}
	res->peer_name = peer->peer_name;
	res->st.role = ROLE_SECONDARY;
	peer_boot_restart(res);
	res->st.disk_state = disk_state_from_meta(&res->meta);
	if (res->meta.sb.flags & MDF_GIVEN_UP)
		log_warn("this disk was given up before (it failed, or was "
			 "detached) and not resynced since: it is Inconsistent, "
			 "resynced in full from an UpToDate peer, never a source");
	ret = receiver_init(res);
	if (ret == 0)
		ret = remote_init(res);
	if (ret == 0)
		ret = res->link_new(&res->link, res->loop, &res->pool, peer,
			       &peer_link_ops, res);
	if (ret < 0)
		return ret;
	res->st.peer_conn = CS_CONNECTING;
	link_connect(res->link);
	return 0;
}

void resource_fini(struct resource *res)
{
	link_free(res->link);
	res->link = NULL;
	receiver_fini(res);
	remote_fini(res);
	bitmap_fini(&res->oos);
	writepath_fini(res);
	meta_close(&res->meta);
}

static void step(struct resource *res, const struct sm_event *e)
{
	char why[160];

	if (sm_step(&res->st, e, &res->acts))
		return;
	sm_step_refusal(&res->st, e, why, sizeof(why));
	log_err("%s", why);
	assert(!"a state transition its table refuses");
}

void resource_step(struct resource *res, enum sm_event_kind kind, int ev)
{
	step(res, &(struct sm_event){ .kind = kind, .ev = ev });
}

void resource_step_peer(struct resource *res, enum sm_peer_ev ev,
			enum role role, enum disk_state disk, bool paused)
{
	step(res, &(struct sm_event){ .kind = SM_EV_PEER, .ev = ev,
				      .peer_role = role, .peer_disk = disk,
				      .peer_paused = paused });
}

void resource_post(struct resource *res, unsigned acts)
{
	res->acts |= acts;
}

void resource_post_state(struct resource *res, uint8_t flags)
{
	res->acts |= SM_ACT_SEND_STATE;
	res->peer.state_flags_pending |= flags;	/* sent with the next STATE */
}

static void event(struct resource *res, const char *what);

void resource_commit(struct resource *res, const char *what)
{
	unsigned acts = res->acts;

	res->acts = 0;
	if (acts & SM_ACT_HOOK_BEFORE_TARGET)
		resource_hook(res, res->cfg->before_resync_target,
			      "before-resync-target", NULL, NULL);
	if (acts & SM_ACT_WRITE_SB)
		meta_write_sb(&res->meta);
	if (acts & SM_ACT_SEND_STATE)
		peer_send_state(res);
	if (acts & SM_ACT_BITMAP_XCHG)
		bmx_start(res);
	if (acts & SM_ACT_START_RESYNC)
		resync_start_saved(res);
	if (acts & SM_ACT_PUMP_RESYNC)
		resync_pump(res);
	if (acts & SM_ACT_RELEASE_HELD) {
		writepath_lone_generation(res);	/* alone: the held writes */
		writepath_release_held(res);
	}
	if (acts & SM_ACT_RETRY)
		writepath_retry_waiting(res);
	if (acts & SM_ACT_HOOK_AFTER_TARGET)
		resource_hook(res, res->cfg->after_resync_target,
			      "after-resync-target", NULL, NULL);
	if (acts & SM_ACT_HOOK_SPLIT_BRAIN)
		resource_hook(res, res->cfg->split_brain, "split-brain", NULL, NULL);
	if (acts & SM_ACT_HOOK_OUT_OF_SYNC)
		resource_hook(res, res->cfg->out_of_sync, "out-of-sync", NULL, NULL);
	if (acts & SM_ACT_HOOK_UNFENCE)
		resource_hook(res, res->cfg->unfence_peer, "unfence-peer", NULL, NULL);
	if (what)
		event(res, what);
	/* An action's own steps (none today) run at the next commit. */
}

void resource_view(const struct resource *res, struct sm_view *v)
{
	uint32_t feat = res->link ? link_features(res->link) : 0;

	memset(v, 0, sizeof(*v));
	v->role = res->st.role;
	v->disk = res->st.disk_state;
	v->has_disk = resource_has_disk(res);
	v->has_peer = res->link != NULL;
	v->peer_conn = res->st.peer_conn;
	v->peer_role = res->st.peer_role;
	v->peer_disk = res->st.peer_disk;
	v->repl = res->st.repl;
	v->peer_serves_reads = feat & FRAME_FEAT_DISKLESS;
	v->peer_syncs_primary = feat & FRAME_FEAT_PRIMARY_TARGET;
	v->peer_consents = feat & FRAME_FEAT_ROLE_REQ;
	v->fencing = res->cfg->fencing;
	v->fencing_name = config_fencing_name(res->cfg->fencing);
	v->fence_hook = res->cfg->fence_peer[0] != 0;
	v->peer_recorded_outdated = res->meta.sb.flags & MDF_PEER_OUTDATED;
	v->peer_name = res->peer_name;
}

void resource_meta_done(struct resource *res)
{
	detach_poll(res);
	writepath_meta_done(res);
	peer_meta_done(res);
	writepath_retry_waiting(res);
	receiver_kick(res);
	resync_bitmap_saved(res);
}

void resource_shutdown_meta(struct resource *res)
{
	if (!res->meta.enabled)
		return;
	res->meta.sb.flags &= ~MDF_CRASHED_PRIMARY;
	meta_flush_sync(&res->meta);
}

static void read_fail_done(struct loop_op *op, int err)
{
	struct blk_req *r = container_of(op, struct blk_req, local.op);

	r->done(r, err);
}

/* A Primary whose resync into it stopped half way: blocks it never got
 * cannot be read. Without the peer none can: it does not fence its
 * source (fencing.c), which may be promoted and write, so even the
 * blocks it got may be stale (DRBD's on-no-data-accessible io-error). */
static bool lacks_for_good(struct resource *res, const struct disk_io *io)
{
	if (res->st.role != ROLE_PRIMARY || res->st.disk_state != DS_INCONSISTENT ||
	    res->st.repl == RS_SYNC_TARGET || res->st.repl == RS_PAUSED_SYNC_T)
		return false;
	if (res->st.repl == RS_OFF) {
		log_err("read of %u bytes at %llu failed: this disk is "
			"Inconsistent and its source is gone, which may have "
			"written since", io->len, (unsigned long long)io->off);
		return true;
	}
	if (!bitmap_test_range(&res->oos, io->off, io->len))
		return false;
	log_err("read of %u bytes at %llu: this Inconsistent disk never got "
		"those blocks from the peer", io->len, (unsigned long long)io->off);
	return true;
}

/* A read (or CACHE) for a Primary without a usable disk: the peer serves
 * it while it is UpToDate; otherwise no copy is reachable. */
static void read_without_disk(struct resource *res, struct blk_req *r)
{
	if (!writepath_data_on_peer(res)) {
		log_err("read of %u bytes at %llu failed: this node has no usable "
			"disk and no UpToDate peer", r->local.len,
			(unsigned long long)r->local.off);
		loop_defer(res->loop, &r->local.op, read_fail_done, -EIO);
	} else if (r->local.cmd == DISK_CACHE) {
		loop_defer(res->loop, &r->local.op, read_fail_done, 0);
	} else {
		remote_read_submit(res, r);
	}
}

static void read_done(struct disk_io *io, int err)
{
	struct blk_req *r = container_of(io, struct blk_req, local);
	struct resource *res = r->res;

	if (err == 0 && io->cmd == DISK_READ)
		res->read_bytes += io->len;
	/* The disk failed it and is being detached: the peer may have it. */
	if (err < 0 && !resource_has_disk(res) && io->cmd == DISK_READ &&
	    writepath_data_on_peer(res)) {
		remote_read_submit(res, r);
		return;
	}
	r->done(r, err);
}

void resource_submit(struct resource *res, struct blk_req *r)
{
	r->res = res;
	if (r->local.cmd == DISK_READ || r->local.cmd == DISK_CACHE) {
		r->local.done = read_done;
		if (!resource_has_disk(res)) {
			read_without_disk(res, r);
			return;
		}
		/* A Primary SyncTarget reads a block once it has it from the
		 * source (asked for first); a freshly promoted Primary once
		 * the old Primary's writes to it are applied. */
		if (resync_target_lacks(res, r->local.off, r->local.len) ||
		    receiver_overlaps(res, r->local.off, r->local.len)) {
			r->next = res->reads_waiting;
			res->reads_waiting = r;
			return;
		}
		if (lacks_for_good(res, &r->local)) {
			r->done(r, -EIO);
			return;
		}
		disk_submit(&res->disk, &r->local);
		return;
	}
	writepath_submit(res, r);
}

void resource_tick(struct resource *res, uint64_t now_ms)
{
	/* Every callback before this one committed what its steps asked. */
	assert(res->acts == 0 && "a state change whose actions never ran");
	resync_rate_tick(res, RESOURCE_TICK_MS);
	meta_bitmap_save(&res->meta);
	writepath_tick(res, now_ms);
	if (now_ms - res->status_tick_ms >= 1000) {
		res->status_tick_ms = now_ms;
		resync_update_status(res, now_ms);
		resync_target_tick(res);
		res->wp.app_busy = res->wp.active != NULL;
	}
	resync_pump(res);
	verify_pump(res);
}

void resource_observe(struct resource *res,
		      const struct resource_observer *obs, void *arg)
{
	res->observer = obs;
	res->observer_arg = arg;
}

static void event(struct resource *res, const char *what)
{
	peer_note_state(res);
	resync_note_state(res);
	log_info("%s: role %s, disk %s; peer %s %s %s, replication %s", what,
		 role_name(res->st.role), disk_state_name(res->st.disk_state),
		 conn_state_name(res->st.peer_conn), role_name(res->st.peer_role),
		 disk_state_name(res->st.peer_disk), repl_state_name(res->st.repl));
	if (res->observer)
		res->observer->event(res->observer_arg, res, what);
}

int resource_hook(struct resource *res, const char *path, const char *name,
		  void (*done)(struct hook_run *h, int result), void *arg)
{
	return resource_hook_run(res, path, name, done, arg, 0);
}

int resource_hook_run(struct resource *res, const char *path, const char *name,
		      void (*done)(struct hook_run *h, int result), void *arg,
		      uint64_t cookie)
{
	const struct config *cfg = res->cfg;
	struct hook_env env = {
		.resource = res->name,
		.node = res->node,
		.peer = res->peer_name,
		.peer_address = cfg->peer >= 0 ? cfg->nodes[cfg->peer].address : "",
		.role = role_name(res->st.role),
	};

	if (!path || !path[0])
		return 0;
	for (unsigned i = 0; i < sizeof(res->hooks) / sizeof(res->hooks[0]); i++)
		if (!res->hook_ops->running(&res->hooks[i])) {
			int ret = res->hook_ops->start(&res->hooks[i], res->loop,
						       path, name, &env,
						       cfg->hook_timeout_ms,
						       done, arg);

			res->hooks[i].cookie = cookie;
			return ret;
		}
	log_err("hook %s not run: too many hooks running", name);
	return -EBUSY;
}

/* A read or write of the backing disk failed: tell the operator's hook,
 * at most once every 10 seconds (a dying disk fails every request). */
void resource_local_io_error(struct resource *res, int err)
{
	uint64_t now = clock_coarse_ms() / 1000;

	res->io_errors++;
	if (res->last_io_error_hook_s && now - res->last_io_error_hook_s < 10)
		return;
	res->last_io_error_hook_s = now ? now : 1;
	log_err("local I/O error: %s (%llu so far)", strerror(-err),
		(unsigned long long)res->io_errors);
	resource_hook(res, res->cfg->local_io_error, "local-io-error", NULL, NULL);
}

/* Resync data arrived (or the resync ended): reads that waited for it. */
void resource_retry_reads(struct resource *res)
{
	struct blk_req *list = res->reads_waiting, **keep = &res->reads_waiting;

	res->reads_waiting = NULL;
	while (list) {
		struct blk_req *r = list;

		list = r->next;
		r->next = NULL;
		if (resync_target_waits(res, r->local.off, r->local.len) ||
		    receiver_overlaps(res, r->local.off, r->local.len)) {
			*keep = r;	/* still waiting: keep, no new request */
			keep = &r->next;
			continue;
		}
		if (!resource_has_disk(res))
			read_without_disk(res, r);
		else if (lacks_for_good(res, &r->local))
			r->done(r, -EIO);
		else
			disk_submit(&res->disk, &r->local);
	}
}
