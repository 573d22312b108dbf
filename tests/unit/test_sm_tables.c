/* test_sm_tables.c - the state machine's tables and its step
 * (blockd/core/sm.c): every state x event of the replication, disk,
 * connection and role tables, the properties the engine relies on,
 * sm_step on one struct of states (with the peer view, the pause flag
 * and the I/O freeze), and the actions every transition asks for
 * (sm_effects). */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "blockd/core/sm.h"

/* The replication state's table, by example: a connection's life. */
static void test_repl_examples(void **state)
{
	(void)state;
	assert_int_equal(sm_repl_next(RS_OFF, SM_REPL_IN_SYNC, false), RS_ESTABLISHED);
	assert_int_equal(sm_repl_next(RS_OFF, SM_REPL_SOURCE, false), RS_SYNC_SOURCE);
	assert_int_equal(sm_repl_next(RS_OFF, SM_REPL_SOURCE, true), RS_PAUSED_SYNC_S);
	assert_int_equal(sm_repl_next(RS_ESTABLISHED, SM_REPL_TARGET, false), RS_SYNC_TARGET);
	assert_int_equal(sm_repl_next(RS_SYNC_TARGET, SM_REPL_PAUSE, true), RS_PAUSED_SYNC_T);
	assert_int_equal(sm_repl_next(RS_PAUSED_SYNC_T, SM_REPL_PAUSE, false), RS_SYNC_TARGET);
	assert_int_equal(sm_repl_next(RS_PAUSED_SYNC_S, SM_REPL_RESYNC_DONE, true), RS_ESTABLISHED);
	assert_int_equal(sm_repl_next(RS_ESTABLISHED, SM_REPL_VERIFY_S, false), RS_VERIFY_S);
	assert_int_equal(sm_repl_next(RS_VERIFY_T, SM_REPL_VERIFY_DONE, false), RS_ESTABLISHED);
	assert_int_equal(sm_repl_next(RS_SYNC_SOURCE, SM_REPL_DISK_GONE, false), RS_ESTABLISHED);
	assert_int_equal(sm_repl_next(RS_VERIFY_S, SM_REPL_LINK_DOWN, false), RS_OFF);
	/* Refused: a resync that ends without RS_DONE, a verify over a
	 * resync, a resync in the other direction over one running. */
	assert_int_equal(sm_repl_next(RS_SYNC_TARGET, SM_REPL_IN_SYNC, false), -1);
	assert_int_equal(sm_repl_next(RS_SYNC_SOURCE, SM_REPL_VERIFY_S, false), -1);
	assert_int_equal(sm_repl_next(RS_SYNC_SOURCE, SM_REPL_TARGET, false), -1);
	assert_int_equal(sm_repl_next(RS_SYNC_TARGET, SM_REPL_SOURCE, false), -1);
	assert_int_equal(sm_repl_next(RS_OFF, SM_REPL_RESYNC_DONE, false), -1);
	assert_int_equal(sm_repl_next(RS_OFF, SM_REPL_DISK_GONE, false), -1);
	assert_int_equal(sm_repl_next(RS_OFF, SM_REPL_VERIFY_T, false), -1);
	assert_string_equal(sm_repl_ev_name(SM_REPL_RESYNC_DONE), "resync-done");
}

static bool is_sync(int s)
{
	return s == RS_SYNC_SOURCE || s == RS_SYNC_TARGET ||
	       s == RS_PAUSED_SYNC_S || s == RS_PAUSED_SYNC_T;
}

static bool is_src(int s)
{
	return s == RS_SYNC_SOURCE || s == RS_PAUSED_SYNC_S;
}

