/* conn.c - one NBD connection, from accept to close.
 *
 *   accept -> HS_FLAGS -> HS_OPTIONS -> TRANSMIT -> CLOSING -> freed
 *               \______________\____________\--> CLOSING (error, DISC, EOF)
 *
 * Receiving: at most one recv in flight, into the rx buffer, so one
 * syscall brings many small requests; a large WRITE payload is received
 * straight into its request buffer. Sending: at most one sendmsg in
 * flight, gathering every queued reply. A request holds a slot and (READ,
 * WRITE) a bufpool buffer from parsing until its reply is sent; when
 * either runs out the connection stops parsing and reading: out of slots
 * until a request of this server is released, out of buffers until a
 * bufpool waiter wakes it (any put, whoever holds the buffers).
 * Every other request goes to the backend's ops (server.h), which answers
 * through nbd_io_done(); BLOCK_STATUS may take long there (an allocation
 * lookup off the loop thread), so replies may leave in any order.
 * A connection is freed only from a deferred callback once no recv, send
 * or request is in flight, so no completion ever sees a freed object.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "nbd/server_priv.h"

static void conn_kick_tx(struct nbd_conn *c);

/* Parsing waits for a request slot or for a buffer. */
static bool conn_blocked(const struct nbd_conn *c)
{
	return c->stalled || c->buf_wait.waiting;
}

/* ---- replies ---------------------------------------------------------- */

static void req_build_reply(struct nbd_req *r)
{
	struct nbd_request *rq = &r->io.rq;
	bool structured = r->conn->hs.session.structured;
	uint32_t extra_len = 0;

	r->niov = 1;
	/* Under structured replies a READ's data and a BLOCK_STATUS's
	 * extents need chunks, and so does an error (its chunk has room for
	 * a message); any other success is a simple reply, as the protocol
	 * allows: 16 bytes a client takes in one read, where a NONE chunk
	 * costs libnbd a second one for its last 4 header bytes. */
	if (!structured || (!r->error && rq->type != NBD_CMD_READ &&
			    rq->type != NBD_CMD_BLOCK_STATUS)) {
		nbd_encode_simple_reply(r->hdr, r->error, rq->cookie);
		r->iov[0] = (struct iovec){ r->hdr, NBD_SIMPLE_REPLY_BYTES };
		if (rq->type == NBD_CMD_READ && !r->error) {
			r->iov[1] = (struct iovec){ r->io.buf, rq->length };
			r->niov = 2;
		}
	} else if (r->error) {
		r->iov[0] = (struct iovec){
			r->hdr, nbd_encode_error_chunk(r->hdr, r->error, rq->cookie)
		};
	} else if (rq->type == NBD_CMD_READ) {
		/* One OFFSET_DATA chunk, so DF is always honoured. */
		r->iov[0] = (struct iovec){
			r->hdr, nbd_encode_read_chunk(r->hdr, rq->cookie,
						      rq->offset, rq->length)
		};
		r->iov[1] = (struct iovec){ r->io.buf, rq->length };
		r->niov = 2;
	} else if (rq->type == NBD_CMD_BLOCK_STATUS) {
		extra_len = r->extra_len;
		nbd_encode_struct_reply(r->hdr, NBD_REPLY_FLAG_DONE,
					NBD_REPLY_TYPE_BLOCK_STATUS, rq->cookie,
					extra_len);
		r->iov[0] = (struct iovec){ r->hdr, NBD_STRUCT_REPLY_BYTES };
		r->iov[1] = (struct iovec){ r->extra, extra_len };
		r->niov = 2;
	}
	r->reply_bytes = r->iov[0].iov_len + (r->niov > 1 ? r->iov[1].iov_len : 0);
}

static void req_account(struct nbd_req *r)
{
	struct nbd_stats *st = &r->conn->srv->stats;
	unsigned cmd = r->io.rq.type, b = 0;
	uint64_t us = (clock_mono_ns() - r->start_ns) / 1000;

	if (cmd >= NBD_STATS_CMDS)
		return;
	st->count[cmd]++;
	if (r->error)
		st->errors[cmd]++;
	else if (cmd == NBD_CMD_READ || cmd == NBD_CMD_WRITE)
		st->bytes[cmd] += r->io.rq.length;
	st->sum_us[cmd] += us;
	while (b < NBD_STATS_BUCKETS - 1 && us > nbd_stats_bounds_us[b])
		b++;
	st->bucket[cmd][b]++;
}

