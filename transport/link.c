/* link.c - see link.h.
 *
 * A socket (struct lsock) is freed only from its deferred teardown, after
 * its connect, recv and send have all completed, so no completion ever
 * sees a freed socket and no owner callback runs inside a link_*() call.
 *
 * A socket that stops reading (stalled: no buffer for a data frame, or
 * the owner not ready for the next frame) keeps what it has buffered and
 * resumes from tcp_link_kick(). A newly authenticated socket that must wait
 * for an old one's down() is stalled the same way until then.
 */
#include "transport/link.h"
#include "transport/link_priv.h"

#include <errno.h>
#include <stdarg.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/crc32c.h"
#include "common/endian.h"
#include "common/log.h"

static void sock_process(struct lsock *s);
static void sock_kick_soon(struct lsock *s);
static void sock_arm_recv(struct lsock *s);
static void link_start_waiting(struct tcp_link *k);

/* ---- socket lifecycle ------------------------------------------------- */

struct lsock *sock_new(struct tcp_link *k, int fd, bool dialed)
{
	struct lsock *s;
	int slot = -1;

	for (int i = 0; i < LINK_SOCKS_MAX; i++)
		if (!k->socks[i]) {
			slot = i;
			break;
		}
	if (slot < 0)
		return NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->rx = malloc(LINK_RX_BYTES);
	if (!s->rx) {
		free(s);
		return NULL;
	}
	s->k = k;
	s->fd = fd;
	s->dialed = dialed;
	s->started_ms = s->last_rx_ms = clock_mono_ms();
	k->socks[slot] = s;
	return s;
}

/* The link lets go of an engine's frame: from here on it may be handed
 * over again, by its sent() too. */
static void tx_release(struct link_tx *tx, int err)
{
	tx->queued = false;
	if (tx->sent)
		tx->sent(tx, err);
}

static void tx_fail_run(struct loop_op *op, int res)
{
	tx_release(container_of(op, struct link_tx, op), res);
}

static void tx_fail(struct tcp_link *k, struct link_tx *tx)
{
	loop_defer(k->loop, &tx->op, tx_fail_run, -ENOTCONN);
}

static void sock_teardown_run(struct loop_op *op, int res)
{
	struct lsock *s = container_of(op, struct lsock, teardown_op);
	struct tcp_link *k = s->k;

	(void)res;
	s->teardown_queued = false;
	if (s->recv_armed || s->send_armed || s->conn_armed || s->kick_queued)
		return;	/* the last completion queues us again */
	while (s->tx_head) {
		struct link_tx *tx = s->tx_head;

		s->tx_head = tx->next;
		if (tx == &s->hello_tx || tx == &s->auth_tx)
			continue;
		if (tx == &k->ping_tx)
			k->ping_queued = false;
		else if (tx == &k->pong_tx)
			k->pong_queued = false;
		else
			tx_release(tx, -ENOTCONN);
	}
	if (s->cur_buf)
		bufpool_put(k->pool, s->cur_buf, s->cur.length);
	bufpool_cancel_wait(k->pool, &s->buf_wait);
	for (int i = 0; i < LINK_SOCKS_MAX; i++)
		if (k->socks[i] == s)
			k->socks[i] = NULL;
	if (s->fd >= 0)
		close(s->fd);
	if (s->was_up) {
		log_warn("peer %s: connection lost: %s", k->cfg.peer_name, s->why);
		k->downs_pending--;
		k->ops->down(k->owner, s->why);
		if (!k->downs_pending)
			link_start_waiting(k);
	} else if (s->why[0]) {
		log_info("peer %s: connection attempt ended: %s",
			 k->cfg.peer_name, s->why);
	}
	if (s->dialed && k->want_connected && !k->shutting_down && !k->up)
		link_arm_dial_timer(k);
	free(s->rx);
	free(s);
}

