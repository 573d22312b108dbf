/* client.c - see client.h. */
#include "client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "blockd/daemon/nbd_backend.h"
#include "blockd/engine/resync.h"
#include "node.h"
#include "sim.h"
#include "stop.h"

enum creq_kind { CR_READ, CR_WRITE, CR_TRIM, CR_ZERO, CR_FLUSH, CR_AUDIT };

struct creq {
	struct blk_req blk;
	bool busy;		/* issued, or waiting for its buffer */
	bool waiting;		/* no buffer yet: nothing reached the engine */
	int node;
	enum creq_kind kind;
	uint64_t block;		/* first block, an index into the oracle */
	uint32_t nblocks;
	uint64_t *v;		/* per block: write generations, read floors */
	bool check;		/* reads: compare with the floors */
	bool fua;		/* a write waiting for its buffer */
	uint64_t token;		/* flushes */
	uint64_t issued_us;
	uint8_t *buf;		/* the pool's (READ/WRITE) or the audit's own */
};

static struct {
	struct client_knobs k;
	struct creq slot[CLIENT_SLOTS];
	struct creq audit[8];
	uint64_t audit_v[8];
	uint64_t nblocks;
	uint64_t ws[CLIENT_WORKING_SET];
	struct sim_event ev;
	/* The request the pool could not serve yet: the connection parses
	 * nothing after it until a put wakes it (nbd/conn.c). */
	struct creq *pend;
	struct bufpool_waiter buf_wait;
	bool stopped;
	uint64_t next_us;	/* bytes_per_s: no READ/WRITE before this */
	/* audit in progress */
	int audit_node;
	int audit_promise;
	unsigned audit_next, audit_left;
	bool auditing;
	char audit_why[64];
} cl;

uint64_t client_local_only_acks;


uint64_t client_block(unsigned i)
{
	return cl.ws[i];
}

/* NBD_BLOCK_MAX of nbd/server_priv.h (private to nbd/): the largest
 * payload the server ever advertises. */
#define CLIENT_NBD_BLOCK_MAX (32ULL << 20)
/* nbd_export.pool_reserve as blockd/daemon/nbd_backend.c sets it: the
 * bytes of the pool READ/WRITE buffers never take (one resync chunk). */
#define CLIENT_POOL_RESERVE NBD_BACKEND_POOL_RESERVE

uint32_t client_blocks_max(uint64_t pool_bytes, uint64_t disk_blocks)
{
	uint64_t max = CLIENT_NBD_BLOCK_MAX;

	if (pool_bytes <= CLIENT_POOL_RESERVE)
		return 1;
	if (max > pool_bytes - CLIENT_POOL_RESERVE)
		max = pool_bytes - CLIENT_POOL_RESERVE;
	max /= ORACLE_BLOCK;
	if (max > disk_blocks)
		max = disk_blocks;
	return max ? (uint32_t)max : 1;
}

void client_init(const struct client_knobs *k, uint64_t nblocks)
{
	memset(&cl, 0, sizeof(cl));
	cl.k = *k;
	if (cl.k.blocks_max < 1)
		cl.k.blocks_max = 1;
	cl.nblocks = nblocks;
	client_local_only_acks = 0;
	/* Half the working set in the first activity log extent (writes
	 * there conflict often), the rest spread over the disk. */
	for (unsigned i = 0; i < CLIENT_WORKING_SET; i++)
		cl.ws[i] = i < CLIENT_WORKING_SET / 2 ? i :
			   (uint64_t)(i - CLIENT_WORKING_SET / 2) * 37 % nblocks;
	for (unsigned i = 0; i < CLIENT_WORKING_SET / 2; i++)
		if (cl.ws[CLIENT_WORKING_SET / 2 + i] < CLIENT_WORKING_SET / 2)
			cl.ws[CLIENT_WORKING_SET / 2 + i] += CLIENT_WORKING_SET;
	for (unsigned i = 0; i < CLIENT_SLOTS; i++) {
		cl.slot[i].v = calloc(cl.k.blocks_max, sizeof(uint64_t));
		if (!cl.slot[i].v)
			sim_fail("out of memory");
	}
	for (unsigned i = 0; i < 8; i++) {
		cl.audit[i].buf = aligned_alloc(4096, ORACLE_BLOCK);
		cl.audit[i].v = &cl.audit_v[i];
		cl.audit[i].nblocks = 1;
	}
	sched_event_init(&cl.ev);
}