static void req_reply(struct nbd_req *r)
{
	struct nbd_conn *c = r->conn;

	req_account(r);
	if (c->state == CONN_CLOSING) {
		req_release(r);
		conn_maybe_finish(c);
		return;
	}
	req_build_reply(r);
	r->next = NULL;
	if (c->tx_tail)
		c->tx_tail->next = r;
	else
		c->tx_head = r;
	c->tx_tail = r;
	conn_kick_tx(c);
}

static void req_reply_error(struct nbd_req *r, uint32_t error)
{
	r->error = error;
	req_reply(r);
}

static void req_block_status_reply(struct nbd_req *r)
{
	be_put32(r->extra, NBD_META_ID_BASE_ALLOCATION);
	r->extra_len = 4 + 8 * r->extents;
	req_reply(r);
}

void nbd_io_done(struct nbd_io *io, int err)
{
	struct nbd_req *r = container_of(io, struct nbd_req, io);

	if (err < 0 && r->io.rq.type == NBD_CMD_BLOCK_STATUS)
		log_err("%s: block status of %u bytes at %llu failed: %s",
			r->conn->name, r->io.rq.length,
			(unsigned long long)r->io.rq.offset, strerror(-err));
	else if (err < 0)
		log_err("%s: %s of %u bytes at %llu failed: %s", r->conn->name,
			r->io.rq.type == NBD_CMD_READ ? "read" : "request",
			r->io.rq.length, (unsigned long long)r->io.rq.offset,
			strerror(-err));
	if (err == 0 && r->io.rq.type == NBD_CMD_BLOCK_STATUS) {
		req_block_status_reply(r);
		return;
	}
	r->error = nbd_errno_for_request(&r->io.rq, -err);
	req_reply(r);
}

void nbd_io_extent(struct nbd_io *io, uint64_t len, bool hole)
{
	struct nbd_req *r = container_of(io, struct nbd_req, io);
	uint8_t *d;

	if (r->extents >= io->extents_max)
		return;
	d = r->extra + 4 + 8 * r->extents;
	/* Descriptor lengths are 32-bit: clamp to a block multiple. */
	if (len > UINT32_MAX)
		len = UINT32_MAX & ~4095U;
	be_put32(d, (uint32_t)len);
	be_put32(d + 4, hole ? NBD_STATE_HOLE | NBD_STATE_ZERO : 0);
	r->extents++;
}

/* ---- sending ---------------------------------------------------------- */

static void conn_send_done(struct loop_op *op, int res);

static void conn_send_iov(struct nbd_conn *c, unsigned niov)
{
	struct io_uring_sqe *sqe = loop_sqe(c->srv->loop);

	memset(&c->msg, 0, sizeof(c->msg));
	c->msg.msg_iov = c->iov;
	c->msg.msg_iovlen = niov;
	io_uring_prep_sendmsg(sqe, c->fd, &c->msg, MSG_NOSIGNAL);
	loop_op_arm(c->srv->loop, sqe, &c->send_op, conn_send_done);
	c->send_armed = true;
}

/* Gather queued replies into one sendmsg. */
static void conn_kick_tx(struct nbd_conn *c)
{
	unsigned n = 0;
	size_t skip = c->tx_head_sent;

	if (c->send_armed || !c->tx_head || c->state == CONN_CLOSING)
		return;
	for (struct nbd_req *r = c->tx_head; r && n + 2 <= NBD_TX_IOV_MAX;
	     r = r->next) {
		for (unsigned i = 0; i < r->niov; i++) {
			struct iovec v = r->iov[i];

			if (skip >= v.iov_len) {
				skip -= v.iov_len;
				continue;
			}
			v.iov_base = (uint8_t *)v.iov_base + skip;
			v.iov_len -= skip;
			skip = 0;
			c->iov[n++] = v;
		}
	}
	conn_send_iov(c, n);
}

