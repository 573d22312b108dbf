/* control.c - see control.h.
 *
 * Client life:  accept -> recv request line -> run command -> send reply
 *               -> close;  or, for "events": reply -> stream events until
 *               the client hangs up (its recv returns 0) or falls behind.
 */
#include "blockd/daemon/control.h"

#include <errno.h>
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

#define CTL_RX_MAX 4096		/* one request line */
#define CTL_TX_MAX (1U << 20)	/* queued events before a client is dropped */

struct ctl_client {
	struct control *ctl;
	struct ctl_client *next, *prev;
	int fd;
	bool recv_armed, send_armed, closing, subscriber, free_queued;
	struct loop_op recv_op, send_op, free_op;
	char rx[CTL_RX_MAX];
	size_t rx_len;
	char *tx;		/* queued output */
	size_t tx_len, tx_sent, tx_cap;
	bool close_after_send;
	bool waiting;		/* its command answers later */
};

struct control {
	struct loop *loop;
	struct node *node;
	int fd;
	char path[256];
	bool stopping;
	struct acceptor acceptor;
	struct ctl_client *clients;
};

static void client_arm_recv(struct ctl_client *cl);
static void client_kick_tx(struct ctl_client *cl);

static void client_free_run(struct loop_op *op, int res)
{
	struct ctl_client *cl = container_of(op, struct ctl_client, free_op);
	struct control *c = cl->ctl;

	(void)res;
	if (cl->prev)
		cl->prev->next = cl->next;
	else
		c->clients = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	close(cl->fd);
	free(cl->tx);
	free(cl);
}

static void client_maybe_free(struct ctl_client *cl)
{
	if (!cl->closing || cl->recv_armed || cl->send_armed || cl->free_queued)
		return;
	cl->free_queued = true;
	loop_defer(cl->ctl->loop, &cl->free_op, client_free_run, 0);
}

static void client_close(struct ctl_client *cl)
{
	struct io_uring_sqe *sqe;

	if (cl->closing)
		return;
	cl->closing = true;
	shutdown(cl->fd, SHUT_RDWR);
	if (cl->recv_armed) {
		sqe = loop_sqe(cl->ctl->loop);
		io_uring_prep_cancel(sqe, &cl->recv_op, 0);
		io_uring_sqe_set_data(sqe, NULL);
	}
	client_maybe_free(cl);
}

static int client_queue(struct ctl_client *cl, const char *s, size_t n)
{
	if (cl->tx_len + n > CTL_TX_MAX)
		return -ENOBUFS;
	if (cl->tx_len + n > cl->tx_cap) {
		size_t cap = cl->tx_cap ? cl->tx_cap : 4096;
		char *p;

		while (cap < cl->tx_len + n)
			cap *= 2;
		p = realloc(cl->tx, cap);
		if (!p)
			return -ENOMEM;
		cl->tx = p;
		cl->tx_cap = cap;
	}
	memcpy(cl->tx + cl->tx_len, s, n);
	cl->tx_len += n;
	return 0;
}

static void client_queue_json(struct ctl_client *cl, struct json_object *o)
{
	size_t n;
	const char *s = json_object_to_json_string_length(
		o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE, &n);

	if (client_queue(cl, s, n) < 0 || client_queue(cl, "\n", 1) < 0) {
		log_warn("control client fell behind; dropping it");
		client_close(cl);
		return;
	}
	client_kick_tx(cl);
}

static void client_send_done(struct loop_op *op, int res)
{
	struct ctl_client *cl = container_of(op, struct ctl_client, send_op);

	cl->send_armed = false;
	if (res <= 0 || cl->closing) {
		client_close(cl);
		client_maybe_free(cl);
		return;
	}
	cl->tx_sent += (size_t)res;
	if (cl->tx_sent == cl->tx_len) {
		cl->tx_sent = cl->tx_len = 0;
		if (cl->close_after_send) {
			client_close(cl);
			return;
		}
	}
	client_kick_tx(cl);
}

static void client_kick_tx(struct ctl_client *cl)
{
	struct io_uring_sqe *sqe;

	if (cl->send_armed || cl->closing || cl->tx_sent == cl->tx_len)
		return;
	sqe = loop_sqe(cl->ctl->loop);
	io_uring_prep_send(sqe, cl->fd, cl->tx + cl->tx_sent,
			   cl->tx_len - cl->tx_sent, MSG_NOSIGNAL);
	loop_op_arm(cl->ctl->loop, sqe, &cl->send_op, client_send_done);
	cl->send_armed = true;
}

/* {"ok": false, "error": msg}; usage: the request itself was bad and no
 * command ran ("usage": true, which blockctl reports as bad usage). */
static void client_reply_error(struct ctl_client *cl, const char *msg,
			       bool usage)
{
	struct json_object *o = json_object_new_object();

	if (usage)
		log_info("control: bad request: %s", msg);
	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", json_object_new_string(msg));
	if (usage)
		json_object_object_add(o, "usage", json_object_new_boolean(1));
	cl->close_after_send = true;
	client_queue_json(cl, o);
	json_object_put(o);
}

static void client_reply_ok(struct ctl_client *cl, struct json_object *result)
{
	struct json_object *reply = json_object_new_object();

	json_object_object_add(reply, "ok", json_object_new_boolean(1));
	if (result)
		json_object_object_add(reply, "result", result);
	cl->close_after_send = !cl->subscriber;
	client_queue_json(cl, reply);
	json_object_put(reply);
}

/* One JSON object and nothing after it but blanks. */
static struct json_object *parse_request(const char *line, size_t len)
{
	struct json_tokener *tok = json_tokener_new_ex(8);
	struct json_object *req = NULL;
	size_t end;

