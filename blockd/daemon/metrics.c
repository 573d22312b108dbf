/* metrics.c - see metrics.h. */
#include "blockd/daemon/metrics.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "blockd/daemon/node.h"
#include "common/acceptor.h"
#include "common/container_of.h"
#include "common/listen.h"
#include "common/log.h"
#include "nbd/proto.h"

#define METRICS_REQ_MAX 4096
#define METRICS_CLIENTS_MAX 256
#define METRICS_IDLE_S 10

struct mclient {
	struct metrics *m;
	struct mclient *next;
	int fd;
	struct loop_op recv_op, send_op;
	char req[METRICS_REQ_MAX];
	size_t req_len;
	char *out;
	size_t out_len, out_sent;
	bool recv_armed, send_armed;
	struct __kernel_timespec idle_ts;
};

struct metrics {
	struct loop *loop;
	struct node *node;
	int fd;
	bool stopping;
	struct acceptor acceptor;
	struct mclient *clients;
	unsigned n_clients;
};

/* ---- rendering -------------------------------------------------------- */

struct buf {
	char *p;
	size_t len, cap;
};

static void bprintf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void bprintf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->len : NULL,
			      b->p ? b->cap - b->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (b->p && (size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		b->cap = (b->cap ? b->cap * 2 : 16384) + (size_t)n;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			return;
	}
}