static void conn_hs_send(struct nbd_conn *c)
{
	c->iov[0] = (struct iovec){ c->out.buf + c->out_sent,
				    c->out.len - c->out_sent };
	conn_send_iov(c, 1);
}

static void conn_hs_sent(struct nbd_conn *c)
{
	c->hs_sending = false;
	if (c->hs_result == NBD_HS_CLOSE) {
		conn_close(c, NULL);
		return;
	}
	if (c->hs_result == NBD_HS_TRANSMIT) {
		c->state = CONN_TRANSMIT;
		log_info("%s: connected (%s replies%s)", c->name,
			 c->hs.session.structured ? "structured" : "simple",
			 c->hs.session.meta_base_alloc ? ", base:allocation" : "");
	}
	conn_process(c);
}

static void conn_send_done(struct loop_op *op, int res)
{
	struct nbd_conn *c = container_of(op, struct nbd_conn, send_op);
	size_t sent;

	if (res < 0 || c->state == CONN_CLOSING) {
		c->send_armed = false;
		if (res < 0 && res != -ECANCELED && res != -EPIPE &&
		    res != -ECONNRESET)
			log_warn("%s: send: %s", c->name, strerror(-res));
		conn_close(c, NULL);
		conn_maybe_finish(c);
		return;
	}
	/* send_armed stays set while replies are accounted, so nothing
	 * queued meanwhile starts a send of bytes already on the wire. */
	sent = (size_t)res;
	if (c->hs_sending) {
		c->send_armed = false;
		c->out_sent += sent;
		if (c->out_sent < c->out.len)
			conn_hs_send(c);
		else
			conn_hs_sent(c);
		return;
	}
	while (sent && c->tx_head) {
		struct nbd_req *r = c->tx_head;
		size_t left = r->reply_bytes - c->tx_head_sent;

		if (sent < left) {
			c->tx_head_sent += sent;
			break;
		}
		sent -= left;
		c->tx_head_sent = 0;
		c->tx_head = r->next;
		if (!c->tx_head)
			c->tx_tail = NULL;
		req_release(r);
	}
	c->send_armed = false;
	conn_kick_tx(c);
	conn_maybe_finish(c);
}

/* ---- receiving -------------------------------------------------------- */

static void conn_recv_done(struct loop_op *op, int res);

static void conn_arm_recv(struct nbd_conn *c)
{
	struct io_uring_sqe *sqe;
	struct nbd_req *r = c->rx_req;
	uint8_t *dst;
	uint32_t len;
	int flags = 0;

	if (c->recv_armed || c->eof || conn_blocked(c) ||
	    c->state == CONN_CLOSING)
		return;
	c->recv_direct = r && c->rx_start == c->rx_end &&
			 r->io.rq.length - r->payload_have >= NBD_DIRECT_RECV_MIN;
	if (c->recv_direct) {
		dst = r->io.buf + r->payload_have;
		len = r->io.rq.length - r->payload_have;
		flags = MSG_WAITALL;
	} else {
		if (c->rx_start == c->rx_end) {
			c->rx_start = c->rx_end = 0;
		} else if (c->rx_start > 0 && NBD_RX_BYTES - c->rx_end < 4096) {
			memmove(c->rx, c->rx + c->rx_start, c->rx_end - c->rx_start);
			c->rx_end -= c->rx_start;
			c->rx_start = 0;
		}
		if (c->rx_end == NBD_RX_BYTES)
			return;	/* full: parsing must consume first */
		dst = c->rx + c->rx_end;
		len = NBD_RX_BYTES - c->rx_end;
	}
	sqe = loop_sqe(c->srv->loop);
	io_uring_prep_recv(sqe, c->fd, dst, len, flags);
	loop_op_arm(c->srv->loop, sqe, &c->recv_op, conn_recv_done);
	c->recv_armed = true;
}

