/* test_sm.c - the state machine's decisions (blockd/core/sm.c):
 * every refusal and every outcome by example, then properties over
 * every combination of the states it looks at. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "blockd/core/metafmt.h"
#include "blockd/core/sm.h"
#include "transport/frame.h"

/* A connected, in-sync Secondary of a Secondary peer: promotable. */
static struct sm_view base(void)
{
	struct sm_view v = {
		.role = ROLE_SECONDARY, .disk = DS_UPTODATE, .has_disk = true,
		.has_peer = true, .peer_conn = CS_CONNECTED,
		.peer_role = ROLE_SECONDARY, .peer_disk = DS_UPTODATE,
		.repl = RS_ESTABLISHED, .peer_serves_reads = true,
		.peer_syncs_primary = true, .peer_consents = false,
		.fencing = FENCING_DONT_CARE, .fencing_name = "dont-care",
		.fence_hook = false, .peer_name = "bob",
	};
	return v;
}

/* The peer is away (its last state unknown). */
static struct sm_view away(enum config_fencing f)
{
	struct sm_view v = base();

	v.peer_conn = CS_CONNECTING;
	v.peer_role = ROLE_UNKNOWN;
	v.peer_disk = DS_DUNKNOWN;
	v.repl = RS_OFF;
	v.peer_serves_reads = v.peer_syncs_primary = v.peer_consents = false;
	v.fencing = f;
	v.fencing_name = f == FENCING_RESOURCE_ONLY ? "resource-only" :
			 f == FENCING_RESOURCE_AND_STONITH ? "resource-and-stonith" :
			 "dont-care";
	return v;
}

static struct sm_promote decide(const struct sm_view *v, bool force)
{
	struct sm_promote_cmd c = { .force = force };
	struct sm_promote d;

	sm_promote(v, &c, &d);
	return d;
}

static void expect_refusal(const struct sm_view *v, bool force, const char *needle)
{
	struct sm_promote d = decide(v, force);

	if (d.act != SM_PROMOTE_REFUSE)
		fail_msg("expected a refusal containing '%s', got %s", needle,
			 sm_promote_act_name(d.act));
	if (!strstr(d.why, needle))
		fail_msg("refusal '%s' does not contain '%s'", d.why, needle);
}

static void expect_act(const struct sm_view *v, bool force, enum sm_promote_act a)
{
	struct sm_promote d = decide(v, force);

	if (d.act != a)
		fail_msg("expected %s, got %s (%s)", sm_promote_act_name(a),
			 sm_promote_act_name(d.act), d.why);
	assert_string_equal(d.why, "");
}

static void test_already_and_peer_primary(void **state)
{
	struct sm_view v = base();

	(void)state;
	v.role = ROLE_PRIMARY;
	expect_act(&v, false, SM_PROMOTE_ALREADY);
	v = base();
	v.peer_role = ROLE_PRIMARY;
	expect_refusal(&v, false, "the peer bob is Primary: demote it first");
	expect_refusal(&v, true, "the peer bob is Primary");	/* --force too */
	v.peer_conn = CS_CONNECTING;	/* a stale view of an away peer */
	expect_act(&v, false, SM_PROMOTE_NOW);
}

