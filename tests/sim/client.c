/* client.c - see client.h. */
#include "client.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "sim.h"

enum creq_kind { CR_READ, CR_WRITE, CR_TRIM, CR_ZERO, CR_FLUSH, CR_AUDIT };

struct creq {
	struct blk_req blk;
	bool busy;
	int node;
	enum creq_kind kind;
	uint64_t block;		/* index into the oracle */
	uint64_t gen;		/* writes */
	uint64_t floor;		/* reads: the promise when issued */
	bool check;		/* reads: compare with floor */
	uint64_t token;		/* flushes */
	uint8_t *buf;
};

static struct {
	struct client_knobs k;
	struct creq slot[CLIENT_SLOTS];
	struct creq audit[8];
	uint64_t nblocks;
	uint64_t ws[CLIENT_WORKING_SET];
	struct sim_event ev;
	/* audit in progress */
	int audit_node;
	int audit_promise;
	unsigned audit_next, audit_left;
	bool auditing;
	char audit_why[64];
} cl;

uint64_t client_local_only_acks;

static const char *const kind_name[] = { "read", "write", "trim", "zero",
					 "flush", "audit-read" };

uint64_t client_block(unsigned i)
{
	return cl.ws[i];
}

void client_init(const struct client_knobs *k, uint64_t nblocks)
{
	memset(&cl, 0, sizeof(cl));
	cl.k = *k;
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
	for (unsigned i = 0; i < CLIENT_SLOTS; i++)
		cl.slot[i].buf = aligned_alloc(4096, ORACLE_BLOCK);
	for (unsigned i = 0; i < 8; i++)
		cl.audit[i].buf = aligned_alloc(4096, ORACLE_BLOCK);
	sched_event_init(&cl.ev);
}

void client_fini(void)
{
	sched_cancel(&sim_run->sched, &cl.ev);
	for (unsigned i = 0; i < CLIENT_SLOTS; i++)
		free(cl.slot[i].buf);
	for (unsigned i = 0; i < 8; i++)
		free(cl.audit[i].buf);
}