static void conn_recv_done(struct loop_op *op, int res)
{
	struct nbd_conn *c = container_of(op, struct nbd_conn, recv_op);

	c->recv_armed = false;
	if (c->state == CONN_CLOSING) {
		conn_maybe_finish(c);
		return;
	}
	if (res <= 0) {
		if (res < 0 && res != -ECANCELED && res != -ECONNRESET)
			log_warn("%s: recv: %s", c->name, strerror(-res));
		c->eof = true;
		if (c->state != CONN_TRANSMIT)
			conn_close(c, NULL);
		else
			conn_maybe_finish(c);
		return;
	}
	if (c->recv_direct)
		c->rx_req->payload_have += (uint32_t)res;
	else
		c->rx_end += (uint32_t)res;
	conn_process(c);
}

/* ---- handshake -------------------------------------------------------- */

static void conn_hs_output(struct nbd_conn *c, enum nbd_hs_result result)
{
	c->hs_result = result;
	c->out_sent = 0;
	if (c->out.len == 0) {
		c->hs_sending = true;
		conn_hs_sent(c);
		return;
	}
	c->hs_sending = true;
	conn_hs_send(c);
}

/* Returns true when it consumed input and the caller should go on. */
static bool conn_hs_step(struct nbd_conn *c)
{
	uint32_t avail = c->rx_end - c->rx_start;
	uint8_t *p = c->rx + c->rx_start;
	struct nbd_option o;

	if (c->hs_sending)
		return false;
	if (c->state == CONN_HS_FLAGS) {
		if (avail < 4)
			return false;
		c->rx_start += 4;
		if (nbd_hs_client_flags(&c->hs, p) < 0) {
			conn_close(c, "bad client flags");
			return false;
		}
		c->state = CONN_HS_OPTIONS;
		return true;
	}
	if (avail < NBD_OPT_HDR_BYTES)
		return false;
	if (nbd_parse_option_header(p, &o) < 0) {
		conn_close(c, "bad option magic");
		return false;
	}
	if (o.len > NBD_OPT_LEN_MAX) {
		conn_close(c, "option payload too long");
		return false;
	}
	if (avail < NBD_OPT_HDR_BYTES + o.len)
		return false;
	c->rx_start += NBD_OPT_HDR_BYTES + o.len;
	conn_hs_output(c, nbd_hs_option(&c->hs, o.opt, p + NBD_OPT_HDR_BYTES,
					o.len, &c->out));
	return false;
}

/* ---- transmission ----------------------------------------------------- */

/* Hand a checked request to the backend: BLOCK_STATUS may wait for a
 * slow allocation lookup there, answered later. */
static void req_submit(struct nbd_req *r)
{
	struct nbd_server *srv = r->conn->srv;

	if (r->io.rq.type == NBD_CMD_BLOCK_STATUS) {
		r->io.extents_max = (r->io.rq.flags & NBD_CMD_FLAG_REQ_ONE)
			? 1 : NBD_EXTENTS_MAX;
		srv->ops->block_status(srv->backend, &r->io);
		return;
	}
	srv->ops->submit(srv->backend, &r->io);
}

/* Move buffered payload bytes into the pending WRITE; submit it once
 * complete. Returns true when the WRITE is complete and submitted. */
static bool conn_fill_payload(struct nbd_conn *c)
{
	struct nbd_req *r = c->rx_req;
	uint32_t need = r->io.rq.length - r->payload_have;
	uint32_t avail = c->rx_end - c->rx_start;
	uint32_t n = need < avail ? need : avail;

	memcpy(r->io.buf + r->payload_have, c->rx + c->rx_start, n);
	r->payload_have += n;
	c->rx_start += n;
	if (r->payload_have < r->io.rq.length)
		return false;
	c->rx_req = NULL;
	req_submit(r);
	return true;
}

/* A put freed buffers: parse again, from the dispatch pass. */
static void conn_buf_ready(struct bufpool_waiter *w)
{
	struct nbd_conn *c = container_of(w, struct nbd_conn, buf_wait);

	conn_process(c);
}

/* The pool bytes one connection's requests may hold at once (one request
 * may always go beyond): replies wait in their buffers until the client
 * reads them, so a client that stops reading would otherwise take the
 * whole pool, and every other client would wait for it. Each gets a part
 * of what READ and WRITE may use, smaller as more clients connect, and
 * the last part stays free for a newcomer. */
