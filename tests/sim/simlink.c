/* simlink.c - see simnet.h: transport/link.h over the simulated network.
 *
 * Matches transport/link.c where the engine can tell: sent() means the
 * frame left for the socket (here: it fit in the connection's buffer);
 * callbacks never run inside a link_*() call (down() and sent() are
 * deferred on the loop, up() and frames come from scheduler events);
 * down() of a connection runs before up() of the next; each up
 * connection has its own generation; a frame the owner is not ready for
 * stays, and nothing after it is read, until sim_link_kick().
 */
#include "transport/link.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/container_of.h"
#include "sim.h"
#include "simbuf.h"
#include "simnet.h"

#define LINK_RETRY_MIN_MS 100

struct simframe {
	struct simframe *next;
	uint64_t at_us;		/* arrival */
	bool fin;		/* the sender closed its end */
	uint32_t bytes;		/* header + payload, against the buffer */
	uint8_t raw[FRAME_HDR_BYTES];
	uint8_t *payload;
};

struct simconn;

/* One side of a connection: what travels toward it and who reads it. */
struct simend {
	struct simconn *c;
	int node;
	struct sim_link *k;		/* NULL once its side closed */
	struct simframe *head, *tail;	/* toward this end */
	uint64_t last_at_us;
	uint64_t pipe_bytes;	/* sent toward it, not yet taken */
	struct sim_event arrive_ev;
};

struct simconn {
	uint64_t id;
	bool dead;		/* cut: nothing more is delivered */
	struct simend end[SIM_NODES];
	unsigned open_ends;
};

struct simnet {
	struct simnet_knobs k;
	bool cut;
	uint64_t stall_until_us;
	uint64_t next_id;
	struct sim_link *side[SIM_NODES];
};

struct sim_link {
	struct link base;	/* first: its impl is simlink_impl */
	struct loop *loop;
	struct bufpool *pool;
	struct link_config cfg;
	const struct link_ops *ops;
	void *owner;
	struct simnet *net;
	int node, peer;
	bool dialer;
	bool want_connected, shutting_down;
	struct simconn *conn;	/* the connection this side has open */
	struct link_tx *txq, *txq_tail;	/* not yet in the connection's buffer */
	bool close_when_sent;
	char why[160];
	bool stalled;		/* not reading: owner not ready, or no buffer */
	struct bufpool_waiter buf_wait;
	bool kick_queued;
	struct loop_op kick_op;
	bool down_queued;
	struct loop_op down_op;
	char down_why[160];
	uint32_t backoff_ms;
	struct sim_event dial_ev, up_ev, timeout_ev;
};

static struct sim_link *sim_of(struct link *b)
{
	return container_of(b, struct sim_link, base);
}

static struct simend *end_of(struct sim_link *k)
{
	return &k->conn->end[k->node];
}

static struct simend *peer_end(struct sim_link *k)
{
	return &k->conn->end[k->peer];
}

static void in_node(int node)
{
	sim_run->current = node;
}

struct simnet *simnet_new(const struct simnet_knobs *k)
{
	struct simnet *n = calloc(1, sizeof(*n));

	if (!n)
		sim_fail("out of memory");
	n->k = *k;
	return n;
}

/* ---- frames on the wire ---------------------------------------------- */

static void frame_free(struct simframe *f)
{
	simbuf_free(f->payload);
	free(f);
}

static void wire_drop(struct simend *e)
{
	while (e->head) {
		struct simframe *f = e->head;

		e->head = f->next;
		frame_free(f);
	}
	e->tail = NULL;
	sched_cancel(&sim_run->sched, &e->arrive_ev);
}

static void end_arrive(struct sim_event *ev);

static void wire_arm(struct simend *e)
{
	if (!e->head || sched_queued(&e->arrive_ev))
		return;
	sched_after(&sim_run->sched, &e->arrive_ev,
		    e->head->at_us > sim_now_us() ? e->head->at_us - sim_now_us() : 0,
		    end_arrive, e, "frame");
}

static void wire_push(struct simnet *n, struct simend *to, struct simframe *f)
{
	uint64_t at = sim_now_us() +
		rng_range(&sim_run->rng_net, n->k.delay_min_us, n->k.delay_max_us);

	if (at < n->stall_until_us)
		at = n->stall_until_us;
	if (at < to->last_at_us)
		at = to->last_at_us;	/* in order */
	to->last_at_us = at;
	f->at_us = at;
	f->next = NULL;
	if (to->tail)
		to->tail->next = f;
	else
		to->head = f;
	to->tail = f;
	wire_arm(to);
}

