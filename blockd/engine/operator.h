/* operator.h - what an operator's role and connection commands change:
 * promote, demote, connect, disconnect, the replication protocol.
 *
 * Each checks its preconditions against the resource and refuses with a
 * one-line reason (err) that blockctl prints verbatim, or makes the
 * change and tells the peer and the observer. Called by the daemon's
 * command table (blockd/daemon/commands.c) and by the simulator's
 * operators (tests/sim), so both run the same rules.
 */
#ifndef BLOCKD_ENGINE_OPERATOR_H
#define BLOCKD_ENGINE_OPERATOR_H

#include <stdbool.h>
#include <stddef.h>

struct resource;

/* primary [--force]. 0 or -EPERM with the reason in err, or
 * -EINPROGRESS: under a fencing policy, with the peer away and not known
 * outdated, fence-peer runs first and the outcome (0 or -errno with the
 * reason) reaches the observer's promoted() once the hook answers.
 * --force skips that step: the operator vouches that the peer is not
 * Primary. -EINPROGRESS too while a connected peer is asked first
 * (rolereq.h; not with --force). */
int resource_promote(struct resource *res, bool force, char *err,
		     size_t errlen);
/* The fence-peer run a promotion waits for answered (its exit code), or
 * answers nothing any more (-ESTALE: the peer came back or was lost
 * again). No-op when no promotion waits. */
void resource_promote_answered(struct resource *res, int result);
/* The connected peer answered this node's request to become Primary
 * (rolereq.h): 0 yes, or -errno (-EBUSY it is Primary, -EALREADY it asked
 * at the same moment and goes first, -ECONNRESET the connection ended
 * first). The promotion goes on or is refused; the observer's promoted()
 * gets the outcome. */
void resource_promote_consented(struct resource *res, int result);
/* secondary (the caller first checks that no client is connected); it
 * also cancels a promotion waiting for fence-peer. */
int resource_demote(struct resource *res, char *err, size_t errlen);
/* connect [--discard-my-data] */
int resource_connect(struct resource *res, bool discard_my_data, char *err,
		     size_t errlen);
int resource_disconnect(struct resource *res, char *err, size_t errlen);
/* protocol A|B|C for new writes (p is upper case). */
int resource_set_protocol(struct resource *res, char p, char *err,
			  size_t errlen);

#endif