void sock_maybe_teardown(struct lsock *s)
{
	if (s->state != LS_CLOSING || s->teardown_queued ||
	    s->recv_armed || s->send_armed || s->conn_armed || s->kick_queued)
		return;
	s->teardown_queued = true;
	loop_defer(s->k->loop, &s->teardown_op, sock_teardown_run, 0);
}

static void sock_cancel(struct lsock *s, struct loop_op *op)
{
	struct io_uring_sqe *sqe = loop_sqe(s->k->loop);

	io_uring_prep_cancel(sqe, op, 0);
	io_uring_sqe_set_data(sqe, NULL);
}

void sock_close(struct lsock *s, const char *fmt, ...)
{
	struct tcp_link *k = s->k;
	va_list ap;

	if (s->state == LS_CLOSING)
		return;
	va_start(ap, fmt);
	vsnprintf(s->why, sizeof(s->why), fmt, ap);
	va_end(ap);
	s->was_up = s->state == LS_UP;
	if (s->was_up)
		k->downs_pending++;	/* its down() runs from the teardown */
	s->state = LS_CLOSING;
	if (k->up == s) {
		k->up = NULL;
		k->base.up = false;
	}
	if (s->fd >= 0)
		shutdown(s->fd, SHUT_RDWR);
	if (s->recv_armed)
		sock_cancel(s, &s->recv_op);
	if (s->send_armed)
		sock_cancel(s, &s->send_op);
	if (s->conn_armed)
		sock_cancel(s, &s->conn_op);
	sock_maybe_teardown(s);
}

/* ---- sending ---------------------------------------------------------- */

static void sock_send_done(struct loop_op *op, int res)
{
	struct lsock *s = container_of(op, struct lsock, send_op);
	struct tcp_link *k = s->k;
	size_t sent;

	if (res < 0 || s->state == LS_CLOSING) {
		s->send_armed = false;
		if (res < 0)
			sock_close(s, "send: %s", strerror(-res));
		sock_maybe_teardown(s);
		return;
	}
	/* send_armed stays set while the sent callbacks run: one that queues
	 * a frame must not start a send of frames not yet accounted for. */
	sent = (size_t)res;
	while (sent && s->tx_head) {
		struct link_tx *tx = s->tx_head;
		size_t total = FRAME_HDR_BYTES + tx->h.payload_len;
		size_t left = total - s->tx_head_sent;

		if (sent < left) {
			s->tx_head_sent += sent;
			break;
		}
		sent -= left;
		s->tx_head_sent = 0;
		s->tx_head = tx->next;
		if (!s->tx_head)
			s->tx_tail = NULL;
		if (tx == &k->ping_tx)
			k->ping_queued = false;
		else if (tx == &k->pong_tx)
			k->pong_queued = false;
		else
			tx_release(tx, 0);
	}
	s->send_armed = false;
	if (s->close_when_sent && !s->tx_head) {
		sock_close(s, "%s", s->why);
		return;
	}
	sock_kick_soon(s);
	sock_maybe_teardown(s);
}

/* One sendmsg of every frame queued (up to LINK_IOV_MAX vectors). */
static void sock_kick_tx(struct lsock *s)
{
	struct io_uring_sqe *sqe;
	size_t skip = s->tx_head_sent;
	unsigned n = 0;

	if (s->send_armed || !s->tx_head || s->state == LS_CLOSING ||
	    s->state == LS_CONNECTING)
		return;
	for (struct link_tx *tx = s->tx_head; tx && n + 2 <= LINK_IOV_MAX;
	     tx = tx->next) {
		struct iovec v[2] = {
			{ tx->raw, FRAME_HDR_BYTES },
			{ (void *)tx->payload, tx->h.payload_len },
		};

		for (int i = 0; i < 2; i++) {
			if (v[i].iov_len == 0)
				continue;
			if (skip >= v[i].iov_len) {
				skip -= v[i].iov_len;
				continue;
			}
			v[i].iov_base = (uint8_t *)v[i].iov_base + skip;
			v[i].iov_len -= skip;
			skip = 0;
			s->iov[n++] = v[i];
		}
	}
	memset(&s->msg, 0, sizeof(s->msg));
	s->msg.msg_iov = s->iov;
	s->msg.msg_iovlen = n;
	sqe = loop_sqe(s->k->loop);
	io_uring_prep_sendmsg(sqe, s->fd, &s->msg, MSG_NOSIGNAL);
	loop_op_arm(s->k->loop, sqe, &s->send_op, sock_send_done);
	s->send_armed = true;
}

