/* server_priv.h - state shared by the NBD server's two halves:
 * server.c (listeners, request slots, back-pressure, shutdown) and
 * conn.c (one connection: handshake, requests, replies, closing).
 * Private to nbd/; nothing outside includes it.
 */
#ifndef BLOCKD_NBD_SERVER_PRIV_H
#define BLOCKD_NBD_SERVER_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/acceptor.h"
#include "common/container_of.h"
#include "common/loop.h"
#include "nbd/codec.h"
#include "nbd/handshake.h"
#include "nbd/server.h"

#define NBD_LISTENERS_MAX 8
#define NBD_CONNS_MAX 256
#define NBD_REQS_MAX 1024	/* request slots, shared by all connections */
#define NBD_CONN_REQS_MAX 256	/* per connection, for fairness */
#define NBD_RX_BYTES (128U * 1024)
#define NBD_DIRECT_RECV_MIN (16U * 1024) /* payloads received in place */
#define NBD_TX_IOV_MAX 256
#define NBD_BLOCK_MAX (32U * 1024 * 1024)
#define NBD_DRAIN_TIMEOUT_S 10	/* SIGTERM: wait this long for clients */

struct nbd_conn;

struct nbd_req {
	struct nbd_io io;	/* rq, buf (bufpool, or NULL), the backend's area */
	struct nbd_conn *conn;
	struct nbd_req *next;	/* free list, or the connection's tx queue */
	uint32_t payload_have;	/* WRITE bytes received so far */
	uint32_t extents;	/* BLOCK_STATUS: descriptors in extra[] */
	uint32_t error;		/* NBD error for the reply */
	uint32_t extra_len;	/* bytes of extra[] in the reply */
	uint64_t start_ns;	/* when it was parsed, for the latency */
	unsigned niov;
	size_t reply_bytes;
	struct iovec iov[2];
	/* Reply header: structured header, then an offset or error body. */
	uint8_t hdr[NBD_READ_CHUNK_BYTES];
	uint8_t extra[4 + 8 * NBD_EXTENTS_MAX];	/* BLOCK_STATUS reply */
};

enum nbd_conn_state { CONN_HS_FLAGS, CONN_HS_OPTIONS, CONN_TRANSMIT, CONN_CLOSING };

struct nbd_conn {
	struct nbd_server *srv;
	struct nbd_conn *next, *prev;	/* server's connection list */
	struct nbd_conn *next_stalled;
	int fd;
	enum nbd_conn_state state;
	uint64_t started_ms;	/* clock_mono_ms when accepted */
	bool stalled;		/* on srv->stalled: waiting for a request slot */
	/* Waiting for the buffer pool: a put by anyone (resync, receiver,
	 * another connection) resumes parsing. */
	struct bufpool_waiter buf_wait;
	bool eof;		/* client closed, sent DISC, or we drain */
	bool recv_armed, send_armed;
	bool recv_direct;	/* the armed recv fills rx_req's buffer */
	bool free_queued;	/* conn_free_run is scheduled */
	bool hs_sending;	/* tx carries handshake output, not replies */
	enum nbd_hs_result hs_result;
	struct loop_op recv_op, send_op, free_op;
	uint8_t *rx;
	uint32_t rx_start, rx_end;
	struct nbd_req *rx_req;	/* WRITE waiting for its payload */
	uint32_t discard;	/* payload bytes of a refused WRITE to drop */
	unsigned inflight;	/* requests held, rx_req included */
	size_t buf_bytes;	/* pool bytes its requests hold */
	struct nbd_req *tx_head, *tx_tail;
	size_t tx_head_sent;	/* bytes of tx_head's reply already sent */
	size_t out_sent;
	struct msghdr msg;
	struct iovec iov[NBD_TX_IOV_MAX];
	struct nbd_hs hs;
	struct nbd_out out;
	char name[64];		/* peer address, for logs */
};

struct nbd_listener {
	struct acceptor acceptor;
	struct nbd_server *srv;
	int fd;
	bool is_unix;
	char spec[128];
	char what[136];		/* "NBD " spec, for the acceptor's log lines */
};

struct nbd_server {
	struct loop *loop;
	struct bufpool *pool;		/* READ and WRITE buffers */
	const struct nbd_backend_ops *ops;
	void *backend;
	struct nbd_export export;	/* as the backend described it */
	struct nbd_export_info ex;	/* what the handshake advertises */
	struct nbd_listener listeners[NBD_LISTENERS_MAX];
	unsigned n_listeners;
	struct nbd_conn *conns;
	unsigned n_conns;
	uint32_t handshake_timeout_ms;	/* 0: none */
	struct nbd_conn *stalled;
	struct loop_op unstall_op;
	bool unstall_queued;
	struct nbd_req *reqs;
	struct nbd_req *free_reqs;
	uint8_t *priv;			/* the backend's areas, one per slot */
	size_t priv_stride;
	bool draining;
	void (*drained)(void *arg);
	void *drained_arg;
	struct loop_op drained_op;
	bool drain_timer_armed;
	struct loop_op drain_timer_op;
	struct __kernel_timespec drain_ts;
	struct nbd_stats stats;
};

/* server.c */
void server_kick_stalled(struct nbd_server *srv);
void server_check_drained(struct nbd_server *srv);
void conn_stall(struct nbd_conn *c);
void conn_unlink_stalled(struct nbd_conn *c);
struct nbd_req *req_get(struct nbd_conn *c);
void req_give_back(struct nbd_req *r);
void req_release(struct nbd_req *r);

/* conn.c */
void conn_start(struct nbd_server *srv, struct nbd_listener *li, int fd);
void conn_process(struct nbd_conn *c);
void conn_close(struct nbd_conn *c, const char *why);
void conn_cancel(struct nbd_conn *c, struct loop_op *op);
void conn_maybe_finish(struct nbd_conn *c);

#endif
