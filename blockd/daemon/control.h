/* control.h - the control socket that blockctl talks to.
 *
 * Owns: the listening unix socket (mode 0600), its clients and the framing:
 * a client sends one JSON object on one line, {"cmd": NAME, ...}; the
 * daemon answers one JSON line, {"ok": true, ...} or {"ok": false,
 * "error": REASON}, with "usage": true when the request itself was bad
 * (commands_check: nothing ran), and closes. A subscriber ("events") instead receives
 * one JSON line per state change until it hangs up.
 *
 * Requests are untrusted input: bounded in size, parsed by json-c, and a
 * bad one gets an error reply, never a crash. Commands themselves live in
 * blockd/daemon/commands.c; this file only moves bytes.
 */
#ifndef BLOCKD_CONTROL_H
#define BLOCKD_CONTROL_H

#include <json-c/json.h>

#include "common/loop.h"

struct control;
struct node;

/* Run one command. Fill *result (may stay NULL) and return 0, or return
 * -errno with a one-line reason in err, or -EINPROGRESS: the answer comes
 * later, through control_answer_waiting() (a promotion waiting for
 * fence-peer; the client is kept open until then). */
typedef int (*control_cmd_fn)(struct node *n, struct json_object *req,
			      struct json_object **result, char *err,
			      size_t errlen);

int control_new(struct control **out, struct loop *l, struct node *n,
		const char *path);
void control_free(struct control *c);

/* Send one event line to every subscriber. */
void control_emit(struct control *c, struct json_object *event);

/* Answer every client whose command returned -EINPROGRESS: ok (ret 0)
 * or the error err. One kind of command waits today (primary), so one
 * answer serves them all. */
void control_answer_waiting(struct control *c, int ret, const char *err);

/* Close listeners and subscribers; done(arg) when nothing is in flight. */
void control_shutdown(struct control *c);

#endif