static void metric_head(struct buf *b, const char *name, const char *type,
			const char *help)
{
	bprintf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void gauge(struct buf *b, const char *lbl, const char *name,
		  const char *help, double v)
{
	metric_head(b, name, "gauge", help);
	bprintf(b, "%s{%s} %.17g\n", name, lbl, v);
}

static void counter(struct buf *b, const char *lbl, const char *name,
		    const char *help, uint64_t v)
{
	metric_head(b, name, "counter", help);
	bprintf(b, "%s{%s} %llu\n", name, lbl, (unsigned long long)v);
}

/* One-hot state: a series per value of an enum (0 .. count - 1, but
 * skip), named by state.c, 1 for the current one. */
static void state_set(struct buf *b, const char *lbl, const char *name,
		      const char *help, const char *(*value_name)(int v),
		      int count, int skip, int cur)
{
	metric_head(b, name, "gauge", help);
	for (int i = 0; i < count; i++)
		if (i != skip)
			bprintf(b, "%s{%s,state=\"%s\"} %d\n", name, lbl,
				value_name(i), i == cur);
}

static const char *role_value(int v)
{
	return role_name((enum role)v);
}

static const char *disk_value(int v)
{
	return disk_state_name((enum disk_state)v);
}

static const char *conn_value(int v)
{
	return conn_state_name((enum conn_state)v);
}

static const char *repl_value(int v)
{
	return repl_state_name((enum repl_state)v);
}

static const char *const nbd_cmd_names[NBD_STATS_CMDS] = {
	"read", "write", "disc", "flush", "trim", "cache", "write_zeroes",
	"block_status",
};

static void render_nbd(struct buf *b, const char *lbl,
		       const struct nbd_stats *st)
{
	metric_head(b, "blockd_nbd_requests_total", "counter",
		    "NBD requests replied to, by command");
	for (int c = 0; c < NBD_STATS_CMDS; c++)
		if (c != NBD_CMD_DISC)
			bprintf(b, "blockd_nbd_requests_total{%s,cmd=\"%s\"} %llu\n",
				lbl, nbd_cmd_names[c], (unsigned long long)st->count[c]);
	metric_head(b, "blockd_nbd_errors_total", "counter",
		    "NBD requests replied to with an error, by command");
	for (int c = 0; c < NBD_STATS_CMDS; c++)
		if (c != NBD_CMD_DISC)
			bprintf(b, "blockd_nbd_errors_total{%s,cmd=\"%s\"} %llu\n",
				lbl, nbd_cmd_names[c], (unsigned long long)st->errors[c]);
	metric_head(b, "blockd_nbd_bytes_total", "counter",
		    "Bytes read and written through NBD");
	bprintf(b, "blockd_nbd_bytes_total{%s,cmd=\"read\"} %llu\n", lbl,
		(unsigned long long)st->bytes[NBD_CMD_READ]);
	bprintf(b, "blockd_nbd_bytes_total{%s,cmd=\"write\"} %llu\n", lbl,
		(unsigned long long)st->bytes[NBD_CMD_WRITE]);
	metric_head(b, "blockd_nbd_request_duration_seconds", "histogram",
		    "Time from request received to reply queued, by command");
	for (int c = 0; c < NBD_STATS_CMDS; c++) {
		uint64_t cum = 0;

		if (c == NBD_CMD_DISC)
			continue;
		for (int i = 0; i < NBD_STATS_BUCKETS; i++) {
			cum += st->bucket[c][i];
			if (i < NBD_STATS_BUCKETS - 1)
				bprintf(b, "blockd_nbd_request_duration_seconds_bucket"
					"{%s,cmd=\"%s\",le=\"%g\"} %llu\n", lbl,
					nbd_cmd_names[c], nbd_stats_bounds_us[i] / 1e6,
					(unsigned long long)cum);
			else
				bprintf(b, "blockd_nbd_request_duration_seconds_bucket"
					"{%s,cmd=\"%s\",le=\"+Inf\"} %llu\n", lbl,
					nbd_cmd_names[c], (unsigned long long)cum);
		}
		bprintf(b, "blockd_nbd_request_duration_seconds_sum{%s,cmd=\"%s\"} %g\n",
			lbl, nbd_cmd_names[c], st->sum_us[c] / 1e6);
		bprintf(b, "blockd_nbd_request_duration_seconds_count{%s,cmd=\"%s\"} %llu\n",
			lbl, nbd_cmd_names[c], (unsigned long long)st->count[c]);
	}
}

static void render_states(struct buf *b, const char *lbl,
			  const struct status *st)
{
	/* A node's own role is never Unknown; its peer's may be. */
	state_set(b, lbl, "blockd_role", "This node's role", role_value,
		  ROLE_COUNT, ROLE_UNKNOWN, st->role);
	state_set(b, lbl, "blockd_disk_state", "This node's disk state",
		  disk_value, DISK_STATE_COUNT, -1, st->disk);
	state_set(b, lbl, "blockd_peer_role", "The peer's role", role_value,
		  ROLE_COUNT, -1, st->peer_role);
	state_set(b, lbl, "blockd_peer_disk_state", "The peer's disk state",
		  disk_value, DISK_STATE_COUNT, -1, st->peer_disk);
	state_set(b, lbl, "blockd_connection_state", "The peer link",
		  conn_value, CONN_STATE_COUNT, -1, st->connection);
	state_set(b, lbl, "blockd_replication_state", "Replication state",
		  repl_value, REPL_STATE_COUNT, -1, st->replication);
}

static void render_replication(struct buf *b, const char *lbl,
			       const struct status *st)
{
	gauge(b, lbl, "blockd_out_of_sync_bytes", "Bytes marked out of sync",
	      (double)st->out_of_sync_bytes);
	gauge(b, lbl, "blockd_pending_writes",
	      "Writes sent to the peer, not yet written",
	      (double)st->pending_writes);
	counter(b, lbl, "blockd_replication_sent_bytes_total",
		"Write payload handed to the peer socket", st->lag.sent_bytes);
	counter(b, lbl, "blockd_replication_received_bytes_total",
		"Write payload the peer acknowledged receiving",
		st->lag.received_bytes);
	counter(b, lbl, "blockd_replication_written_bytes_total",
		"Write payload the peer acknowledged writing",
		st->lag.written_bytes);
	counter(b, lbl, "blockd_replication_flushed_bytes_total",
		"Write payload the peer had written at its last flush",
		st->lag.flushed_bytes);
	gauge(b, lbl, "blockd_replication_write_lag_bytes",
	      "Sent to the peer and not yet written there",
	      (double)st->lag.write_lag_bytes);
	gauge(b, lbl, "blockd_replication_write_lag_seconds",
	      "Age of the oldest write the peer has not acknowledged",
	      st->lag.write_lag_s);
	gauge(b, lbl, "blockd_replication_flush_lag_bytes",
	      "Sent to the peer and not yet flushed there",
	      (double)st->lag.flush_lag_bytes);
	counter(b, lbl, "blockd_replication_data_received_bytes_total",
		"Write payload received from the peer (as Secondary)",
		st->data_received_bytes);
}

static void render_resync(struct buf *b, const char *lbl,
			  const struct status *st)
{
	counter(b, lbl, "blockd_resync_sent_bytes_total",
		"Resync block data sent", st->resync_sent_bytes);
	counter(b, lbl, "blockd_resync_received_bytes_total",
		"Resync block data received", st->resync_received_bytes);
	counter(b, lbl, "blockd_resync_same_bytes_total",
		"Resync ranges found identical by checksum",
		st->resync_same_bytes);
	gauge(b, lbl, "blockd_resync_done_ratio", "Progress of the running resync",
	      st->resync_done_pct / 100.0);
	gauge(b, lbl, "blockd_resync_rate_bytes_per_second", "Resync rate",
	      (double)st->resync_rate_bytes_s);
	gauge(b, lbl, "blockd_verify_done_ratio", "Progress of the last verify",
	      st->verify_done_pct / 100.0);
	gauge(b, lbl, "blockd_verify_out_of_sync_blocks",
	      "4 KiB blocks the last verify found different",
	      (double)st->verify_out_of_sync_blocks);
	metric_head(b, "blockd_fence_events_total", "counter",
		    "fence-peer runs by outcome");
	bprintf(b, "blockd_fence_events_total{%s,outcome=\"started\"} %llu\n",
		lbl, (unsigned long long)st->fence_runs);
	bprintf(b, "blockd_fence_events_total{%s,outcome=\"fenced\"} %llu\n",
		lbl, (unsigned long long)st->fence_ok);
	bprintf(b, "blockd_fence_events_total{%s,outcome=\"failed\"} %llu\n",
		lbl, (unsigned long long)st->fence_failed);
}

char *metrics_render(const struct node *n, size_t *len)
{
	struct buf b = { 0 };
	struct status st;
	char lbl[200];

	status_fill(&st, n);
	snprintf(lbl, sizeof(lbl), "resource=\"%s\",node=\"%s\"", st.resource,
		 st.node);
	render_states(&b, lbl, &st);
	gauge(&b, lbl, "blockd_io_frozen", "1 while fencing holds writes",
	      st.io_frozen);
	gauge(&b, lbl, "blockd_size_bytes", "Exported size", (double)st.size_bytes);
	gauge(&b, lbl, "blockd_nbd_connections", "NBD clients connected",
	      st.nbd_connections);
	counter(&b, lbl, "blockd_nbd_connections_refused_total",
		"NBD connections closed at once (at the connection limit, or "
		"shutting down)", st.nbd ? st.nbd->refused : 0);
	counter(&b, lbl, "blockd_nbd_handshake_timeouts_total",
		"NBD connections closed for not finishing the handshake within "
		"nbd-handshake-timeout-ms", st.nbd ? st.nbd->handshake_timeouts : 0);
	counter(&b, lbl, "blockd_disk_read_bytes_total", "Bytes read from the disk",
		st.read_bytes);
	counter(&b, lbl, "blockd_disk_written_bytes_total",
		"Bytes written to the disk (application and peer writes)",
		st.written_bytes);
	metric_head(&b, "blockd_metadata_writes_total", "counter",
		    "Metadata block writes (each synchronous on the disk), by kind");
	bprintf(&b, "blockd_metadata_writes_total{%s,kind=\"superblock\"} %llu\n",
		lbl, (unsigned long long)st.md_writes.superblock);
	bprintf(&b, "blockd_metadata_writes_total{%s,kind=\"activity_log\"} %llu\n",
		lbl, (unsigned long long)st.md_writes.activity_log);
	bprintf(&b, "blockd_metadata_writes_total{%s,kind=\"bitmap\"} %llu\n",
		lbl, (unsigned long long)st.md_writes.bitmap);
	if (st.nbd)
		render_nbd(&b, lbl, st.nbd);
	render_replication(&b, lbl, &st);
	render_resync(&b, lbl, &st);
	*len = b.len;
	return b.p;
}

/* ---- HTTP ------------------------------------------------------------- */

static void client_recv_done(struct loop_op *op, int res);

static void client_free(struct mclient *cl)
{
	struct mclient **pp = &cl->m->clients;

	while (*pp && *pp != cl)
		pp = &(*pp)->next;
	if (*pp)
		*pp = cl->next;
	cl->m->n_clients--;
	close(cl->fd);
	free(cl->out);
	free(cl);
}

static void client_send_done(struct loop_op *op, int res)
{
	struct mclient *cl = container_of(op, struct mclient, send_op);
	struct io_uring_sqe *sqe;

	cl->send_armed = false;
	if (res <= 0 || cl->m->stopping) {
		client_free(cl);
		return;
	}
	cl->out_sent += (size_t)res;
	if (cl->out_sent == cl->out_len) {
		client_free(cl);
		return;
	}
	sqe = loop_sqe(cl->m->loop);
	io_uring_prep_send(sqe, cl->fd, cl->out + cl->out_sent,
			   cl->out_len - cl->out_sent, MSG_NOSIGNAL);
	loop_op_arm(cl->m->loop, sqe, &cl->send_op, client_send_done);
	cl->send_armed = true;
}

static void client_answer(struct mclient *cl, const char *status,
			  const char *type, const char *body, size_t body_len)
{
	struct io_uring_sqe *sqe;
	char head[256];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %s\r\nContent-Type: %s\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			 status, type, body_len);

	cl->out = malloc((size_t)n + body_len);
	if (!cl->out) {
		client_free(cl);
		return;
	}
	memcpy(cl->out, head, (size_t)n);
	memcpy(cl->out + n, body, body_len);
	cl->out_len = (size_t)n + body_len;
	sqe = loop_sqe(cl->m->loop);
	io_uring_prep_send(sqe, cl->fd, cl->out, cl->out_len, MSG_NOSIGNAL);
	loop_op_arm(cl->m->loop, sqe, &cl->send_op, client_send_done);
	cl->send_armed = true;
}