/* Every state x event x pause flag: the properties the engine relies on. */
static void test_repl_properties(void **state)
{
	unsigned allowed = 0;

	(void)state;
	for (int f = 0; f < REPL_STATE_COUNT; f++)
		for (int e = 0; e < SM_REPL_EV_COUNT; e++)
			for (int p = 0; p < 2; p++) {
				int to = sm_repl_next((enum repl_state)f,
						      (enum sm_repl_ev)e, p);

				if (to < 0)
					continue;
				allowed++;
				assert_true(to < REPL_STATE_COUNT);
				/* Ahead/Behind are not entered (no
				 * congestion policy yet). */
				if (to != f)
					assert_true(to != RS_AHEAD && to != RS_BEHIND);
				/* The link's end leaves nothing behind. */
				if (e == SM_REPL_LINK_DOWN || e == SM_REPL_LINK_UP)
					assert_int_equal(to, RS_OFF);
				/* A resync ends only by RS_DONE, the link, or
				 * a disk going away, never by a handshake. */
				if (is_sync(f) && !is_sync(to))
					assert_true(e == SM_REPL_RESYNC_DONE ||
						    e == SM_REPL_LINK_DOWN ||
						    e == SM_REPL_LINK_UP ||
						    e == SM_REPL_DISK_GONE);
				/* Its direction never flips while it runs. */
				if (is_sync(f) && is_sync(to))
					assert_int_equal(is_src(f), is_src(to));
				/* Paused exactly when asked, for a resync. */
				if (is_sync(to))
					assert_int_equal(p, to == RS_PAUSED_SYNC_S ||
							    to == RS_PAUSED_SYNC_T);
				/* Verify starts only from Established. */
				if ((to == RS_VERIFY_S || to == RS_VERIFY_T) && f != to)
					assert_int_equal(f, RS_ESTABLISHED);
				/* A resync starts from the handshake,
				 * Established, or a resync that restarts. */
				if (is_sync(to) && !is_sync(f))
					assert_true(f == RS_OFF || f == RS_ESTABLISHED);
				/* A pause flag changes nothing but Sync*. */
				if (e == SM_REPL_PAUSE && !is_sync(f))
					assert_int_equal(to, f);
			}
	/* Out of range: refused. */
	assert_int_equal(sm_repl_next(REPL_STATE_COUNT, SM_REPL_LINK_DOWN, false), -1);
	assert_int_equal(sm_repl_next(RS_OFF, SM_REPL_EV_COUNT, false), -1);
	print_message("repl: %u transitions of %u\n", allowed,
		      REPL_STATE_COUNT * SM_REPL_EV_COUNT * 2);
}

/* The disk state's table: examples of a disk's life, and refusals. */
static void test_disk_examples(void **state)
{
	(void)state;
	assert_int_equal(sm_disk_next(DS_DISKLESS, SM_DISK_ATTACH), DS_INCONSISTENT);
	assert_int_equal(sm_disk_next(DS_INCONSISTENT, SM_DISK_SYNCED), DS_UPTODATE);
	assert_int_equal(sm_disk_next(DS_UPTODATE, SM_DISK_FAIL), DS_FAILED);
	assert_int_equal(sm_disk_next(DS_FAILED, SM_DISK_DETACHED), DS_DISKLESS);
	assert_int_equal(sm_disk_next(DS_UPTODATE, SM_DISK_OUTDATE), DS_OUTDATED);
	assert_int_equal(sm_disk_next(DS_OUTDATED, SM_DISK_SOURCE_SYNCED), DS_UPTODATE);
	assert_int_equal(sm_disk_next(DS_CONSISTENT, SM_DISK_PEER_NO_NEWER), DS_UPTODATE);
	assert_int_equal(sm_disk_next(DS_OUTDATED, SM_DISK_FORCE), DS_UPTODATE);
	assert_int_equal(sm_disk_next(DS_UPTODATE, SM_DISK_SYNC_TARGET), DS_INCONSISTENT);
	/* Refused: a failed disk comes back only through Diskless and an
	 * attach; an Inconsistent disk is no fence's victim; a disk that
	 * holds nothing is not made UpToDate by a handshake. */
	assert_int_equal(sm_disk_next(DS_FAILED, SM_DISK_ATTACH), -1);
	assert_int_equal(sm_disk_next(DS_FAILED, SM_DISK_FORCE), -1);
	assert_int_equal(sm_disk_next(DS_INCONSISTENT, SM_DISK_OUTDATE), -1);
	assert_int_equal(sm_disk_next(DS_INCONSISTENT, SM_DISK_PEER_NO_NEWER), -1);
	assert_int_equal(sm_disk_next(DS_DISKLESS, SM_DISK_FORCE), -1);
	assert_int_equal(sm_disk_next(DS_UPTODATE, SM_DISK_ATTACH), -1);
	assert_string_equal(sm_disk_ev_name(SM_DISK_SOURCE_SYNCED), "source-synced");
}