static void test_disk_refusals(void **state)
{
	static const struct {
		enum disk_state d;
		const char *why;
	} rows[] = {
		{ DS_INCONSISTENT, "this disk is Inconsistent: promote with --force" },
		{ DS_OUTDATED, "this disk is Outdated: promote with --force" },
		{ DS_CONSISTENT, "this disk is Consistent: it has not reached its peer bob" },
		{ DS_ATTACHING, "this disk is Attaching, not UpToDate" },
		{ DS_DUNKNOWN, "this disk is DUnknown, not UpToDate" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct sm_view v = base();
		struct sm_promote d;

		v.disk = rows[i].d;
		expect_refusal(&v, false, rows[i].why);
		/* --force promotes and declares the disk UpToDate. */
		d = decide(&v, true);
		assert_int_equal(d.act, SM_PROMOTE_NOW);
		assert_true(d.declare_uptodate);
	}
}

static void test_diskless(void **state)
{
	struct sm_view v = base();

	(void)state;
	v.disk = DS_DISKLESS;
	v.has_disk = false;
	expect_refusal(&v, false, "this node has no usable disk (Diskless): it holds no data");
	expect_act(&v, true, SM_PROMOTE_DISKLESS);
	v.disk = DS_FAILED;
	expect_act(&v, true, SM_PROMOTE_DISKLESS);
	v.peer_disk = DS_OUTDATED;
	expect_refusal(&v, true, "no connected UpToDate peer to serve its I/O");
	v = base();
	v.disk = DS_DISKLESS;
	v.has_disk = false;
	v.peer_serves_reads = false;	/* an older peer */
	expect_refusal(&v, true, "no connected UpToDate peer");
	v = away(FENCING_DONT_CARE);
	v.disk = DS_DISKLESS;
	v.has_disk = false;
	expect_refusal(&v, true, "no connected UpToDate peer");
}

static void test_sync_target(void **state)
{
	struct sm_view v = base();
	struct sm_promote_cmd granted = { .granted = true };
	struct sm_promote d;

	(void)state;
	v.disk = DS_INCONSISTENT;
	v.repl = RS_SYNC_TARGET;
	expect_act(&v, false, SM_PROMOTE_SYNC_TARGET);
	v.repl = RS_PAUSED_SYNC_T;
	expect_act(&v, false, SM_PROMOTE_SYNC_TARGET);
	v.peer_consents = true;
	expect_act(&v, false, SM_PROMOTE_ASK_PEER);
	sm_promote(&v, &granted, &d);
	assert_int_equal(d.act, SM_PROMOTE_SYNC_TARGET);
	/* The source is not UpToDate, or cannot serve a Primary target. */
	v = base();
	v.disk = DS_INCONSISTENT;
	v.repl = RS_SYNC_TARGET;
	v.peer_disk = DS_OUTDATED;
	expect_refusal(&v, false, "this disk is Inconsistent");
	expect_refusal(&v, true, "a resync into this disk is running");
	v.peer_disk = DS_UPTODATE;
	v.peer_syncs_primary = false;
	expect_refusal(&v, true, "a resync into this disk is running");
}

static void test_fencing(void **state)
{
	struct sm_view v = away(FENCING_RESOURCE_ONLY);
	struct sm_promote_cmd answered = { .fence_answered = true, .fence_answer = 1 };
	struct sm_promote d;

	(void)state;
	expect_refusal(&v, false, "fencing resource-only: the peer bob is not "
		       "connected and not known to be outdated, and no fence-peer hook");
	v.fence_hook = true;
	expect_act(&v, false, SM_PROMOTE_FENCE_PEER);
	sm_promote(&v, &answered, &d);
	assert_int_equal(d.act, SM_PROMOTE_REFUSE);
	assert_non_null(strstr(d.why, "fence-peer could not outdate the peer bob (exit 1)"));
	answered.fence_answer = -ETIMEDOUT;
	sm_promote(&v, &answered, &d);
	assert_non_null(strstr(d.why, "(error -110)"));
	/* The peer came back or was lost again meanwhile: ask again. */
	answered.fence_answer = -ESTALE;
	sm_promote(&v, &answered, &d);
	assert_int_equal(d.act, SM_PROMOTE_FENCE_PEER);
	/* Fenced already (recorded, or its last state said so). */
	v.peer_recorded_outdated = true;
	expect_act(&v, false, SM_PROMOTE_NOW);
	v.peer_recorded_outdated = false;
	v.peer_disk = DS_OUTDATED;
	expect_act(&v, false, SM_PROMOTE_NOW);
	v.peer_disk = DS_INCONSISTENT;
	expect_act(&v, false, SM_PROMOTE_NOW);
	/* --force: promoted, with the warning. */
	v.peer_disk = DS_DUNKNOWN;
	d = decide(&v, true);
	assert_int_equal(d.act, SM_PROMOTE_NOW);
	assert_true(d.warn_unfenced);
	assert_false(d.declare_uptodate);
	/* No policy, or a one-node resource: nobody to fence. */
	v = away(FENCING_DONT_CARE);
	expect_act(&v, false, SM_PROMOTE_NOW);
	assert_false(decide(&v, true).warn_unfenced);
	v = away(FENCING_RESOURCE_AND_STONITH);
	v.has_peer = false;
	expect_act(&v, false, SM_PROMOTE_NOW);
}

static void test_consent(void **state)
{
	struct sm_view v = base();
	struct sm_promote_cmd granted = { .granted = true };
	struct sm_promote d;

	(void)state;
	v.peer_consents = true;
	expect_act(&v, false, SM_PROMOTE_ASK_PEER);
	sm_promote(&v, &granted, &d);
	assert_int_equal(d.act, SM_PROMOTE_NOW);
	expect_act(&v, true, SM_PROMOTE_NOW);	/* --force does not ask */
	/* Refusals come before the question: no round trip to refuse. */
	v.disk = DS_OUTDATED;
	expect_refusal(&v, false, "this disk is Outdated");
	v = base();
	v.peer_consents = true;
	v.peer_role = ROLE_PRIMARY;
	expect_refusal(&v, false, "the peer bob is Primary");
	/* The answer is decided on the state of its time. */
	v = base();
	v.peer_consents = true;
	v.peer_role = ROLE_PRIMARY;
	sm_promote(&v, &granted, &d);
	assert_int_equal(d.act, SM_PROMOTE_REFUSE);
}

typedef bool (*refusal_fn)(const struct sm_view *v, char *why, size_t len);

/* fn refuses v with a reason containing needle, or (NULL) accepts it. */
static void expect_why(refusal_fn fn, const struct sm_view *v, const char *needle)
{
	char why[256] = "";
	bool refused = fn(v, why, sizeof(why));

	if (!needle && refused)
		fail_msg("refused: %s", why);
	if (needle && (!refused || !strstr(why, needle)))
		fail_msg("expected a refusal containing '%s', got '%s'", needle,
			 refused ? why : "(accepted)");
}

static void test_invalidate(void **state)
{
	struct sm_view v = base();

	(void)state;
	expect_why(sm_invalidate_refused, &v, NULL);
	v.peer_disk = DS_DISKLESS;
	expect_why(sm_invalidate_refused, &v,
		   "the peer bob holds no UpToDate data to fetch (its disk is Diskless)");
	v.peer_disk = DS_OUTDATED;
	expect_why(sm_invalidate_refused, &v, "(its disk is Outdated)");
	v = base();
	v.role = ROLE_PRIMARY;
	expect_why(sm_invalidate_refused, &v, "a Primary cannot discard its data");
	v = base();
	v.repl = RS_SYNC_TARGET;
	expect_why(sm_invalidate_refused, &v, "replication is SyncTarget");
	v = base();
	v.disk = DS_DISKLESS;
	v.has_disk = false;
	expect_why(sm_invalidate_refused, &v, "this node has no disk (Diskless)");
	/* This node's own disk may be anything: it is the one discarded. */
	v = base();
	v.disk = DS_OUTDATED;
	expect_why(sm_invalidate_refused, &v, NULL);
}

static void test_resync(void **state)
{
	struct sm_view v = base();

	(void)state;
	expect_why(sm_resync_refused, &v, NULL);
	v.peer_disk = DS_DISKLESS;
	expect_why(sm_resync_refused, &v,
		   "the peer bob has no disk to sync into (its disk is Diskless)");
	v.peer_disk = DS_FAILED;
	expect_why(sm_resync_refused, &v, "(its disk is Failed)");
	v = base();
	v.disk = DS_OUTDATED;
	expect_why(sm_resync_refused, &v, "this disk is Outdated: only an UpToDate disk");
	v = base();
	v.peer_role = ROLE_PRIMARY;
	expect_why(sm_resync_refused, &v, "the peer is Primary");
	v.peer_disk = DS_INCONSISTENT;	/* a Primary that attached a new disk */
	expect_why(sm_resync_refused, &v, NULL);
	v = base();
	v.repl = RS_VERIFY_S;
	expect_why(sm_resync_refused, &v, "replication is VerifyS");
}

/* ---- properties over every combination -------------------------------- */

static const enum disk_state disks[] = {
	DS_DISKLESS, DS_ATTACHING, DS_INCONSISTENT, DS_OUTDATED, DS_DUNKNOWN,
	DS_CONSISTENT, DS_UPTODATE, DS_FAILED,
};
#define NDISKS (sizeof(disks) / sizeof(disks[0]))

static void check_one(const struct sm_view *v, const struct sm_promote_cmd *c)
{
	struct sm_promote d;
	bool peer_primary = v->peer_conn == CS_CONNECTED &&
			    v->peer_role == ROLE_PRIMARY;
	bool becomes;

	sm_promote(v, c, &d);
	becomes = d.act == SM_PROMOTE_NOW || d.act == SM_PROMOTE_DISKLESS ||
		  d.act == SM_PROMOTE_SYNC_TARGET;
	if ((v->role == ROLE_PRIMARY) != (d.act == SM_PROMOTE_ALREADY))
		fail_msg("already Primary <=> ALREADY");
	if (becomes && peer_primary)
		fail_msg("promoted next to a connected Primary");
	if (d.act == SM_PROMOTE_NOW && !c->force &&
	    (v->disk != DS_UPTODATE || !v->has_disk))
		fail_msg("promoted a %s disk without --force",
			 disk_state_name(v->disk));
	if (d.act == SM_PROMOTE_NOW && !c->force && sm_peer_unfenced(v))
		fail_msg("promoted without --force, peer unfenced");
	if (becomes && v->peer_consents && !c->force && !c->granted)
		fail_msg("%s without asking the connected peer",
			 sm_promote_act_name(d.act));
	if (d.act == SM_PROMOTE_DISKLESS &&
	    (!c->force || v->has_disk || v->peer_disk != DS_UPTODATE ||
	     v->repl != RS_ESTABLISHED || !v->peer_serves_reads))
		fail_msg("diskless promotion without its conditions");
	if (d.act == SM_PROMOTE_SYNC_TARGET &&
	    (v->peer_disk != DS_UPTODATE || !v->peer_syncs_primary ||
	     (v->repl != RS_SYNC_TARGET && v->repl != RS_PAUSED_SYNC_T)))
		fail_msg("Primary SyncTarget without an UpToDate source");
	if (d.act == SM_PROMOTE_NOW &&
	    (v->repl == RS_SYNC_TARGET || v->repl == RS_PAUSED_SYNC_T))
		fail_msg("promoted over a running resync into this disk");
	if (d.act == SM_PROMOTE_FENCE_PEER &&
	    (c->force || !sm_peer_unfenced(v) || !v->fence_hook ||
	     (c->fence_answered && c->fence_answer != -ESTALE)))
		fail_msg("fence-peer without its conditions");
	if (d.act == SM_PROMOTE_ASK_PEER &&
	    (!v->peer_consents || c->granted || c->force))
		fail_msg("asked the peer without reason");
	if ((d.act == SM_PROMOTE_REFUSE) != (d.why[0] != 0))
		fail_msg("a refusal without a reason, or a reason without one");
	if ((d.declare_uptodate || d.warn_unfenced) && d.act != SM_PROMOTE_NOW)
		fail_msg("NOW's flags on %s", sm_promote_act_name(d.act));
	if (d.warn_unfenced && !c->force)
		fail_msg("warned of an unfenced peer without --force");
}

static void test_properties(void **state)
{
	static const int answers[] = { 0, 1, -ESTALE };	/* 0: not asked */
	uint64_t n = 0;

	(void)state;
	for (int role = ROLE_PRIMARY; role <= ROLE_SECONDARY; role++)
	for (size_t di = 0; di < NDISKS; di++)
	for (int conn = 0; conn < CONN_STATE_COUNT; conn++)
	for (int prole = 0; prole < ROLE_COUNT; prole++)
	for (size_t pdi = 0; pdi < NDISKS; pdi++)
	for (int repl = 0; repl < REPL_STATE_COUNT; repl++)
	for (int feat = 0; feat < 8; feat++)
	for (int f = 0; f < 3; f++)
	for (int misc = 0; misc < 4; misc++)
	for (int cmd = 0; cmd < 4; cmd++)
	for (size_t a = 0; a < sizeof(answers) / sizeof(answers[0]); a++) {
		struct sm_view v = {
			.role = (enum role)role, .disk = disks[di],
			.has_disk = disks[di] != DS_DISKLESS && disks[di] != DS_FAILED,
			.has_peer = true, .peer_conn = (enum conn_state)conn,
			.peer_role = (enum role)prole, .peer_disk = disks[pdi],
			.repl = (enum repl_state)repl,
			.peer_serves_reads = feat & 1, .peer_syncs_primary = feat & 2,
			.peer_consents = feat & 4, .fencing = (enum config_fencing)f,
			.fencing_name = "policy", .fence_hook = misc & 1,
			.peer_recorded_outdated = misc & 2, .peer_name = "bob",
		};
		struct sm_promote_cmd c = {
			.force = cmd & 1, .granted = cmd & 2,
			.fence_answered = answers[a] != 0, .fence_answer = answers[a],
		};

		check_one(&v, &c);
		n++;
	}
	assert_true(n > 1000000);
}


/* ---- connecting ------------------------------------------------------- */

#define U_A 0x1000
#define U_B 0x2000
#define U_C 0x3000

static struct sm_side side(enum disk_state d, uint64_t cur, uint64_t bm,
			   uint64_t h1, uint32_t flags)
{
	struct sm_side x = { .disk = d, .size_bytes = 1 << 20 };

	x.u.uuid[UUID_CURRENT] = cur;
	x.u.uuid[UUID_BITMAP] = bm;
	x.u.uuid[UUID_HISTORY1] = h1;
	x.u.flags = flags;
	return x;
}

static struct sm_pair pair_of(bool tiebreak)
{
	struct sm_pair p = { .tiebreak = tiebreak, .bitmap_exchange = true,
			     .primary_target = true };

	return p;
}

static struct sm_connect meet(const struct sm_side *a, const struct sm_side *b)
{
	struct sm_pair p = pair_of(true);
	struct sm_connect c;

	sm_connect(a, b, &p, &c);
	return c;
}

static void test_connect_examples(void **state)
{
	struct sm_side up = side(DS_UPTODATE, U_A, 0, 0, MDF_CONSISTENT);
	struct sm_side ahead = side(DS_UPTODATE, U_B, U_A, 0, MDF_CONSISTENT);
	struct sm_side inc = side(DS_INCONSISTENT, U_A, 0, 0, 0);
	struct sm_side other = side(DS_UPTODATE, U_C, 0, 0, MDF_CONSISTENT);
	struct sm_side c1, c2;
	struct sm_connect c;

	(void)state;
	c = meet(&up, &up);
	assert_int_equal(c.act, SM_CONN_ESTABLISHED);
	/* The peer moved on from this node's generation: bitmap resync. */
	c = meet(&ahead, &up);
	assert_int_equal(c.act, SM_CONN_SOURCE);
	assert_false(c.full);
	c = meet(&up, &ahead);
	assert_int_equal(c.act, SM_CONN_TARGET);
	/* Without the bitmap exchange: everything. */
	{
		struct sm_pair p = pair_of(true);

		p.bitmap_exchange = false;
		sm_connect(&ahead, &up, &p, &c);
		assert_int_equal(c.act, SM_CONN_SOURCE);
		assert_true(c.full);
	}
	/* An Inconsistent disk is never a source, whatever the UUIDs. */
	inc.u.uuid[UUID_CURRENT] = U_B;
	inc.u.uuid[UUID_BITMAP] = U_A;
	c = meet(&inc, &up);
	assert_int_equal(c.act, SM_CONN_TARGET);
	assert_true(c.full);
	assert_string_equal(c.d.rule, "self-inconsistent-peer-has-data");
	/* Unrelated data. */
	c = meet(&up, &other);
	assert_int_equal(c.act, SM_CONN_UNRELATED);
	/* Both changed since they parted: split brain, resolved by a
	 * discard on one side only. */
	c1 = side(DS_UPTODATE, U_B, U_A, 0, MDF_CONSISTENT);
	c2 = side(DS_UPTODATE, U_C, U_A, 0, MDF_CONSISTENT);
	c = meet(&c1, &c2);
	assert_int_equal(c.act, SM_CONN_SPLIT_BRAIN);
	assert_true(c.split);
	assert_string_equal(c.split_why, "no policy resolves it");
	c1.discard = true;
	c = meet(&c1, &c2);
	assert_int_equal(c.act, SM_CONN_TARGET);
	assert_string_equal(c.resolved.rule, "discard-my-data");
	c2.discard = true;
	c = meet(&c1, &c2);
	assert_true(c.both_discard);
	assert_int_equal(c.act, SM_CONN_SPLIT_BRAIN);
	/* A Primary meets a Secondary that wrote as Primary in a split
	 * brain while this one wrote nothing: the generations make the
	 * Primary the target, which it refuses, telling the operator to
	 * connect the node whose changes are to be dropped with
	 * --discard-my-data. On the Secondary, that makes it the target,
	 * from both sides (sim seed 963 --stop --relapse --direct: before,
	 * the Secondary stayed the source and the pair never connected). */
	c1 = up;
	c1.u.primary = true;
	c = meet(&c1, &ahead);
	assert_int_equal(c.act, SM_CONN_SPLIT_BRAIN);
	assert_string_equal(c.split_why, "this Primary would have to discard its data");
	c2 = ahead;
	c2.discard = true;
	c = meet(&c1, &c2);
	assert_int_equal(c.act, SM_CONN_SOURCE);
	assert_false(c.full);
	assert_string_equal(c.d.rule, "peer-discards-its-data");
	c = meet(&c2, &c1);
	assert_int_equal(c.act, SM_CONN_TARGET);
	assert_false(c.full);
	assert_string_equal(c.d.rule, "discard-my-data");
	/* A given-up disk's bitmap does not describe it: everything. */
	c2.u.flags |= MDF_GIVEN_UP;
	c = meet(&c2, &c1);
	assert_int_equal(c.act, SM_CONN_TARGET);
	assert_true(c.full);
	c = meet(&c1, &c2);
	assert_int_equal(c.act, SM_CONN_SOURCE);
	assert_true(c.full);
	/* Two Primaries, a smaller peer, a side without a disk. */
	c1 = c2 = up;
	c1.u.primary = c2.u.primary = true;
	c = meet(&c1, &c2);
	assert_int_equal(c.act, SM_CONN_SPLIT_BRAIN);
	assert_string_equal(c.split_why, "both nodes are Primary");
	c2 = up;
	c2.size_bytes = 4096;
	assert_int_equal(meet(&up, &c2).act, SM_CONN_TOO_SMALL);
	c2 = up;
	c2.disk = DS_DISKLESS;
	assert_int_equal(meet(&up, &c2).act, SM_CONN_NO_DISK);
	/* A Primary without a disk connects only to the data it exposes
	 * (sim seed 277: it acknowledged writes alone, then its disk
	 * failed; the peer's older disk would have served its users a
	 * past without them). The peer does not know: no-disk there. */
	c2.u.primary = true;
	c2.exposed = U_A;
	assert_int_equal(meet(&c2, &up).act, SM_CONN_NO_DISK);	/* U_A */
	c2.exposed = U_B;
	assert_int_equal(meet(&c2, &up).act, SM_CONN_STALE_PEER);
	assert_int_equal(meet(&up, &c2).act, SM_CONN_NO_DISK);
	c2.exposed = 0;		/* nothing exposed yet */
	assert_int_equal(meet(&c2, &up).act, SM_CONN_NO_DISK);
	c2.exposed = U_B;
	c2.u.primary = false;	/* a Secondary exposes nothing */
	assert_int_equal(meet(&c2, &up).act, SM_CONN_NO_DISK);
	/* A Consistent disk that meets an equal peer is UpToDate. */
	c1 = side(DS_CONSISTENT, U_A, 0, 0, MDF_CONSISTENT);
	c = meet(&c1, &up);
	assert_int_equal(c.act, SM_CONN_ESTABLISHED);
	assert_true(c.self_uptodate);
	/* An Outdated disk ahead of its peer is no source: it stays out
	 * (StandAlone); with --discard-my-data it takes everything. */
	c1 = side(DS_OUTDATED, U_B, U_A, 0, MDF_CONSISTENT | MDF_OUTDATED);
	c = meet(&c1, &up);
	assert_int_equal(c.act, SM_CONN_SELF_NO_SOURCE);
	c = meet(&up, &c1);
	assert_int_equal(c.act, SM_CONN_PEER_NO_SOURCE);
	c1.discard = true;
	c = meet(&c1, &up);
	assert_int_equal(c.act, SM_CONN_TARGET);
	assert_true(c.full);
	/* A crashed Primary's Consistent disk and a given-up disk of the
	 * same generation: the acknowledged writes the first lost may be on
	 * the second only. Neither is a source, from either side. */
	c1 = side(DS_CONSISTENT, U_A, 0, 0, MDF_CONSISTENT | MDF_CRASHED_PRIMARY);
	c2 = side(DS_INCONSISTENT, U_A, 0, 0, MDF_GIVEN_UP);
	assert_true(sm_incomplete(&c1, &c2));
	assert_int_equal(meet(&c1, &c2).act, SM_CONN_NO_WHOLE_COPY);
	assert_int_equal(meet(&c2, &c1).act, SM_CONN_NO_WHOLE_COPY);
	/* A newer generation there, or an UpToDate disk here: decided as
	 * before. */
	c2.u.uuid[UUID_CURRENT] = U_B;
	assert_false(sm_incomplete(&c1, &c2));
	c2.u.uuid[UUID_CURRENT] = U_A;
	c1.disk = DS_UPTODATE;
	assert_false(sm_incomplete(&c1, &c2));
	assert_int_equal(meet(&c1, &c2).act, SM_CONN_SOURCE);
}

/* A small deterministic generator (xorshift64*). */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545F4914F6CDD1DULL;
}