static struct sim_node *primary(void)
{
	for (int i = 0; i < SIM_NODES; i++) {
		struct sim_node *n = sim_run->node[i];

		if (n && n->res.role == ROLE_PRIMARY)
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

static bool replicating(const struct resource *res)
{
	return res->repl == RS_ESTABLISHED || res->repl == RS_SYNC_SOURCE ||
	       res->repl == RS_PAUSED_SYNC_S || res->repl == RS_VERIFY_S ||
	       res->repl == RS_VERIFY_T;
}

static void check_read(struct creq *q, int promise_kind)
{
	uint64_t found = oracle_parse(q->block, q->buf);
	char why[256];

	if (!q->check && found != (uint64_t)-1 &&
	    found <= sim_run->oracle.b[q->block].issued)
		return;
	if (!oracle_allows_floor(&sim_run->oracle, q->block, found,
				 q->check ? q->floor : 0, why, sizeof(why)))
		sim_fail("invariant %d: %s on n%d: %s", promise_kind,
			 kind_name[q->kind], q->node, why);
}

static void audit_pump(void);

static void creq_done(struct blk_req *b, int err)
{
	struct creq *q = (struct creq *)b;
	struct oracle *o = &sim_run->oracle;
	struct sim_node *n = sim_run->node[q->node];

	q->busy = false;
	sim_trace("n%d client: %s of block %llu done: %d", q->node,
		  kind_name[q->kind], (unsigned long long)q->block, err);
	switch (q->kind) {
	case CR_WRITE:
	case CR_TRIM:
	case CR_ZERO:
		if (err) {
			oracle_failed(o, q->block, q->gen);
			break;
		}
		oracle_acked(o, q->block, q->gen);
		/* Acknowledged alone, without having fenced the peer: the
		 * peer may be promoted without it (a split brain). */
		if (n && !replicating(&n->res) &&
		    !(n->res.meta.sb.flags & MDF_PEER_OUTDATED))
			client_local_only_acks++;
		sim_write_acked(q->node, q->gen);
		break;
	case CR_FLUSH:
		if (!err)
			oracle_flush_done(o, q->token);
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
		break;
	}
}

static void submit(struct sim_node *n, struct creq *q, enum disk_cmd cmd,
		   uint32_t flags)
{
	memset(&q->blk, 0, sizeof(q->blk));
	q->busy = true;
	q->node = n->idx;
	q->blk.local.cmd = cmd;
	q->blk.local.flags = flags;
	q->blk.local.off = q->block * ORACLE_BLOCK;
	q->blk.local.len = cmd == DISK_FLUSH ? 0 : ORACLE_BLOCK;
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

static void issue_one(struct sim_node *n)
{
	struct creq *q = free_slot();
	struct oracle *o = &sim_run->oracle;
	unsigned r = (unsigned)rng_below(&sim_run->rng, 100);
	bool fua = rng_below(&sim_run->rng, 100) < cl.k.pct_fua;

	if (!q)
		return;
	q->block = cl.ws[rng_below(&sim_run->rng, CLIENT_WORKING_SET)];
	if (r < cl.k.pct_flush) {
		q->kind = CR_FLUSH;
		q->block = 0;
		q->token = oracle_flush_token(o);
		sim_trace("n%d client: flush", n->idx);
		submit(n, q, DISK_FLUSH, 0);
		return;
	}
	if (r < cl.k.pct_flush + cl.k.pct_read) {
		q->kind = CR_READ;
		q->check = sim_promise_holds(ORACLE_ACKED);
		q->floor = oracle_floor(o, q->block, ORACLE_ACKED);
		sim_trace("n%d client: read block %llu", n->idx,
			  (unsigned long long)q->block);
		submit(n, q, DISK_READ, 0);
		return;
	}
	if (o->b[q->block].inflight)
		return;		/* one write per block at a time */
	r -= cl.k.pct_flush + cl.k.pct_read;
	q->kind = r < cl.k.pct_trim ? CR_TRIM :
		  r < cl.k.pct_trim + cl.k.pct_zero ? CR_ZERO : CR_WRITE;
	q->gen = oracle_issue(o, q->block, q->kind != CR_WRITE);
	if (q->kind == CR_WRITE)
		oracle_fill(q->block, q->gen, q->buf);
	sim_trace("n%d client: %s%s block %llu generation %llu", n->idx,
		  kind_name[q->kind], fua ? " (FUA)" : "",
		  (unsigned long long)q->block, (unsigned long long)q->gen);
	submit(n, q, q->kind == CR_WRITE ? DISK_WRITE :
		     q->kind == CR_TRIM ? DISK_TRIM : DISK_ZERO,
	       fua ? DISK_F_FUA : 0);
}

static void client_fire(struct sim_event *ev)
{
	struct sim_node *n = primary();

	(void)ev;
	if (n && !cl.auditing && client_inflight(n->idx) < cl.k.depth &&
	    !sim_client_paused())
		issue_one(n);
	sched_after(&sim_run->sched, &cl.ev,
		    rng_range(&sim_run->rng, cl.k.gap_min_us, cl.k.gap_max_us),
		    client_fire, NULL, "client");
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
		q->busy = false;
		if (q->kind == CR_WRITE || q->kind == CR_TRIM || q->kind == CR_ZERO)
			oracle_failed(&sim_run->oracle, q->block, q->gen);
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
	for (unsigned i = 0; i < 8 && cl.audit_next < CLIENT_WORKING_SET; i++) {
		struct creq *q = &cl.audit[i];

		if (q->busy)
			continue;
		q->kind = CR_AUDIT;
		q->block = cl.ws[cl.audit_next++];
		q->check = true;
		q->floor = oracle_floor(&sim_run->oracle, q->block,
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