void client_fini(void)
{
	struct sim_node *n;

	sched_cancel(&sim_run->sched, &cl.ev);
	if (cl.pend && (n = sim_run->node[cl.pend->node]))
		bufpool_cancel_wait(&n->res.pool, &cl.buf_wait);
	cl.pend = NULL;
	for (unsigned i = 0; i < CLIENT_SLOTS; i++)
		free(cl.slot[i].v);
	for (unsigned i = 0; i < 8; i++)
		free(cl.audit[i].buf);
}

void client_stop(void)
{
	cl.stopped = true;
}

static const char *const kind_name_[] = { "read", "write", "trim", "zero",
					  "flush", "audit-read" };

bool client_oldest(uint64_t *issued_us, char *what, size_t len)
{
	const struct creq *o = NULL;

	for (unsigned i = 0; i < CLIENT_SLOTS; i++) {
		const struct creq *q = &cl.slot[i];

		if (q->busy && (!o || q->issued_us < o->issued_us))
			o = q;
	}
	if (!o)
		return false;
	*issued_us = o->issued_us;
	snprintf(what, len, "n%d client: %s of %u block%s from block %llu%s",
		 o->node, kind_name_[o->kind], o->nblocks,
		 o->nblocks == 1 ? "" : "s", (unsigned long long)o->block,
		 o->waiting ? " (waiting for a pool buffer)" : "");
	return true;
}

static struct sim_node *primary(void)
{
	for (int i = 0; i < SIM_NODES; i++) {
		struct sim_node *n = sim_run->node[i];

		if (n && n->res.st.role == ROLE_PRIMARY)
			return n;
	}
	return NULL;
}

unsigned client_inflight(int idx)
{
	unsigned c = 0;

	for (unsigned i = 0; i < CLIENT_SLOTS; i++)
		c += cl.slot[i].busy && cl.slot[i].node == idx;
	return c;
}

bool client_busy(int idx)
{
	return client_inflight(idx) || (cl.auditing && cl.audit_node == idx);
}

static bool replicating(const struct resource *res)
{
	return res->st.repl == RS_ESTABLISHED || res->st.repl == RS_SYNC_SOURCE ||
	       res->st.repl == RS_PAUSED_SYNC_S || res->st.repl == RS_VERIFY_S ||
	       res->st.repl == RS_VERIFY_T;
}

static void check_read(struct creq *q, int promise_kind)
{
	for (uint32_t i = 0; i < q->nblocks; i++) {
		uint64_t blk = q->block + i;
		uint64_t found = oracle_parse(blk, q->buf + (size_t)i * ORACLE_BLOCK);
		char why[256];

		if (!q->check && found != (uint64_t)-1 &&
		    found <= sim_run->oracle.b[blk].issued)
			continue;
		if (!oracle_allows_floor(&sim_run->oracle, blk, found,
					 q->check ? q->v[i] : 0, why, sizeof(why)))
			sim_fail("invariant %d: %s of %u blocks from %llu on n%d: %s",
				 promise_kind, kind_name_[q->kind], q->nblocks,
				 (unsigned long long)q->block, q->node, why);
	}
}

static void audit_pump(void);

static void write_done(struct creq *q, struct sim_node *n, int err)
{
	struct oracle *o = &sim_run->oracle;

	for (uint32_t i = 0; i < q->nblocks; i++) {
		if (err) {
			oracle_failed(o, q->block + i, q->v[i]);
			continue;
		}
		oracle_acked(o, q->block + i, q->v[i]);
		order_acked(&sim_run->order, q->block + i, q->v[i], o->next_gen,
			    q->kind != CR_WRITE, q->node);
		sim_write_acked(q->node, q->v[i]);
	}
	/* Acknowledged alone, without having fenced the peer: the peer may
	 * be promoted without it (a split brain). */
	if (!err && n && !replicating(&n->res) &&
	    !(n->res.meta.sb.flags & MDF_PEER_OUTDATED))
		client_local_only_acks++;
}