/* A request must arrive within METRICS_IDLE_S: an idle client is dropped
 * (its recv is cancelled by the linked timeout). */
static void client_arm_recv(struct mclient *cl)
{
	struct io_uring_sqe *sqe = loop_sqe(cl->m->loop);
	struct io_uring_sqe *tmo;

	io_uring_prep_recv(sqe, cl->fd, cl->req + cl->req_len,
			   sizeof(cl->req) - cl->req_len - 1, 0);
	loop_op_arm(cl->m->loop, sqe, &cl->recv_op, client_recv_done);
	cl->recv_armed = true;
	tmo = io_uring_get_sqe(&cl->m->loop->ring);
	if (!tmo)
		return;	/* no room to link: the client just lives longer */
	sqe->flags |= IOSQE_IO_LINK;
	cl->idle_ts.tv_sec = METRICS_IDLE_S;
	cl->idle_ts.tv_nsec = 0;
	io_uring_prep_link_timeout(tmo, &cl->idle_ts, 0);
	io_uring_sqe_set_data(tmo, NULL);
}

static void client_recv_done(struct loop_op *op, int res)
{
	struct mclient *cl = container_of(op, struct mclient, recv_op);
	static const char nf[] = "not found: try /metrics\n";

	cl->recv_armed = false;
	if (res <= 0 || cl->m->stopping) {
		client_free(cl);
		return;
	}
	cl->req_len += (size_t)res;
	cl->req[cl->req_len] = 0;
	if (memchr(cl->req, 0, cl->req_len)) {
		static const char bad[] = "bad request\n";

		client_answer(cl, "400 Bad Request", "text/plain", bad, sizeof(bad) - 1);
		return;
	}
	if (!strstr(cl->req, "\r\n\r\n") && !strstr(cl->req, "\n\n")) {
		if (cl->req_len >= sizeof(cl->req) - 1) {
			static const char big[] = "request too large\n";

			client_answer(cl, "431 Request Header Fields Too Large",
				      "text/plain", big, sizeof(big) - 1);
			return;
		}
		client_arm_recv(cl);
		return;
	}
	if (!strncmp(cl->req, "GET /metrics ", 13) || !strncmp(cl->req, "GET / ", 6)) {
		size_t len = 0;
		char *body = metrics_render(cl->m->node, &len);

		client_answer(cl, "200 OK", "text/plain; version=0.0.4; charset=utf-8",
			      body ? body : "", body ? len : 0);
		free(body);
		return;
	}
	client_answer(cl, "404 Not Found", "text/plain", nf, sizeof(nf) - 1);
}

