/* uuid.h - who syncs whom on connect, from the generation UUIDs.
 *
 * Pure: a table of rules over two nodes' UUIDs and flags, after DRBD's
 * drbd_uuid_compare (the rule names are logged so an operator can follow
 * the decision). Called from peer.c and the tests.
 *
 * Generation UUIDs per node: current (C), bitmap (B: the C this node had
 * when it started tracking changes the peer lacks, 0 when none), and two
 * history entries (older Bs). A node that writes without its peer moves
 * C to B (if B is 0) and takes a new random C; a finished resync retires
 * B into the history on the source and gives the target the source's C.
 */
#ifndef BLOCKD_UUID_H
#define BLOCKD_UUID_H

#include <stdbool.h>
#include <stdint.h>

#include "blockd/core/metafmt.h"

struct uuid_side {
	uint64_t uuid[UUID_N];
	uint32_t flags;		/* MDF_* */
	bool primary;		/* role now */
	uint64_t dirty_bytes;	/* what this node's bitmap holds */
	uint64_t primary_since;	/* when it last became Primary (seconds) */
	/* A Secondary in sync under its Primary in protocol C until the
	 * connection ended, not restarted since: every write the Primary
	 * acknowledged is here (FRAME_STATE_F_HOLDS_ACKED). */
	bool holds_acked;
};

enum uuid_decision {
	UD_NO_SYNC,
	UD_SOURCE_BITMAP,	/* this node syncs the peer from its bitmap */
	UD_TARGET_BITMAP,
	UD_SOURCE_FULL,		/* this node syncs the peer entirely */
	UD_TARGET_FULL,
	UD_BOTH_NEW,		/* two blank disks: wait for primary --force */
	UD_SPLIT_BRAIN,		/* both changed since they last agreed */
	UD_UNRELATED,		/* no common history: refuse */
};

struct uuid_result {
	enum uuid_decision d;
	const char *rule;	/* the rule that decided, for the log */
};

/* tiebreak: true on exactly one of the two nodes (the lower name), used
 * only when the rules are otherwise symmetric. */
struct uuid_result uuid_compare(const struct uuid_side *self,
				const struct uuid_side *peer, bool tiebreak);

enum sb_policy {
	SB_DISCONNECT,
	SB_DISCARD_ZERO_CHANGES,	/* 0pri: the side with no changes loses */
	SB_DISCARD_YOUNGER_PRIMARY,	/* 0pri: the later Primary loses */
	SB_DISCARD_LEAST_CHANGES,	/* 0pri: fewer changed blocks loses */
	SB_CONSENSUS,			/* 1pri: 0pri's verdict if it drops the Secondary */
	SB_DISCARD_SECONDARY,		/* 1pri: the Secondary loses */
};

/* Resolve a split brain by policy: UD_SOURCE_BITMAP (keep this node's
 * data), UD_TARGET_BITMAP (discard it), or UD_SPLIT_BRAIN (disconnect). */
struct uuid_result uuid_resolve_split_brain(const struct uuid_side *self,
					    const struct uuid_side *peer,
					    bool tiebreak,
					    enum sb_policy pri0,
					    enum sb_policy pri1,
					    enum sb_policy pri2);

const char *uuid_decision_name(enum uuid_decision d);
const char *sb_policy_name(enum sb_policy p);
/* -1 when the name is not a policy valid for primaries (0, 1 or 2). */
int sb_policy_parse(const char *name, int primaries);

#endif