static uint64_t pick_uuid(uint64_t *s, bool zero_ok)
{
	static const uint64_t pool[] = { U_A, U_B, U_C, UUID_JUST_CREATED };
	uint64_t r = rnd(s) % (zero_ok ? 5 : 4);

	return r == 4 ? 0 : pool[r];
}

static struct sm_side random_side(uint64_t *s)
{
	struct sm_side x = { .size_bytes = 1 << 20 };

	static const enum disk_state own[] = {	/* a node's own disk states */
		DS_DISKLESS, DS_INCONSISTENT, DS_OUTDATED, DS_CONSISTENT,
		DS_UPTODATE, DS_FAILED,
	};

	x.disk = own[rnd(s) % (sizeof(own) / sizeof(own[0]))];
	x.u.uuid[UUID_CURRENT] = pick_uuid(s, false);
	x.u.uuid[UUID_BITMAP] = pick_uuid(s, true);
	x.u.uuid[UUID_HISTORY1] = pick_uuid(s, true);
	x.u.uuid[UUID_HISTORY2] = pick_uuid(s, true);
	x.u.flags = (uint32_t)(rnd(s) & MDF_ALL);
	x.u.primary = rnd(s) % 4 == 0;
	x.u.dirty_bytes = rnd(s) % 2 ? 4096 : 0;
	x.u.primary_since = rnd(s) % 3;
	x.exposed = pick_uuid(s, true);
	x.u.holds_acked = rnd(s) % 4 == 0;
	/* A Primary never discards its data (connect refuses it). */
	x.discard = !x.u.primary && rnd(s) % 4 == 0;
	return x;
}

