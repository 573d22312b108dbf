/* nbd-floor.c - the least an NBD server can do for direct I/O on a file:
 * a reference for bench/run.sh (targets nbd-floor and nbd-floor-simple),
 * never a server for data anyone keeps.
 *
 * What blockd's direct path does per request, and nothing else: one
 * thread, one io_uring, one recv in flight into a buffer, READ and WRITE
 * on an O_DIRECT descriptor, FLUSH as an fdatasync, the replies of a loop
 * pass gathered into one sendmsg. No engine, no metadata, no statistics,
 * no validation beyond what keeps it from crashing (a bad request drops
 * the connection), one client at a time, no FUA, TRIM or block status.
 * So blockd direct against nbd-floor shows what blockd's own layers cost,
 * and nbd-floor against raw fio what the NBD round trip costs on the
 * machine at hand.
 *
 * The handshake is fixed newstyle. Structured replies are accepted, as
 * blockd accepts them, unless --simple is given (then the client falls
 * back to simple replies): a READ's reply is then an OFFSET_DATA chunk,
 * which libnbd reads in four parts (the first 16 bytes, the rest of the
 * header, the offset, the data) where a simple reply takes two.
 *
 * usage: nbd-floor [--simple] SOCKET-PATH FILE
 * Exits 0 on SIGTERM or SIGINT.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/endian.h"
#include "nbd/codec.h"

#define FLOOR_REQS 128			/* requests in flight at most */
#define FLOOR_REQ_BYTES (1U << 20)	/* largest READ or WRITE */
#define FLOOR_RX_BYTES (2U << 20)	/* receive buffer */
#define FLOOR_OPT_MAX 4096		/* largest option payload */

enum floor_op { OP_RECV = 1, OP_SEND, OP_DISK };

struct floor_req {
	struct nbd_request rq;
	int res;			/* the disk's: bytes or -errno */
	uint8_t *buf;			/* FLOOR_REQ_BYTES, 4 KiB aligned */
	uint8_t hdr[NBD_READ_CHUNK_BYTES];
	unsigned hdr_len;
	struct floor_req *next;
};

static struct {
	struct io_uring ring;
	int fd, disk_fd;
	uint64_t size_bytes;
	bool structured_ok, structured;
	uint8_t *rx;
	size_t rx_start, rx_end;
	bool recv_armed, send_armed, eof;
	struct floor_req reqs[FLOOR_REQS];
	struct floor_req *free_list, *tx_head, *tx_tail, *sending;
	struct floor_req *payload_req;	/* WRITE waiting for its payload */
	unsigned busy;			/* requests not back on free_list */
	uint32_t payload_have;
	struct iovec iov[2 * FLOOR_REQS];
	struct msghdr msg;
} f;

static uint64_t floor_data(enum floor_op op, unsigned idx)
{
	return (uint64_t)op << 32 | idx;
}

/* ---- handshake (blocking: nothing else is going on) ---------------- */

