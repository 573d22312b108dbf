/* acceptor.c - see acceptor.h. */
#include "common/acceptor.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/container_of.h"
#include "common/log.h"

static void acceptor_arm(struct acceptor *a);

/* Errors accept(2) passes on from one connection: the next is fine. */
static bool one_connection(int res)
{
	switch (-res) {
	case EINTR: case EAGAIN: case ECONNABORTED: case EPROTO:
	case ENETDOWN: case ENOPROTOOPT: case EHOSTDOWN: case ENONET:
	case EHOSTUNREACH: case EOPNOTSUPP: case ENETUNREACH: case EPERM:
		return true;
	default:
		return false;
	}
}

static void acceptor_done(struct loop_op *op, int res)
{
	struct acceptor *a = container_of(op, struct acceptor, op);
	struct io_uring_sqe *sqe;

	if (a->waiting) {
		a->waiting = false;
	} else if (res >= 0 && a->stopping) {
		close(res);
	} else if (res >= 0) {
		if (a->short_logged)
			log_info("%s: accepting again", a->what);
		a->short_logged = false;
		a->accepted(a, res);
	} else if (!one_connection(res) && !a->stopping) {
		if (!a->short_logged)
			log_warn("%s: cannot accept a connection: %s; trying again "
				 "every %d ms", a->what, strerror(-res),
				 ACCEPT_RETRY_MS);
		a->short_logged = true;
		a->waiting = true;
		a->ts.tv_sec = 0;
		a->ts.tv_nsec = ACCEPT_RETRY_MS * 1000000LL;
		sqe = loop_sqe(a->loop);
		io_uring_prep_timeout(sqe, &a->ts, 0, 0);
		loop_op_arm(a->loop, sqe, &a->op, acceptor_done);
		return;
	}
	if (!a->stopping)
		acceptor_arm(a);
	else if (a->stopped)
		a->stopped(a);
}

static void acceptor_arm(struct acceptor *a)
{
	struct io_uring_sqe *sqe = loop_sqe(a->loop);

	io_uring_prep_accept(sqe, a->fd, NULL, NULL, SOCK_CLOEXEC);
	loop_op_arm(a->loop, sqe, &a->op, acceptor_done);
}

void acceptor_start(struct acceptor *a, struct loop *l, int fd,
		    const char *what,
		    void (*accepted)(struct acceptor *a, int fd))
{
	a->loop = l;
	a->fd = fd;
	a->what = what;
	a->accepted = accepted;
	a->stopping = false;
	acceptor_arm(a);
}

void acceptor_stop(struct acceptor *a)
{
	struct io_uring_sqe *sqe;

	if (a->stopping || !a->loop)
		return;
	a->stopping = true;
	if (!acceptor_busy(a))
		return;
	sqe = loop_sqe(a->loop);
	io_uring_prep_cancel(sqe, &a->op, 0);
	io_uring_sqe_set_data(sqe, NULL);
}
