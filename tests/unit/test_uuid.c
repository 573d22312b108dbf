/* test_uuid.c - blockd/uuid.c: who syncs whom on connect.
 *
 * Every rule of uuid_compare has at least one table row naming the
 * decision and the rule string an operator sees in the log, including
 * the two crossed shapes (each node's bitmap UUID is the other's current;
 * each node's history holds the other's current), which are split brain,
 * the interrupted resync (same generation, one side Inconsistent: it is
 * the target, whatever crash flags, roles, bits or tiebreak say) and the
 * live Primary (same generation, alike in consistency, exactly one side
 * Primary now and something to reconcile, a crashed Primary's flag or
 * bits on either side: the Primary now is the source, even over a crashed
 * former Primary; the only place the role counts).
 * Each row is replayed from the peer's side (sides swapped, tiebreak
 * inverted): the two nodes must reach mirrored decisions, or both would
 * try to be the sync source (or both wait as targets). Over a small
 * alphabet of UUIDs, flags (crashed Primary, Consistent), roles and
 * bitmap sizes, exhaustively: the mirror property, each rule's decision,
 * what each decision requires of the UUIDs, and that every rule decides
 * some input. Split-brain policies get the same treatment, plus the
 * config-name parser.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "blockd/uuid.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Generation UUIDs: JC is "just created", the rest arbitrary. */
#define JC UUID_JUST_CREATED
#define UA 0xaaaa00000000000aULL
#define UB 0xbbbb00000000000bULL
#define UC 0xcccc00000000000cULL
#define UD 0xdddd00000000000dULL
#define UE 0xeeee00000000000eULL

#define CRASH MDF_CRASHED_PRIMARY
/* Row-only markers, not MDF_* bits: INC, this node is Inconsistent
 * (side_of leaves MDF_CONSISTENT off; rows without it describe
 * Consistent nodes); PRIM, it is Primary now. */
#define INC (1U << 31)
#define PRIM (1U << 30)

/* A node as a row spells it: current, bitmap, history 1 and 2, flags,
 * bytes in its bitmap. */
struct node {
	uint64_t c, b, h1, h2;
	uint32_t flags;
	uint64_t dirty;
};

static struct uuid_side side_of(const struct node *n)
{
	struct uuid_side s = {
		.uuid = { n->c, n->b, n->h1, n->h2 },
		.flags = (n->flags & ~(INC | PRIM)) |
			 (n->flags & INC ? 0 : MDF_CONSISTENT),
		.primary = n->flags & PRIM,
		.primary_since = n->flags & PRIM ? 1764288000 : 0,
		.dirty_bytes = n->dirty,
	};

	return s;
}

static enum uuid_decision mirror(enum uuid_decision d)
{
	switch (d) {
	case UD_SOURCE_BITMAP:
		return UD_TARGET_BITMAP;
	case UD_TARGET_BITMAP:
		return UD_SOURCE_BITMAP;
	case UD_SOURCE_FULL:
		return UD_TARGET_FULL;
	case UD_TARGET_FULL:
		return UD_SOURCE_FULL;
	default:
		return d;
	}
}

/* The rule name the peer logs for the same situation: "self" and "peer"
 * swap places, symmetric rules keep their name. */
static void mirror_rule(const char *rule, char *out, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; rule[i] && o + 1 < len;) {
		if (!strncmp(rule + i, "self", 4) && o + 5 < len) {
			memcpy(out + o, "peer", 4);
			o += 4;
			i += 4;
		} else if (!strncmp(rule + i, "peer", 4) && o + 5 < len) {
			memcpy(out + o, "self", 4);
			o += 4;
			i += 4;
		} else {
			out[o++] = rule[i++];
		}
	}
	out[o] = 0;
}

/* ---- uuid_compare: one row per rule (or variant) --------------------- */