static int read_full(int fd, void *buf, size_t len)
{
	size_t got = 0;

	while (got < len) {
		ssize_t r = read(fd, (uint8_t *)buf + got, len - got);

		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t len)
{
	return write(fd, buf, len) == (ssize_t)len ? 0 : -1;
}

static int opt_reply(uint32_t opt, uint32_t type, const void *data,
		     uint32_t len)
{
	uint8_t h[NBD_OPT_REPLY_BYTES];

	nbd_encode_opt_reply(h, opt, type, len);
	if (write_full(f.fd, h, sizeof(h)) < 0)
		return -1;
	return len ? write_full(f.fd, data, len) : 0;
}

/* Any export name is the file. Returns 0 in transmission, -1 to close. */
static int handshake(void)
{
	uint16_t tflags = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH;
	uint8_t g[NBD_GREETING_BYTES], h[NBD_OPT_HDR_BYTES], info[12];
	uint8_t data[FLOOR_OPT_MAX], cflags[4];

	nbd_encode_greeting(g);
	f.structured = false;
	if (write_full(f.fd, g, sizeof(g)) < 0 || read_full(f.fd, cflags, 4) < 0)
		return -1;
	for (;;) {
		struct nbd_option o;
		uint32_t opt;

		if (read_full(f.fd, h, sizeof(h)) < 0 ||
		    nbd_parse_option_header(h, &o) < 0 || o.len > sizeof(data) ||
		    read_full(f.fd, data, o.len) < 0)
			return -1;
		opt = o.opt;
		switch (opt) {
		case NBD_OPT_EXPORT_NAME:
			be_put64(info, f.size_bytes);
			be_put16(info + 8, tflags);
			return write_full(f.fd, info, NBD_EXPORT_NAME_REPLY_BYTES);
		case NBD_OPT_INFO:
		case NBD_OPT_GO:
			be_put16(info, NBD_INFO_EXPORT);
			be_put64(info + 2, f.size_bytes);
			be_put16(info + 10, tflags);
			if (opt_reply(opt, NBD_REP_INFO, info, 12) < 0 ||
			    opt_reply(opt, NBD_REP_ACK, NULL, 0) < 0)
				return -1;
			if (opt == NBD_OPT_GO)
				return 0;
			break;
		case NBD_OPT_STRUCTURED_REPLY:
			if (f.structured_ok) {
				f.structured = true;
				if (opt_reply(opt, NBD_REP_ACK, NULL, 0) < 0)
					return -1;
				break;
			}
			if (opt_reply(opt, NBD_REP_ERR_UNSUP, NULL, 0) < 0)
				return -1;
			break;
		case NBD_OPT_ABORT:
			opt_reply(opt, NBD_REP_ACK, NULL, 0);
			return -1;
		default:
			if (opt_reply(opt, NBD_REP_ERR_UNSUP, NULL, 0) < 0)
				return -1;
			break;
		}
	}
}

/* ---- transmission ------------------------------------------------- */

static void arm_recv(void)
{
	struct io_uring_sqe *sqe;

	if (f.recv_armed || f.eof || !f.free_list)
		return;
	if (f.rx_start == f.rx_end) {
		f.rx_start = f.rx_end = 0;
	} else if (FLOOR_RX_BYTES - f.rx_end < FLOOR_REQ_BYTES) {
		memmove(f.rx, f.rx + f.rx_start, f.rx_end - f.rx_start);
		f.rx_end -= f.rx_start;
		f.rx_start = 0;
	}
	sqe = io_uring_get_sqe(&f.ring);
	io_uring_prep_recv(sqe, f.fd, f.rx + f.rx_end, FLOOR_RX_BYTES - f.rx_end, 0);
	io_uring_sqe_set_data64(sqe, floor_data(OP_RECV, 0));
	f.recv_armed = true;
}

static void build_reply(struct floor_req *r)
{
	uint32_t err = r->res < 0 ? nbd_errno_to_wire(-r->res) : 0;

	if (f.structured && r->rq.type == NBD_CMD_READ && !err) {
		r->hdr_len = nbd_encode_read_chunk(r->hdr, r->rq.cookie,
						   r->rq.offset, r->rq.length);
	} else if (f.structured && r->rq.type == NBD_CMD_READ) {
		r->hdr_len = nbd_encode_error_chunk(r->hdr, err, r->rq.cookie);
	} else {
		nbd_encode_simple_reply(r->hdr, err, r->rq.cookie);
		r->hdr_len = NBD_SIMPLE_REPLY_BYTES;
	}
	r->next = NULL;
	if (f.tx_tail)
		f.tx_tail->next = r;
	else
		f.tx_head = r;
	f.tx_tail = r;
}

/* Every queued reply in one sendmsg; MSG_WAITALL sends it whole. */
static void kick_tx(void)
{
	struct io_uring_sqe *sqe;
	unsigned n = 0;

	if (f.send_armed || !f.tx_head)
		return;
	f.sending = f.tx_head;
	for (struct floor_req *r = f.tx_head; r; r = r->next) {
		f.iov[n++] = (struct iovec){ r->hdr, r->hdr_len };
		if (r->rq.type == NBD_CMD_READ && r->res >= 0)
			f.iov[n++] = (struct iovec){ r->buf, r->rq.length };
	}
	f.tx_head = f.tx_tail = NULL;
	memset(&f.msg, 0, sizeof(f.msg));
	f.msg.msg_iov = f.iov;
	f.msg.msg_iovlen = n;
	sqe = io_uring_get_sqe(&f.ring);
	io_uring_prep_sendmsg(sqe, f.fd, &f.msg, MSG_NOSIGNAL | MSG_WAITALL);
	io_uring_sqe_set_data64(sqe, floor_data(OP_SEND, 0));
	f.send_armed = true;
}

static void submit_disk(struct floor_req *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&f.ring);

	if (r->rq.type == NBD_CMD_READ)
		io_uring_prep_read(sqe, f.disk_fd, r->buf, r->rq.length, r->rq.offset);
	else if (r->rq.type == NBD_CMD_WRITE)
		io_uring_prep_write(sqe, f.disk_fd, r->buf, r->rq.length, r->rq.offset);
	else
		io_uring_prep_fsync(sqe, f.disk_fd, IORING_FSYNC_DATASYNC);
	io_uring_sqe_set_data64(sqe, floor_data(OP_DISK, (unsigned)(r - f.reqs)));
}