static void sock_kick_run(struct loop_op *op, int res)
{
	struct lsock *s = container_of(op, struct lsock, kick_op);

	(void)res;
	s->kick_queued = false;
	sock_kick_tx(s);
	sock_maybe_teardown(s);
}

/* The send starts once the callbacks of this loop pass have run (the
 * kick is deferred behind them): every frame they queue leaves in one
 * sendmsg, read by the peer in one receive. Handing each its own send
 * as it was queued sent a barrier and the DATA frame behind it apart
 * (the DATA frame waiting a pass for the barrier's send), and at depth
 * made two sends where one would do: the first frame of a pass left
 * alone, the others waited for its completion. */
static void sock_kick_soon(struct lsock *s)
{
	if (s->kick_queued || s->send_armed || !s->tx_head ||
	    s->state == LS_CLOSING)
		return;
	s->kick_queued = true;
	loop_defer(s->k->loop, &s->kick_op, sock_kick_run, 0);
}

static void sock_queue(struct lsock *s, struct link_tx *tx)
{
	if (tx->h.payload_len && !tx->payload)
		tx->payload = tx->inline_payload;
	frame_encode(tx->raw, &tx->h, tx->payload);
	tx->next = NULL;
	if (s->tx_tail)
		s->tx_tail->next = tx;
	else
		s->tx_head = tx;
	s->tx_tail = tx;
	sock_kick_soon(s);
}

void tcp_link_send(struct link *b, struct link_tx *tx)
{
	struct tcp_link *k = tcp_of(b);

	/* Queued twice, the frame's next would point at itself: the send
	 * and teardown loops would spin for good, or drop every frame
	 * queued after it. Better a crash the peer sees as a lost
	 * connection (its bitmap covers what is missing) than either. */
	if (tx->queued) {
		log_err("peer %s: a %s frame was handed to the link again before "
			"its sent() ran: an engine bug; aborting",
			k->cfg.peer_name, frame_type_name(tx->h.type));
		abort();
	}
	tx->queued = true;
	if (!k->up) {
		tx_fail(k, tx);
		return;
	}
	sock_queue(k->up, tx);
}

void link_send_ctrl(struct lsock *s, struct link_tx *tx, uint16_t type,
			   uint64_t id)
{
	memset(&tx->h, 0, sizeof(tx->h));
	tx->h.type = type;
	tx->h.id = id;
	tx->payload = NULL;
	tx->sent = NULL;
	sock_queue(s, tx);
}

/* ---- handshake -------------------------------------------------------- */

/*
 * The proof a node ("prover") gives the other ("verifier") on one
 * connection: HMAC-SHA256(secret, verifier's challenge | prover's
 * challenge | resource | prover | verifier | whether the prover dialed).
 * Both challenges and the direction bind it to this connection and this
 * side of it, so an answer obtained on another connection (a relay that
 * plays each node against the other) proves nothing.
 */