static void test_disk_properties(void **state)
{
	unsigned allowed = 0;

	(void)state;
	for (int f = 0; f < DISK_STATE_COUNT; f++)
		for (int e = 0; e < SM_DISK_EV_COUNT; e++) {
			int to = sm_disk_next((enum disk_state)f, (enum sm_disk_ev)e);

			if (to < 0)
				continue;
			allowed++;
			assert_true(to < DISK_STATE_COUNT);
			/* DUnknown is the peer's, Attaching a passage. */
			assert_true(to != DS_DUNKNOWN && to != DS_ATTACHING);
			assert_true(f != DS_DUNKNOWN);
			/* Without a disk, only an attach (to a disk that is
			 * trusted with nothing) or the end of a detach. */
			if (f == DS_DISKLESS || f == DS_FAILED)
				assert_true(to == DS_INCONSISTENT ||
					    to == DS_DISKLESS);
			if (f == DS_DISKLESS)
				assert_int_equal(e, SM_DISK_ATTACH);
			if (f == DS_FAILED)
				assert_int_equal(e, SM_DISK_DETACHED);
			/* Failed only by a failure, Diskless only when it
			 * is let go. */
			if (to == DS_FAILED)
				assert_int_equal(e, SM_DISK_FAIL);
			if (to == DS_DISKLESS)
				assert_int_equal(e, SM_DISK_DETACHED);
			/* UpToDate from a disk that holds nothing only by a
			 * resync, new data over blank disks, or --force. */
			if (to == DS_UPTODATE && f == DS_INCONSISTENT)
				assert_true(e == SM_DISK_SYNCED ||
					    e == SM_DISK_NEW_DATA ||
					    e == SM_DISK_FORCE);
			/* Outdated only by an outdate. */
			if (to == DS_OUTDATED && f != DS_OUTDATED)
				assert_int_equal(e, SM_DISK_OUTDATE);
		}
	assert_int_equal(sm_disk_next(DISK_STATE_COUNT, SM_DISK_FAIL), -1);
	assert_int_equal(sm_disk_next(DS_UPTODATE, SM_DISK_EV_COUNT), -1);
	print_message("disk: %u transitions of %u\n", allowed,
		      DISK_STATE_COUNT * SM_DISK_EV_COUNT);
}