static size_t conn_buf_share(const struct nbd_conn *c)
{
	const struct nbd_server *srv = c->srv;

	return (srv->pool->size_bytes - srv->export.pool_reserve) /
	       (srv->n_conns + 1);
}

/* Parse one request header. Returns true to go on parsing. */
static bool conn_parse_request(struct nbd_conn *c)
{
	struct nbd_server *srv = c->srv;
	uint8_t *p = c->rx + c->rx_start;
	struct nbd_request rq;
	struct nbd_req *r;
	int check;

	if (c->rx_end - c->rx_start < NBD_REQUEST_BYTES)
		return false;
	if (nbd_parse_request(p, &rq) < 0) {
		conn_close(c, "bad request magic");
		return false;
	}
	check = nbd_check_request(&rq, &srv->ex, &c->hs.session);
	if (check < 0) {
		log_warn("%s: %u-byte payload exceeds the %u-byte maximum; "
			 "dropping the connection", c->name, rq.length,
			 srv->ex.block_max);
		conn_close(c, NULL);
		return false;
	}
	if (rq.type == NBD_CMD_DISC && check == 0) {
		c->rx_start += NBD_REQUEST_BYTES;
		c->eof = true;	/* replies to earlier requests still go out */
		conn_maybe_finish(c);
		return false;
	}
	r = req_get(c);
	if (!r) {
		conn_stall(c);
		return false;
	}
	r->io.rq = rq;
	r->start_ns = clock_mono_ns();
	if (check == 0 && (rq.type == NBD_CMD_READ || rq.type == NBD_CMD_WRITE)) {
		if (c->buf_bytes && c->buf_bytes + rq.length > conn_buf_share(c)) {
			/* Over its share: wait for its own replies to go. */
			req_give_back(r);
			conn_stall(c);
			return false;
		}
		r->io.buf = bufpool_get_leaving(srv->pool, rq.length,
						srv->export.pool_reserve);
		if (!r->io.buf) {
			/* Give the slot back quietly: nothing was freed, so
			 * waking the stalled connections would only spin. */
			req_give_back(r);
			bufpool_wait(srv->pool, srv->loop, &c->buf_wait,
				     conn_buf_ready);
			return false;
		}
	}
	if (r->io.buf)
		c->buf_bytes += rq.length;
	c->rx_start += NBD_REQUEST_BYTES;
	if (check > 0) {
		c->discard = nbd_request_payload(&rq);
		req_reply_error(r, (uint32_t)check);
		return true;
	}
	if (rq.type == NBD_CMD_WRITE) {
		c->rx_req = r;
		return true;
	}
	req_submit(r);
	return true;
}

static void conn_process_transmit(struct nbd_conn *c)
{
	while (c->state == CONN_TRANSMIT && !c->eof && !conn_blocked(c)) {
		if (c->discard) {
			uint32_t avail = c->rx_end - c->rx_start;
			uint32_t n = c->discard < avail ? c->discard : avail;

			c->rx_start += n;
			c->discard -= n;
			if (c->discard)
				return;
		}
		if (c->rx_req) {
			if (!conn_fill_payload(c))
				return;
			continue;
		}
		if (c->srv->draining)
			return;
		if (!conn_parse_request(c))
			return;
	}
}

void conn_process(struct nbd_conn *c)
{
	if (c->state == CONN_HS_FLAGS || c->state == CONN_HS_OPTIONS) {
		while (conn_hs_step(c))
			;
	}
	if (c->state == CONN_TRANSMIT)
		conn_process_transmit(c);
	conn_arm_recv(c);
	conn_maybe_finish(c);
}

/* ---- closing ---------------------------------------------------------- */

void conn_cancel(struct nbd_conn *c, struct loop_op *op)
{
	struct io_uring_sqe *sqe = loop_sqe(c->srv->loop);

	io_uring_prep_cancel(sqe, op, 0);
	io_uring_sqe_set_data(sqe, NULL);
}