static void conn_put(struct simconn *c)
{
	if (--c->open_ends)
		return;
	for (int i = 0; i < SIM_NODES; i++)
		wire_drop(&c->end[i]);
	free(c);
}

/* ---- closing ----------------------------------------------------------- */

static void tx_fail_run(struct loop_op *op, int res)
{
	struct link_tx *tx = (struct link_tx *)((char *)op -
						offsetof(struct link_tx, op));

	tx->queued = false;
	if (tx->sent)
		tx->sent(tx, res);
}

static void down_run(struct loop_op *op, int res)
{
	struct sim_link *k = (struct sim_link *)((char *)op - offsetof(struct sim_link, down_op));

	(void)res;
	k->down_queued = false;
	k->ops->down(k->owner, k->down_why);
}

static void dial_arm(struct sim_link *k);

static void side_close(struct sim_link *k, const char *why, bool owner_alive);

static void reset_fire(struct sim_event *ev)
{
	struct sim_link *k = ev->arg;

	in_node(k->node);
	side_close(k, "connection reset by peer (its process is gone)", true);
}

/* This side closes its end of the connection. The peer hears of it
 * through a FIN behind the frames already sent, unless the connection
 * is dead (then its own ping timeout tells it). */
static void side_close(struct sim_link *k, const char *why, bool owner_alive)
{
	struct simconn *c = k->conn;
	struct simend *me, *other;

	if (!c)
		return;
	me = end_of(k);
	other = peer_end(k);
	sim_trace("n%d link: connection %llu closed: %s", k->node,
		  (unsigned long long)c->id, why);
	sched_cancel(&sim_run->sched, &k->up_ev);
	sched_cancel(&sim_run->sched, &k->timeout_ev);
	bufpool_cancel_wait(k->pool, &k->buf_wait);
	k->stalled = false;
	k->close_when_sent = false;
	wire_drop(me);
	me->k = NULL;
	if (other->k && !c->dead) {
		struct simframe *f = calloc(1, sizeof(*f));

		if (!f)
			sim_fail("out of memory");
		f->fin = true;
		wire_push(k->net, other, f);
		/* A dead process's kernel answers the next ping with a reset:
		 * a peer that reads nothing (held back, no buffer) and never
		 * reaches the FIN still learns within a ping interval (seed
		 * 1120: a Primary SyncTarget waited for good). */
		if (!owner_alive && !sched_queued(&other->k->timeout_ev))
			sched_after(&sim_run->sched, &other->k->timeout_ev,
				    (uint64_t)other->k->cfg.ping_interval_ms * 1000,
				    reset_fire, other->k, "reset");
	}
	k->conn = NULL;
	conn_put(c);
	while (k->txq) {
		struct link_tx *tx = k->txq;

		k->txq = tx->next;
		if (owner_alive)
			loop_defer(k->loop, &tx->op, tx_fail_run, -ENOTCONN);
	}
	k->txq_tail = NULL;
	if (k->base.up && owner_alive) {
		k->base.up = false;
		snprintf(k->down_why, sizeof(k->down_why), "%s", why);
		if (k->down_queued)
			sim_fail("n%d link: a second down() before the first ran",
				 k->node);
		k->down_queued = true;
		loop_defer(k->loop, &k->down_op, down_run, 0);
	}
	k->base.up = false;
	if (owner_alive)
		dial_arm(k);
}

/* ---- sending ----------------------------------------------------------- */

static void sent_run(struct loop_op *op, int res)
{
	tx_fail_run(op, res);
}

/* Move queued frames into the connection while its buffer has room. */
static void pump(struct sim_link *k)
{
	struct simend *to;

	if (!k->conn)
		return;
	to = peer_end(k);
	while (k->txq) {
		struct link_tx *tx = k->txq;
		uint32_t bytes = FRAME_HDR_BYTES + tx->h.payload_len;
		struct simframe *f;

		if (to->pipe_bytes && to->pipe_bytes + bytes > k->net->k.buf_bytes)
			break;
		k->txq = tx->next;
		if (!k->txq)
			k->txq_tail = NULL;
		to->pipe_bytes += bytes;
		if (!k->conn->dead && to->k) {
			f = calloc(1, sizeof(*f));
			if (!f)
				sim_fail("out of memory");
			f->bytes = bytes;
			memcpy(f->raw, tx->raw, FRAME_HDR_BYTES);
			if (tx->h.payload_len) {
				f->payload = simbuf_alloc(tx->h.payload_len);
				memcpy(f->payload, tx->payload, tx->h.payload_len);
			}
			wire_push(k->net, to, f);
		}
		loop_defer(k->loop, &tx->op, sent_run, 0);
	}
	if (k->close_when_sent && !k->txq)
		side_close(k, k->why, true);
}