static int auth_mac(const struct tcp_link *k, const uint8_t *verifier_challenge,
		    const uint8_t *prover_challenge, const char *prover,
		    const char *verifier, bool prover_dialed,
		    uint8_t out[FRAME_MAC_BYTES])
{
	uint8_t msg[2 * FRAME_CHALLENGE_BYTES + 3 * FRAME_NAME_BYTES + 1] = { 0 };
	uint8_t *p = msg;

	memcpy(p, verifier_challenge, FRAME_CHALLENGE_BYTES);
	p += FRAME_CHALLENGE_BYTES;
	memcpy(p, prover_challenge, FRAME_CHALLENGE_BYTES);
	p += FRAME_CHALLENGE_BYTES;
	strncpy((char *)p, k->cfg.resource, FRAME_NAME_BYTES - 1);
	p += FRAME_NAME_BYTES;
	strncpy((char *)p, prover, FRAME_NAME_BYTES - 1);
	p += FRAME_NAME_BYTES;
	strncpy((char *)p, verifier, FRAME_NAME_BYTES - 1);
	p += FRAME_NAME_BYTES;
	*p = prover_dialed ? 'D' : 'A';
	return gnutls_hmac_fast(GNUTLS_MAC_SHA256, k->cfg.secret,
				strlen(k->cfg.secret), msg, sizeof(msg), out);
}

/* Constant-time comparison, so timing says nothing about the secret. */
static bool mac_equal(const uint8_t *a, const uint8_t *b)
{
	uint8_t d = 0;

	for (int i = 0; i < FRAME_MAC_BYTES; i++)
		d |= a[i] ^ b[i];
	return d == 0;
}