static const struct compare_row {
	const char *what;
	struct node self, peer;
	bool tiebreak;
	enum uuid_decision want;
	const char *rule;
} compare_rows[] = {
	{ "two blank disks", { JC, 0, 0, 0, 0, 0 }, { JC, 0, 0, 0, 0, 0 },
	  false, UD_BOTH_NEW, "both-just-created" },
	{ "two blank disks, one with crash flag and bits",
	  { JC, 0, 0, 0, CRASH, 4096 }, { JC, 0, 0, 0, 0, 0 },
	  true, UD_BOTH_NEW, "both-just-created" },
	{ "self blank", { JC, 0, 0, 0, 0, 0 }, { UA, 0, 0, 0, 0, 0 },
	  false, UD_TARGET_FULL, "self-just-created" },
	{ "self blank, peer with bitmap and history",
	  { JC, 0, 0, 0, 0, 0 }, { UA, UB, UC, UD, CRASH, 8192 },
	  true, UD_TARGET_FULL, "self-just-created" },
	{ "peer blank", { UA, 0, 0, 0, 0, 0 }, { JC, 0, 0, 0, 0, 0 },
	  false, UD_SOURCE_FULL, "peer-just-created" },
	{ "peer blank, self with bitmap",
	  { UA, UB, 0, 0, 0, 4096 }, { JC, 0, 0, 0, 0, 0 },
	  true, UD_SOURCE_FULL, "peer-just-created" },
	/* Blank disks win over consistency: a just-created UUID is never
	 * an equal current, even on an Inconsistent node. */
	{ "self blank and Inconsistent, peer Inconsistent",
	  { JC, 0, 0, 0, INC, 0 }, { UA, 0, 0, 0, INC, 4096 },
	  false, UD_TARGET_FULL, "self-just-created" },
	{ "two blank disks, one Inconsistent",
	  { JC, 0, 0, 0, 0, 0 }, { JC, 0, 0, 0, INC, 0 },
	  true, UD_BOTH_NEW, "both-just-created" },

	/* An interrupted resync: the target took the source's current
	 * while Inconsistent (bitmap 0), the source kept its bitmap UUID
	 * and bits. The Inconsistent side is the target, before any crash,
	 * role, bits or tiebreak rule is asked. */
	{ "interrupted resync, self the target",
	  { UA, 0, UC, 0, INC, 8192 }, { UA, UB, UC, 0, 0, 8192 },
	  false, UD_TARGET_BITMAP, "equal-current-self-inconsistent" },
	{ "same generation, self Inconsistent, clean",
	  { UA, 0, 0, 0, INC, 0 }, { UA, 0, 0, 0, 0, 0 },
	  true, UD_TARGET_BITMAP, "equal-current-self-inconsistent" },
	{ "self Inconsistent and crashed as Primary: consistency wins",
	  { UA, 0, 0, 0, INC | CRASH, 0 }, { UA, 0, 0, 0, 0, 0 },
	  false, UD_TARGET_BITMAP, "equal-current-self-inconsistent" },
	{ "self Inconsistent, both crashed, tiebreak here",
	  { UA, 0, 0, 0, INC | CRASH, 0 }, { UA, 0, 0, 0, CRASH, 0 },
	  true, UD_TARGET_BITMAP, "equal-current-self-inconsistent" },
	{ "self Inconsistent, both crashed, self Primary now",
	  { UA, 0, 0, 0, INC | CRASH | PRIM, 0 }, { UA, 0, 0, 0, CRASH, 0 },
	  true, UD_TARGET_BITMAP, "equal-current-self-inconsistent" },
	/* Something to reconcile and one Primary now: the role rule's
	 * situation, but consistency is asked first. */
	{ "self Inconsistent and Primary now, peer crashed with bits",
	  { UA, 0, 0, 0, INC | PRIM, 0 }, { UA, 0, 0, 0, CRASH, 4096 },
	  true, UD_TARGET_BITMAP, "equal-current-self-inconsistent" },
	{ "self Inconsistent with bits, peer clean: consistency wins",
	  { UA, 0, 0, 0, INC, 4096 }, { UA, 0, 0, 0, 0, 0 },
	  false, UD_TARGET_BITMAP, "equal-current-self-inconsistent" },
	{ "self Inconsistent, peer crashed as Primary",
	  { UA, 0, UB, UC, INC, 0 }, { UA, 0, UB, UC, CRASH, 4096 },
	  true, UD_TARGET_BITMAP, "equal-current-self-inconsistent" },
	{ "interrupted resync, peer the target",
	  { UA, UB, UC, 0, 0, 8192 }, { UA, 0, UC, 0, INC, 8192 },
	  true, UD_SOURCE_BITMAP, "equal-current-peer-inconsistent" },
	{ "same generation, peer Inconsistent, clean",
	  { UA, 0, 0, 0, 0, 0 }, { UA, 0, 0, 0, INC, 0 },
	  false, UD_SOURCE_BITMAP, "equal-current-peer-inconsistent" },
	{ "peer Inconsistent and crashed as Primary: consistency wins",
	  { UA, 0, 0, 0, 0, 0 }, { UA, 0, 0, 0, INC | CRASH, 0 },
	  true, UD_SOURCE_BITMAP, "equal-current-peer-inconsistent" },
	{ "peer Inconsistent, both crashed, tiebreak on the peer",
	  { UA, 0, 0, 0, CRASH, 0 }, { UA, 0, 0, 0, INC | CRASH, 0 },
	  false, UD_SOURCE_BITMAP, "equal-current-peer-inconsistent" },
	{ "peer Inconsistent, both crashed, peer Primary now",
	  { UA, 0, 0, 0, CRASH, 0 }, { UA, 0, 0, 0, INC | CRASH | PRIM, 0 },
	  false, UD_SOURCE_BITMAP, "equal-current-peer-inconsistent" },
	{ "peer Inconsistent and Primary now with bits, self has bits",
	  { UA, 0, 0, 0, 0, 8192 }, { UA, 0, 0, 0, INC | PRIM, 4096 },
	  false, UD_SOURCE_BITMAP, "equal-current-peer-inconsistent" },
	{ "peer Inconsistent with bits, self clean: consistency wins",
	  { UA, 0, 0, 0, 0, 0 }, { UA, 0, 0, 0, INC, 1ULL << 30 },
	  true, UD_SOURCE_BITMAP, "equal-current-peer-inconsistent" },
	/* Both Inconsistent: the consistency rules step aside and the
	 * rules below decide as for two Consistent nodes. */
	{ "both Inconsistent, clean",
	  { UA, 0, 0, 0, INC, 0 }, { UA, 0, 0, 0, INC, 0 },
	  false, UD_NO_SYNC, "equal-current" },
	{ "both Inconsistent, self crashed as Primary",
	  { UA, 0, 0, 0, INC | CRASH, 0 }, { UA, 0, 0, 0, INC, 4096 },
	  true, UD_SOURCE_BITMAP, "equal-current-self-crashed-primary" },
	{ "both Inconsistent, both crashed, tiebreak on the peer",
	  { UA, 0, 0, 0, INC | CRASH, 0 }, { UA, 0, 0, 0, INC | CRASH, 0 },
	  false, UD_TARGET_BITMAP, "equal-current-both-crashed" },
	{ "both Inconsistent, peer has bits",
	  { UA, 0, 0, 0, INC, 0 }, { UA, 0, 0, 0, INC, 4096 },
	  false, UD_TARGET_BITMAP, "equal-current-peer-has-bits" },
	{ "both Inconsistent, self crashed, peer Primary now",
	  { UA, 0, 0, 0, INC | CRASH, 0 }, { UA, 0, 0, 0, INC | PRIM, 0 },
	  true, UD_TARGET_BITMAP, "equal-current-peer-primary" },

	/* Both Secondary: a lone crashed Primary is the source, over bits;
	 * two crashed ones go by the tiebreak. */
	{ "same generation, self crashed as Primary",
	  { UA, 0, 0, 0, CRASH, 0 }, { UA, 0, 0, 0, 0, 0 },
	  false, UD_SOURCE_BITMAP, "equal-current-self-crashed-primary" },
	{ "self crashed as Primary, peer has bits: crash wins",
	  { UA, 0, UB, 0, CRASH, 0 }, { UA, 0, UB, 0, 0, 4096 },
	  false, UD_SOURCE_BITMAP, "equal-current-self-crashed-primary" },
	{ "same generation, peer crashed as Primary",
	  { UA, 0, 0, 0, 0, 0 }, { UA, 0, 0, 0, CRASH, 0 },
	  true, UD_TARGET_BITMAP, "equal-current-peer-crashed-primary" },
	{ "peer crashed as Primary, self has bits: crash wins",
	  { UA, 0, 0, 0, 0, 4096 }, { UA, 0, 0, 0, CRASH, 0 },
	  true, UD_TARGET_BITMAP, "equal-current-peer-crashed-primary" },
	{ "both crashed, tiebreak here",
	  { UA, 0, 0, 0, CRASH, 0 }, { UA, 0, 0, 0, CRASH, 0 },
	  true, UD_SOURCE_BITMAP, "equal-current-both-crashed" },
	{ "both crashed, tiebreak on the peer",
	  { UA, 0, 0, 0, CRASH, 4096 }, { UA, 0, 0, 0, CRASH, 0 },
	  false, UD_TARGET_BITMAP, "equal-current-both-crashed" },
	/* A failover: the old Primary crashed and came back as Secondary,
	 * the promoted node is Primary now (the caller masks a live
	 * Primary's own crash flag: it has not crashed). The live Primary
	 * is the source, over the crashed one, tiebreak and bits; the
	 * crashed node's activity log extents are resynced from it. */
	{ "failover, self Primary now, peer crashed as Primary",
	  { UA, 0, 0, 0, PRIM, 0 }, { UA, 0, 0, 0, CRASH, 0 },
	  false, UD_SOURCE_BITMAP, "equal-current-self-primary" },
	{ "failover, self Primary now with bits, shared history",
	  { UA, 0, UB, UC, PRIM, 4096 }, { UA, 0, UB, UC, CRASH, 0 },
	  true, UD_SOURCE_BITMAP, "equal-current-self-primary" },
	{ "failover, peer Primary now, self crashed with bits, tiebreak here",
	  { UA, 0, 0, 0, CRASH, 8192 }, { UA, 0, 0, 0, PRIM, 0 },
	  true, UD_TARGET_BITMAP, "equal-current-peer-primary" },
	/* Nothing crashed: bits on either side are reconciled from the
	 * Primary now, never toward it. */
	{ "self Primary now, peer has bits",
	  { UA, 0, 0, 0, PRIM, 0 }, { UA, 0, 0, 0, 0, 4096 },
	  false, UD_SOURCE_BITMAP, "equal-current-self-primary" },
	{ "self Primary now with bits",
	  { UA, 0, UB, 0, PRIM, 4096 }, { UA, 0, UB, 0, 0, 0 },
	  true, UD_SOURCE_BITMAP, "equal-current-self-primary" },
	{ "peer Primary now, both have bits",
	  { UA, 0, 0, 0, 0, 4096 }, { UA, 0, 0, 0, PRIM, 8192 },
	  false, UD_TARGET_BITMAP, "equal-current-peer-primary" },
	{ "peer Primary now, self has bits",
	  { UA, 0, 0, 0, 0, 1ULL << 30 }, { UA, 0, 0, 0, PRIM, 0 },
	  true, UD_TARGET_BITMAP, "equal-current-peer-primary" },
	/* Flags a caller would mask still yield to the role: the crash
	 * flag on the Primary now changes nothing. */
	{ "both crashed, self Primary now, tiebreak on the peer",
	  { UA, 0, 0, 0, CRASH | PRIM, 0 }, { UA, 0, 0, 0, CRASH, 4096 },
	  false, UD_SOURCE_BITMAP, "equal-current-self-primary" },
	{ "self crashed and Primary now, peer clean",
	  { UA, 0, 0, 0, CRASH | PRIM, 0 }, { UA, 0, 0, 0, 0, 0 },
	  true, UD_SOURCE_BITMAP, "equal-current-self-primary" },
	{ "both crashed, peer Primary now, tiebreak here",
	  { UA, 0, 0, 0, CRASH, 0 }, { UA, 0, 0, 0, CRASH | PRIM, 0 },
	  true, UD_TARGET_BITMAP, "equal-current-peer-primary" },
	/* Nothing to reconcile: one Primary now or not, no sync. */
	{ "same generation, clean, self Primary now",
	  { UA, 0, 0, 0, PRIM, 0 }, { UA, 0, 0, 0, 0, 0 },
	  true, UD_NO_SYNC, "equal-current" },
	{ "same generation, same history, clean, peer Primary now",
	  { UA, 0, UB, UC, 0, 0 }, { UA, 0, UB, UC, PRIM, 0 },
	  false, UD_NO_SYNC, "equal-current" },
	/* Both Primary (refused before the decision, in peer.c) or both
	 * Secondary: the role does not separate them; crash flags, the
	 * tiebreak and bits decide as between two Secondaries. */
	{ "both crashed, both Primary, tiebreak here",
	  { UA, 0, 0, 0, CRASH | PRIM, 0 }, { UA, 0, 0, 0, CRASH | PRIM, 0 },
	  true, UD_SOURCE_BITMAP, "equal-current-both-crashed" },
	{ "self crashed, both Primary, peer has bits",
	  { UA, 0, 0, 0, CRASH | PRIM, 0 }, { UA, 0, 0, 0, PRIM, 4096 },
	  false, UD_SOURCE_BITMAP, "equal-current-self-crashed-primary" },
	{ "both Primary, peer has bits",
	  { UA, 0, 0, 0, PRIM, 0 }, { UA, 0, 0, 0, PRIM, 4096 },
	  true, UD_TARGET_BITMAP, "equal-current-peer-has-bits" },
	{ "same generation, self has bits",
	  { UA, 0, 0, 0, 0, 4096 }, { UA, 0, 0, 0, 0, 0 },
	  false, UD_SOURCE_BITMAP, "equal-current-self-has-bits" },
	{ "same generation, peer has bits",
	  { UA, 0, UB, 0, 0, 0 }, { UA, 0, UB, 0, 0, 1ULL << 30 },
	  true, UD_TARGET_BITMAP, "equal-current-peer-has-bits" },
	{ "same generation, clean",
	  { UA, 0, 0, 0, 0, 0 }, { UA, 0, 0, 0, 0, 0 },
	  false, UD_NO_SYNC, "equal-current" },
	/* Both Secondary with bits: neither leads (with one Primary now,
	 * it would). */
	{ "same generation, both have bits",
	  { UA, 0, 0, 0, 0, 4096 }, { UA, 0, 0, 0, 0, 8192 },
	  true, UD_NO_SYNC, "equal-current" },
	{ "same generation, same history, clean",
	  { UA, 0, UB, UC, 0, 0 }, { UA, 0, UB, UC, 0, 0 },
	  true, UD_NO_SYNC, "equal-current" },

	{ "both wrote since the common generation",
	  { UB, UA, 0, 0, 0, 4096 }, { UC, UA, 0, 0, 0, 4096 },
	  false, UD_SPLIT_BRAIN, "both-changed-since-common-bitmap" },
	{ "both wrote since the common generation, crash flags",
	  { UB, UA, UD, 0, CRASH, 0 }, { UC, UA, UD, 0, CRASH, 0 },
	  true, UD_SPLIT_BRAIN, "both-changed-since-common-bitmap" },
	{ "self wrote while the peer was away",
	  { UB, UA, 0, 0, 0, 4096 }, { UA, 0, 0, 0, 0, 0 },
	  false, UD_SOURCE_BITMAP, "self-bitmap-is-peer-current" },
	{ "self wrote, both share history",
	  { UB, UA, UC, UD, 0, 4096 }, { UA, 0, UC, UD, 0, 0 },
	  true, UD_SOURCE_BITMAP, "self-bitmap-is-peer-current" },
	{ "peer wrote while self was away",
	  { UA, 0, 0, 0, 0, 0 }, { UB, UA, 0, 0, 0, 4096 },
	  false, UD_TARGET_BITMAP, "peer-bitmap-is-self-current" },
	{ "peer wrote, self crashed Secondary flags irrelevant",
	  { UA, 0, UC, 0, CRASH, 0 }, { UB, UA, UC, 0, 0, 4096 },
	  true, UD_TARGET_BITMAP, "peer-bitmap-is-self-current" },
	/* Between different generations consistency is not consulted: an
	 * interrupted target whose source wrote on alone resumes from the
	 * source's bitmap by the bitmap rule. */
	{ "interrupted resync, then the source wrote alone",
	  { UA, 0, UC, 0, INC, 4096 }, { UD, UA, UC, 0, 0, 8192 },
	  false, UD_TARGET_BITMAP, "peer-bitmap-is-self-current" },
	/* Nor is the role, crashed or not. */
	{ "peer wrote, self crashed and Primary now",
	  { UA, 0, 0, 0, CRASH | PRIM, 0 }, { UB, UA, 0, 0, CRASH, 4096 },
	  true, UD_TARGET_BITMAP, "peer-bitmap-is-self-current" },

	{ "self's bitmap UUID in peer's history 1",
	  { UB, UA, 0, 0, 0, 0 }, { UC, UD, UA, 0, 0, 0 },
	  false, UD_SPLIT_BRAIN, "both-changed-since-common-history" },
	{ "self's bitmap UUID in peer's history 2",
	  { UB, UA, 0, 0, 0, 0 }, { UC, UD, UE, UA, 0, 0 },
	  true, UD_SPLIT_BRAIN, "both-changed-since-common-history" },
	{ "self's bitmap UUID in history of a peer without bitmap",
	  { UB, UA, 0, 0, 0, 0 }, { UC, 0, UA, 0, 0, 0 },
	  false, UD_SPLIT_BRAIN, "both-changed-since-common-history" },
	{ "peer's bitmap UUID in self's history 1",
	  { UC, UD, UA, 0, 0, 0 }, { UB, UA, 0, 0, 0, 0 },
	  true, UD_SPLIT_BRAIN, "both-changed-since-common-history" },
	{ "peer's bitmap UUID in self's history 2",
	  { UC, 0, UE, UA, 0, 0 }, { UB, UA, 0, 0, 0, 0 },
	  false, UD_SPLIT_BRAIN, "both-changed-since-common-history" },

	{ "peer's current in self's history 1",
	  { UB, 0, UA, 0, 0, 0 }, { UA, 0, 0, 0, 0, 0 },
	  false, UD_SOURCE_FULL, "self-history-has-peer-current" },
	{ "peer's current in self's history 2",
	  { UB, 0, UC, UA, 0, 0 }, { UA, 0, 0, 0, 0, 4096 },
	  true, UD_SOURCE_FULL, "self-history-has-peer-current" },
	{ "self's current in peer's history 1",
	  { UA, 0, 0, 0, 0, 0 }, { UB, 0, UA, 0, 0, 0 },
	  true, UD_TARGET_FULL, "peer-history-has-self-current" },
	{ "self's current in peer's history 2",
	  { UA, 0, 0, 0, CRASH, 0 }, { UB, UC, UD, UA, 0, 0 },
	  false, UD_TARGET_FULL, "peer-history-has-self-current" },

	/* Crossed shapes: each side descends from the other. Normal
	 * operation does not produce them (each generation would have to
	 * be older than the other), metadata restored from a backup or
	 * edited by hand can; each side alone would claim the source role,
	 * so both must see split brain. */
	{ "crossed bitmap UUIDs",
	  { UA, UB, 0, 0, 0, 4096 }, { UB, UA, 0, 0, 0, 4096 },
	  false, UD_SPLIT_BRAIN, "crossed-bitmaps" },
	{ "crossed bitmap UUIDs, tiebreak, crash flags, history",
	  { UA, UB, UC, 0, CRASH, 0 }, { UB, UA, 0, UC, CRASH, 0 },
	  true, UD_SPLIT_BRAIN, "crossed-bitmaps" },
	{ "crossed bitmap UUIDs, currents also in the histories",
	  { UA, UB, UB, 0, 0, 0 }, { UB, UA, UA, 0, 0, 0 },
	  false, UD_SPLIT_BRAIN, "crossed-bitmaps" },
	{ "crossed history 1",
	  { UA, 0, UB, 0, 0, 0 }, { UB, 0, UA, 0, 0, 0 },
	  false, UD_SPLIT_BRAIN, "crossed-history" },
	{ "crossed history 1 and 2",
	  { UA, 0, UC, UB, 0, 0 }, { UB, 0, UA, UC, 0, 0 },
	  true, UD_SPLIT_BRAIN, "crossed-history" },
	{ "crossed history 2, unmatched bitmaps",
	  { UA, UD, 0, UB, CRASH, 4096 }, { UB, UE, UC, UA, 0, 4096 },
	  false, UD_SPLIT_BRAIN, "crossed-history" },
	/* Order: a common bitmap or history is found first. */
	{ "crossed history, bitmap UUID in peer's history",
	  { UA, UC, UB, 0, 0, 0 }, { UB, 0, UA, UC, 0, 0 },
	  true, UD_SPLIT_BRAIN, "both-changed-since-common-history" },
	{ "crossed history, common bitmap UUID",
	  { UA, UC, UB, 0, 0, 0 }, { UB, UC, UA, 0, 0, 0 },
	  false, UD_SPLIT_BRAIN, "both-changed-since-common-bitmap" },
	/* Order: one side's bitmap names the other's current before the
	 * histories are looked at (only one direction is by bitmap). */
	{ "self's bitmap is peer's current, peer's history has self's",
	  { UA, UB, UB, 0, 0, 4096 }, { UB, 0, UA, 0, 0, 0 },
	  false, UD_SOURCE_BITMAP, "self-bitmap-is-peer-current" },
	{ "peer's bitmap is self's current, self's history has peer's",
	  { UA, 0, UB, 0, 0, 0 }, { UB, UA, UA, 0, 0, 4096 },
	  true, UD_TARGET_BITMAP, "peer-bitmap-is-self-current" },

	{ "nothing in common",
	  { UA, 0, 0, 0, 0, 0 }, { UB, 0, 0, 0, 0, 0 },
	  false, UD_UNRELATED, "unrelated-data" },
	{ "nothing in common, with bitmaps and history",
	  { UA, UB, UC, 0, 0, 4096 }, { UD, UE, 0, 0, 0, 4096 },
	  true, UD_UNRELATED, "unrelated-data" },
	/* Zero means "none": it never matches a zero on the other side. */
	{ "empty bitmap and history slots do not match",
	  { UA, 0, 0, 0, 0, 0 }, { UB, 0, 0, 0, 0, 0 },
	  true, UD_UNRELATED, "unrelated-data" },
	{ "peer's current 0 does not match self's empty bitmap",
	  { UA, 0, 0, 0, 0, 0 }, { 0, 0, 0, 0, 0, 0 },
	  false, UD_UNRELATED, "unrelated-data" },
};