static void creq_done(struct blk_req *b, int err)
{
	struct creq *q = (struct creq *)b;
	struct sim_node *n = sim_run->node[q->node];

	q->busy = false;
	sim_trace("n%d client: %s of %u block%s from %llu done: %d", q->node,
		  kind_name_[q->kind], q->nblocks, q->nblocks == 1 ? "" : "s",
		  (unsigned long long)q->block, err);
	switch (q->kind) {
	case CR_WRITE:
	case CR_TRIM:
	case CR_ZERO:
		write_done(q, n, err);
		break;
	case CR_FLUSH:
		if (!err)
			oracle_flush_done(&sim_run->oracle, q->token);
		break;
	case CR_READ:
		if (!err)
			check_read(q, 1);
		break;
	case CR_AUDIT:
		if (!err)
			check_read(q, cl.audit_promise == ORACLE_ACKED ? 1 : 5);
		cl.audit_left--;
		audit_pump();
		return;
	}
	/* The reply left: the NBD request gives its buffer back. */
	if ((q->kind == CR_READ || q->kind == CR_WRITE) && n)
		bufpool_put(&n->res.pool, q->buf, (size_t)q->nblocks * ORACLE_BLOCK);
}

static void submit(struct sim_node *n, struct creq *q, enum disk_cmd cmd,
		   uint32_t flags)
{
	memset(&q->blk, 0, sizeof(q->blk));
	q->busy = true;
	q->waiting = false;
	q->node = n->idx;
	q->blk.local.cmd = cmd;
	q->blk.local.flags = flags;
	q->blk.local.off = q->block * ORACLE_BLOCK;
	q->blk.local.len = cmd == DISK_FLUSH ? 0 : q->nblocks * ORACLE_BLOCK;
	q->blk.local.buf = q->buf;
	q->blk.done = creq_done;
	sim_run->current = n->idx;
	resource_submit(&n->res, &q->blk);
}

static struct creq *free_slot(void)
{
	for (unsigned i = 0; i < CLIENT_SLOTS; i++)
		if (!cl.slot[i].busy)
			return &cl.slot[i];
	return NULL;
}

/* How many blocks a READ or WRITE covers (its own stream of randomness:
 * a run without large requests draws as it did before they existed). */
static uint32_t draw_nblocks(void)
{
	struct rng *r = &sim_run->rng_size;
	unsigned bits = 0;
	uint64_t lo, hi;

	if (cl.k.blocks_max <= 1 || rng_below(r, 100) >= cl.k.pct_multi)
		return 1;
	while ((2ULL << bits) <= cl.k.blocks_max)
		bits++;
	bits = (unsigned)rng_below(r, bits + 1);
	lo = 1ULL << bits;
	hi = (2ULL << bits) - 1;
	if (hi > cl.k.blocks_max)
		hi = cl.k.blocks_max;
	return (uint32_t)rng_range(r, lo, hi);
}

/* The READ or WRITE has its buffer: fill in what the oracle says and
 * hand it to the engine. */
static void start_rw(struct sim_node *n, struct creq *q, bool fua)
{
	struct oracle *o = &sim_run->oracle;

	q->issued_us = sim_now_us();
	if (cl.k.bytes_per_s)
		cl.next_us = sim_now_us() + (uint64_t)q->nblocks * ORACLE_BLOCK *
			     1000000 / cl.k.bytes_per_s;
	if (q->kind == CR_READ) {
		q->check = sim_promise_holds(ORACLE_ACKED);
		for (uint32_t i = 0; i < q->nblocks; i++)
			q->v[i] = oracle_floor(o, q->block + i, ORACLE_ACKED);
		sim_trace("n%d client: read %u block%s from %llu", n->idx,
			  q->nblocks, q->nblocks == 1 ? "" : "s",
			  (unsigned long long)q->block);
		submit(n, q, DISK_READ, 0);
		return;
	}
	for (uint32_t i = 0; i < q->nblocks; i++) {
		q->v[i] = oracle_issue(o, q->block + i, false);
		oracle_fill(q->block + i, q->v[i], q->buf + (size_t)i * ORACLE_BLOCK);
	}
	sim_trace("n%d client: write%s %u block%s from %llu generation %llu",
		  n->idx, fua ? " (FUA)" : "", q->nblocks,
		  q->nblocks == 1 ? "" : "s", (unsigned long long)q->block,
		  (unsigned long long)q->v[0]);
	submit(n, q, DISK_WRITE, fua ? DISK_F_FUA : 0);
}