static void sim_link_send(struct link *b, struct link_tx *tx)
{
	struct sim_link *k = sim_of(b);

	/* A frame handed over while the link still owns it (queued, or its
	 * sent() not run yet): its queue would loop on itself (the
	 * daemon's spins on it for good). */
	if (tx->queued)
		sim_fail("n%d link: a %s frame was handed over again before its "
			 "sent() ran", k->node, frame_type_name(tx->h.type));
	tx->queued = true;
	if (!k->base.up) {
		loop_defer(k->loop, &tx->op, tx_fail_run, -ENOTCONN);
		return;
	}
	if (tx->h.payload_len && !tx->payload)
		tx->payload = tx->inline_payload;
	frame_encode(tx->raw, &tx->h, tx->payload);
	tx->next = NULL;
	if (k->txq_tail)
		k->txq_tail->next = tx;
	else
		k->txq = tx;
	k->txq_tail = tx;
	pump(k);
}

/* ---- receiving --------------------------------------------------------- */

static bool frame_has_data(const struct frame_hdr *h)
{
	return (h->type == FRAME_DATA || h->type == FRAME_RS_DATA ||
		h->type == FRAME_READ_REPLY) && h->length;
}

static void buf_ready(struct bufpool_waiter *w)
{
	struct sim_link *k = (struct sim_link *)((char *)w - offsetof(struct sim_link, buf_wait));

	k->stalled = false;
	if (k->conn)
		wire_arm(end_of(k));
}

/* Hand over what has arrived, in order, while the owner takes it. */
static void end_read(struct simend *e)
{
	struct sim_link *k = e->k;
	struct simconn *c = e->c;

	c->open_ends++;		/* a callback may close both ends */
	while (k && k->conn == c && !k->stalled && e->head &&
	       e->head->at_us <= sim_now_us() && k->base.up) {
		struct simframe *f = e->head;
		struct frame_hdr h;
		uint8_t *buf = NULL;

		if (f->fin) {
			side_close(k, "peer closed the connection", true);
			break;
		}
		if (frame_parse(f->raw, &h) < 0 ||
		    !frame_crc_ok(f->raw, &h, f->payload))
			sim_fail("n%d link: a frame the peer sent fails its own "
				 "codec", k->node);
		if (k->ops->ready && !k->ops->ready(k->owner, &h)) {
			k->stalled = true;
			break;
		}
		if (frame_has_data(&h)) {
			if (h.payload_len != h.length)
				sim_fail("n%d link: %s frame with %u payload bytes "
					 "for %u bytes of data", k->node,
					 frame_type_name(h.type), h.payload_len,
					 h.length);
			buf = bufpool_get(k->pool, h.length);
			if (!buf) {
				k->stalled = true;
				bufpool_wait(k->pool, k->loop, &k->buf_wait, buf_ready);
				break;
			}
			memcpy(buf, f->payload, h.length);
		}
		e->head = f->next;
		if (!e->head)
			e->tail = NULL;
		e->pipe_bytes -= f->bytes;
		if (c->end[k->peer].k)
			pump(c->end[k->peer].k);
		k->ops->frame(k->owner, &h, buf ? NULL : f->payload, buf);
		frame_free(f);
		k = e->k;
	}
	/* Not up yet: up_fire reads what waits. Arming now would fire at
	 * this very time again and again, and time would never reach it. */
	if (k && k->conn == c && !k->stalled && k->base.up)
		wire_arm(e);
	conn_put(c);
}

static void end_arrive(struct sim_event *ev)
{
	struct simend *e = ev->arg;

	if (!e->k)
		return;
	in_node(e->node);
	end_read(e);
}

static void kick_run(struct loop_op *op, int res)
{
	struct sim_link *k = (struct sim_link *)((char *)op - offsetof(struct sim_link, kick_op));

	(void)res;
	k->kick_queued = false;
	if (!k->conn || !k->stalled || k->buf_wait.waiting)
		return;
	k->stalled = false;
	end_read(end_of(k));
}

static void sim_link_kick(struct link *b)
{
	struct sim_link *k = sim_of(b);

	if (k->kick_queued)
		return;
	k->kick_queued = true;
	loop_defer(k->loop, &k->kick_op, kick_run, 0);
}

/* ---- connecting -------------------------------------------------------- */