static void check_compare(const struct compare_row *r, bool swapped)
{
	struct uuid_side self = side_of(swapped ? &r->peer : &r->self);
	struct uuid_side peer = side_of(swapped ? &r->self : &r->peer);
	bool tiebreak = swapped ? !r->tiebreak : r->tiebreak;
	enum uuid_decision want = swapped ? mirror(r->want) : r->want;
	char rule[128];
	struct uuid_result got;

	if (swapped)
		mirror_rule(r->rule, rule, sizeof(rule));
	else
		snprintf(rule, sizeof(rule), "%s", r->rule);
	got = uuid_compare(&self, &peer, tiebreak);
	if (got.d != want || !got.rule || strcmp(got.rule, rule))
		fail_msg("%s%s: %s (%s), want %s (%s)", r->what,
			 swapped ? " [from the peer]" : "",
			 uuid_decision_name(got.d),
			 got.rule ? got.rule : "(null)",
			 uuid_decision_name(want), rule);
}

static void test_compare_rules(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(compare_rows); i++)
		check_compare(&compare_rows[i], false);
}

static void test_compare_rules_from_peer(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(compare_rows); i++)
		check_compare(&compare_rows[i], true);
}

/* Does the role decide here: the same generation (not a blank one),
 * alike in consistency, exactly one side Primary now, and something to
 * reconcile: a crashed Primary's flag or bits, on either side. */
