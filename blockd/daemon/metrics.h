/* metrics.h - a Prometheus endpoint: GET /metrics on metrics = HOST:PORT
 * answers the node's state and counters in the text exposition format.
 *
 * Owns: the listening socket and its short-lived HTTP clients (one
 * request, one answer, close). Requests are untrusted: bounded, and
 * anything but GET /metrics gets a 404. Called from main.c.
 */
#ifndef BLOCKD_METRICS_H
#define BLOCKD_METRICS_H

#include "common/loop.h"

struct metrics;
struct node;

int metrics_new(struct metrics **out, struct loop *l, struct node *n,
		const char *hostport);
void metrics_shutdown(struct metrics *m);
void metrics_free(struct metrics *m);

/* The exposition text for n (malloc'd, NUL-terminated), rendered from
 * the same snapshot as `status --json` (status.h). */
char *metrics_render(const struct node *n, size_t *len);

#endif
