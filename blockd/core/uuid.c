/* uuid.c - see uuid.h. Each rule is a row; the first that matches wins. */
#include "blockd/core/uuid.h"

#include <string.h>

static struct uuid_result R(enum uuid_decision d, const char *rule)
{
	return (struct uuid_result){ d, rule };
}

static bool in_history(const struct uuid_side *s, uint64_t u)
{
	return u != 0 && (s->uuid[UUID_HISTORY1] == u || s->uuid[UUID_HISTORY2] == u);
}

struct uuid_result uuid_compare(const struct uuid_side *self,
				const struct uuid_side *peer, bool tiebreak)
{
	uint64_t sc = self->uuid[UUID_CURRENT], pc = peer->uuid[UUID_CURRENT];
	uint64_t sb = self->uuid[UUID_BITMAP], pb = peer->uuid[UUID_BITMAP];
	bool s_crash = self->flags & MDF_CRASHED_PRIMARY;
	bool p_crash = peer->flags & MDF_CRASHED_PRIMARY;

	if (sc == UUID_JUST_CREATED && pc == UUID_JUST_CREATED)
		return R(UD_BOTH_NEW, "both-just-created");
	if (sc == UUID_JUST_CREATED)
		return R(UD_TARGET_FULL, "self-just-created");
	if (pc == UUID_JUST_CREATED)
		return R(UD_SOURCE_FULL, "peer-just-created");

	if (sc == pc) {
		bool s_ok = self->flags & MDF_CONSISTENT;
		bool p_ok = peer->flags & MDF_CONSISTENT;
		bool s_out = self->flags & MDF_OUTDATED;
		bool p_out = peer->flags & MDF_OUTDATED;

		/* An interrupted resync: the target took the source's
		 * generation but is not there yet. Resume it. */
		if (!s_ok && p_ok)
			return R(UD_TARGET_BITMAP, "equal-current-self-inconsistent");
		if (s_ok && !p_ok)
			return R(UD_SOURCE_BITMAP, "equal-current-peer-inconsistent");
		/* An Outdated disk was fenced or outdated while its peer went
		 * on: the other one is the source (the resync may be empty;
		 * it ends with both UpToDate). Unless the other is a crashed
		 * Primary and the Outdated one holds every write it
		 * acknowledged: with equal generations that Primary wrote
		 * nothing after, and its disk may have lost some (sim seed
		 * 3788); the holds-acked rule below decides. */
		bool holder_vs_crashed = s_out ? p_crash && self->holds_acked
					       : s_crash && peer->holds_acked;

		if (s_out && !p_out && !holder_vs_crashed)
			return R(UD_TARGET_BITMAP, "equal-current-self-outdated");
		if (p_out && !s_out && !holder_vs_crashed)
			return R(UD_SOURCE_BITMAP, "equal-current-peer-outdated");
		/* Same generation, one side Primary now, and something to
		 * reconcile (a crashed Primary's activity log, bits): the live
		 * Primary is authoritative. A live Primary never reports
		 * itself crashed (the caller masks its own flag). */
		if (self->primary != peer->primary &&
		    (s_crash || p_crash || self->dirty_bytes || peer->dirty_bytes))
			return self->primary
				? R(UD_SOURCE_BITMAP, "equal-current-self-primary")
				: R(UD_TARGET_BITMAP, "equal-current-peer-primary");
		/* After a Primary crash its activity log extents may differ.
		 * A Secondary that stayed up in sync with it in protocol C
		 * holds every write it acknowledged, while the crashed
		 * Primary's disk may have lost the unflushed ones (a power
		 * loss): that Secondary is the source; writes it lacks were
		 * never acknowledged. Otherwise the crashed Primary is the
		 * source (its disk has the writes the peer may lack in A or
		 * B). */
		if (s_crash && !p_crash && peer->holds_acked)
			return R(UD_TARGET_BITMAP, "equal-current-self-crashed-primary-peer-holds-acked");
		if (p_crash && !s_crash && self->holds_acked)
			return R(UD_SOURCE_BITMAP, "equal-current-peer-crashed-primary-self-holds-acked");
		if (s_crash && !p_crash)
			return R(UD_SOURCE_BITMAP, "equal-current-self-crashed-primary");
		if (p_crash && !s_crash)
			return R(UD_TARGET_BITMAP, "equal-current-peer-crashed-primary");
		if (s_crash && p_crash)
			return tiebreak ? R(UD_SOURCE_BITMAP, "equal-current-both-crashed")
					: R(UD_TARGET_BITMAP, "equal-current-both-crashed");
		if (self->dirty_bytes && !peer->dirty_bytes)
			return R(UD_SOURCE_BITMAP, "equal-current-self-has-bits");
		if (peer->dirty_bytes && !self->dirty_bytes)
			return R(UD_TARGET_BITMAP, "equal-current-peer-has-bits");
		return R(UD_NO_SYNC, "equal-current");
	}
	if (sb != 0 && pb != 0 && sb == pb)
		return R(UD_SPLIT_BRAIN, "both-changed-since-common-bitmap");
	/* Each claims the other's current as its base: both changed. */
	if (sb != 0 && pb != 0 && sb == pc && pb == sc)
		return R(UD_SPLIT_BRAIN, "crossed-bitmaps");
	if (sb != 0 && sb == pc)
		return R(UD_SOURCE_BITMAP, "self-bitmap-is-peer-current");
	if (pb != 0 && pb == sc)
		return R(UD_TARGET_BITMAP, "peer-bitmap-is-self-current");
	if ((sb != 0 && in_history(peer, sb)) || (pb != 0 && in_history(self, pb)))
		return R(UD_SPLIT_BRAIN, "both-changed-since-common-history");
	if (in_history(self, pc) && in_history(peer, sc))
		return R(UD_SPLIT_BRAIN, "crossed-history");
	if (in_history(self, pc))
		return R(UD_SOURCE_FULL, "self-history-has-peer-current");
	if (in_history(peer, sc))
		return R(UD_TARGET_FULL, "peer-history-has-self-current");
	return R(UD_UNRELATED, "unrelated-data");
}