static enum sm_connect_act mirrored(enum sm_connect_act a)
{
	switch (a) {
	case SM_CONN_SOURCE:
		return SM_CONN_TARGET;
	case SM_CONN_TARGET:
		return SM_CONN_SOURCE;
	case SM_CONN_SELF_NO_SOURCE:
		return SM_CONN_PEER_NO_SOURCE;
	case SM_CONN_PEER_NO_SOURCE:
		return SM_CONN_SELF_NO_SOURCE;
	default:
		return a;
	}
}

/* Both nodes decide alike from their sides, and what they decide is
 * safe: nobody syncs from a disk that may not be a source, a Primary is
 * a target only while it resumes its own resync from an image. */
static void test_connect_properties(void **state)
{
	uint64_t seed = 0x5eed5eedULL;
	unsigned asym_primary = 0, acts[SM_CONN_ESTABLISHED + 1] = { 0 };

	(void)state;
	for (int i = 0; i < 2000000; i++) {
		struct sm_side a = random_side(&seed), b = random_side(&seed);
		struct sm_pair pa = pair_of(true), pb = pair_of(false);
		struct sm_connect x, y;

		pa.bitmap_exchange = pb.bitmap_exchange = rnd(&seed) % 8;
		pa.primary_target = pb.primary_target = rnd(&seed) % 8;
		for (int k = 0; k < 3; k++)
			pa.after_sb[k] = pb.after_sb[k] = (int)(rnd(&seed) % 3);
		sm_connect(&a, &b, &pa, &x);
		sm_connect(&b, &a, &pb, &y);
		acts[x.act]++;
		if (x.act == SM_CONN_SOURCE && !sm_may_sync_from(a.disk, b.disk) &&
		    !(a.disk == DS_OUTDATED && b.disk == DS_CONSISTENT &&
		      a.u.holds_acked && (b.u.flags & MDF_CRASHED_PRIMARY) &&
		      a.u.uuid[UUID_CURRENT] == b.u.uuid[UUID_CURRENT]))
			fail_msg("case %d: source from a %s disk", i,
				 disk_state_name(a.disk));
		if ((x.act == SM_CONN_SOURCE || x.act == SM_CONN_TARGET) &&
		    (!sm_disk_usable(a.disk) || !sm_disk_usable(b.disk)))
			fail_msg("case %d: resync with a side without a disk", i);
		if (x.act == SM_CONN_TARGET && a.u.primary &&
		    (a.disk != DS_INCONSISTENT || !pa.primary_target))
			fail_msg("case %d: a Primary with a %s disk made target",
				 i, disk_state_name(a.disk));
		if (x.act == SM_CONN_SOURCE && a.u.primary && b.u.primary)
			fail_msg("case %d: two Primaries exchange data", i);
		/* One refuses to discard its data as a Primary and drops
		 * the link: what the other decided does not happen. */
		if ((x.act == SM_CONN_SPLIT_BRAIN && a.u.primary && !b.u.primary &&
		     !strcmp(x.split_why, "this Primary would have to discard its data")) ||
		    (y.act == SM_CONN_SPLIT_BRAIN && b.u.primary && !a.u.primary &&
		     !strcmp(y.split_why, "this Primary would have to discard its data"))) {
			asym_primary++;
			continue;
		}
		/* A Diskless Primary that refuses a disk of another
		 * generation decides alone (the peer cannot see it). */
		if ((x.act == SM_CONN_STALE_PEER && y.act == SM_CONN_NO_DISK) ||
		    (y.act == SM_CONN_STALE_PEER && x.act == SM_CONN_NO_DISK))
			continue;
		if (x.act == SM_CONN_STALE_PEER &&
		    (!a.u.primary || sm_disk_usable(a.disk) || !a.exposed ||
		     a.exposed == b.u.uuid[UUID_CURRENT]))
			fail_msg("case %d: stale-peer without cause", i);
		if (x.act == SM_CONN_NO_DISK && a.u.primary &&
		    !sm_disk_usable(a.disk) && sm_disk_usable(b.disk) &&
		    a.exposed && a.exposed != b.u.uuid[UUID_CURRENT] &&
		    !b.u.primary && b.size_bytes >= a.size_bytes)
			fail_msg("case %d: a Diskless Primary took a disk of "
				 "another generation", i);
		if (y.act != mirrored(x.act))
			fail_msg("case %d: %s here, %s there (rules %s / %s, "
				 "disks %s / %s)", i, sm_connect_act_name(x.act),
				 sm_connect_act_name(y.act), x.d.rule, y.d.rule,
				 disk_state_name(a.disk), disk_state_name(b.disk));
		if ((x.act == SM_CONN_SOURCE || x.act == SM_CONN_TARGET) &&
		    x.full != y.full)
			fail_msg("case %d: full here %d, there %d", i, x.full, y.full);
		if (x.self_uptodate != y.peer_uptodate ||
		    x.peer_uptodate != y.self_uptodate)
			fail_msg("case %d: the disk states settle differently", i);
	}
	/* The generator reaches every outcome. */
	for (int k = 0; k <= SM_CONN_ESTABLISHED; k++)
		if (k != SM_CONN_TOO_SMALL && !acts[k])
			fail_msg("never reached: %s",
				 sm_connect_act_name((enum sm_connect_act)k));
	print_message("connect: %u asymmetric Primary refusals\n", asym_primary);
}