/* The connection state and the role. */
static void test_conn_role(void **state)
{
	(void)state;
	assert_int_equal(sm_conn_next(CS_STANDALONE, SM_CONN_EV_CONNECT), CS_CONNECTING);
	assert_int_equal(sm_conn_next(CS_CONNECTING, SM_CONN_EV_HANDSHAKE), CS_CONNECTED);
	assert_int_equal(sm_conn_next(CS_CONNECTED, SM_CONN_EV_LINK_DOWN), CS_CONNECTING);
	assert_int_equal(sm_conn_next(CS_STANDALONE, SM_CONN_EV_LINK_DOWN), CS_STANDALONE);
	assert_int_equal(sm_conn_next(CS_CONNECTED, SM_CONN_EV_REFUSE), CS_STANDALONE);
	assert_int_equal(sm_conn_next(CS_CONNECTING, SM_CONN_EV_DISCONNECT), CS_STANDALONE);
	/* No handshake without a connection being made, no connect over
	 * one, no refusal of a peer nobody talks to. */
	assert_int_equal(sm_conn_next(CS_STANDALONE, SM_CONN_EV_HANDSHAKE), -1);
	assert_int_equal(sm_conn_next(CS_CONNECTED, SM_CONN_EV_HANDSHAKE), -1);
	assert_int_equal(sm_conn_next(CS_CONNECTED, SM_CONN_EV_CONNECT), -1);
	assert_int_equal(sm_conn_next(CS_STANDALONE, SM_CONN_EV_REFUSE), -1);
	assert_int_equal(sm_conn_next(CONN_STATE_COUNT, SM_CONN_EV_CONNECT), -1);
	assert_string_equal(sm_conn_ev_name(SM_CONN_EV_REFUSE), "refuse");
	/* Every transition: StandAlone is left only by connect, and every
	 * way to it is the operator's or a refusal. */
	for (int f = 0; f < CONN_STATE_COUNT; f++)
		for (int e = 0; e < SM_CONN_EV_COUNT; e++) {
			int to = sm_conn_next((enum conn_state)f, (enum sm_conn_ev)e);

			if (to < 0)
				continue;
			if (f == CS_STANDALONE && to != CS_STANDALONE)
				assert_int_equal(e, SM_CONN_EV_CONNECT);
			if (to == CS_STANDALONE && f != CS_STANDALONE)
				assert_true(e == SM_CONN_EV_DISCONNECT ||
					    e == SM_CONN_EV_REFUSE);
			if (to == CS_CONNECTED && f != CS_CONNECTED)
				assert_int_equal(e, SM_CONN_EV_HANDSHAKE);
		}
	assert_int_equal(sm_role_next(ROLE_SECONDARY, SM_ROLE_PROMOTE), ROLE_PRIMARY);
	assert_int_equal(sm_role_next(ROLE_PRIMARY, SM_ROLE_DEMOTE), ROLE_SECONDARY);
	assert_int_equal(sm_role_next(ROLE_PRIMARY, SM_ROLE_PROMOTE), -1);
	assert_int_equal(sm_role_next(ROLE_SECONDARY, SM_ROLE_DEMOTE), -1);
	assert_int_equal(sm_role_next(ROLE_UNKNOWN, SM_ROLE_PROMOTE), -1);
}

/* sm_step, the actions it asks dropped. */
static bool step(struct sm_state *s, const struct sm_event *e)
{
	unsigned acts = 0;

	return sm_step(s, e, &acts);
}

/* sm_step on one struct: a pair's life, the pause flags it carries, and
 * a refused event that changes nothing. */