void conn_close(struct nbd_conn *c, const char *why)
{
	if (c->state == CONN_CLOSING)
		return;
	if (why)
		log_warn("%s: %s; closing the connection", c->name, why);
	c->state = CONN_CLOSING;
	if (c->stalled)
		conn_unlink_stalled(c);
	bufpool_cancel_wait(c->srv->pool, &c->buf_wait);
	/* Wake anything pending on the socket; completions bring it back. */
	shutdown(c->fd, SHUT_RDWR);
	if (c->recv_armed)
		conn_cancel(c, &c->recv_op);
	if (c->send_armed)
		conn_cancel(c, &c->send_op);
	conn_maybe_finish(c);
}

/* Deferred from conn_maybe_finish, so no caller up the stack ever holds
 * a freed connection. Nothing can be armed again once CLOSING. */
static void conn_free_run(struct loop_op *op, int res)
{
	struct nbd_conn *c = container_of(op, struct nbd_conn, free_op);
	struct nbd_server *srv = c->srv;

	(void)res;

	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->n_conns--;
	close(c->fd);
	log_info("%s: disconnected", c->name);
	free(c->rx);
	free(c);
	server_check_drained(srv);
}

void conn_maybe_finish(struct nbd_conn *c)
{
	if (c->state != CONN_CLOSING) {
		/* Graceful end: the client is gone or said DISC, or we drain;
		 * every accepted request has been answered. A WRITE whose
		 * payload never fully arrived was never accepted. */
		if (!c->eof)
			return;
		if (c->rx_req && !c->recv_armed) {
			struct nbd_req *r = c->rx_req;

			c->rx_req = NULL;
			req_release(r);
		}
		if (c->inflight || c->send_armed)
			return;
		conn_close(c, NULL);
		return;
	}
	if (!c->recv_armed && c->rx_req) {
		struct nbd_req *r = c->rx_req;

		c->rx_req = NULL;
		req_release(r);
	}
	if (!c->send_armed) {
		while (c->tx_head) {
			struct nbd_req *r = c->tx_head;

			c->tx_head = r->next;
			req_release(r);
		}
		c->tx_tail = NULL;
	}
	if (!c->recv_armed && !c->send_armed && c->inflight == 0 &&
	    !c->free_queued) {
		c->free_queued = true;
		loop_defer(c->srv->loop, &c->free_op, conn_free_run, 0);
	}
}

/* ---- accepting -------------------------------------------------------- */

static void conn_describe(struct nbd_conn *c, struct nbd_listener *li)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";

	if (li->is_unix || getpeername(c->fd, (struct sockaddr *)&ss, &sl) < 0) {
		snprintf(c->name, sizeof(c->name), "nbd client %d (unix)", c->fd);
		return;
	}
	if (ss.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr,
			  host, sizeof(host));
	else if (ss.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
			  host, sizeof(host));
	snprintf(c->name, sizeof(c->name), "nbd client %s", host);
}

void conn_start(struct nbd_server *srv, struct nbd_listener *li, int fd)
{
	struct nbd_conn *c;
	int one = 1;

	if (srv->n_conns >= NBD_CONNS_MAX || srv->draining) {
		srv->stats.refused++;
		log_warn("refusing NBD client: %s", srv->draining
			 ? "shutting down" : "too many connections");
		close(fd);
		return;
	}
	c = calloc(1, sizeof(*c));
	if (c)
		c->rx = malloc(NBD_RX_BYTES);
	if (!c || !c->rx) {
		log_err("out of memory for an NBD connection");
		if (c)
			free(c);
		close(fd);
		return;
	}
	c->srv = srv;
	c->fd = fd;
	c->started_ms = clock_mono_ms();
	if (!li->is_unix)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	conn_describe(c, li);
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->n_conns++;

	nbd_hs_init(&c->hs, &srv->ex, srv->export.name,
		    srv->export.description);
	c->hs.refuse_msg = srv->ops->may_serve(srv->backend);
	c->state = CONN_HS_FLAGS;
	nbd_encode_greeting(c->out.buf);
	c->out.len = NBD_GREETING_BYTES;
	conn_hs_output(c, NBD_HS_CONTINUE);
	conn_arm_recv(c);
}