/* ---- a live connection ------------------------------------------------- */

static void test_live_examples(void **state)
{
	struct sm_view v = base();

	(void)state;
	assert_int_equal(sm_live(&v, 0, false, false), 0);
	/* invalidate --bitmap there: source of the bitmap here. */
	assert_int_equal(sm_live(&v, FRAME_STATE_F_INVALIDATE_BITMAP, false, false),
			 SM_LIVE_SOURCE_BITMAP);
	assert_int_equal(sm_live(&v, FRAME_STATE_F_INVALIDATE, false, false),
			 SM_LIVE_FULL_RESYNC);
	/* ... refused without an UpToDate disk, nothing else happens. */
	v.disk = DS_OUTDATED;
	assert_int_equal(sm_live(&v, FRAME_STATE_F_INVALIDATE | FRAME_STATE_F_SYNC_SOURCE,
				 false, false), SM_LIVE_REFUSE_SOURCE);
	/* A verify starts and ends. */
	v = base();
	assert_int_equal(sm_live(&v, FRAME_STATE_F_VERIFY, false, false),
			 SM_LIVE_VERIFY_T);
	v.repl = RS_VERIFY_T;
	assert_int_equal(sm_live(&v, 0, false, false), SM_LIVE_VERIFY_END);
	/* The peer promoted over this disk syncs it. */
	v = base();
	v.peer_role = ROLE_PRIMARY;
	assert_int_equal(sm_live(&v, FRAME_STATE_F_SYNC_SOURCE, false, false),
			 SM_LIVE_TARGET);
	/* A new generation over blank disks is adopted by a Secondary. */
	v = base();
	v.disk = DS_INCONSISTENT;
	assert_int_equal(sm_live(&v, FRAME_STATE_F_NEW_UUID, false, false),
			 SM_LIVE_ADOPT_UUID);
	/* The peer attached a blank disk: a Consistent disk here syncs it,
	 * unless neither is a whole copy. */
	v = base();
	v.disk = DS_CONSISTENT;
	v.peer_disk = DS_INCONSISTENT;
	assert_int_equal(sm_live(&v, 0, true, false), SM_LIVE_SYNC_ATTACHED);
	assert_int_equal(sm_live(&v, 0, true, true), SM_LIVE_ATTACHED_INCOMPLETE);
	v.disk = DS_UPTODATE;	/* UpToDate: the peer asks (attach sync) */
	assert_int_equal(sm_live(&v, 0, true, false), 0);
	/* Two Primaries. */
	v = base();
	v.role = v.peer_role = ROLE_PRIMARY;
	assert_int_equal(sm_live(&v, 0, false, false), SM_LIVE_SPLIT_BRAIN);
}