static bool role_decides(const struct uuid_side *s, const struct uuid_side *p)
{
	return s->uuid[UUID_CURRENT] == p->uuid[UUID_CURRENT] &&
	       s->uuid[UUID_CURRENT] != JC &&
	       !(s->flags & MDF_CONSISTENT) == !(p->flags & MDF_CONSISTENT) &&
	       s->primary != p->primary &&
	       ((s->flags & CRASH) || (p->flags & CRASH) ||
		s->dirty_bytes || p->dirty_bytes);
}

/* The role enters the connect decision in one place only (role_decides):
 * every row under every role pair decides as with both Secondary, except
 * there, where the Primary now is the source. When it became Primary never
 * matters. */
static void test_compare_role(void **state)
{
	static const struct uuid_result by_role[] = {
		{ UD_SOURCE_BITMAP, "equal-current-self-primary" },
		{ UD_TARGET_BITMAP, "equal-current-peer-primary" },
	};
	unsigned long decided_by_role = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(compare_rows); i++) {
		const struct compare_row *r = &compare_rows[i];
		struct uuid_side self = side_of(&r->self);
		struct uuid_side peer = side_of(&r->peer);
		struct uuid_result base, got, want;

		self.primary = peer.primary = false;
		base = uuid_compare(&self, &peer, r->tiebreak);
		for (unsigned k = 0; k < 16; k++) {
			self.primary = k & 1;
			peer.primary = k & 2;
			self.primary_since = k & 4 ? 1 : UINT64_MAX;
			peer.primary_since = k & 8 ? 2 : 0;
			got = uuid_compare(&self, &peer, r->tiebreak);
			want = base;
			if (role_decides(&self, &peer)) {
				decided_by_role++;
				want = self.primary ? by_role[0] : by_role[1];
			}
			if (got.d == want.d && !strcmp(got.rule, want.rule))
				continue;
			fail_msg("%s, self %s, peer %s: %s (%s), want %s (%s)",
				 r->what, self.primary ? "Primary" : "Secondary",
				 peer.primary ? "Primary" : "Secondary",
				 uuid_decision_name(got.d), got.rule,
				 uuid_decision_name(want.d), want.rule);
		}
	}
	assert_true(decided_by_role > 0);
}

/* ---- exhaustive: mirror property and reachability ----------------------- */

/* Every rule, with the decision it makes (TB: source on the node holding
 * the tiebreak, target on the other). */
#define TB ((enum uuid_decision)-1)

static const struct {
	const char *name;
	enum uuid_decision d;
} all_rules[] = {
	{ "both-just-created", UD_BOTH_NEW },
	{ "self-just-created", UD_TARGET_FULL },
	{ "peer-just-created", UD_SOURCE_FULL },
	{ "equal-current-self-inconsistent", UD_TARGET_BITMAP },
	{ "equal-current-peer-inconsistent", UD_SOURCE_BITMAP },
	{ "equal-current-self-primary", UD_SOURCE_BITMAP },
	{ "equal-current-peer-primary", UD_TARGET_BITMAP },
	{ "equal-current-self-crashed-primary", UD_SOURCE_BITMAP },
	{ "equal-current-peer-crashed-primary", UD_TARGET_BITMAP },
	{ "equal-current-both-crashed", TB },
	{ "equal-current-self-has-bits", UD_SOURCE_BITMAP },
	{ "equal-current-peer-has-bits", UD_TARGET_BITMAP },
	{ "equal-current", UD_NO_SYNC },
	{ "both-changed-since-common-bitmap", UD_SPLIT_BRAIN },
	{ "crossed-bitmaps", UD_SPLIT_BRAIN },
	{ "self-bitmap-is-peer-current", UD_SOURCE_BITMAP },
	{ "peer-bitmap-is-self-current", UD_TARGET_BITMAP },
	{ "both-changed-since-common-history", UD_SPLIT_BRAIN },
	{ "crossed-history", UD_SPLIT_BRAIN },
	{ "self-history-has-peer-current", UD_SOURCE_FULL },
	{ "peer-history-has-self-current", UD_TARGET_FULL },
	{ "unrelated-data", UD_UNRELATED },
};

static const uint64_t alphabet[] = { 0, JC, UA, UB, UC };
#define NA ARRAY_LEN(alphabet)

/* Calls fn for pairs of sides over the alphabet: every combination of
 * the four UUIDs of each side and the tiebreak, with crash flags,
 * consistency, bits and the role pair in every combination when the
 * currents are equal. Elsewhere both are Secondary (insensitive() tries
 * the other roles). */
static void for_all_pairs(void (*fn)(const struct uuid_side *,
				     const struct uuid_side *, bool, void *),
			  void *arg)
{
	struct uuid_side s = { .flags = MDF_CONSISTENT };
	struct uuid_side p = { .flags = MDF_CONSISTENT };
	unsigned long combos = 1;

	for (int i = 0; i < 8; i++)
		combos *= NA;
	for (unsigned long k = 0; k < combos; k++) {
		unsigned long v = k;

		for (int i = 0; i < UUID_N; i++, v /= NA)
			s.uuid[i] = alphabet[v % NA];
		for (int i = 0; i < UUID_N; i++, v /= NA)
			p.uuid[i] = alphabet[v % NA];
		for (unsigned m = 0; m < 128; m++) {
			unsigned f = m & 63;

			/* Flags and bits only matter to equal currents:
			 * elsewhere try none and all of them, and either
			 * side alone Inconsistent (insensitive() then
			 * flips each of them). */
			if (s.uuid[UUID_CURRENT] != p.uuid[UUID_CURRENT] &&
			    f != 0 && f != 63 && f != 16 && f != 32)
				continue;
			s.flags = (m & 1 ? CRASH : 0) |
				  (m & 16 ? 0 : MDF_CONSISTENT);
			p.flags = (m & 2 ? CRASH : 0) |
				  (m & 32 ? 0 : MDF_CONSISTENT);
			s.dirty_bytes = m & 4 ? 4096 : 0;
			p.dirty_bytes = m & 8 ? 4096 : 0;
			for (unsigned r = 0; r < 4; r++) {
				if (r && s.uuid[UUID_CURRENT] !=
					 p.uuid[UUID_CURRENT])
					break;
				s.primary = r & 1;
				p.primary = r & 2;
				fn(&s, &p, m & 64, arg);
			}
			s.primary = p.primary = false;
		}
	}
}

struct sym_stats {
	unsigned long checked, broken, spec_broken, insensitive_broken;
	char first[512], first_spec[512], first_insensitive[512];
	bool hit[ARRAY_LEN(all_rules)];
	bool unknown_rule;
	unsigned long wrong_decision;
	char first_wrong[512];
};

static void format_side(char *out, size_t len, const struct uuid_side *s)
{
	char u[UUID_N][8];

	for (int i = 0; i < UUID_N; i++) {
		uint64_t v = s->uuid[i];

		snprintf(u[i], sizeof(u[i]), "%s",
			 v == 0 ? "0" : v == JC ? "JC" : v == UA ? "A" :
			 v == UB ? "B" : v == UC ? "C" : "?");
	}
	snprintf(out, len, "{C=%s B=%s H1=%s H2=%s%s%s%s%s}", u[0], u[1], u[2],
		 u[3], s->flags & MDF_CONSISTENT ? "" : " inconsistent",
		 s->flags & CRASH ? " crashed" : "",
		 s->primary ? " primary" : "",
		 s->dirty_bytes ? " bits" : "");
}

