/* server.c - see server.h. This half owns the listeners, the request
 * slots shared by all connections, back-pressure and shutdown; conn.c
 * owns each connection.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/listen.h"
#include "common/log.h"
#include "nbd/server.h"
#include "nbd/server_priv.h"


/* ---- back-pressure ---------------------------------------------------- */

static void server_unstall_run(struct loop_op *op, int res)
{
	struct nbd_server *srv = container_of(op, struct nbd_server, unstall_op);
	struct nbd_conn *list = srv->stalled;

	(void)res;
	srv->unstall_queued = false;
	srv->stalled = NULL;
	while (list) {
		struct nbd_conn *c = list;

		list = c->next_stalled;
		c->stalled = false;
		conn_process(c);
	}
}

/* Something was released: let stalled connections retry, after the
 * current callback, so no connection is processed re-entrantly. */
void server_kick_stalled(struct nbd_server *srv)
{
	if (!srv->stalled || srv->unstall_queued)
		return;
	srv->unstall_queued = true;
	loop_defer(srv->loop, &srv->unstall_op, server_unstall_run, 0);
}

void conn_stall(struct nbd_conn *c)
{
	if (c->stalled)
		return;
	c->stalled = true;
	c->next_stalled = c->srv->stalled;
	c->srv->stalled = c;
}

void conn_unlink_stalled(struct nbd_conn *c)
{
	struct nbd_conn **pp = &c->srv->stalled;

	while (*pp && *pp != c)
		pp = &(*pp)->next_stalled;
	if (*pp)
		*pp = c->next_stalled;
	c->stalled = false;
}

/* ---- request slots ---------------------------------------------------- */

struct nbd_req *req_get(struct nbd_conn *c)
{
	struct nbd_server *srv = c->srv;
	struct nbd_req *r = srv->free_reqs;

	if (!r || c->inflight >= NBD_CONN_REQS_MAX)
		return NULL;
	srv->free_reqs = r->next;
	memset(r, 0, offsetof(struct nbd_req, hdr));
	r->io.priv = srv->priv ? srv->priv + (size_t)(r - srv->reqs) *
					  srv->priv_stride : NULL;
	r->conn = c;
	c->inflight++;
	return r;
}

/* Return a slot that freed nothing else: no wake-up, which would only
 * make the stalled connections fail again at once. */
void req_give_back(struct nbd_req *r)
{
	r->next = r->conn->srv->free_reqs;
	r->conn->srv->free_reqs = r;
	r->conn->inflight--;
}

void req_release(struct nbd_req *r)
{
	struct nbd_conn *c = r->conn;
	struct nbd_server *srv = c->srv;

	if (r->io.buf) {
		bufpool_put(srv->pool, r->io.buf, r->io.rq.length);
		c->buf_bytes -= r->io.rq.length;
	}
	r->io.buf = NULL;
	r->next = srv->free_reqs;
	srv->free_reqs = r;
	c->inflight--;
	server_kick_stalled(srv);
}


/* ---- accepting -------------------------------------------------------- */

static void listener_accepted(struct acceptor *a, int fd)
{
	struct nbd_listener *li = container_of(a, struct nbd_listener, acceptor);

	conn_start(li->srv, li, fd);
}

/* Shutting down: one more listener has nothing in flight. */
static void listener_stopped(struct acceptor *a)
{
	struct nbd_listener *li = container_of(a, struct nbd_listener, acceptor);

	server_check_drained(li->srv);
}

/* ---- server ----------------------------------------------------------- */

static int server_listen(struct nbd_server *srv, const char *list)
{
	char buf[1024];
	char *save = NULL, *tok;

	if (strlen(list) >= sizeof(buf))
		return -ENAMETOOLONG;
	strcpy(buf, list);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		struct nbd_listener *li;
		int fd;

		while (*tok == ' ')
			tok++;
		if (!*tok)
			continue;
		if (srv->n_listeners == NBD_LISTENERS_MAX) {
			log_err("at most %d NBD listen addresses", NBD_LISTENERS_MAX);
			return -E2BIG;
		}
		li = &srv->listeners[srv->n_listeners];
		fd = listen_open(tok, &li->is_unix, 0660);
		if (fd < 0)
			return fd;
		li->srv = srv;
		li->fd = fd;
		snprintf(li->spec, sizeof(li->spec), "%s", tok);
		snprintf(li->what, sizeof(li->what), "NBD %s", tok);
		srv->n_listeners++;
		log_info("NBD export '%s' listening on %s", srv->export.name, tok);
	}
	if (srv->n_listeners == 0) {
		log_err("no NBD listen address given (nbd = unix:PATH or tcp:HOST:PORT)");
		return -EINVAL;
	}
	return 0;
}

/* The backend's per-request areas, allocated with the slots. */
static int server_alloc_priv(struct nbd_server *srv)
{
	const size_t align = _Alignof(max_align_t);

	srv->priv_stride = (srv->ops->priv_bytes + align - 1) / align * align;
	if (!srv->priv_stride)
		return 0;
	srv->priv = calloc(NBD_REQS_MAX, srv->priv_stride);
	return srv->priv ? 0 : -ENOMEM;
}