static void test_step(void **state)
{
	struct sm_state s = {
		.role = ROLE_SECONDARY, .disk_state = DS_CONSISTENT,
		.peer_conn = CS_STANDALONE, .peer_role = ROLE_UNKNOWN,
		.peer_disk = DS_DUNKNOWN, .repl = RS_OFF,
	};
	struct sm_state before;
	char why[160];

	(void)state;
	assert_true(step(&s, &(struct sm_event){ .kind = SM_EV_CONN, .ev = SM_CONN_EV_CONNECT }));
	assert_int_equal(s.peer_conn, CS_CONNECTING);
	assert_true(step(&s, &(struct sm_event){ .kind = SM_EV_CONN, .ev = SM_CONN_EV_HANDSHAKE }));
	/* The peer paused its side: the resync from here starts paused. */
	s.peer_paused = true;
	assert_true(step(&s, &(struct sm_event){ .kind = SM_EV_REPL, .ev = SM_REPL_SOURCE }));
	assert_int_equal(s.repl, RS_PAUSED_SYNC_S);
	s.peer_paused = false;
	assert_true(step(&s, &(struct sm_event){ .kind = SM_EV_REPL, .ev = SM_REPL_PAUSE }));
	assert_int_equal(s.repl, RS_SYNC_SOURCE);
	assert_true(step(&s, &(struct sm_event){ .kind = SM_EV_DISK, .ev = SM_DISK_PEER_NO_NEWER }));
	assert_int_equal(s.disk_state, DS_UPTODATE);
	assert_true(step(&s, &(struct sm_event){ .kind = SM_EV_ROLE, .ev = SM_ROLE_PROMOTE }));
	assert_int_equal(s.role, ROLE_PRIMARY);
	/* Refused: nothing moves, and the log line names both. */
	before = s;
	assert_false(step(&s, &(struct sm_event){ .kind = SM_EV_REPL, .ev = SM_REPL_VERIFY_S }));
	assert_memory_equal(&s, &before, sizeof(s));
	sm_step_refusal(&s, &(struct sm_event){ .kind = SM_EV_REPL, .ev = SM_REPL_VERIFY_S },
			why, sizeof(why));
	assert_string_equal(why, "replication state SyncSource has no transition "
			    "verify-source");
	assert_false(step(&s, &(struct sm_event){ .kind = SM_EV_ROLE, .ev = SM_ROLE_PROMOTE }));
	assert_false(step(&s, &(struct sm_event){ .kind = 9 }));
	assert_true(step(&s, &(struct sm_event){ .kind = SM_EV_REPL, .ev = SM_REPL_RESYNC_DONE }));
	assert_true(step(&s, &(struct sm_event){ .kind = SM_EV_CONN, .ev = SM_CONN_EV_LINK_DOWN }));
	assert_true(step(&s, &(struct sm_event){ .kind = SM_EV_REPL, .ev = SM_REPL_LINK_DOWN }));
	assert_int_equal(s.peer_conn, CS_CONNECTING);
	assert_int_equal(s.repl, RS_OFF);
}

/* The peer view takes every role and disk a STATE can name, what this
 * node did to the peer's disk only as such, and forgets it all when the
 * link goes; the freeze moves once each way. */
static void test_step_peer_and_io(void **state)
{
	struct sm_state s = { .role = ROLE_SECONDARY, .disk_state = DS_UPTODATE,
			      .peer_conn = CS_CONNECTED, .repl = RS_ESTABLISHED };
	struct sm_state before;

	(void)state;
	for (unsigned r = 0; r < ROLE_COUNT; r++)
		for (unsigned d = 0; d < DISK_STATE_COUNT; d++) {
			assert_true(step(&s, &(struct sm_event){
				.kind = SM_EV_PEER, .ev = SM_PEER_STATE,
				.peer_role = (enum role)r, .peer_disk = (enum disk_state)d,
				.peer_paused = d & 1 }));
			assert_int_equal(s.peer_role, r);
			assert_int_equal(s.peer_disk, d);
			assert_int_equal(s.peer_paused, d & 1);
		}
	before = s;
	assert_false(step(&s, &(struct sm_event){ .kind = SM_EV_PEER,
		.ev = SM_PEER_STATE, .peer_disk = DISK_STATE_COUNT }));
	assert_memory_equal(&s, &before, sizeof(s));
	for (unsigned d = 0; d < DISK_STATE_COUNT; d++) {
		bool ok = d == DS_INCONSISTENT || d == DS_OUTDATED || d == DS_UPTODATE;

		before = s;
		assert_int_equal(step(&s, &(struct sm_event){ .kind = SM_EV_PEER,
			.ev = SM_PEER_DISK, .peer_disk = (enum disk_state)d }), ok);
		assert_int_equal(s.peer_disk, ok ? d : before.peer_disk);
		assert_int_equal(s.peer_role, before.peer_role);
	}
	assert_true(step(&s, &(struct sm_event){ .kind = SM_EV_PEER,
						   .ev = SM_PEER_GONE }));
	assert_int_equal(s.peer_role, ROLE_UNKNOWN);
	assert_int_equal(s.peer_disk, DS_DUNKNOWN);
	assert_false(s.peer_paused);

	assert_false(step(&s, &(struct sm_event){ .kind = SM_EV_IO, .ev = SM_IO_THAW }));
	assert_true(step(&s, &(struct sm_event){ .kind = SM_EV_IO, .ev = SM_IO_FREEZE }));
	assert_true(s.io_frozen);
	assert_false(step(&s, &(struct sm_event){ .kind = SM_EV_IO, .ev = SM_IO_FREEZE }));
	assert_true(step(&s, &(struct sm_event){ .kind = SM_EV_IO, .ev = SM_IO_THAW }));
	assert_false(s.io_frozen);
}