/* Records the first failure of a kind, with both sides spelled out. */
static void note(unsigned long *count, char *first, size_t len,
		 const struct uuid_side *s, const struct uuid_side *p, bool tb,
		 struct uuid_result a, const char *what)
{
	char ss[96], ps[96];

	if ((*count)++)
		return;
	format_side(ss, sizeof(ss), s);
	format_side(ps, sizeof(ps), p);
	snprintf(first, len, "self %s peer %s tiebreak %d: %s (%s): %s", ss, ps,
		 tb, uuid_decision_name(a.d), a.rule, what);
}

static bool hist(const struct uuid_side *x, uint64_t u)
{
	return u != 0 && (x->uuid[UUID_HISTORY1] == u ||
			  x->uuid[UUID_HISTORY2] == u);
}

/*
 * What a decision requires of the two sides, stated from what the UUIDs
 * mean rather than in the order of the rules: NULL when a fits, else why
 * not. With the same generation, an Inconsistent side never leads a
 * Consistent one (an interrupted resync resumes toward it); between two
 * of a kind with something to reconcile (a crash flag or bits on either
 * side) the one Primary now leads; else a lone crashed Primary; between
 * two crashed ones the tiebreak; else the side with bits. With
 * different generations, a bitmap sync needs the source's
 * bitmap UUID to be the target's current, a full sync needs the target's
 * current in the source's history, neither may hold the other way round
 * by the same means (crossed), and split brain needs a common bitmap or
 * history, or a crossing.
 */
static const char *spec_violation(const struct uuid_side *s,
				  const struct uuid_side *p, bool tb,
				  struct uuid_result a)
{
	uint64_t sc = s->uuid[UUID_CURRENT], pc = p->uuid[UUID_CURRENT];
	uint64_t sb = s->uuid[UUID_BITMAP], pb = p->uuid[UUID_BITMAP];
	bool s_cr = s->flags & CRASH, p_cr = p->flags & CRASH;
	bool s_ok = s->flags & MDF_CONSISTENT, p_ok = p->flags & MDF_CONSISTENT;
	bool s_bits = s->dirty_bytes != 0, p_bits = p->dirty_bytes != 0;
	/* Self tracks its changes since the peer's current, etc. */
	bool s_bm = sb != 0 && sb == pc, p_bm = pb != 0 && pb == sc;
	/* The peer's current is an older generation of self, etc. */
	bool s_h = hist(s, pc), p_h = hist(p, sc);
	bool common_b = sb != 0 && sb == pb;
	bool common_h = hist(p, sb) || hist(s, pb);
	bool any = s_bm || p_bm || s_h || p_h || common_b || common_h;

	if (sc == JC && pc == JC)
		return a.d == UD_BOTH_NEW ? NULL : "two blank disks must wait";
	if (a.d == UD_BOTH_NEW)
		return "both-new without two blank disks";
	if (sc == JC)
		return a.d == UD_TARGET_FULL ? NULL : "a blank self must be a full target";
	if (pc == JC)
		return a.d == UD_SOURCE_FULL ? NULL : "a blank peer must be a full target";
	if (sc == pc) {
		enum uuid_decision want = UD_NO_SYNC;

		if (s_ok != p_ok)
			want = s_ok ? UD_SOURCE_BITMAP : UD_TARGET_BITMAP;
		else if (s->primary != p->primary &&
			 (s_cr || p_cr || s_bits || p_bits))
			want = s->primary ? UD_SOURCE_BITMAP : UD_TARGET_BITMAP;
		else if (s_cr != p_cr)
			want = s_cr ? UD_SOURCE_BITMAP : UD_TARGET_BITMAP;
		else if (s_cr)
			want = tb ? UD_SOURCE_BITMAP : UD_TARGET_BITMAP;
		else if (s_bits != p_bits)
			want = s_bits ? UD_SOURCE_BITMAP : UD_TARGET_BITMAP;
		return a.d == want ? NULL
				   : "same generation: the Consistent side over an "
				     "Inconsistent one, else with a crash flag or "
				     "bits the one Primary now, else the crashed "
				     "Primary, else among two the tiebreak, else "
				     "the side with bits, is the source";
	}
	switch (a.d) {
	case UD_NO_SYNC:
		return "no sync between different generations";
	case UD_SOURCE_BITMAP:
		return s_bm && !p_bm && !common_b ? NULL
			: "bitmap source without its bitmap UUID being the "
			  "peer's current, or crossed";
	case UD_TARGET_BITMAP:
		return p_bm && !s_bm && !common_b ? NULL
			: "bitmap target without the peer's bitmap UUID being "
			  "self's current, or crossed";
	case UD_SOURCE_FULL:
		return s_h && !p_h && !s_bm && !p_bm && !common_b && !common_h
			? NULL
			: "full source without the peer's current in self's "
			  "history alone";
	case UD_TARGET_FULL:
		return p_h && !s_h && !s_bm && !p_bm && !common_b && !common_h
			? NULL
			: "full target without self's current in the peer's "
			  "history alone";
	case UD_SPLIT_BRAIN:
		return common_b || common_h || (s_bm && p_bm) || (s_h && p_h)
			? NULL
			: "split brain without a common bitmap, history or a "
			  "crossing";
	case UD_UNRELATED:
		return !any ? NULL : "unrelated despite a common UUID";
	default:
		return "unknown decision";
	}
}

/* When a node became Primary never matters, nor does who is Primary now
 * outside role_decides (there it is enumerated and spec_violation says
 * what it decides); between different generations, neither do crash
 * flags, consistency, bits or the tiebreak. */
static bool insensitive(const struct uuid_side *s, const struct uuid_side *p,
			bool tb, struct uuid_result a)
{
	/* r = 0: the roles as given; else self alone, the peer alone, or
	 * both Primary now, wherever that is not the role's case. */
	for (unsigned r = 0; r < 4; r++) {
		struct uuid_side s2 = *s, p2 = *p;
		bool tb2 = tb;
		struct uuid_result b;

		s2.primary_since = 77 + r;
		p2.primary_since = 99 - r;
		if (r) {
			if (role_decides(s, p))
				break;
			s2.primary = r & 1;
			p2.primary = r & 2;
			if (role_decides(&s2, &p2))
				continue;
		}
		if (s->uuid[UUID_CURRENT] != p->uuid[UUID_CURRENT]) {
			s2.flags = s->flags ^ (CRASH | MDF_CONSISTENT);
			p2.flags = p->flags ^ (CRASH | MDF_CONSISTENT);
			s2.dirty_bytes = s->dirty_bytes ? 0 : 1 << 20;
			p2.dirty_bytes = p->dirty_bytes ? 0 : 1 << 20;
			tb2 = !tb;
		}
		b = uuid_compare(&s2, &p2, tb2);
		if (b.d != a.d || strcmp(b.rule, a.rule))
			return false;
	}
	return true;
}

/* Index of rule in all_rules (ARRAY_LEN when unknown), and the rule the
 * peer logs for it. The exhaustive walk asks millions of times for a few
 * dozen distinct strings: each rule pointer is looked up by name once. */
static size_t rule_index(const char *rule, const char **mirrored)
{
	static struct {
		const char *rule;
		size_t i;
		char mirrored[128];
	} seen[64];
	static size_t n;
	size_t k, i;

	for (k = 0; k < n; k++)
		if (seen[k].rule == rule)
			break;
	if (k == n) {
		for (i = 0; i < ARRAY_LEN(all_rules); i++)
			if (!strcmp(rule, all_rules[i].name))
				break;
		if (n == ARRAY_LEN(seen))
			n = 0;	/* more distinct pointers than rules: refill */
		k = n++;
		seen[k].rule = rule;
		seen[k].i = i;
		mirror_rule(rule, seen[k].mirrored, sizeof(seen[k].mirrored));
	}
	*mirrored = seen[k].mirrored;
	return seen[k].i;
}