static void buf_ready(struct bufpool_waiter *w);

/* A READ/WRITE buffer as nbd/conn.c takes it: never the backend's
 * reserve (a resync chunk); none free, and the connection waits. */
static void take_buffer(struct sim_node *n, struct creq *q, bool fua)
{
	size_t len = (size_t)q->nblocks * ORACLE_BLOCK;

	q->buf = bufpool_get_leaving(&n->res.pool, len, CLIENT_POOL_RESERVE);
	if (q->buf) {
		cl.pend = NULL;
		start_rw(n, q, fua);
		return;
	}
	if (!q->waiting)
		sim_trace("n%d client: %s of %u blocks waits for a pool buffer "
			  "(%u of %u chunks free)", n->idx, kind_name_[q->kind],
			  q->nblocks, n->res.pool.free_chunks, n->res.pool.nchunks);
	q->busy = q->waiting = true;
	q->fua = fua;
	cl.pend = q;
	bufpool_wait(&n->res.pool, &n->sl.loop, &cl.buf_wait, buf_ready);
}

static void buf_ready(struct bufpool_waiter *w)
{
	struct creq *q = cl.pend;
	struct sim_node *n;

	(void)w;
	if (!q)
		return;
	n = sim_run->node[q->node];
	if (!n || n->res.st.role != ROLE_PRIMARY) {
		sim_trace("n%d client: %s waiting for a buffer dropped: the node "
			  "is no longer Primary", q->node, kind_name_[q->kind]);
		q->busy = q->waiting = false;
		cl.pend = NULL;
		return;
	}
	take_buffer(n, q, q->fua);
}

/* q waits for a buffer of node idx's pool, still before the engine:
 * only the wait to undo. */
static void drop_waiting(struct creq *q, int idx)
{
	bufpool_cancel_wait(&sim_run->node[idx]->res.pool, &cl.buf_wait);
	q->busy = q->waiting = false;
	cl.pend = NULL;
}

void client_node_draining(int idx)
{
	struct creq *q = cl.pend;

	if (!q || q->node != idx || !q->waiting)
		return;
	sim_trace("n%d client: %s waiting for a buffer dropped: the server "
		  "reads no new request", idx, kind_name_[q->kind]);
	drop_waiting(q, idx);
}

static void issue_one(struct sim_node *n)
{
	struct creq *q = free_slot();
	struct oracle *o = &sim_run->oracle;
	unsigned r = (unsigned)rng_below(&sim_run->rng, 100);
	bool fua = rng_below(&sim_run->rng, 100) < cl.k.pct_fua;

	if (!q)
		return;
	q->node = n->idx;
	q->issued_us = sim_now_us();
	q->block = cl.ws[rng_below(&sim_run->rng, CLIENT_WORKING_SET)];
	q->nblocks = 1;
	if (r < cl.k.pct_flush) {
		q->kind = CR_FLUSH;
		q->block = 0;
		q->token = oracle_flush_token(o);
		sim_trace("n%d client: flush", n->idx);
		submit(n, q, DISK_FLUSH, 0);
		return;
	}
	if (r >= cl.k.pct_flush + cl.k.pct_read + cl.k.pct_trim + cl.k.pct_zero ||
	    r < cl.k.pct_flush + cl.k.pct_read) {
		q->nblocks = draw_nblocks();
		if (q->block + q->nblocks > cl.nblocks)
			q->block = cl.nblocks - q->nblocks;
	}
	if (r < cl.k.pct_flush + cl.k.pct_read) {
		q->kind = CR_READ;
		take_buffer(n, q, false);
		return;
	}
	for (uint32_t i = 0; i < q->nblocks; i++)
		if (o->b[q->block + i].inflight)
			return;		/* one write per block at a time */
	r -= cl.k.pct_flush + cl.k.pct_read;
	q->kind = r < cl.k.pct_trim ? CR_TRIM :
		  r < cl.k.pct_trim + cl.k.pct_zero ? CR_ZERO : CR_WRITE;
	if (q->kind == CR_WRITE) {
		take_buffer(n, q, fua);
		return;
	}
	q->v[0] = oracle_issue(o, q->block, true);
	order_zero_issued(&sim_run->order, q->block, q->v[0]);
	sim_trace("n%d client: %s%s block %llu generation %llu", n->idx,
		  kind_name_[q->kind], fua ? " (FUA)" : "",
		  (unsigned long long)q->block, (unsigned long long)q->v[0]);
	submit(n, q, q->kind == CR_TRIM ? DISK_TRIM : DISK_ZERO,
	       fua ? DISK_F_FUA : 0);
}