	if (!tok)
		return NULL;
	req = json_tokener_parse_ex(tok, line, (int)len);
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	for (; req && end < len; end++) {
		if (!strchr(" \t\r", line[end]) || !line[end]) {
			json_object_put(req);
			return NULL;
		}
	}
	return req;
}

static void client_run(struct ctl_client *cl, const char *line, size_t len)
{
	struct json_object *req, *cmd, *result = NULL;
	char err[256] = "";
	control_cmd_fn fn;
	bool subscribe = false;
	const char *name;
	int ret;

	req = parse_request(line, len);
	if (!req) {
		client_reply_error(cl, "bad request: expected one JSON object, "
				   "{\"cmd\": NAME, ...}, on one line", true);
		return;
	}
	fn = commands_check(req, &subscribe, err, sizeof(err));
	if (!fn) {
		client_reply_error(cl, err, true);
		goto out;
	}
	json_object_object_get_ex(req, "cmd", &cmd);
	name = json_object_get_string(cmd);
	ret = fn(cl->ctl->node, req, &result, err, sizeof(err));
	if (ret == -EINPROGRESS) {
		log_info("control: %s waits for its answer", name);
		cl->waiting = true;
		goto out;
	}
	if (ret < 0) {
		if (!err[0])
			snprintf(err, sizeof(err), "%s", strerror(-ret));
		log_info("control: %s refused: %s", name, err);
		client_reply_error(cl, err, false);
		goto out;
	}
	cl->subscriber = subscribe;
	client_reply_ok(cl, result);
out:
	json_object_put(req);
}

static void client_recv_done(struct loop_op *op, int res)
{
	struct ctl_client *cl = container_of(op, struct ctl_client, recv_op);
	char *nl;

	cl->recv_armed = false;
	if (res <= 0 || cl->closing) {
		client_close(cl);
		client_maybe_free(cl);
		return;
	}
	if (cl->subscriber) {	/* input after subscribing is ignored */
		client_arm_recv(cl);
		return;
	}
	cl->rx_len += (size_t)res;
	nl = memchr(cl->rx, '\n', cl->rx_len);
	if (nl) {
		client_run(cl, cl->rx, (size_t)(nl - cl->rx));
		if (cl->subscriber)
			client_arm_recv(cl);
		return;
	}
	if (cl->rx_len == sizeof(cl->rx)) {
		char msg[64];

		snprintf(msg, sizeof(msg), "bad request: no end of line within "
			 "%d bytes", CTL_RX_MAX);
		client_reply_error(cl, msg, true);
		return;
	}
	client_arm_recv(cl);
}

static void client_arm_recv(struct ctl_client *cl)
{
	struct io_uring_sqe *sqe;
	char *dst = cl->rx + cl->rx_len;
	size_t len = sizeof(cl->rx) - cl->rx_len;

	if (cl->recv_armed || cl->closing)
		return;
	if (cl->subscriber) {	/* only to notice the hang-up */
		dst = cl->rx;
		len = sizeof(cl->rx);
	}
	sqe = loop_sqe(cl->ctl->loop);
	io_uring_prep_recv(sqe, cl->fd, dst, len, 0);
	loop_op_arm(cl->ctl->loop, sqe, &cl->recv_op, client_recv_done);
	cl->recv_armed = true;
}

static void control_accepted(struct acceptor *a, int fd)
{
	struct control *c = container_of(a, struct control, acceptor);
	struct ctl_client *cl = calloc(1, sizeof(*cl));

	if (!cl) {
		close(fd);
		return;
	}
	cl->ctl = c;
	cl->fd = fd;
	cl->next = c->clients;
	if (c->clients)
		c->clients->prev = cl;
	c->clients = cl;
	client_arm_recv(cl);
}

int control_new(struct control **out, struct loop *l, struct node *n,
		const char *path)
{
	struct control *c = calloc(1, sizeof(*c));
	char spec[300];
	bool is_unix;

	if (!c)
		return -ENOMEM;
	c->loop = l;
	c->node = n;
	snprintf(c->path, sizeof(c->path), "%s", path);
	snprintf(spec, sizeof(spec), "unix:%s", path);
	c->fd = listen_open(spec, &is_unix, 0600);
	if (c->fd < 0) {
		int ret = c->fd;

		free(c);
		return ret;
	}
	acceptor_start(&c->acceptor, l, c->fd, "control socket", control_accepted);
	*out = c;
	return 0;
}

void control_emit(struct control *c, struct json_object *event)
{
	if (!c)
		return;
	for (struct ctl_client *cl = c->clients; cl; cl = cl->next)
		if (cl->subscriber && !cl->closing)
			client_queue_json(cl, event);
}

void control_answer_waiting(struct control *c, int ret, const char *err)
{
	if (!c)
		return;
	for (struct ctl_client *cl = c->clients; cl; cl = cl->next) {
		if (!cl->waiting || cl->closing)
			continue;
		cl->waiting = false;
		if (ret < 0)
			client_reply_error(cl, err && err[0] ? err : strerror(-ret),
					   false);
		else
			client_reply_ok(cl, NULL);
	}
}

void control_shutdown(struct control *c)
{
	if (!c || c->stopping)
		return;
	c->stopping = true;
	acceptor_stop(&c->acceptor);
	for (struct ctl_client *cl = c->clients; cl; cl = cl->next)
		client_close(cl);
}

void control_free(struct control *c)
{
	if (!c)
		return;
	/* Clients still listed here never completed; the loop is gone. */
	while (c->clients) {
		struct ctl_client *cl = c->clients;

		c->clients = cl->next;
		close(cl->fd);
		free(cl->tx);
		free(cl);
	}
	close(c->fd);
	unlink(c->path);
	free(c);
}