static void sym_one(const struct uuid_side *s, const struct uuid_side *p,
		    bool tb, void *arg)
{
	struct sym_stats *st = arg;
	struct uuid_result a = uuid_compare(s, p, tb);
	struct uuid_result b = uuid_compare(p, s, !tb);
	const char *why, *mb;
	size_t i;

	st->checked++;
	if (!a.rule) {
		st->unknown_rule = true;
		return;
	}
	i = rule_index(a.rule, &mb);
	if (i < ARRAY_LEN(all_rules)) {
		enum uuid_decision want = all_rules[i].d;

		st->hit[i] = true;
		if (want == TB)
			want = tb ? UD_SOURCE_BITMAP : UD_TARGET_BITMAP;
		if (a.d != want) {
			char w[64];

			snprintf(w, sizeof(w), "the rule decides %s",
				 uuid_decision_name(want));
			note(&st->wrong_decision, st->first_wrong,
			     sizeof(st->first_wrong), s, p, tb, a, w);
		}
	} else {
		st->unknown_rule = true;
	}
	why = spec_violation(s, p, tb, a);
	if (why)
		note(&st->spec_broken, st->first_spec, sizeof(st->first_spec),
		     s, p, tb, a, why);
	if (!insensitive(s, p, tb, a))
		note(&st->insensitive_broken, st->first_insensitive,
		     sizeof(st->first_insensitive), s, p, tb, a,
		     "changes with the role where it must not, the "
		     "Primary's age, or (different generations) with "
		     "crash flags, consistency, bits or tiebreak");
	if (b.rule && b.d == mirror(a.d) && !strcmp(b.rule, mb))
		return;
	if (st->broken++ == 0) {
		char ss[96], ps[96];

		format_side(ss, sizeof(ss), s);
		format_side(ps, sizeof(ps), p);
		snprintf(st->first, sizeof(st->first),
			 "self %s peer %s tiebreak %d: self decides %s (%s), "
			 "peer decides %s (%s)", ss, ps, tb,
			 uuid_decision_name(a.d), a.rule,
			 uuid_decision_name(b.d), b.rule ? b.rule : "(null)");
	}
}

static struct sym_stats sym;
static bool sym_done;

static void run_exhaustive(void)
{
	if (sym_done)
		return;
	memset(&sym, 0, sizeof(sym));
	for_all_pairs(sym_one, &sym);
	sym_done = true;
}

/* Whatever the UUIDs, the two nodes never both claim the source (or
 * both the target) role: the peer's decision is the mirror of ours, and
 * the rule it logs is ours with self and peer swapped. */
static void test_compare_mirror_exhaustive(void **state)
{
	(void)state;
	run_exhaustive();
	assert_true(sym.checked > 2000000);
	if (sym.broken)
		fail_msg("%lu of %lu pairs decide inconsistently; first: %s",
			 sym.broken, sym.checked, sym.first);
}

/* Each rule always makes its decision, and every decision is one the
 * UUIDs justify (spec_violation); the role matters only as role_decides
 * says, and flags, consistency, bits or the tiebreak never between
 * different generations. */
static void test_compare_spec_exhaustive(void **state)
{
	(void)state;
	run_exhaustive();
	assert_false(sym.unknown_rule);
	if (sym.wrong_decision)
		fail_msg("%lu pairs: a rule made another decision than its "
			 "own; first: %s", sym.wrong_decision, sym.first_wrong);
	if (sym.spec_broken)
		fail_msg("%lu pairs decide against what the UUIDs say; first: "
			 "%s", sym.spec_broken, sym.first_spec);
	if (sym.insensitive_broken)
		fail_msg("%lu pairs: %s", sym.insensitive_broken,
			 sym.first_insensitive);
}

/*
 * The crossed shapes, from both sides and either tiebreak: each node's
 * bitmap UUID is the other's current, or (no bitmap naming the other's
 * current) each node's history holds the other's current. Before the
 * crossed rules both nodes decided to be the sync source here, each
 * overwriting the other. Checked over every bits/crash/consistency/role
 * combination and both history slots.
 */
static void test_compare_crossed_generations(void **state)
{
	static const struct {
		const char *what;
		struct node self, peer;
		const char *rule;
	} rows[] = {
		{ "crossed bitmap UUIDs", { UA, UB, 0, 0, 0, 0 },
		  { UB, UA, 0, 0, 0, 0 }, "crossed-bitmaps" },
		{ "crossed bitmap UUIDs, histories", { UA, UB, UC, 0, 0, 0 },
		  { UB, UA, UD, UC, 0, 0 }, "crossed-bitmaps" },
		{ "crossed history 1", { UA, 0, UB, 0, 0, 0 },
		  { UB, 0, UA, 0, 0, 0 }, "crossed-history" },
		{ "crossed history 2", { UA, 0, UC, UB, 0, 0 },
		  { UB, 0, UD, UA, 0, 0 }, "crossed-history" },
		{ "crossed history 1 and 2", { UA, 0, UC, UB, 0, 0 },
		  { UB, 0, UA, UC, 0, 0 }, "crossed-history" },
		{ "crossed history, unmatched bitmaps", { UA, UD, UB, 0, 0, 0 },
		  { UB, UE, UA, 0, 0, 0 }, "crossed-history" },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		for (unsigned k = 0; k < 512; k++) {
			struct uuid_side s = side_of(&rows[i].self);
			struct uuid_side p = side_of(&rows[i].peer);
			bool tb = k & 64;
			struct uuid_result a, b;

			s.flags |= k & 1 ? CRASH : 0;
			p.flags |= k & 2 ? CRASH : 0;
			s.flags &= k & 16 ? ~MDF_CONSISTENT : ~0U;
			p.flags &= k & 32 ? ~MDF_CONSISTENT : ~0U;
			s.primary = k & 128;
			p.primary = k & 256;
			s.dirty_bytes = k & 4 ? 4096 : 0;
			p.dirty_bytes = k & 8 ? 4096 : 0;
			a = uuid_compare(&s, &p, tb);
			b = uuid_compare(&p, &s, !tb);
			if (a.d != UD_SPLIT_BRAIN || strcmp(a.rule, rows[i].rule) ||
			    b.d != UD_SPLIT_BRAIN || strcmp(b.rule, rows[i].rule))
				fail_msg("%s (k=%u): self decides %s (%s), peer "
					 "decides %s (%s), want split-brain (%s)",
					 rows[i].what, k,
					 uuid_decision_name(a.d), a.rule,
					 uuid_decision_name(b.d), b.rule,
					 rows[i].rule);
		}
	}
}

/*
 * Same generation, one side Inconsistent: whatever the crash flags, roles,
 * bits, tiebreak and the rest of the UUIDs, the Inconsistent side is the
 * bitmap target and the Consistent one the source, from both sides.
 * Otherwise a crashed Primary, the Primary now or a tiebreak could make
 * the node that is half way through a resync the source, spreading its
 * unfinished copy. With both Inconsistent, consistency decides nothing:
 * the verdict is the one two Consistent nodes reach.
 */
static void test_compare_interrupted_resync(void **state)
{
	static const struct {
		const char *what;
		struct node a, b;	/* a is the one made Inconsistent */
	} rows[] = {
		{ "bare", { UA, 0, 0, 0, 0, 0 }, { UA, 0, 0, 0, 0, 0 } },
		{ "target took the source's current",
		  { UA, 0, UC, 0, 0, 0 }, { UA, UB, UC, 0, 0, 0 } },
		{ "Inconsistent side holds a bitmap UUID",
		  { UA, UB, 0, 0, 0, 0 }, { UA, 0, UB, UC, 0, 0 } },
		{ "both hold the same bitmap UUID and history",
		  { UA, UB, UC, UD, 0, 0 }, { UA, UB, UC, UD, 0, 0 } },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		for (unsigned k = 0; k < 128; k++) {
			struct uuid_side a = side_of(&rows[i].a);
			struct uuid_side b = side_of(&rows[i].b);
			bool tb = k & 16;
			struct uuid_result x, y, ok_x, ok_y;

			a.flags |= k & 1 ? CRASH : 0;
			b.flags |= k & 2 ? CRASH : 0;
			a.primary = k & 32;
			b.primary = k & 64;
			a.dirty_bytes = k & 4 ? 4096 : 0;
			b.dirty_bytes = k & 8 ? 1 << 20 : 0;
			ok_x = uuid_compare(&a, &b, tb);
			ok_y = uuid_compare(&b, &a, !tb);

			a.flags &= ~MDF_CONSISTENT;
			x = uuid_compare(&a, &b, tb);
			y = uuid_compare(&b, &a, !tb);
			if (x.d != UD_TARGET_BITMAP ||
			    strcmp(x.rule, "equal-current-self-inconsistent") ||
			    y.d != UD_SOURCE_BITMAP ||
			    strcmp(y.rule, "equal-current-peer-inconsistent"))
				fail_msg("%s (k=%u): Inconsistent side decides "
					 "%s (%s), its peer %s (%s)",
					 rows[i].what, k,
					 uuid_decision_name(x.d), x.rule,
					 uuid_decision_name(y.d), y.rule);

			b.flags &= ~MDF_CONSISTENT;
			x = uuid_compare(&a, &b, tb);
			y = uuid_compare(&b, &a, !tb);
			if (x.d != ok_x.d || strcmp(x.rule, ok_x.rule) ||
			    y.d != ok_y.d || strcmp(y.rule, ok_y.rule))
				fail_msg("%s (k=%u): both Inconsistent decide "
					 "%s (%s) / %s (%s), both Consistent "
					 "%s (%s) / %s (%s)", rows[i].what, k,
					 uuid_decision_name(x.d), x.rule,
					 uuid_decision_name(y.d), y.rule,
					 uuid_decision_name(ok_x.d), ok_x.rule,
					 uuid_decision_name(ok_y.d), ok_y.rule);
		}
	}
}

