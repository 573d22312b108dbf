/* link_priv.h - the peer link's internals, shared by its two halves:
 * link.c (a socket: handshake, frames in and out, teardown) and
 * connect.c (listening, dialing, keepalive, the public calls).
 * Private to transport/.
 */
#ifndef BLOCKD_LINK_PRIV_H
#define BLOCKD_LINK_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "common/acceptor.h"
#include "common/clock.h"
#include "common/container_of.h"
#include "transport/link.h"

#define LINK_SOCKS_MAX 4
#define LINK_RX_BYTES (256U * 1024)
#define LINK_DIRECT_RECV_MIN (16U * 1024)
#define LINK_IOV_MAX 256
#define LINK_RETRY_MIN_MS 100

enum lsock_state { LS_CONNECTING, LS_HELLO, LS_UP, LS_CLOSING };

struct lsock {
	struct tcp_link *k;
	int fd;
	enum lsock_state state;
	bool dialed;
	bool peer_proven;	/* the peer's AUTH checked out */
	bool have_peer_hello;
	bool was_up;
	bool recv_armed, send_armed, conn_armed, teardown_queued;
	bool kick_queued;	/* sock_kick_run deferred: sends what is queued */
	bool recv_direct;
	bool stalled;		/* not reading: no buffer, or the owner not ready */
	bool up_waiting;	/* authenticated; up once the old one is down */
	bool cur_checked;	/* the data frame in cur_buf passed its CRC */
	struct bufpool_waiter buf_wait;	/* stalled: a bufpool put resumes */
	bool close_when_sent;	/* disconnect once the queued frames are out */
	struct loop_op conn_op, recv_op, send_op, teardown_op, kick_op;
	char why[160];		/* reason it is closing, for the log */
	uint8_t my_challenge[FRAME_CHALLENGE_BYTES];
	struct frame_hello peer_hello;
	uint8_t *rx;
	uint32_t rx_start, rx_end;
	/* A DATA/RS_DATA frame whose payload is being received. */
	struct frame_hdr cur;
	uint8_t cur_raw[FRAME_HDR_BYTES];
	uint8_t *cur_buf;
	uint32_t cur_have;
	struct link_tx *tx_head, *tx_tail;
	size_t tx_head_sent;
	struct msghdr msg;
	struct iovec iov[LINK_IOV_MAX];
	struct link_tx hello_tx, auth_tx;
	uint8_t hello_buf[FRAME_HELLO_BYTES];
	uint8_t mac[FRAME_MAC_BYTES];
	uint64_t started_ms, last_rx_ms;
	struct sockaddr_storage addr;
	socklen_t addrlen;
};

struct tcp_link {
	struct link base;	/* first: its impl is tcp_link_impl */
	struct loop *loop;
	struct bufpool *pool;
	struct link_config cfg;
	const struct link_ops *ops;
	void *owner;
	uint64_t resource_hash;
	bool dialer;		/* our name sorts first: we dial */
	bool want_connected;
	bool shutting_down;
	int listen_fd;
	struct acceptor acceptor;
	struct lsock *socks[LINK_SOCKS_MAX];
	struct lsock *up;
	uint32_t backoff_ms;
	bool dial_timer_armed;
	struct loop_op dial_timer_op;
	struct __kernel_timespec dial_ts;
	bool ka_armed;
	struct loop_op ka_op;
	struct __kernel_timespec ka_ts;
	struct link_tx ping_tx, pong_tx;
	bool ping_queued, pong_queued;
	bool kick_queued;
	struct loop_op kick_op;
	unsigned downs_pending;	/* up sockets closed, down() not yet run */
};

/* link.c */
struct lsock *sock_new(struct tcp_link *k, int fd, bool dialed);
void sock_start_hello(struct lsock *s);
void sock_close(struct lsock *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void sock_maybe_teardown(struct lsock *s);
void link_send_ctrl(struct lsock *s, struct link_tx *tx, uint16_t type,
		    uint64_t id);
bool sock_peer_heard(const struct lsock *s, uint32_t within_ms);

/* connect.c */
void link_arm_dial_timer(struct tcp_link *k);
/* The link's calls (link.h) on this implementation, given the struct
 * link a struct tcp_link begins with. */
static inline struct tcp_link *tcp_of(struct link *b)
{
	return container_of(b, struct tcp_link, base);
}

void tcp_link_send(struct link *b, struct link_tx *tx);
void tcp_link_kick(struct link *b);

#endif