static void up_fire(struct sim_event *ev)
{
	struct sim_link *k = ev->arg;

	in_node(k->node);
	if (!k->conn || k->base.up)
		return;
	if (k->down_queued)
		sim_fail("n%d link: up() before the old connection's down()",
			 k->node);
	k->base.up = true;
	k->base.generation++;
	k->backoff_ms = 0;
	sim_trace("n%d link: connection %llu up, generation %llu", k->node,
		  (unsigned long long)k->conn->id,
		  (unsigned long long)k->base.generation);
	k->ops->up(k->owner);
	if (k->conn)
		end_read(end_of(k));
}

static void side_join(struct sim_link *k, struct simconn *c)
{
	struct simnet *n = k->net;

	k->conn = c;
	c->end[k->node].k = k;
	c->open_ends++;
	/* HELLO and AUTH both ways: the two sides are up at different
	 * times, each after the other's proof reached it. */
	sched_after(&sim_run->sched, &k->up_ev,
		    2 * rng_range(&sim_run->rng_net, n->k.delay_min_us,
				  n->k.delay_max_us),
		    up_fire, k, "link up");
}

static void dial_fire(struct sim_event *ev)
{
	struct sim_link *k = ev->arg;
	struct simnet *n = k->net;
	struct sim_link *p = n->side[k->peer];
	struct simconn *c;

	in_node(k->node);
	if (!k->want_connected || k->shutting_down || k->conn)
		return;
	if (n->cut || !p || !p->want_connected || p->shutting_down) {
		dial_arm(k);
		return;
	}
	if (p->conn) {
		/* A new connection from the peer replaces an older one. */
		in_node(p->node);
		side_close(p, "replaced by a new connection from the peer", true);
		in_node(k->node);
	}
	c = calloc(1, sizeof(*c));
	if (!c)
		sim_fail("out of memory");
	c->id = ++n->next_id;
	for (int i = 0; i < SIM_NODES; i++) {
		c->end[i].c = c;
		c->end[i].node = i;
		sched_event_init(&c->end[i].arrive_ev);
	}
	sim_trace("n%d link: connection %llu to n%d", k->node,
		  (unsigned long long)c->id, p->node);
	side_join(k, c);
	side_join(p, c);
}

static void dial_arm(struct sim_link *k)
{
	if (!k->dialer || !k->want_connected || k->shutting_down || k->conn ||
	    sched_queued(&k->dial_ev))
		return;
	k->backoff_ms = k->backoff_ms ? k->backoff_ms * 2 : LINK_RETRY_MIN_MS;
	if (k->backoff_ms > k->cfg.connect_retry_max_ms)
		k->backoff_ms = k->cfg.connect_retry_max_ms;
	sched_after(&sim_run->sched, &k->dial_ev, (uint64_t)k->backoff_ms * 1000,
		    dial_fire, k, "dial");
}

/* ---- the network's faults ---------------------------------------------- */

static void timeout_fire(struct sim_event *ev)
{
	struct sim_link *k = ev->arg;
	char why[96];

	in_node(k->node);
	snprintf(why, sizeof(why), "peer silent for %u ms (ping timeout)",
		 k->cfg.ping_timeout_ms);
	side_close(k, why, true);
}

void simnet_cut(struct simnet *n)
{
	n->cut = true;
	for (int i = 0; i < SIM_NODES; i++) {
		struct sim_link *k = n->side[i];

		if (!k || !k->conn)
			continue;
		k->conn->dead = true;
		wire_drop(end_of(k));
		if (!sched_queued(&k->timeout_ev))
			sched_after(&sim_run->sched, &k->timeout_ev,
				    (uint64_t)k->cfg.ping_timeout_ms * 1000 +
				    rng_below(&sim_run->rng_net,
					      (uint64_t)k->cfg.ping_interval_ms * 1000 + 1),
				    timeout_fire, k, "ping timeout");
	}
}

void simnet_heal(struct simnet *n)
{
	n->cut = false;
}

bool simnet_is_cut(const struct simnet *n)
{
	return n->cut;
}

void simnet_stall(struct simnet *n, uint64_t until_us)
{
	if (until_us > n->stall_until_us)
		n->stall_until_us = until_us;
}

void simnet_free(struct simnet *n)
{
	free(n);
}

/* ---- link.h ------------------------------------------------------------ */

static const struct link_impl simlink_impl;

