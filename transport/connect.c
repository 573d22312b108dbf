/* connect.c - see link.h: the half of the peer link that listens, dials
 * with capped back-off, keeps the connection alive with pings, and
 * implements the public calls. link.c owns each socket.
 */
#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/log.h"
#include "transport/link_priv.h"

static void link_dial(struct tcp_link *k);

/* ---- accepting and dialing -------------------------------------------- */

static void link_accepted(struct acceptor *a, int fd)
{
	struct tcp_link *k = container_of(a, struct tcp_link, acceptor);
	struct lsock *s;

	if (k->shutting_down || !k->want_connected || k->dialer) {
		/* StandAlone refuses the peer; and the node that dials
		 * never needs an inbound connection from it. */
		close(fd);
	} else if (!(s = sock_new(k, fd, false))) {
		log_warn("peer link: too many connection attempts; refusing one");
		close(fd);
	} else {
		sock_start_hello(s);
	}
}

static int resolve(const char *hostport, struct sockaddr_storage *ss,
		   socklen_t *len, bool passive)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV |
					      (passive ? AI_PASSIVE : 0) };
	struct addrinfo *res;
	char host[256];
	const char *colon = strrchr(hostport, ':');
	size_t hl;
	int ret;

	if (!colon || !colon[1])
		return -EINVAL;
	hl = (size_t)(colon - hostport);
	if (hostport[0] == '[' && hl >= 2 && hostport[hl - 1] == ']') {
		hostport++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return -EINVAL;
	memcpy(host, hostport, hl);
	host[hl] = 0;
	ret = getaddrinfo(hl ? host : NULL, colon + 1, &hints, &res);
	if (ret != 0)
		return -EINVAL;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static void sock_connect_done(struct loop_op *op, int res)
{
	struct lsock *s = container_of(op, struct lsock, conn_op);

	s->conn_armed = false;
	if (s->state == LS_CLOSING) {
		sock_maybe_teardown(s);
		return;
	}
	if (res < 0) {
		sock_close(s, "connect: %s", strerror(-res));
		return;
	}
	sock_start_hello(s);
}

static void link_dial(struct tcp_link *k)
{
	struct io_uring_sqe *sqe;
	struct sockaddr_storage ss;
	socklen_t sl;
	struct lsock *s;
	int fd;

	if (!k->dialer || !k->want_connected || k->shutting_down || k->up)
		return;
	for (int i = 0; i < LINK_SOCKS_MAX; i++)
		if (k->socks[i] && k->socks[i]->dialed)
			return;	/* one attempt at a time */
	if (resolve(k->cfg.peer_addr, &ss, &sl, false) < 0) {
		log_err("peer address '%s' does not resolve", k->cfg.peer_addr);
		link_arm_dial_timer(k);
		return;
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	s = fd >= 0 ? sock_new(k, fd, true) : NULL;
	if (!s) {
		if (fd >= 0)
			close(fd);
		link_arm_dial_timer(k);
		return;
	}
	s->addr = ss;
	s->addrlen = sl;
	s->state = LS_CONNECTING;
	sqe = loop_sqe(k->loop);
	io_uring_prep_connect(sqe, fd, (struct sockaddr *)&s->addr, s->addrlen);
	loop_op_arm(k->loop, sqe, &s->conn_op, sock_connect_done);
	s->conn_armed = true;
}

static void link_dial_timer_done(struct loop_op *op, int res)
{
	struct tcp_link *k = container_of(op, struct tcp_link, dial_timer_op);

	(void)res;
	k->dial_timer_armed = false;
	link_dial(k);
}

void link_arm_dial_timer(struct tcp_link *k)
{
	struct io_uring_sqe *sqe;

	if (!k->dialer || k->dial_timer_armed || k->shutting_down ||
	    !k->want_connected)
		return;
	k->backoff_ms = k->backoff_ms ? k->backoff_ms * 2 : LINK_RETRY_MIN_MS;
	if (k->backoff_ms > k->cfg.connect_retry_max_ms)
		k->backoff_ms = k->cfg.connect_retry_max_ms;
	k->dial_ts.tv_sec = k->backoff_ms / 1000;
	k->dial_ts.tv_nsec = (long long)(k->backoff_ms % 1000) * 1000000;
	sqe = loop_sqe(k->loop);
	io_uring_prep_timeout(sqe, &k->dial_ts, 0, 0);
	loop_op_arm(k->loop, sqe, &k->dial_timer_op, link_dial_timer_done);
	k->dial_timer_armed = true;
}

/* ---- keepalive -------------------------------------------------------- */

static void link_arm_keepalive(struct tcp_link *k);

static void link_keepalive_done(struct loop_op *op, int res)
{
	struct tcp_link *k = container_of(op, struct tcp_link, ka_op);
	uint64_t now = clock_mono_ms();

	(void)res;
	k->ka_armed = false;
	if (k->shutting_down)
		return;
	for (int i = 0; i < LINK_SOCKS_MAX; i++) {
		struct lsock *s = k->socks[i];
		uint64_t idle;

		if (!s || s->state == LS_CLOSING)
			continue;
		idle = now - s->last_rx_ms;
		if (s->state != LS_UP && now - s->started_ms > k->cfg.ping_timeout_ms)
			sock_close(s, "handshake timed out after %u ms",
				   k->cfg.ping_timeout_ms);
		else if (s->state == LS_UP && idle > k->cfg.ping_timeout_ms &&
			 !(s->stalled && sock_peer_heard(s, k->cfg.ping_timeout_ms)))
			/* A socket this side stopped reading is silent by
			 * its own doing: only a peer whose TCP went quiet
			 * too is taken for dead. */
			sock_close(s, "peer silent for %llu ms (ping timeout %u ms)",
				   (unsigned long long)idle, k->cfg.ping_timeout_ms);
		else if (s->state == LS_UP && idle >= k->cfg.ping_interval_ms &&
			 !k->ping_queued) {
			k->ping_queued = true;
			link_send_ctrl(s, &k->ping_tx, FRAME_PING, now);
		}
	}
	link_arm_keepalive(k);
}

static void link_arm_keepalive(struct tcp_link *k)
{
	struct io_uring_sqe *sqe;
	uint32_t tick = k->cfg.ping_interval_ms / 2;

	if (k->ka_armed || k->shutting_down)
		return;
	if (tick < 10)
		tick = 10;
	k->ka_ts.tv_sec = tick / 1000;
	k->ka_ts.tv_nsec = (long long)(tick % 1000) * 1000000;
	sqe = loop_sqe(k->loop);
	io_uring_prep_timeout(sqe, &k->ka_ts, 0, 0);
	loop_op_arm(k->loop, sqe, &k->ka_op, link_keepalive_done);
	k->ka_armed = true;
}

/* ---- public ----------------------------------------------------------- */

static const struct link_impl tcp_link_impl;

int link_tcp_new(struct link **out, struct loop *l, struct bufpool *pool,
		 const struct link_config *cfg, const struct link_ops *ops,
		 void *owner)
{
	struct tcp_link *k = calloc(1, sizeof(*k));
	struct sockaddr_storage ss;
	socklen_t sl;
	int one = 1;

	if (!k)
		return -ENOMEM;
	k->base.impl = &tcp_link_impl;
	k->loop = l;
	k->pool = pool;
	k->cfg = *cfg;
	k->ops = ops;
	k->owner = owner;
	k->listen_fd = -1;
	k->resource_hash = crc32c(0, cfg->resource, strlen(cfg->resource));
	k->dialer = strcmp(cfg->self_name, cfg->peer_name) < 0;
	if (resolve(cfg->listen_addr, &ss, &sl, true) < 0) {
		log_err("peer link address '%s' is not HOST:PORT", cfg->listen_addr);
		free(k);
		return -EINVAL;
	}
	k->listen_fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (k->listen_fd < 0 ||
	    setsockopt(k->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(k->listen_fd, (struct sockaddr *)&ss, sl) < 0 ||
	    listen(k->listen_fd, 8) < 0) {
		int ret = -errno;

		log_err("peer link: cannot listen on %s: %s", cfg->listen_addr,
			strerror(errno));
		if (k->listen_fd >= 0)
			close(k->listen_fd);
		free(k);
		return ret;
	}
	log_info("peer link listening on %s; peer %s at %s (%s)",
		 cfg->listen_addr, cfg->peer_name, cfg->peer_addr,
		 k->dialer ? "we dial" : "it dials");
	acceptor_start(&k->acceptor, l, k->listen_fd, "peer link",
		       link_accepted);
	link_arm_keepalive(k);
	*out = &k->base;
	return 0;
}

static void tcp_link_connect(struct link *b)
{
	struct tcp_link *k = tcp_of(b);

	if (k->want_connected)
		return;
	k->want_connected = true;
	k->backoff_ms = 0;
	link_dial(k);
}

void tcp_link_disconnect(struct link *b, const char *why)
{
	struct tcp_link *k = tcp_of(b);

	k->want_connected = false;
	for (int i = 0; i < LINK_SOCKS_MAX; i++)
		if (k->socks[i])
			sock_close(k->socks[i], "%s", why);
}

static void tcp_link_disconnect_after_send(struct link *b, const char *why)
{
	struct tcp_link *k = tcp_of(b);
	struct lsock *s = k->up;

	k->want_connected = false;
	for (int i = 0; i < LINK_SOCKS_MAX; i++)
		if (k->socks[i] && k->socks[i] != s)
			sock_close(k->socks[i], "%s", why);
	if (!s)
		return;
	if (!s->tx_head && !s->send_armed) {
		sock_close(s, "%s", why);
		return;
	}
	/* Let what is queued (this node's STATE, so the peer can reach the
	 * same verdict) go out first. */
	snprintf(s->why, sizeof(s->why), "%s", why);
	s->close_when_sent = true;
}

static void tcp_link_drop(struct link *b, const char *why)
{
	struct tcp_link *k = tcp_of(b);

	if (k->up)
		sock_close(k->up, "%s", why);
}

static void link_cancel(struct tcp_link *k, struct loop_op *op)
{
	struct io_uring_sqe *sqe = loop_sqe(k->loop);

	io_uring_prep_cancel(sqe, op, 0);
	io_uring_sqe_set_data(sqe, NULL);
}

static void tcp_link_shutdown(struct link *b)
{
	struct tcp_link *k = tcp_of(b);

	if (!k || k->shutting_down)
		return;
	tcp_link_disconnect(&k->base, "shutting down");
	k->shutting_down = true;
	acceptor_stop(&k->acceptor);
	if (k->dial_timer_armed)
		link_cancel(k, &k->dial_timer_op);
	if (k->ka_armed)
		link_cancel(k, &k->ka_op);
}

static void tcp_link_free(struct link *b)
{
	struct tcp_link *k = tcp_of(b);

	if (!k)
		return;
	for (int i = 0; i < LINK_SOCKS_MAX; i++) {
		if (k->socks[i]) {
			bufpool_cancel_wait(k->pool, &k->socks[i]->buf_wait);
			close(k->socks[i]->fd);
			free(k->socks[i]->rx);
			free(k->socks[i]);
		}
	}
	if (k->listen_fd >= 0)
		close(k->listen_fd);
	free(k);
}

static const struct link_impl tcp_link_impl = {
	.free = tcp_link_free,
	.connect = tcp_link_connect,
	.disconnect = tcp_link_disconnect,
	.disconnect_after_send = tcp_link_disconnect_after_send,
	.shutdown = tcp_link_shutdown,
	.send = tcp_link_send,
	.kick = tcp_link_kick,
	.drop = tcp_link_drop,
};