static void metrics_accepted(struct acceptor *a, int fd)
{
	struct metrics *m = container_of(a, struct metrics, acceptor);
	struct mclient *cl;

	if (m->n_clients >= METRICS_CLIENTS_MAX) {
		close(fd);	/* scrapers come one at a time */
		return;
	}
	cl = calloc(1, sizeof(*cl));
	if (!cl) {
		close(fd);
		return;
	}
	cl->m = m;
	cl->fd = fd;
	cl->next = m->clients;
	m->clients = cl;
	m->n_clients++;
	client_arm_recv(cl);
}

int metrics_new(struct metrics **out, struct loop *l, struct node *n,
		const char *hostport)
{
	struct metrics *m = calloc(1, sizeof(*m));
	char spec[300];
	bool is_unix;

	if (!m)
		return -ENOMEM;
	m->loop = l;
	m->node = n;
	snprintf(spec, sizeof(spec), "tcp:%s", hostport);
	m->fd = listen_open(spec, &is_unix, 0);
	if (m->fd < 0) {
		int ret = m->fd;

		free(m);
		return ret;
	}
	log_info("metrics on http://%s/metrics", hostport);
	acceptor_start(&m->acceptor, l, m->fd, "metrics endpoint", metrics_accepted);
	*out = m;
	return 0;
}

static void cancel(struct loop *l, struct loop_op *op)
{
	struct io_uring_sqe *sqe = loop_sqe(l);

	io_uring_prep_cancel(sqe, op, 0);
	io_uring_sqe_set_data(sqe, NULL);
}

void metrics_shutdown(struct metrics *m)
{
	if (!m || m->stopping)
		return;
	m->stopping = true;
	acceptor_stop(&m->acceptor);
	for (struct mclient *cl = m->clients; cl; cl = cl->next) {
		shutdown(cl->fd, SHUT_RDWR);
		if (cl->recv_armed)
			cancel(m->loop, &cl->recv_op);
		if (cl->send_armed)
			cancel(m->loop, &cl->send_op);
	}
}

void metrics_free(struct metrics *m)
{
	if (!m)
		return;
	while (m->clients) {
		struct mclient *cl = m->clients;

		m->clients = cl->next;
		close(cl->fd);
		free(cl->out);
		free(cl);
	}
	close(m->fd);
	free(m);
}