/* The 0pri verdict, shared by consensus. */
static struct uuid_result sb_0pri(const struct uuid_side *self,
				  const struct uuid_side *peer, bool tiebreak,
				  enum sb_policy p)
{
	switch (p) {
	case SB_DISCARD_ZERO_CHANGES:
		if (!self->dirty_bytes && peer->dirty_bytes)
			return R(UD_TARGET_BITMAP, "split-brain-discard-zero-changes");
		if (self->dirty_bytes && !peer->dirty_bytes)
			return R(UD_SOURCE_BITMAP, "split-brain-discard-zero-changes");
		if (!self->dirty_bytes && !peer->dirty_bytes)
			return tiebreak ? R(UD_SOURCE_BITMAP, "split-brain-discard-zero-changes")
					: R(UD_TARGET_BITMAP, "split-brain-discard-zero-changes");
		break;
	case SB_DISCARD_YOUNGER_PRIMARY:
		if (self->primary_since != peer->primary_since)
			return self->primary_since > peer->primary_since
				? R(UD_TARGET_BITMAP, "split-brain-discard-younger-primary")
				: R(UD_SOURCE_BITMAP, "split-brain-discard-younger-primary");
		break;
	case SB_DISCARD_LEAST_CHANGES:
		if (self->dirty_bytes != peer->dirty_bytes)
			return self->dirty_bytes < peer->dirty_bytes
				? R(UD_TARGET_BITMAP, "split-brain-discard-least-changes")
				: R(UD_SOURCE_BITMAP, "split-brain-discard-least-changes");
		return tiebreak ? R(UD_SOURCE_BITMAP, "split-brain-discard-least-changes")
				: R(UD_TARGET_BITMAP, "split-brain-discard-least-changes");
	default:
		break;
	}
	return R(UD_SPLIT_BRAIN, "split-brain-disconnect");
}

struct uuid_result uuid_resolve_split_brain(const struct uuid_side *self,
					    const struct uuid_side *peer,
					    bool tiebreak,
					    enum sb_policy pri0,
					    enum sb_policy pri1,
					    enum sb_policy pri2)
{
	int primaries = self->primary + peer->primary;
	struct uuid_result r;

	if (primaries == 0)
		return sb_0pri(self, peer, tiebreak, pri0);
	if (primaries == 2 || pri1 == SB_DISCONNECT)
		return R(UD_SPLIT_BRAIN, primaries == 2 ? "split-brain-two-primaries"
							: "split-brain-disconnect");
	(void)pri2;
	if (pri1 == SB_DISCARD_SECONDARY)
		return self->primary ? R(UD_SOURCE_BITMAP, "split-brain-discard-secondary")
				     : R(UD_TARGET_BITMAP, "split-brain-discard-secondary");
	/* consensus: the 0pri verdict, if it discards the Secondary. */
	r = sb_0pri(self, peer, tiebreak, pri0);
	if ((r.d == UD_SOURCE_BITMAP && self->primary) ||
	    (r.d == UD_TARGET_BITMAP && !self->primary)) {
		r.rule = "split-brain-consensus";
		return r;
	}
	return R(UD_SPLIT_BRAIN, "split-brain-consensus-disagrees");
}

const char *uuid_decision_name(enum uuid_decision d)
{
	static const char *const n[] = {
		"no-sync", "source-bitmap", "target-bitmap", "source-full",
		"target-full", "both-new", "split-brain", "unrelated",
	};
	return (unsigned)d < sizeof(n) / sizeof(n[0]) ? n[d] : "?";
}

static const struct {
	const char *name;
	enum sb_policy p;
	unsigned valid;		/* bit n: valid for n primaries */
} policies[] = {
	{ "disconnect", SB_DISCONNECT, 7 },
	{ "discard-zero-changes", SB_DISCARD_ZERO_CHANGES, 1 },
	{ "discard-younger-primary", SB_DISCARD_YOUNGER_PRIMARY, 1 },
	{ "discard-least-changes", SB_DISCARD_LEAST_CHANGES, 1 },
	{ "consensus", SB_CONSENSUS, 2 },
	{ "discard-secondary", SB_DISCARD_SECONDARY, 2 },
};

const char *sb_policy_name(enum sb_policy p)
{
	for (unsigned i = 0; i < sizeof(policies) / sizeof(policies[0]); i++)
		if (policies[i].p == p)
			return policies[i].name;
	return "?";
}

int sb_policy_parse(const char *name, int primaries)
{
	for (unsigned i = 0; i < sizeof(policies) / sizeof(policies[0]); i++)
		if (!strcmp(policies[i].name, name) &&
		    (policies[i].valid & (1U << primaries)))
			return (int)policies[i].p;
	return -1;
}