/* Parse what was received while a request slot is free. */
static void parse(void)
{
	while (!f.eof && (f.free_list || f.payload_req)) {
		uint32_t avail = (uint32_t)(f.rx_end - f.rx_start);
		uint8_t *p = f.rx + f.rx_start;
		struct floor_req *r;

		if (f.payload_req) {
			r = f.payload_req;
			if (avail > r->rq.length - f.payload_have)
				avail = r->rq.length - f.payload_have;
			memcpy(r->buf + f.payload_have, p, avail);
			f.rx_start += avail;
			f.payload_have += avail;
			if (f.payload_have < r->rq.length)
				return;
			f.payload_req = NULL;
			submit_disk(r);
			continue;
		}
		if (avail < NBD_REQUEST_BYTES)
			return;
		r = f.free_list;
		if (nbd_parse_request(p, &r->rq) < 0) {
			f.eof = true;
			return;
		}
		f.rx_start += NBD_REQUEST_BYTES;
		if (r->rq.type == NBD_CMD_DISC || r->rq.length > FLOOR_REQ_BYTES ||
		    (r->rq.type != NBD_CMD_READ && r->rq.type != NBD_CMD_WRITE &&
		     r->rq.type != NBD_CMD_FLUSH)) {
			f.eof = true;
			return;
		}
		f.free_list = r->next;
		f.busy++;
		if (r->rq.type == NBD_CMD_WRITE) {
			f.payload_req = r;
			f.payload_have = 0;
			continue;
		}
		submit_disk(r);
	}
}

static void complete(struct io_uring_cqe *cqe)
{
	uint64_t d = io_uring_cqe_get_data64(cqe);

	switch ((enum floor_op)(d >> 32)) {
	case OP_RECV:
		f.recv_armed = false;
		if (cqe->res <= 0)
			f.eof = true;
		else
			f.rx_end += (size_t)cqe->res;
		break;
	case OP_DISK:
		f.reqs[(uint32_t)d].res = cqe->res;
		build_reply(&f.reqs[(uint32_t)d]);
		break;
	case OP_SEND:
		f.send_armed = false;
		if (cqe->res < 0)
			f.eof = true;
		while (f.sending) {
			struct floor_req *r = f.sending;

			f.sending = r->next;
			r->next = f.free_list;
			f.free_list = r;
			f.busy--;
		}
		break;
	}
}

/* One connection, until the client leaves (or breaks the protocol) and
 * everything it was sent is answered. */
static void serve(void)
{
	bool shut = false;

	f.rx_start = f.rx_end = 0;
	f.eof = false;
	f.busy = 0;
	f.payload_req = NULL;
	arm_recv();
	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;

		io_uring_submit_and_wait(&f.ring, 1);
		io_uring_for_each_cqe(&f.ring, head, cqe) {
			complete(cqe);
			n++;
		}
		io_uring_cq_advance(&f.ring, n);
		parse();
		kick_tx();
		arm_recv();
		if (!f.eof)
			continue;
		if (f.payload_req) {	/* its payload never came */
			f.payload_req->next = f.free_list;
			f.free_list = f.payload_req;
			f.payload_req = NULL;
			f.busy--;
		}
		if (f.recv_armed && !shut) {	/* the recv returns 0 */
			shutdown(f.fd, SHUT_RD);
			shut = true;
		}
		if (!f.recv_armed && !f.send_armed && !f.tx_head && !f.busy)
			return;
	}
}

static void on_signal(int sig)
{
	(void)sig;
	_exit(0);
}

int main(int argc, char **argv)
{
	struct io_uring_params p = { .flags = IORING_SETUP_SINGLE_ISSUER |
					      IORING_SETUP_DEFER_TASKRUN };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int lfd, arg = 1;

	f.structured_ok = true;
	if (argc > 1 && !strcmp(argv[1], "--simple")) {
		f.structured_ok = false;
		arg++;
	}
	if (argc - arg != 2 || strlen(argv[arg]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: nbd-floor [--simple] SOCKET-PATH FILE\n");
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	signal(SIGPIPE, SIG_IGN);
	f.disk_fd = open(argv[arg + 1], O_RDWR | O_DIRECT);
	if (f.disk_fd < 0 || fstat(f.disk_fd, &st) < 0) {
		fprintf(stderr, "nbd-floor: %s: %s\n", argv[arg + 1], strerror(errno));
		return 1;
	}
	f.size_bytes = (uint64_t)st.st_size;
	strcpy(sa.sun_path, argv[arg]);
	unlink(sa.sun_path);
	lfd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(lfd, 8) < 0) {
		fprintf(stderr, "nbd-floor: %s: %s\n", argv[arg], strerror(errno));
		return 1;
	}
	if (io_uring_queue_init_params(4 * FLOOR_REQS, &f.ring, &p) < 0 ||
	    !(f.rx = aligned_alloc(4096, FLOOR_RX_BYTES))) {
		fprintf(stderr, "nbd-floor: out of memory or no io_uring\n");
		return 1;
	}
	for (unsigned i = 0; i < FLOOR_REQS; i++) {
		f.reqs[i].buf = aligned_alloc(4096, FLOOR_REQ_BYTES);
		if (!f.reqs[i].buf)
			return 1;
		f.reqs[i].next = f.free_list;
		f.free_list = &f.reqs[i];
	}
	for (;;) {
		f.fd = accept(lfd, NULL, NULL);
		if (f.fd < 0)
			continue;
		if (handshake() == 0)
			serve();
		close(f.fd);
	}
}