int simlink_new(struct link **out, struct loop *l, struct bufpool *pool,
		const struct link_config *cfg, const struct link_ops *ops,
		void *owner)
{
	struct sim_link *k = calloc(1, sizeof(*k));
	int node = sim_run->current;

	if (!k)
		return -ENOMEM;
	k->base.impl = &simlink_impl;
	k->base.features = FRAME_FEAT_ALL;	/* the simulated peer has them all */
	k->loop = l;
	k->pool = pool;
	k->cfg = *cfg;
	k->ops = ops;
	k->owner = owner;
	k->net = sim_run->net;
	k->node = node;
	k->peer = 1 - node;
	k->dialer = strcmp(cfg->self_name, cfg->peer_name) < 0;
	sched_event_init(&k->dial_ev);
	sched_event_init(&k->up_ev);
	sched_event_init(&k->timeout_ev);
	if (k->net->side[node])
		sim_fail("n%d: a second link while the first is alive", node);
	k->net->side[node] = k;
	*out = &k->base;
	return 0;
}

/* The node is gone (a crash): its end closes as the kernel closes a
 * dead process's sockets; no callback of its owner runs again. */
static void sim_link_free(struct link *b)
{
	struct sim_link *k = sim_of(b);

	if (!k)
		return;
	side_close(k, "process gone", false);
	sched_cancel(&sim_run->sched, &k->dial_ev);
	sched_cancel(&sim_run->sched, &k->up_ev);
	sched_cancel(&sim_run->sched, &k->timeout_ev);
	bufpool_cancel_wait(k->pool, &k->buf_wait);
	if (k->net->side[k->node] == k)
		k->net->side[k->node] = NULL;
	free(k);
}

static void sim_link_connect(struct link *b)
{
	struct sim_link *k = sim_of(b);

	if (k->want_connected)
		return;
	k->want_connected = true;
	k->backoff_ms = 0;
	if (k->dialer && !k->conn && !sched_queued(&k->dial_ev))
		sched_after(&sim_run->sched, &k->dial_ev, 0, dial_fire, k, "dial");
}

static void sim_link_disconnect(struct link *b, const char *why)
{
	struct sim_link *k = sim_of(b);

	k->want_connected = false;
	sched_cancel(&sim_run->sched, &k->dial_ev);
	side_close(k, why, true);
}

static void sim_link_disconnect_after_send(struct link *b, const char *why)
{
	struct sim_link *k = sim_of(b);

	k->want_connected = false;
	sched_cancel(&sim_run->sched, &k->dial_ev);
	if (!k->conn)
		return;
	if (!k->txq) {
		side_close(k, why, true);
		return;
	}
	snprintf(k->why, sizeof(k->why), "%s", why);
	k->close_when_sent = true;
}

static void sim_link_shutdown(struct link *b)
{
	struct sim_link *k = sim_of(b);

	if (!k || k->shutting_down)
		return;
	sim_link_disconnect(&k->base, "shutting down");
	k->shutting_down = true;
}

static void sim_link_drop(struct link *b, const char *why)
{
	struct sim_link *k = sim_of(b);

	if (k->base.up)
		side_close(k, why, true);
}

void simnet_describe(const struct simnet *n, int node, char *buf, size_t len)
{
	const struct sim_link *k = n->side[node];
	const struct simframe *head;
	char next[96] = "";
	struct frame_hdr h;
	unsigned q = 0;

	if (!k) {
		snprintf(buf, len, "no link");
		return;
	}
	for (const struct link_tx *t = k->txq; t; t = t->next)
		q++;
	if (!k->conn) {
		snprintf(buf, len, "link %s, no connection, %u frames queued",
			 k->base.up ? "up" : "down", q);
		return;
	}
	/* What a stalled side does not take: the frame its receiver
	 * refused (ready() said no). */
	head = k->conn->end[k->node].head;
	if (k->stalled && head && !head->fin && frame_parse(head->raw, &h) == 0)
		snprintf(next, sizeof(next), " (next: %s, %u bytes at %llu)",
			 frame_type_name(h.type), h.length,
			 (unsigned long long)h.offset);
	snprintf(buf, len, "link %s, %u frames queued, %s%s; in flight toward "
		 "it %llu bytes, toward the peer %llu bytes%s",
		 k->base.up ? "up" : "down", q,
		 k->stalled ? "not reading (stalled)" : "reading", next,
		 (unsigned long long)k->conn->end[k->node].pipe_bytes,
		 (unsigned long long)k->conn->end[k->peer].pipe_bytes,
		 k->conn->dead ? ", connection dead" : "");
}

static const struct link_impl simlink_impl = {
	.free = sim_link_free,
	.connect = sim_link_connect,
	.disconnect = sim_link_disconnect,
	.disconnect_after_send = sim_link_disconnect_after_send,
	.shutdown = sim_link_shutdown,
	.send = sim_link_send,
	.kick = sim_link_kick,
	.drop = sim_link_drop,
};