/* The actions a step asks for: every transition of every table, by what
 * it changed. The peer hears of each change a STATE carries and of no
 * other; a thaw releases what it held; a resync let go moves on. */
static void test_effects(void **state)
{
	struct sm_state a = { .role = ROLE_SECONDARY, .disk_state = DS_UPTODATE,
			      .peer_conn = CS_CONNECTED, .repl = RS_ESTABLISHED };

	(void)state;
	for (unsigned r = 0; r < REPL_STATE_COUNT; r++)
		for (unsigned ev = 0; ev < SM_REPL_EV_COUNT; ev++)
			for (unsigned p = 0; p < 2; p++) {
				struct sm_state s = a, b;
				bool src_a, src_b, vs_a, vs_b;
				unsigned acts;

				s.repl = (enum repl_state)r;
				s.peer_paused = p;
				b = s;
				if (!step(&b, &(struct sm_event){ .kind = SM_EV_REPL,
								    .ev = (int)ev }))
					continue;
				acts = sm_effects(&s, &b);
				src_a = s.repl == RS_SYNC_SOURCE || s.repl == RS_PAUSED_SYNC_S;
				src_b = b.repl == RS_SYNC_SOURCE || b.repl == RS_PAUSED_SYNC_S;
				vs_a = s.repl == RS_VERIFY_S;
				vs_b = b.repl == RS_VERIFY_S;
				assert_int_equal(!!(acts & SM_ACT_SEND_STATE),
						 src_a != src_b || vs_a != vs_b);
				assert_int_equal(!!(acts & SM_ACT_HOOK_BEFORE_TARGET),
						 (b.repl == RS_SYNC_TARGET ||
						  b.repl == RS_PAUSED_SYNC_T) &&
						 s.repl != RS_SYNC_TARGET &&
						 s.repl != RS_PAUSED_SYNC_T);
				assert_int_equal(!!(acts & SM_ACT_PUMP_RESYNC),
						 s.repl == RS_PAUSED_SYNC_S &&
						 b.repl == RS_SYNC_SOURCE);
				assert_false(acts & (SM_ACT_RELEASE_HELD | SM_ACT_RETRY |
						     SM_ACT_START_RESYNC |
						     SM_ACT_BITMAP_XCHG | SM_ACT_WRITE_SB |
						     SM_ACT_HOOK_AFTER_TARGET));
			}
	for (unsigned d = 0; d < DISK_STATE_COUNT; d++)
		for (unsigned ev = 0; ev < SM_DISK_EV_COUNT; ev++) {
			struct sm_state s = a, b;

			s.disk_state = (enum disk_state)d;
			b = s;
			if (!step(&b, &(struct sm_event){ .kind = SM_EV_DISK, .ev = (int)ev }))
				continue;
			assert_int_equal(sm_effects(&s, &b),
					 b.disk_state != s.disk_state ? SM_ACT_SEND_STATE : 0);
		}
	for (unsigned ev = 0; ev < SM_ROLE_EV_COUNT; ev++) {
		struct sm_state s = a, b;

		s.role = ev == SM_ROLE_PROMOTE ? ROLE_SECONDARY : ROLE_PRIMARY;
		b = s;
		assert_true(step(&b, &(struct sm_event){ .kind = SM_EV_ROLE, .ev = (int)ev }));
		assert_int_equal(sm_effects(&s, &b), SM_ACT_SEND_STATE);
	}
	for (unsigned c = 0; c < CONN_STATE_COUNT; c++)
		for (unsigned ev = 0; ev < SM_CONN_EV_COUNT; ev++) {
			struct sm_state s = a, b;

			s.peer_conn = (enum conn_state)c;
			b = s;
			if (step(&b, &(struct sm_event){ .kind = SM_EV_CONN, .ev = (int)ev }))
				assert_int_equal(sm_effects(&s, &b), 0);
		}
	{
		struct sm_state s = a, b = a;

		assert_true(step(&b, &(struct sm_event){ .kind = SM_EV_PEER,
			.ev = SM_PEER_STATE, .peer_role = ROLE_PRIMARY,
			.peer_disk = DS_OUTDATED, .peer_paused = true }));
		assert_int_equal(sm_effects(&s, &b), 0);	/* the peer's own */
		s = b;
		assert_true(step(&b, &(struct sm_event){ .kind = SM_EV_IO, .ev = SM_IO_FREEZE }));
		assert_int_equal(sm_effects(&s, &b), 0);
		s = b;
		assert_true(step(&b, &(struct sm_event){ .kind = SM_EV_IO, .ev = SM_IO_THAW }));
		assert_int_equal(sm_effects(&s, &b), SM_ACT_RELEASE_HELD | SM_ACT_RETRY);
		s = b;
		assert_true(step(&b, &(struct sm_event){ .kind = SM_EV_PAUSE,
							   .ev = SM_PAUSE_ON }));
		assert_true(b.sync_paused);	/* pause-sync: the peer hears of it */
		assert_int_equal(sm_effects(&s, &b), SM_ACT_SEND_STATE);
		s = b;
		s.repl = RS_PAUSED_SYNC_S;
		s.peer_paused = false;
		b = s;
		assert_true(step(&b, &(struct sm_event){ .kind = SM_EV_PAUSE,
							   .ev = SM_PAUSE_OFF }));
		assert_int_equal(b.repl, RS_SYNC_SOURCE);	/* peer not paused */
		assert_int_equal(sm_effects(&s, &b),
				 SM_ACT_SEND_STATE | SM_ACT_PUMP_RESYNC);
		assert_false(step(&b, &(struct sm_event){ .kind = SM_EV_PAUSE,
							    .ev = 7 }));
	}
	{
		/* The event's own: a finished resync into this disk. */
		struct sm_state s = a;
		unsigned acts = 0;

		s.disk_state = DS_INCONSISTENT;
		assert_true(sm_step(&s, &(struct sm_event){ .kind = SM_EV_DISK,
							   .ev = SM_DISK_SYNCED }, &acts));
		assert_int_equal(acts, SM_ACT_SEND_STATE | SM_ACT_HOOK_AFTER_TARGET);
		/* A refused step asks nothing. */
		acts = 0;
		assert_false(sm_step(&s, &(struct sm_event){ .kind = SM_EV_DISK,
							    .ev = SM_DISK_SYNCED }, &acts));
		assert_int_equal(acts, 0);
	}
	assert_string_equal(sm_act_name(SM_ACT_SEND_STATE), "send-state");
	assert_string_equal(sm_act_name(SM_ACT_RETRY), "retry");
	assert_string_equal(sm_act_name(3), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_repl_examples),
		cmocka_unit_test(test_step_peer_and_io),
		cmocka_unit_test(test_effects),
		cmocka_unit_test(test_repl_properties),
		cmocka_unit_test(test_disk_examples),
		cmocka_unit_test(test_disk_properties),
		cmocka_unit_test(test_conn_role),
		cmocka_unit_test(test_step),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