void sock_start_hello(struct lsock *s)
{
	struct tcp_link *k = s->k;
	struct frame_hello h = { 0 };
	int one = 1;

	setsockopt(s->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	s->state = LS_HELLO;
	if (gnutls_rnd(GNUTLS_RND_NONCE, s->my_challenge,
		       sizeof(s->my_challenge)) < 0) {
		sock_close(s, "no random challenge available");
		return;
	}
	snprintf(h.node, sizeof(h.node), "%s", k->cfg.self_name);
	h.features = FRAME_FEAT_ALL;
	memcpy(h.challenge, s->my_challenge, sizeof(h.challenge));
	h.resource_hash = k->resource_hash;
	frame_encode_hello(s->hello_buf, &h);
	memset(&s->hello_tx.h, 0, sizeof(s->hello_tx.h));
	s->hello_tx.h.type = FRAME_HELLO;
	s->hello_tx.h.payload_len = FRAME_HELLO_BYTES;
	s->hello_tx.payload = s->hello_buf;
	sock_queue(s, &s->hello_tx);
	sock_arm_recv(s);
}

static void sock_up(struct lsock *s)
{
	struct tcp_link *k = s->k;

	s->state = LS_UP;
	k->up = s;
	k->base.up = true;
	k->base.generation++;
	k->backoff_ms = 0;
	k->base.features = FRAME_FEAT_ALL & s->peer_hello.features;
	log_info("peer %s: connected and authenticated (%s), features %#x",
		 k->cfg.peer_name, s->dialed ? "dialed" : "accepted", k->base.features);
	k->ops->up(k->owner);
}

static void sock_hello(struct lsock *s, const uint8_t *p, uint32_t len)
{
	struct tcp_link *k = s->k;

	if (s->have_peer_hello) {
		sock_close(s, "second HELLO");
		return;
	}
	if (frame_parse_hello(p, len, &s->peer_hello) < 0) {
		sock_close(s, "malformed HELLO");
		return;
	}
	if (s->peer_hello.resource_hash != k->resource_hash) {
		sock_close(s, "peer serves a different resource");
		return;
	}
	if (strcmp(s->peer_hello.node, k->cfg.peer_name) != 0) {
		sock_close(s, "unexpected node '%s' (expected %s)",
			   s->peer_hello.node, k->cfg.peer_name);
		return;
	}
	s->have_peer_hello = true;
	if (auth_mac(k, s->peer_hello.challenge, s->my_challenge,
		     k->cfg.self_name, k->cfg.peer_name, s->dialed, s->mac) < 0) {
		sock_close(s, "HMAC unavailable");
		return;
	}
	memset(&s->auth_tx.h, 0, sizeof(s->auth_tx.h));
	s->auth_tx.h.type = FRAME_AUTH;
	s->auth_tx.h.payload_len = FRAME_MAC_BYTES;
	s->auth_tx.payload = s->mac;
	sock_queue(s, &s->auth_tx);
}

static void sock_auth(struct lsock *s, const uint8_t *p)
{
	struct tcp_link *k = s->k;
	uint8_t want[FRAME_MAC_BYTES];

	if (!s->have_peer_hello || s->peer_proven) {
		sock_close(s, "AUTH out of order");
		return;
	}
	if (auth_mac(k, s->my_challenge, s->peer_hello.challenge,
		     k->cfg.peer_name, k->cfg.self_name, !s->dialed, want) < 0 ||
	    !mac_equal(want, p)) {
		log_err("peer %s failed authentication: the shared secret "
			"differs", k->cfg.peer_name);
		sock_close(s, "authentication failed (wrong secret)");
		return;
	}
	s->peer_proven = true;
	if (k->up)
		sock_close(k->up, "replaced by a new connection from the peer");
	if (k->downs_pending) {
		/* The owner hears of the old connection's end before of this
		 * one; until then nothing more is read from it. */
		s->up_waiting = true;
		s->stalled = true;
		return;
	}
	sock_up(s);
}

/* Every old connection is down: bring up the one that waited. */
static void link_start_waiting(struct tcp_link *k)
{
	for (int i = 0; i < LINK_SOCKS_MAX; i++) {
		struct lsock *s = k->socks[i];

		if (!s || !s->up_waiting)
			continue;
		s->up_waiting = false;
		if (s->state == LS_CLOSING || k->up)
			continue;
		sock_up(s);
		tcp_link_kick(&k->base);	/* resumes reading it */
	}
}

/* ---- receiving -------------------------------------------------------- */

static void sock_recv_done(struct loop_op *op, int res)
{
	struct lsock *s = container_of(op, struct lsock, recv_op);

	s->recv_armed = false;
	if (s->state == LS_CLOSING) {
		sock_maybe_teardown(s);
		return;
	}
	if (res <= 0) {
		sock_close(s, "%s", res == 0 ? "peer closed the connection"
					      : strerror(-res));
		return;
	}
	s->last_rx_ms = clock_mono_ms();
	if (s->recv_direct)
		s->cur_have += (uint32_t)res;
	else
		s->rx_end += (uint32_t)res;
	sock_process(s);
}

static void sock_arm_recv(struct lsock *s)
{
	struct io_uring_sqe *sqe;
	uint8_t *dst;
	uint32_t len;
	int flags = 0;

	if (s->recv_armed || s->stalled || s->state == LS_CLOSING ||
	    s->state == LS_CONNECTING)
		return;
	s->recv_direct = s->cur_buf && s->rx_start == s->rx_end &&
			 s->cur.length - s->cur_have >= LINK_DIRECT_RECV_MIN;
	if (s->recv_direct) {
		dst = s->cur_buf + s->cur_have;
		len = s->cur.length - s->cur_have;
		flags = MSG_WAITALL;
	} else {
		if (s->rx_start == s->rx_end) {
			s->rx_start = s->rx_end = 0;
		} else if (s->rx_start > 0 &&
			   LINK_RX_BYTES - s->rx_end < FRAME_HDR_BYTES + FRAME_CTRL_PAYLOAD_MAX) {
			memmove(s->rx, s->rx + s->rx_start, s->rx_end - s->rx_start);
			s->rx_end -= s->rx_start;
			s->rx_start = 0;
		}
		if (s->rx_end == LINK_RX_BYTES)
			return;
		dst = s->rx + s->rx_end;
		len = LINK_RX_BYTES - s->rx_end;
	}
	sqe = loop_sqe(s->k->loop);
	io_uring_prep_recv(sqe, s->fd, dst, len, flags);
	loop_op_arm(s->k->loop, sqe, &s->recv_op, sock_recv_done);
	s->recv_armed = true;
}

/* Frames whose payload is block data, received into a bufpool buffer the
 * owner then keeps. An empty READ_REPLY (an error) is a control frame. */
static bool frame_has_data(const struct frame_hdr *h)
{
	return (h->type == FRAME_DATA || h->type == FRAME_RS_DATA ||
		h->type == FRAME_READ_REPLY) && h->length;
}

/* A whole, CRC-checked control frame. */
static void sock_frame(struct lsock *s, const struct frame_hdr *h,
		       const uint8_t *payload)
{
	struct tcp_link *k = s->k;

	if (s->state == LS_HELLO) {
		if (h->type == FRAME_HELLO)
			sock_hello(s, payload, h->payload_len);
		else if (h->type == FRAME_AUTH)
			sock_auth(s, payload);
		else
			sock_close(s, "%s frame before authentication",
				   frame_type_name(h->type));
		return;
	}
	switch (h->type) {
	case FRAME_HELLO:
	case FRAME_AUTH:
		sock_close(s, "%s after authentication", frame_type_name(h->type));
		return;
	case FRAME_PING:
		if (!k->pong_queued) {
			k->pong_queued = true;
			link_send_ctrl(s, &k->pong_tx, FRAME_PING_ACK, h->id);
		}
		return;
	case FRAME_PING_ACK:
		return;
	default:
		k->ops->frame(k->owner, h, payload, NULL);
	}
}

/* May the owner take a frame with this header now? Only frames it is
 * handed are asked about: link-level frames and the handshake never wait. */
static bool sock_owner_ready(struct lsock *s, const struct frame_hdr *h)
{
	struct tcp_link *k = s->k;

	if (s->state != LS_UP || !k->ops->ready)
		return true;
	switch (h->type) {
	case FRAME_HELLO:
	case FRAME_AUTH:
	case FRAME_PING:
	case FRAME_PING_ACK:
		return true;
	default:
		return k->ops->ready(k->owner, h);
	}
}

/* Move buffered bytes into the data frame being received; deliver it
 * once whole, checked and wanted. Returns false when it cannot go on:
 * more bytes are needed, the socket closed, or it is stalled. */
static bool sock_fill_data(struct lsock *s)
{
	struct tcp_link *k = s->k;
	uint32_t need = s->cur.length - s->cur_have;
	uint32_t avail = s->rx_end - s->rx_start;
	uint32_t n = need < avail ? need : avail;
	uint8_t *buf;

	memcpy(s->cur_buf + s->cur_have, s->rx + s->rx_start, n);
	s->cur_have += n;
	s->rx_start += n;
	if (s->cur_have < s->cur.length)
		return false;
	if (!s->cur_checked) {
		if (!frame_crc_ok(s->cur_raw, &s->cur, s->cur_buf)) {
			bufpool_put(k->pool, s->cur_buf, s->cur.length);
			s->cur_buf = NULL;
			sock_close(s, "CRC mismatch in %s frame (offset %llu, %u bytes)",
				   frame_type_name(s->cur.type),
				   (unsigned long long)s->cur.offset, s->cur.length);
			return false;
		}
		s->cur_checked = true;
	}
	if (!sock_owner_ready(s, &s->cur)) {
		s->stalled = true;	/* whole and checked: kept until a kick */
		return false;
	}
	buf = s->cur_buf;
	s->cur_buf = NULL;
	s->cur_checked = false;
	k->ops->frame(k->owner, &s->cur, NULL, buf);
	return true;
}

static void sock_buf_ready(struct bufpool_waiter *w)
{
	struct lsock *s = container_of(w, struct lsock, buf_wait);

	if (s->stalled) {
		s->stalled = false;
		sock_process(s);
	}
}

/* A data frame's header: set its buffer aside, or stall (nothing free,
 * or the owner not ready), or refuse a frame no buffer could ever hold.
 * false when processing stops. */
static bool sock_start_data(struct lsock *s, const struct frame_hdr *h,
			    const uint8_t *raw)
{
	struct tcp_link *k = s->k;

	if (s->state != LS_UP) {
		sock_close(s, "data before authentication");
		return false;
	}
	if (h->length > k->pool->size_bytes) {
		/* Waiting for a buffer would wait forever. */
		sock_close(s, "a %u-byte %s frame can never fit in the %zu-byte "
			   "buffer pool (buffer-mib)", h->length,
			   frame_type_name(h->type), k->pool->size_bytes);
		return false;
	}
	if (!sock_owner_ready(s, h)) {
		s->stalled = true;	/* link_kick resumes */
		return false;
	}
	s->cur_buf = bufpool_get(k->pool, h->length);
	if (!s->cur_buf) {
		/* Any put resumes it (and link_kick). */
		s->stalled = true;
		bufpool_wait(k->pool, k->loop, &s->buf_wait, sock_buf_ready);
		return false;
	}
	s->cur = *h;
	s->cur_have = 0;
	s->cur_checked = false;
	memcpy(s->cur_raw, raw, FRAME_HDR_BYTES);
	s->rx_start += FRAME_HDR_BYTES;
	return true;
}

static void sock_process(struct lsock *s)
{
	while (!s->stalled && (s->state == LS_HELLO || s->state == LS_UP)) {
		uint8_t *p = s->rx + s->rx_start;
		uint32_t avail = s->rx_end - s->rx_start;
		struct frame_hdr h;
		int ret;

		if (s->cur_buf) {
			if (!sock_fill_data(s))
				break;
			continue;
		}
		if (avail < FRAME_HDR_BYTES)
			break;
		ret = frame_parse(p, &h);
		if (ret < 0) {
			sock_close(s, "bad frame header (%s): type %u, %u-byte payload",
				   ret == -EBADMSG ? "bad magic" :
				   ret == -E2BIG ? "payload too large" : "invalid",
				   be_get16(p + 6), be_get32(p + 12));
			break;
		}
		if (frame_has_data(&h)) {
			if (!sock_start_data(s, &h, p))
				break;
			continue;
		}
		if (avail < FRAME_HDR_BYTES + h.payload_len)
			break;
		if (!frame_crc_ok(p, &h, p + FRAME_HDR_BYTES)) {
			sock_close(s, "CRC mismatch in %s frame",
				   frame_type_name(h.type));
			break;
		}
		if (!sock_owner_ready(s, &h)) {
			s->stalled = true;	/* stays in rx until a kick */
			break;
		}
		s->rx_start += FRAME_HDR_BYTES + h.payload_len;
		sock_frame(s, &h, p + FRAME_HDR_BYTES);
	}
	sock_arm_recv(s);
	sock_maybe_teardown(s);
}

/* Does the peer's TCP still acknowledge what this side sends? For a
 * socket that stopped reading: its frames (pings included) sit unread,
 * but the peer is alive as long as its kernel acknowledges the pings and
 * acks this side keeps sending. */
bool sock_peer_heard(const struct lsock *s, uint32_t within_ms)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	if (getsockopt(s->fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return false;
	return ti.tcpi_last_ack_recv < within_ms;
}

static void link_kick_run(struct loop_op *op, int res)
{
	struct tcp_link *k = container_of(op, struct tcp_link, kick_op);

	(void)res;
	k->kick_queued = false;
	for (int i = 0; i < LINK_SOCKS_MAX; i++) {
		struct lsock *s = k->socks[i];

		if (s && s->stalled && !s->up_waiting) {
			s->stalled = false;
			sock_process(s);
		}
	}
}

void tcp_link_kick(struct link *b)
{
	struct tcp_link *k = tcp_of(b);

	if (k->kick_queued)
		return;
	k->kick_queued = true;
	loop_defer(k->loop, &k->kick_op, link_kick_run, 0);
}