/* Every rule decides some input; a rule that never can is dead. No
 * other rule name (such as the removed bitmap-in-peer-history, or the
 * both-crashed role rules the Primary-now rule took over) is ever
 * logged. */
static void test_compare_every_rule_reachable(void **state)
{
	bool ok = true;

	(void)state;
	run_exhaustive();
	assert_false(sym.unknown_rule);
	for (size_t i = 0; i < ARRAY_LEN(all_rules); i++) {
		if (!sym.hit[i]) {
			print_error("rule %s never decides\n", all_rules[i].name);
			ok = false;
		}
	}
	assert_true(ok);
}

/* ---- split-brain policies -------------------------------------------- */

/* A node for the split-brain rows: bytes in its bitmap, role now, when
 * it last became Primary. */
struct sbnode {
	uint64_t dirty;
	bool primary;
	uint64_t since;
};

static struct uuid_side sb_side(const struct sbnode *n)
{
	struct uuid_side s = {
		.uuid = { UB, UA, 0, 0 },
		.flags = MDF_CONSISTENT,
		.primary = n->primary,
		.dirty_bytes = n->dirty,
		.primary_since = n->since,
	};

	return s;
}

#define SEC(dirty, since) { dirty, false, since }
#define PRI(dirty, since) { dirty, true, since }

static const struct sb_row {
	const char *what;
	struct sbnode self, peer;
	bool tiebreak;
	enum sb_policy pri0, pri1, pri2;
	enum uuid_decision want;
	const char *rule;
} sb_rows[] = {
	/* No Primary: after-sb-0pri. */
	{ "0pri disconnect", SEC(0, 0), SEC(4096, 0), true,
	  SB_DISCONNECT, SB_DISCARD_SECONDARY, SB_DISCONNECT,
	  UD_SPLIT_BRAIN, "split-brain-disconnect" },
	{ "zero-changes: self has none", SEC(0, 0), SEC(8192, 0), true,
	  SB_DISCARD_ZERO_CHANGES, SB_DISCONNECT, SB_DISCONNECT,
	  UD_TARGET_BITMAP, "split-brain-discard-zero-changes" },
	{ "zero-changes: peer has none", SEC(4096, 0), SEC(0, 0), false,
	  SB_DISCARD_ZERO_CHANGES, SB_DISCONNECT, SB_DISCONNECT,
	  UD_SOURCE_BITMAP, "split-brain-discard-zero-changes" },
	{ "zero-changes: neither, tiebreak here", SEC(0, 5), SEC(0, 9), true,
	  SB_DISCARD_ZERO_CHANGES, SB_DISCONNECT, SB_DISCONNECT,
	  UD_SOURCE_BITMAP, "split-brain-discard-zero-changes" },
	{ "zero-changes: neither, tiebreak there", SEC(0, 5), SEC(0, 9), false,
	  SB_DISCARD_ZERO_CHANGES, SB_DISCONNECT, SB_DISCONNECT,
	  UD_TARGET_BITMAP, "split-brain-discard-zero-changes" },
	{ "zero-changes: both changed", SEC(4096, 0), SEC(8192, 0), true,
	  SB_DISCARD_ZERO_CHANGES, SB_DISCONNECT, SB_DISCONNECT,
	  UD_SPLIT_BRAIN, "split-brain-disconnect" },
	{ "younger-primary: self younger", SEC(4096, 200), SEC(0, 100), true,
	  SB_DISCARD_YOUNGER_PRIMARY, SB_DISCONNECT, SB_DISCONNECT,
	  UD_TARGET_BITMAP, "split-brain-discard-younger-primary" },
	{ "younger-primary: peer younger", SEC(0, 100), SEC(4096, 200), true,
	  SB_DISCARD_YOUNGER_PRIMARY, SB_DISCONNECT, SB_DISCONNECT,
	  UD_SOURCE_BITMAP, "split-brain-discard-younger-primary" },
	{ "younger-primary: self never Primary", SEC(4096, 0), SEC(4096, 100),
	  false, SB_DISCARD_YOUNGER_PRIMARY, SB_DISCONNECT, SB_DISCONNECT,
	  UD_SOURCE_BITMAP, "split-brain-discard-younger-primary" },
	{ "younger-primary: same age", SEC(4096, 100), SEC(0, 100), true,
	  SB_DISCARD_YOUNGER_PRIMARY, SB_DISCONNECT, SB_DISCONNECT,
	  UD_SPLIT_BRAIN, "split-brain-disconnect" },
	{ "least-changes: self fewer", SEC(4096, 0), SEC(8192, 0), true,
	  SB_DISCARD_LEAST_CHANGES, SB_DISCONNECT, SB_DISCONNECT,
	  UD_TARGET_BITMAP, "split-brain-discard-least-changes" },
	{ "least-changes: peer fewer", SEC(1ULL << 40, 0), SEC(4096, 0), false,
	  SB_DISCARD_LEAST_CHANGES, SB_DISCONNECT, SB_DISCONNECT,
	  UD_SOURCE_BITMAP, "split-brain-discard-least-changes" },
	{ "least-changes: equal, tiebreak here", SEC(4096, 0), SEC(4096, 0),
	  true, SB_DISCARD_LEAST_CHANGES, SB_DISCONNECT, SB_DISCONNECT,
	  UD_SOURCE_BITMAP, "split-brain-discard-least-changes" },
	{ "least-changes: equal, tiebreak there", SEC(0, 0), SEC(0, 0),
	  false, SB_DISCARD_LEAST_CHANGES, SB_DISCONNECT, SB_DISCONNECT,
	  UD_TARGET_BITMAP, "split-brain-discard-least-changes" },
	{ "0pri with a 1pri-only policy disconnects", SEC(0, 0), SEC(4096, 0),
	  true, SB_DISCARD_SECONDARY, SB_DISCONNECT, SB_DISCONNECT,
	  UD_SPLIT_BRAIN, "split-brain-disconnect" },

	/* One Primary: after-sb-1pri. */
	{ "1pri disconnect, self Primary", PRI(0, 0), SEC(4096, 0), true,
	  SB_DISCARD_ZERO_CHANGES, SB_DISCONNECT, SB_DISCONNECT,
	  UD_SPLIT_BRAIN, "split-brain-disconnect" },
	{ "1pri disconnect, peer Primary", SEC(0, 0), PRI(4096, 0), false,
	  SB_DISCARD_LEAST_CHANGES, SB_DISCONNECT, SB_DISCONNECT,
	  UD_SPLIT_BRAIN, "split-brain-disconnect" },
	{ "discard-secondary, self Primary", PRI(0, 0), SEC(1 << 20, 0), false,
	  SB_DISCONNECT, SB_DISCARD_SECONDARY, SB_DISCONNECT,
	  UD_SOURCE_BITMAP, "split-brain-discard-secondary" },
	{ "discard-secondary, peer Primary", SEC(1 << 20, 0), PRI(0, 0), true,
	  SB_DISCONNECT, SB_DISCARD_SECONDARY, SB_DISCONNECT,
	  UD_TARGET_BITMAP, "split-brain-discard-secondary" },
	{ "consensus: 0pri drops the Secondary (self Primary)",
	  PRI(8192, 0), SEC(4096, 0), false,
	  SB_DISCARD_LEAST_CHANGES, SB_CONSENSUS, SB_DISCONNECT,
	  UD_SOURCE_BITMAP, "split-brain-consensus" },
	{ "consensus: 0pri drops the Secondary (self Secondary)",
	  SEC(0, 0), PRI(4096, 0), true,
	  SB_DISCARD_ZERO_CHANGES, SB_CONSENSUS, SB_DISCONNECT,
	  UD_TARGET_BITMAP, "split-brain-consensus" },
	{ "consensus: 0pri would drop the Primary (self Primary)",
	  PRI(4096, 0), SEC(8192, 0), true,
	  SB_DISCARD_LEAST_CHANGES, SB_CONSENSUS, SB_DISCONNECT,
	  UD_SPLIT_BRAIN, "split-brain-consensus-disagrees" },
	{ "consensus: 0pri would drop the Primary (self Secondary)",
	  SEC(4096, 100), PRI(0, 200), false,
	  SB_DISCARD_YOUNGER_PRIMARY, SB_CONSENSUS, SB_DISCONNECT,
	  UD_SPLIT_BRAIN, "split-brain-consensus-disagrees" },
	{ "consensus: 0pri undecided", PRI(4096, 0), SEC(4096, 0), true,
	  SB_DISCARD_ZERO_CHANGES, SB_CONSENSUS, SB_DISCONNECT,
	  UD_SPLIT_BRAIN, "split-brain-consensus-disagrees" },
	{ "consensus: 0pri disconnect", PRI(4096, 0), SEC(0, 0), true,
	  SB_DISCONNECT, SB_CONSENSUS, SB_DISCONNECT,
	  UD_SPLIT_BRAIN, "split-brain-consensus-disagrees" },

	/* Two Primaries: after-sb-2pri, always a disconnect. */
	{ "2pri disconnect", PRI(0, 1), PRI(4096, 2), true,
	  SB_DISCONNECT, SB_DISCONNECT, SB_DISCONNECT,
	  UD_SPLIT_BRAIN, "split-brain-two-primaries" },
	{ "2pri ignores discarding 0pri/1pri policies", PRI(0, 1), PRI(4096, 2),
	  false, SB_DISCARD_ZERO_CHANGES, SB_DISCARD_SECONDARY, SB_DISCONNECT,
	  UD_SPLIT_BRAIN, "split-brain-two-primaries" },
	{ "2pri with consensus", PRI(0, 1), PRI(0, 1), true,
	  SB_DISCARD_LEAST_CHANGES, SB_CONSENSUS, SB_DISCONNECT,
	  UD_SPLIT_BRAIN, "split-brain-two-primaries" },
};