int nbd_server_new(struct nbd_server **out, struct loop *l,
		   struct bufpool *pool, const struct nbd_backend_ops *ops,
		   void *backend, const char *listen)
{
	struct nbd_server *srv = calloc(1, sizeof(*srv));
	int ret;

	if (!srv)
		return -ENOMEM;
	srv->loop = l;
	srv->pool = pool;
	srv->ops = ops;
	srv->backend = backend;
	ops->describe(backend, &srv->export);
	srv->ex.size_bytes = srv->export.size_bytes;
	srv->ex.read_only = srv->export.read_only;
	srv->ex.block_min = 1;
	srv->ex.block_pref = 4096;
	srv->ex.block_max = NBD_BLOCK_MAX;
	if (srv->export.pool_reserve >= pool->size_bytes) {
		free(srv);
		return -EINVAL;
	}
	if (srv->ex.block_max > pool->size_bytes - srv->export.pool_reserve)
		srv->ex.block_max = (uint32_t)(pool->size_bytes -
					       srv->export.pool_reserve);
	srv->reqs = calloc(NBD_REQS_MAX, sizeof(*srv->reqs));
	if (!srv->reqs || server_alloc_priv(srv) < 0) {
		free(srv->reqs);
		free(srv);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < NBD_REQS_MAX; i++) {
		srv->reqs[i].next = srv->free_reqs;
		srv->free_reqs = &srv->reqs[i];
	}
	ret = server_listen(srv, listen);
	if (ret < 0) {
		nbd_server_free(srv);
		return ret;
	}
	for (unsigned i = 0; i < srv->n_listeners; i++) {
		struct nbd_listener *li = &srv->listeners[i];

		li->acceptor.stopped = listener_stopped;
		acceptor_start(&li->acceptor, l, li->fd, li->what,
			       listener_accepted);
	}
	*out = srv;
	return 0;
}

static void server_drained_run(struct loop_op *op, int res)
{
	struct nbd_server *srv = container_of(op, struct nbd_server, drained_op);
	void (*done)(void *) = srv->drained;

	(void)res;
	srv->drained = NULL;
	if (done)
		done(srv->drained_arg);
}

void server_check_drained(struct nbd_server *srv)
{
	if (!srv->draining || !srv->drained || srv->n_conns)
		return;
	for (unsigned i = 0; i < srv->n_listeners; i++)
		if (acceptor_busy(&srv->listeners[i].acceptor))
			return;
	if (srv->drain_timer_armed) {
		struct io_uring_sqe *sqe = loop_sqe(srv->loop);

		io_uring_prep_timeout_remove(sqe,
			(__u64)(uintptr_t)&srv->drain_timer_op, 0);
		io_uring_sqe_set_data(sqe, NULL);
	}
	loop_defer(srv->loop, &srv->drained_op, server_drained_run, 0);
}

/* A client that never reads its replies must not hold shutdown forever. */
static void server_drain_timeout(struct loop_op *op, int res)
{
	struct nbd_server *srv = container_of(op, struct nbd_server,
					      drain_timer_op);

	srv->drain_timer_armed = false;
	if (res != -ETIME || !srv->n_conns)
		return;
	log_warn("%u NBD client%s did not take their replies within %d s; "
		 "closing them", srv->n_conns, srv->n_conns == 1 ? "" : "s",
		 NBD_DRAIN_TIMEOUT_S);
	for (struct nbd_conn *c = srv->conns; c; c = c->next)
		conn_close(c, NULL);
}

void nbd_server_shutdown(struct nbd_server *srv, void (*done)(void *arg),
			 void *arg)
{
	struct io_uring_sqe *sqe;

	if (srv->draining)
		return;
	srv->draining = true;
	srv->drained = done;
	srv->drained_arg = arg;
	for (unsigned i = 0; i < srv->n_listeners; i++)
		acceptor_stop(&srv->listeners[i].acceptor);
	for (struct nbd_conn *c = srv->conns, *next; c; c = next) {
		next = c->next;
		if (c->state != CONN_TRANSMIT) {
			conn_close(c, NULL);
			continue;
		}
		/* Stop reading; what was accepted finishes and is replied. */
		c->eof = true;
		if (c->recv_armed)
			conn_cancel(c, &c->recv_op);
		conn_maybe_finish(c);
	}
	srv->drain_ts.tv_sec = NBD_DRAIN_TIMEOUT_S;
	srv->drain_ts.tv_nsec = 0;
	sqe = loop_sqe(srv->loop);
	io_uring_prep_timeout(sqe, &srv->drain_ts, 0, 0);
	loop_op_arm(srv->loop, sqe, &srv->drain_timer_op, server_drain_timeout);
	srv->drain_timer_armed = true;
	server_check_drained(srv);
}

void nbd_server_set_handshake_timeout(struct nbd_server *srv, uint32_t ms)
{
	srv->handshake_timeout_ms = ms;
}

void nbd_server_tick(struct nbd_server *srv, uint64_t now_ms)
{
	char why[64];

	if (!srv || !srv->handshake_timeout_ms)
		return;
	snprintf(why, sizeof(why), "handshake not finished within %u ms",
		 srv->handshake_timeout_ms);
	for (struct nbd_conn *c = srv->conns, *next; c; c = next) {
		next = c->next;
		if ((c->state == CONN_HS_FLAGS || c->state == CONN_HS_OPTIONS) &&
		    now_ms - c->started_ms >= srv->handshake_timeout_ms) {
			srv->stats.handshake_timeouts++;
			conn_close(c, why);
		}
	}
}

void nbd_server_free(struct nbd_server *srv)
{
	if (!srv)
		return;
	for (unsigned i = 0; i < srv->n_listeners; i++) {
		struct nbd_listener *li = &srv->listeners[i];

		close(li->fd);
		if (li->is_unix && strncmp(li->spec, "unix:", 5) == 0)
			unlink(li->spec + 5);
	}
	free(srv->reqs);
	free(srv->priv);
	free(srv);
}

unsigned nbd_server_connections(const struct nbd_server *srv)
{
	return srv->n_conns;
}

const uint32_t nbd_stats_bounds_us[NBD_STATS_BUCKETS - 1] = {
	25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000, 100000, 1000000,
};

const struct nbd_stats *nbd_server_stats(const struct nbd_server *srv)
{
	return &srv->stats;
}
