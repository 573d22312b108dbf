/* test_uuid.c - blockd/core/uuid.c: who syncs whom on connect, by table
 * (the exhaustive checks are in test_uuid_exhaustive.c).
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
 * try to be the sync source (or both wait as targets). Split-brain
 * policies get the same treatment, plus the config-name parser.
 */

#include "uuid_fixture.h"

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
	/* Same generation, one side Outdated (fenced, or outdated while
	 * its peer went on): the other side is the source, whatever crash
	 * flags, bits or roles say; the resync may be empty. Consistency
	 * is asked first. */
	{ "same generation, self Outdated",
	  { UA, 0, 0, 0, OUTD, 0 }, { UA, 0, 0, 0, 0, 0 },
	  false, UD_TARGET_BITMAP, "equal-current-self-outdated" },
	{ "same generation, self Outdated with bits, peer crashed as Primary",
	  { UA, 0, 0, 0, OUTD, 4096 }, { UA, 0, 0, 0, CRASH, 0 },
	  true, UD_TARGET_BITMAP, "equal-current-self-outdated" },
	{ "same generation, peer Outdated",
	  { UA, 0, 0, 0, 0, 0 }, { UA, 0, 0, 0, OUTD, 0 },
	  true, UD_SOURCE_BITMAP, "equal-current-peer-outdated" },
	{ "same generation, peer Outdated, self Primary now",
	  { UA, 0, 0, 0, PRIM, 0 }, { UA, 0, 0, 0, OUTD, 8192 },
	  false, UD_SOURCE_BITMAP, "equal-current-peer-outdated" },
	{ "self Outdated and Inconsistent, peer Consistent",
	  { UA, 0, 0, 0, OUTD | INC, 0 }, { UA, 0, 0, 0, 0, 0 },
	  true, UD_TARGET_BITMAP, "equal-current-self-inconsistent" },
	{ "both Outdated, clean", { UA, 0, 0, 0, OUTD, 0 }, { UA, 0, 0, 0, OUTD, 0 },
	  true, UD_NO_SYNC, "equal-current" },
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
	/* ... unless the other side stayed in sync with it in protocol C
	 * and up since: it holds every acknowledged write, the crashed
	 * Primary's disk may have lost unflushed ones. */
	{ "self crashed as Primary, peer holds every acknowledged write",
	  { UA, 0, 0, 0, CRASH, 0 }, { UA, 0, 0, 0, HACK, 0 },
	  false, UD_TARGET_BITMAP, "equal-current-self-crashed-primary-peer-holds-acked" },
	{ "peer crashed as Primary, self holds every acknowledged write, with bits",
	  { UA, 0, UB, 0, HACK, 4096 }, { UA, 0, UB, 0, CRASH, 8192 },
	  true, UD_SOURCE_BITMAP, "equal-current-peer-crashed-primary-self-holds-acked" },
	{ "peer crashed as Primary, self holds acked writes but is Primary now",
	  { UA, 0, 0, 0, HACK | PRIM, 0 }, { UA, 0, 0, 0, CRASH, 0 },
	  true, UD_SOURCE_BITMAP, "equal-current-self-primary" },
	{ "self crashed, peer holds acked writes and was Outdated since",
	  { UA, 0, 0, 0, CRASH, 0 }, { UA, 0, 0, 0, HACK | OUTD, 0 },
	  true, UD_TARGET_BITMAP, "equal-current-self-crashed-primary-peer-holds-acked" },
	{ "self crashed, peer Outdated without holding the acked writes",
	  { UA, 0, 0, 0, CRASH, 0 }, { UA, 0, 0, 0, OUTD, 0 },
	  true, UD_SOURCE_BITMAP, "equal-current-peer-outdated" },
	{ "self crashed and Primary now, peer holds acked writes and is Outdated",
	  { UA, 0, 0, 0, CRASH | PRIM, 0 }, { UA, 0, 0, 0, HACK | OUTD, 0 },
	  true, UD_SOURCE_BITMAP, "equal-current-self-primary" },
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
		cmocka_unit_test(test_split_brain_policies),
		cmocka_unit_test(test_split_brain_from_peer),
		cmocka_unit_test(test_split_brain_exhaustive),
		cmocka_unit_test(test_sb_policy_parse),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests_name("uuid", tests, NULL, NULL);
}