static void check_sb(const struct sb_row *r, bool swapped)
{
	struct uuid_side self = sb_side(swapped ? &r->peer : &r->self);
	struct uuid_side peer = sb_side(swapped ? &r->self : &r->peer);
	bool tiebreak = swapped ? !r->tiebreak : r->tiebreak;
	enum uuid_decision want = swapped ? mirror(r->want) : r->want;
	struct uuid_result got;

	got = uuid_resolve_split_brain(&self, &peer, tiebreak, r->pri0, r->pri1,
				       r->pri2);
	if (got.d != want || !got.rule || strcmp(got.rule, r->rule))
		fail_msg("%s%s: %s (%s), want %s (%s)", r->what,
			 swapped ? " [from the peer]" : "",
			 uuid_decision_name(got.d),
			 got.rule ? got.rule : "(null)",
			 uuid_decision_name(want), r->rule);
}

static void test_split_brain_policies(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(sb_rows); i++)
		check_sb(&sb_rows[i], false);
}

static void test_split_brain_from_peer(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(sb_rows); i++)
		check_sb(&sb_rows[i], true);
}

/*
 * Over small domains of changes, roles, ages and every policy triple:
 * the two nodes' verdicts mirror each other, the verdict is only ever
 * keep / discard / disconnect, two Primaries always disconnect, and with
 * one Primary a valid after-sb-1pri policy never discards the Primary.
 */
static void test_split_brain_exhaustive(void **state)
{
	static const uint64_t dirty[] = { 0, 4096, 8192 };
	static const uint64_t since[] = { 0, 100, 200 };
	static const enum sb_policy pols[] = {
		SB_DISCONNECT, SB_DISCARD_ZERO_CHANGES,
		SB_DISCARD_YOUNGER_PRIMARY, SB_DISCARD_LEAST_CHANGES,
		SB_CONSENSUS, SB_DISCARD_SECONDARY,
	};
	unsigned long n = 0;

	(void)state;
	for (unsigned a = 0; a < 18 * 18; a++) {
		struct sbnode sn = { dirty[a % 3], (a / 3) % 2, since[(a / 6) % 3] };
		struct sbnode pn = { dirty[(a / 18) % 3], (a / 54) % 2,
				     since[(a / 108) % 3] };
		struct uuid_side s = sb_side(&sn), p = sb_side(&pn);

		for (unsigned k = 0; k < 6 * 6 * 6 * 2; k++) {
			enum sb_policy p0 = pols[k % 6], p1 = pols[(k / 6) % 6];
			enum sb_policy p2 = pols[(k / 36) % 6];
			bool tb = k / 216;
			struct uuid_result x, y;

			x = uuid_resolve_split_brain(&s, &p, tb, p0, p1, p2);
			y = uuid_resolve_split_brain(&p, &s, !tb, p0, p1, p2);
			n++;
			assert_true(x.d == UD_SOURCE_BITMAP ||
				    x.d == UD_TARGET_BITMAP ||
				    x.d == UD_SPLIT_BRAIN);
			if (y.d != mirror(x.d) || strcmp(x.rule, y.rule))
				fail_msg("a=%u k=%u: %s (%s) vs peer %s (%s)",
					 a, k, uuid_decision_name(x.d), x.rule,
					 uuid_decision_name(y.d), y.rule);
			if (sn.primary && pn.primary)
				assert_int_equal(x.d, UD_SPLIT_BRAIN);
			if (sn.primary != pn.primary && x.d != UD_SPLIT_BRAIN &&
			    (p1 == SB_CONSENSUS || p1 == SB_DISCARD_SECONDARY))
				assert_int_equal(x.d, sn.primary ? UD_SOURCE_BITMAP
								 : UD_TARGET_BITMAP);
		}
	}
	assert_true(n == 18UL * 18 * 432);
}

/* ---- names ------------------------------------------------------------ */

static void test_sb_policy_parse(void **state)
{
	static const struct {
		const char *name;
		int primaries;
		int want;
	} rows[] = {
		{ "disconnect", 0, SB_DISCONNECT },
		{ "discard-zero-changes", 0, SB_DISCARD_ZERO_CHANGES },
		{ "discard-younger-primary", 0, SB_DISCARD_YOUNGER_PRIMARY },
		{ "discard-least-changes", 0, SB_DISCARD_LEAST_CHANGES },
		{ "consensus", 0, -1 },
		{ "discard-secondary", 0, -1 },
		{ "disconnect", 1, SB_DISCONNECT },
		{ "consensus", 1, SB_CONSENSUS },
		{ "discard-secondary", 1, SB_DISCARD_SECONDARY },
		{ "discard-zero-changes", 1, -1 },
		{ "discard-younger-primary", 1, -1 },
		{ "discard-least-changes", 1, -1 },
		{ "disconnect", 2, SB_DISCONNECT },
		{ "consensus", 2, -1 },
		{ "discard-secondary", 2, -1 },
		{ "discard-zero-changes", 2, -1 },
		{ "discard-least-changes", 2, -1 },
		{ "disconnect", 3, -1 },
		{ "", 0, -1 },
		{ "Disconnect", 0, -1 },
		{ "disconnect ", 1, -1 },
		{ "discard", 0, -1 },
		{ "discard-older-primary", 0, -1 },
		{ "call-pri-lost-after-sb", 1, -1 },
		{ "violently-as0p", 2, -1 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		int got = sb_policy_parse(rows[i].name, rows[i].primaries);

		if (got != rows[i].want)
			fail_msg("parse('%s', %d) = %d, want %d", rows[i].name,
				 rows[i].primaries, got, rows[i].want);
	}
}

static void test_names(void **state)
{
	static const struct {
		enum uuid_decision d;
		const char *name;
	} decisions[] = {
		{ UD_NO_SYNC, "no-sync" },
		{ UD_SOURCE_BITMAP, "source-bitmap" },
		{ UD_TARGET_BITMAP, "target-bitmap" },
		{ UD_SOURCE_FULL, "source-full" },
		{ UD_TARGET_FULL, "target-full" },
		{ UD_BOTH_NEW, "both-new" },
		{ UD_SPLIT_BRAIN, "split-brain" },
		{ UD_UNRELATED, "unrelated" },
	};
	static const struct {
		enum sb_policy p;
		const char *name;
		int primaries;
	} policies[] = {
		{ SB_DISCONNECT, "disconnect", 2 },
		{ SB_DISCARD_ZERO_CHANGES, "discard-zero-changes", 0 },
		{ SB_DISCARD_YOUNGER_PRIMARY, "discard-younger-primary", 0 },
		{ SB_DISCARD_LEAST_CHANGES, "discard-least-changes", 0 },
		{ SB_CONSENSUS, "consensus", 1 },
		{ SB_DISCARD_SECONDARY, "discard-secondary", 1 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(decisions); i++)
		assert_string_equal(uuid_decision_name(decisions[i].d),
				    decisions[i].name);
	assert_string_equal(uuid_decision_name((enum uuid_decision)8), "?");
	assert_string_equal(uuid_decision_name((enum uuid_decision)-1), "?");
	for (size_t i = 0; i < ARRAY_LEN(policies); i++) {
		assert_string_equal(sb_policy_name(policies[i].p),
				    policies[i].name);
		assert_int_equal(sb_policy_parse(policies[i].name,
						 policies[i].primaries),
				 policies[i].p);
	}
	assert_string_equal(sb_policy_name((enum sb_policy)42), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compare_rules),
		cmocka_unit_test(test_compare_rules_from_peer),
		cmocka_unit_test(test_compare_role),
		cmocka_unit_test(test_compare_mirror_exhaustive),
		cmocka_unit_test(test_compare_spec_exhaustive),
		cmocka_unit_test(test_compare_crossed_generations),
		cmocka_unit_test(test_compare_interrupted_resync),
		cmocka_unit_test(test_compare_every_rule_reachable),
		cmocka_unit_test(test_split_brain_policies),
		cmocka_unit_test(test_split_brain_from_peer),
		cmocka_unit_test(test_split_brain_exhaustive),
		cmocka_unit_test(test_sb_policy_parse),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests_name("uuid", tests, NULL, NULL);
}