/* Over every view and every STATE flag set: one resync role at most,
 * a source only with a disk that may be one, nothing after a refusal. */
static void test_live_properties(void **state)
{
	static const unsigned sources = SM_LIVE_SOURCE_BITMAP | SM_LIVE_FULL_RESYNC |
					SM_LIVE_SYNC_ATTACHED;
	uint64_t n = 0;

	(void)state;
	for (int role = ROLE_PRIMARY; role <= ROLE_SECONDARY; role++)
	for (size_t di = 0; di < NDISKS; di++)
	for (int prole = 0; prole < ROLE_COUNT; prole++)
	for (size_t pdi = 0; pdi < NDISKS; pdi++)
	for (int repl = 0; repl < REPL_STATE_COUNT; repl++)
	for (unsigned flags = 0; flags < 256; flags++)
	for (int misc = 0; misc < 4; misc++) {
		struct sm_view v = base();
		unsigned a, roles;

		v.role = (enum role)role;
		v.disk = disks[di];
		v.has_disk = disks[di] != DS_DISKLESS && disks[di] != DS_FAILED;
		v.peer_role = (enum role)prole;
		v.peer_disk = disks[pdi];
		v.repl = (enum repl_state)repl;
		a = sm_live(&v, flags, misc & 1, misc & 2);
		n++;
		roles = a & (sources | SM_LIVE_TARGET);
		if (roles & (roles - 1))
			fail_msg("two resync roles at once: %#x", a);
		if ((a & SM_LIVE_REFUSE_SOURCE) &&
		    (a & ~(SM_LIVE_REFUSE_SOURCE | SM_LIVE_ADOPT_UUID |
			   SM_LIVE_VERIFY_T | SM_LIVE_VERIFY_END)))
			fail_msg("actions after a refusal: %#x", a);
		if ((a & (SM_LIVE_SOURCE_BITMAP | SM_LIVE_FULL_RESYNC)) &&
		    v.disk != DS_UPTODATE && !(a & SM_LIVE_ADOPT_UUID))
			fail_msg("a resync source by request with a %s disk",
				 disk_state_name(v.disk));
		if ((a & SM_LIVE_SYNC_ATTACHED) &&
		    (!v.has_disk || !sm_may_sync_from(v.disk, DS_INCONSISTENT)))
			fail_msg("an attached peer synced from a %s disk",
				 disk_state_name(v.disk));
		/* (a verify toward us may end in the same STATE) */
		if ((a & (sources | SM_LIVE_TARGET)) && v.repl != RS_ESTABLISHED &&
		    !(v.repl == RS_VERIFY_T && (a & SM_LIVE_VERIFY_END)))
			fail_msg("a resync begun while %s", repl_state_name(v.repl));
		if ((a & SM_LIVE_TARGET) && !v.has_disk)
			fail_msg("a target without a disk");
		/* A STATE may still say SyncSource as its sender's disk
		 * fails (sim seed 461 --strict --direct). */
		if ((a & SM_LIVE_TARGET) && !sm_disk_usable(v.peer_disk))
			fail_msg("a target of a peer whose disk is %s",
				 disk_state_name(v.peer_disk));
		if ((a & SM_LIVE_SYNC_ATTACHED) && (misc & 2))
			fail_msg("an attached peer synced while neither is a whole copy");
	}
	assert_true(n > 1000000);
}

