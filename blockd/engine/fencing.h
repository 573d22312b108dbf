/* fencing.h - what a Primary does when it loses its peer under a fencing
 * policy, and the outdated state that results (see fencing.c).
 *
 * Called from peer.c (the peer lost, back, seen), operator.c (a promotion
 * with the peer away) and the resume-io and outdate commands.
 */
#ifndef BLOCKD_ENGINE_FENCING_H
#define BLOCKD_ENGINE_FENCING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct resource;

struct fencing {
	/* Writes held: the state machine's io_frozen (res->st), moved by
	 * SM_EV_IO; why, for status. */
	char frozen_reason[160];
	bool running;		/* a fence-peer run answers the current loss */
	uint64_t epoch;		/* losses and returns: a stale result is ignored */
	uint64_t runs, ok, failed;	/* for metrics */
	/* A 'primary' waits for this run's answer (operator.c). */
	bool promotion_waits;
};

void fencing_peer_lost(struct resource *res);
void fencing_peer_back(struct resource *res);
void fencing_peer_unsettled(struct resource *res);
/* The handshake with a returning peer finished, this node its target: a
 * fence run still going answers a loss that is over. */
void fencing_peer_returned(struct resource *res);
/* ... and this node is frozen (demoted while fence-peer had not
 * answered): writes held since never reached the peer and the resync
 * replaces their blocks, so they fail with EIO; I/O resumes. */
void fencing_peer_back_as_source(struct resource *res);
/* A promotion while the peer is away and not known outdated: run
 * fence-peer (or wait for the run already going). 0, or -errno when the
 * hook could not be started. Its answer goes to
 * resource_promote_answered() once promotion_waits is set. */
int fencing_run_for_promotion(struct resource *res);
void fencing_peer_uptodate(struct resource *res);
void fencing_peer_disk_seen(struct resource *res);
int fencing_resume_io(struct resource *res, char *err, size_t errlen);
int fencing_outdate(struct resource *res, char *err, size_t errlen);

#endif