static void client_fire(struct sim_event *ev)
{
	struct sim_node *n = primary();
	uint64_t gap;

	(void)ev;
	if (n && !cl.auditing && !cl.pend && !cl.stopped &&
	    !sim_node_stopping(n->idx) &&
	    client_inflight(n->idx) < cl.k.depth && !sim_client_paused())
		issue_one(n);
	gap = rng_range(&sim_run->rng, cl.k.gap_min_us, cl.k.gap_max_us);
	if (cl.next_us > sim_now_us() + gap)
		gap = cl.next_us - sim_now_us();
	sched_after(&sim_run->sched, &cl.ev, gap, client_fire, NULL, "client");
}

void client_start(void)
{
	sched_after(&sim_run->sched, &cl.ev, 1000, client_fire, NULL, "client");
}

void client_node_gone(int idx)
{
	for (unsigned i = 0; i < CLIENT_SLOTS; i++) {
		struct creq *q = &cl.slot[i];

		if (!q->busy || q->node != idx)
			continue;
		if (q->waiting) {
			drop_waiting(q, idx);
			continue;
		}
		q->busy = false;
		if (q->kind == CR_WRITE || q->kind == CR_TRIM || q->kind == CR_ZERO)
			for (uint32_t b = 0; b < q->nblocks; b++)
				oracle_failed(&sim_run->oracle, q->block + b,
					      q->v[b]);
	}
	if (cl.auditing && cl.audit_node == idx) {
		for (unsigned i = 0; i < 8; i++)
			cl.audit[i].busy = false;
		cl.auditing = false;
		sim_trace("n%d audit abandoned: the node is gone", idx);
	}
}

static void audit_pump(void)
{
	struct sim_node *n = sim_run->node[cl.audit_node];

	if (!cl.auditing)
		return;
	if (!n) {
		cl.auditing = false;
		return;
	}
	/* A write acknowledged meanwhile by the other node alone (dont-care,
	 * across a cut) voids the promise: reads issued from now on have
	 * nothing to meet. Those in flight keep the floor they took. */
	if (!sim_promise_holds(cl.audit_promise) &&
	    cl.audit_next < CLIENT_WORKING_SET) {
		sim_trace("n%d audit (%s) cut short after %u blocks: the promise "
			  "no longer holds", cl.audit_node, cl.audit_why,
			  cl.audit_next);
		cl.audit_left -= CLIENT_WORKING_SET - cl.audit_next;
		cl.audit_next = CLIENT_WORKING_SET;
	}
	for (unsigned i = 0; i < 8 && cl.audit_next < CLIENT_WORKING_SET; i++) {
		struct creq *q = &cl.audit[i];

		if (q->busy)
			continue;
		q->kind = CR_AUDIT;
		q->block = cl.ws[cl.audit_next++];
		q->check = true;
		q->v[0] = oracle_floor(&sim_run->oracle, q->block,
				       (enum oracle_promise)cl.audit_promise);
		submit(n, q, DISK_READ, 0);
	}
	if (cl.audit_left == 0) {
		cl.auditing = false;
		sim_trace("n%d audit (%s) passed: %u blocks", cl.audit_node,
			  cl.audit_why, CLIENT_WORKING_SET);
	}
}

void client_audit(int idx, int promise, const char *why)
{
	if (cl.auditing)
		return;
	cl.auditing = true;
	cl.audit_node = idx;
	cl.audit_promise = promise;
	cl.audit_next = 0;
	cl.audit_left = CLIENT_WORKING_SET;
	snprintf(cl.audit_why, sizeof(cl.audit_why), "%s", why);
	sim_trace("n%d audit: reading %u blocks (%s)", idx, CLIENT_WORKING_SET,
		  why);
	audit_pump();
}

bool client_auditing(void)
{
	return cl.auditing;
}