/* A disk attached again (given up) next to this one: synced only when
 * this one holds everything it held (sim seed 451 --strict). */
static void test_attached_ahead(void **state)
{
	/* This node: Outdated at U_A (fenced before the peer wrote on). */
	struct sm_side me = side(DS_OUTDATED, U_A, 0, 0,
				 MDF_CONSISTENT | MDF_OUTDATED);
	/* The peer wrote alone (U_B over U_A), then its disk failed. */
	struct sm_side newer = side(DS_INCONSISTENT, U_B, U_A, 0, MDF_GIVEN_UP);
	struct sm_side same = side(DS_INCONSISTENT, U_A, 0, 0, MDF_GIVEN_UP);
	struct sm_side older = side(DS_INCONSISTENT, U_A, 0, 0, MDF_GIVEN_UP);
	struct sm_side me_newer = side(DS_UPTODATE, U_C, U_A, 0, MDF_CONSISTENT);
	struct sm_side fresh = newer;

	(void)state;
	assert_true(sm_attached_ahead(&me, &newer, true));
	assert_true(sm_attached_ahead(&me, &newer, false));
	assert_false(sm_attached_ahead(&me, &same, true));
	assert_false(sm_attached_ahead(&me_newer, &older, true));
	/* Diverged: both wrote since U_A. */
	assert_true(sm_attached_ahead(&me_newer, &newer, true));
	/* A disk replaced by create-md (attach marks it given up too)
	 * holds no generation of this pair's: synced. */
	fresh = side(DS_INCONSISTENT, UUID_JUST_CREATED, 0, 0, MDF_GIVEN_UP);
	assert_false(sm_attached_ahead(&me, &fresh, true));
	/* Not given up: the ordinary rules, not this one. */
	fresh = newer;
	fresh.u.flags = 0;
	assert_false(sm_attached_ahead(&me, &fresh, true));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_already_and_peer_primary),
		cmocka_unit_test(test_disk_refusals),
		cmocka_unit_test(test_diskless),
		cmocka_unit_test(test_sync_target),
		cmocka_unit_test(test_fencing),
		cmocka_unit_test(test_consent),
		cmocka_unit_test(test_invalidate),
		cmocka_unit_test(test_resync),
		cmocka_unit_test(test_properties),
		cmocka_unit_test(test_connect_examples),
		cmocka_unit_test(test_connect_properties),
		cmocka_unit_test(test_live_examples),
		cmocka_unit_test(test_live_properties),
		cmocka_unit_test(test_attached_ahead),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
