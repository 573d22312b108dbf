/* test_uuid_exhaustive.c - blockd/core/uuid.c: uuid_compare over a small
 * alphabet of UUIDs, flags (crashed Primary, Consistent, Outdated), roles and
 * bitmap sizes, exhaustively: the mirror property (each node reaches the
 * mirrored decision from its side), each rule's decision, what each
 * decision requires of the UUIDs, and that every rule decides some input.
 * The table rows and the rules they name are in test_uuid.c.
 */

#include "uuid_fixture.h"

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
	{ "equal-current-self-outdated", UD_TARGET_BITMAP },
	{ "equal-current-peer-outdated", UD_SOURCE_BITMAP },
	{ "equal-current-self-primary", UD_SOURCE_BITMAP },
	{ "equal-current-peer-primary", UD_TARGET_BITMAP },
	{ "equal-current-self-crashed-primary-peer-holds-acked", UD_TARGET_BITMAP },
	{ "equal-current-peer-crashed-primary-self-holds-acked", UD_SOURCE_BITMAP },
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
		for (unsigned m = 0; m < 512; m++) {
			unsigned f = m & 63;

			/* Flags and bits only matter to equal currents:
			 * elsewhere try none and all of them, and either
			 * side alone Inconsistent (insensitive() then
			 * flips each of them). */
			if (s.uuid[UUID_CURRENT] != p.uuid[UUID_CURRENT] &&
			    ((f != 0 && f != 63 && f != 16 && f != 32) ||
			     (m & 384)))
				continue;
			s.flags = (m & 1 ? CRASH : 0) |
				  (m & 16 ? 0 : MDF_CONSISTENT) |
				  (m & 128 ? MDF_OUTDATED : 0);
			p.flags = (m & 2 ? CRASH : 0) |
				  (m & 32 ? 0 : MDF_CONSISTENT) |
				  (m & 256 ? MDF_OUTDATED : 0);
			s.dirty_bytes = m & 4 ? 4096 : 0;
			p.dirty_bytes = m & 8 ? 4096 : 0;
			/* A Secondary that holds every acknowledged write
			 * matters against a lone crashed Primary: tried
			 * there, on the side that did not crash. */
			for (unsigned h = 0; h < 2; h++) {
				if (h && (s.uuid[UUID_CURRENT] !=
					  p.uuid[UUID_CURRENT] ||
					  ((m & 3) != 1 && (m & 3) != 2)))
					break;
				s.holds_acked = h && (m & 3) == 2;
				p.holds_acked = h && (m & 3) == 1;
				for (unsigned r = 0; r < 4; r++) {
					if (r && s.uuid[UUID_CURRENT] !=
						 p.uuid[UUID_CURRENT])
						break;
					s.primary = r & 1;
					p.primary = r & 2;
					fn(&s, &p, m & 64, arg);
				}
			}
			s.primary = p.primary = false;
			s.holds_acked = p.holds_acked = false;
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
	snprintf(out, len, "{C=%s B=%s H1=%s H2=%s%s%s%s%s%s}", u[0], u[1], u[2],
		 u[3], s->flags & MDF_CONSISTENT ? "" : " inconsistent",
		 s->flags & MDF_OUTDATED ? " outdated" : "",
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
	bool s_out = s->flags & MDF_OUTDATED;
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
		else if (outdated_decides(s, p))
			want = s_out ? UD_TARGET_BITMAP : UD_SOURCE_BITMAP;
		else if (s->primary != p->primary &&
			 (s_cr || p_cr || s_bits || p_bits))
			want = s->primary ? UD_SOURCE_BITMAP : UD_TARGET_BITMAP;
		else if (s_cr != p_cr && (s_cr ? p->holds_acked : s->holds_acked))
			want = s_cr ? UD_TARGET_BITMAP : UD_SOURCE_BITMAP;
		else if (s_cr != p_cr)
			want = s_cr ? UD_SOURCE_BITMAP : UD_TARGET_BITMAP;
		else if (s_cr)
			want = tb ? UD_SOURCE_BITMAP : UD_TARGET_BITMAP;
		else if (s_bits != p_bits)
			want = s_bits ? UD_SOURCE_BITMAP : UD_TARGET_BITMAP;
		return a.d == want ? NULL
				   : "same generation: the Consistent side over an "
				     "Inconsistent one, else the one not Outdated "
				     "(unless it crashed as Primary and the "
				     "Outdated one holds every write it "
				     "acknowledged), else with a crash flag or "
				     "bits the one Primary now, else a Secondary "
				     "holding every acknowledged write over a lone "
				     "crashed Primary, else the crashed "
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compare_mirror_exhaustive),
		cmocka_unit_test(test_compare_spec_exhaustive),
		cmocka_unit_test(test_compare_crossed_generations),
		cmocka_unit_test(test_compare_interrupted_resync),
		cmocka_unit_test(test_compare_every_rule_reachable),
	};

	return cmocka_run_group_tests_name("uuid_exhaustive", tests, NULL, NULL);
}
