/* sm.h - the replication state machine, pure: its states, their
 * transition tables and step, the actions a step asks for, and its
 * decisions.
 *
 * (docs/architecture.md, "State machine".) The states users see live in
 * one struct sm_state, moved only by sm_step through one table per state;
 * sm_effects says what each change asks of the engine, whose one
 * executor (resource_commit) runs it in a fixed order.
 * A decision is a function of a view of those states and of the command,
 * and returns what to do, or the refusal and its reason: the promotion,
 * who syncs whom when two nodes meet, what a live STATE changes, the
 * refusals of invalidate and resync. The engine builds the view, asks,
 * and carries the decision out (operator.c, peer.c); it decides nothing
 * of its own. Unit tests walk every state.
 *
 * Pure: no I/O, no allocation, no clock.
 */
#ifndef BLOCKD_SM_H
#define BLOCKD_SM_H

#include <stdbool.h>
#include <stddef.h>

#include "blockd/core/config.h"
#include "blockd/core/state.h"
#include "blockd/core/uuid.h"

/* The states users see, of this node and of its peer as this node knows
 * it: the one copy the engine keeps (struct resource's st). */
struct sm_state {
	enum role role;
	enum disk_state disk_state;
	enum conn_state peer_conn;
	enum role peer_role;		/* from the peer's STATE */
	enum disk_state peer_disk;	/* ... or what this node did to it */
	enum repl_state repl;
	bool sync_paused;		/* pause-sync here */
	bool peer_paused;		/* pause-sync on the peer */
	bool io_frozen;			/* fencing holds writes (SM_EV_IO) */
};

/* What a decision looks at: this node and its peer as the engine sees
 * them now. */
struct sm_view {
	enum role role;
	enum disk_state disk;
	bool has_disk;		/* a disk is attached and not failed */
	bool has_peer;		/* a peer is configured (not a one-node resource) */
	enum conn_state peer_conn;
	enum role peer_role;
	enum disk_state peer_disk;
	enum repl_state repl;
	/* What the up connection can do (both sides offered it). */
	bool peer_serves_reads;	/* FRAME_FEAT_DISKLESS */
	bool peer_syncs_primary; /* FRAME_FEAT_PRIMARY_TARGET */
	bool peer_consents;	/* FRAME_FEAT_ROLE_REQ: ask before promoting */
	enum config_fencing fencing;
	const char *fencing_name;	/* config_fencing_name(fencing) */
	bool fence_hook;	/* a fence-peer hook is configured */
	bool peer_recorded_outdated; /* MDF_PEER_OUTDATED */
	const char *peer_name;
};

/* primary [--force], and how far it got. */
struct sm_promote_cmd {
	bool force;
	bool fence_answered;	/* fence-peer ran for it: fence_answer is its exit */
	int fence_answer;	/* exit code, or -errno; -ESTALE: ask again */
	bool granted;		/* the connected peer said yes */
};

enum sm_promote_act {
	SM_PROMOTE_ALREADY,	/* Primary already: nothing to do */
	SM_PROMOTE_REFUSE,	/* why says why */
	SM_PROMOTE_FENCE_PEER,	/* run fence-peer, decide again on its answer */
	SM_PROMOTE_ASK_PEER,	/* send ROLE_REQ, decide again on the reply */
	SM_PROMOTE_DISKLESS,	/* Primary without a disk: I/O through the peer */
	SM_PROMOTE_SYNC_TARGET,	/* Primary while the resync fills this disk */
	SM_PROMOTE_NOW,		/* Primary */
};

struct sm_promote {
	enum sm_promote_act act;
	bool declare_uptodate;	/* NOW, forced over a disk not UpToDate */
	bool warn_unfenced;	/* NOW, forced with the peer away, not fenced */
	char why[512];		/* REFUSE: one line for the operator */
};

void sm_promote(const struct sm_view *v, const struct sm_promote_cmd *c,
		struct sm_promote *out);
/* Could the peer be Primary now, unknown to this node, under a fencing
 * policy? Not when connected, nor when recorded outdated or fenced. */
bool sm_peer_unfenced(const struct sm_view *v);
const char *sm_promote_act_name(enum sm_promote_act a);

/* invalidate [--bitmap]: this node's data is fetched again from the
 * peer. False when it may; true with the reason in why. */
bool sm_invalidate_refused(const struct sm_view *v, char *why, size_t len);

/* resync / invalidate-remote: the peer is synced from this disk (its
 * marked blocks, or everything). */
bool sm_resync_refused(const struct sm_view *v, char *why, size_t len);

/* ---- a live connection: what the peer's next STATE changes ---------- */

/* What sm_live decides, carried out in this order. */
#define SM_LIVE_ADOPT_UUID	(1U << 0)  /* the peer's new generation over
					    * blank disks: UpToDate, no sync */
#define SM_LIVE_VERIFY_T	(1U << 1)  /* an online verify toward us */
#define SM_LIVE_VERIFY_END	(1U << 2)  /* ... ended */
#define SM_LIVE_REFUSE_SOURCE	(1U << 3)  /* asked to be a resync source
					    * without an UpToDate disk: drop
					    * the link, nothing after */
#define SM_LIVE_SOURCE_BITMAP	(1U << 4)  /* invalidate --bitmap there */
#define SM_LIVE_FULL_RESYNC	(1U << 5)  /* invalidate there: a full resync
					    * from here */
#define SM_LIVE_SYNC_ATTACHED	(1U << 6)  /* the peer attached a disk */
#define SM_LIVE_ATTACHED_INCOMPLETE (1U << 7) /* ... but sm_incomplete */
#define SM_LIVE_TARGET		(1U << 8)  /* the peer, promoted over this
					    * disk, syncs it */
#define SM_LIVE_SPLIT_BRAIN	(1U << 9)  /* both Primary */
#define SM_LIVE_FULL_RESYNC_REFUSED (1U << 10) /* invalidate there, refused
					    * here (sm_resync_refused) */

/* v: this node, with the peer's role and disk from the new STATE;
 * flags: its FRAME_STATE_F_*; attached: the peer had no usable disk
 * before this STATE; incomplete: sm_incomplete of the two sides. */
unsigned sm_live(const struct sm_view *v, unsigned flags, bool attached,
		 bool incomplete);

/* ---- connecting: who syncs whom ------------------------------------- */

/* One node as the handshake sees it (its own STATE, or the peer's). */
struct sm_side {
	struct uuid_side u;	/* generations, MDF_* flags, role, ... */
	enum disk_state disk;
	bool discard;		/* connect --discard-my-data */
	uint64_t size_bytes;
	/* A Primary without a usable disk: the data generation its users
	 * see (DRBD's exposed data UUID), 0 for none known. It may connect
	 * only to a disk of that generation: any other lacks writes it
	 * acknowledged, or holds ones it never saw. Not on the wire: 0 for
	 * the peer. */
	uint64_t exposed;
};

/* What both nodes share: the policies and what the connection can do. */
struct sm_pair {
	int after_sb[3];	/* enum sb_policy, by number of Primaries */
	bool tiebreak;		/* this node's name sorts first */
	bool bitmap_exchange;	/* FRAME_FEAT_BITMAP_RLE */
	bool primary_target;	/* FRAME_FEAT_PRIMARY_TARGET */
};

enum sm_connect_act {
	SM_CONN_SPLIT_BRAIN,	/* disconnect, StandAlone: split_why */
	SM_CONN_TOO_SMALL,	/* the peer's data area is smaller: StandAlone */
	SM_CONN_NO_DISK,	/* a side has no usable disk: no resync */
	SM_CONN_STALE_PEER,	/* this Primary has no disk, and the peer's is
				 * not the data it exposes: StandAlone (the
				 * peer, not knowing, decides NO_DISK) */
	SM_CONN_UNRELATED,	/* no common generation: StandAlone */
	SM_CONN_SELF_NO_SOURCE,	/* this node would be a source it may not be: StandAlone */
	SM_CONN_PEER_NO_SOURCE,	/* the peer would be: drop the connection */
	SM_CONN_NO_WHOLE_COPY,	/* neither disk is known to hold every
				 * acknowledged write: StandAlone, an
				 * operator picks one (sm_incomplete) */
	SM_CONN_SOURCE,		/* SyncSource (full, or from the bitmaps) */
	SM_CONN_TARGET,		/* SyncTarget */
	SM_CONN_ESTABLISHED,	/* nothing to sync */
};

struct sm_connect {
	enum sm_connect_act act;
	struct uuid_result rules;	/* uuid_compare's decision */
	bool split;			/* the rules found a split brain */
	struct uuid_result resolved;	/* split: after the policies */
	bool both_discard;		/* split: both connected --discard-my-data */
	struct uuid_result d;		/* the decision taken (after disk states) */
	bool full;			/* SOURCE/TARGET: every block (also when
					 * the connection cannot exchange bitmaps) */
	const char *split_why;		/* SPLIT_BRAIN */
	bool self_uptodate, peer_uptodate; /* Consistent -> UpToDate */
};

/* Both nodes run it on the same two STATEs, each from its side, and so
 * decide alike (test_sm checks that they do). */
void sm_connect(const struct sm_side *self, const struct sm_side *peer,
		const struct sm_pair *pair, struct sm_connect *out);
/* A Consistent disk that crashed as Primary (it may have lost writes it
 * acknowledged, unflushed) next to a peer disk of the same generation
 * that was given up (it failed, or was attached again): the writes may
 * be on that disk only, which is not trusted either. Neither is a
 * source: an operator picks one with primary --force (sim seed 587). */
bool sm_incomplete(const struct sm_side *self, const struct sm_side *peer);
/* The peer attached its disk again (given up) and its generations are
 * newer than this disk's, or diverged: it holds writes this one lacks
 * (it took them, then failed), so this disk is no source for it; the
 * connect decision refuses the same pair (sim seed 451 --strict: an
 * Outdated disk synced over the only copy of acknowledged writes). */
bool sm_attached_ahead(const struct sm_side *self, const struct sm_side *peer,
		       bool tiebreak);
/* May a disk in state src be the SyncSource of one in state dst? */
bool sm_may_sync_from(enum disk_state src, enum disk_state dst);
bool sm_disk_usable(enum disk_state d);
const char *sm_connect_act_name(enum sm_connect_act a);

/* The replication state (DRBD's names) changes only by these events,
 * through sm_repl_next: every transition is in its one table. */
enum sm_repl_ev {
	SM_REPL_LINK_UP,	/* a connection is up: the handshake begins */
	SM_REPL_LINK_DOWN,	/* the connection ended */
	SM_REPL_IN_SYNC,	/* the handshake found nothing to sync, or a
				 * side without a disk */
	SM_REPL_SOURCE,		/* a resync from this disk starts */
	SM_REPL_TARGET,		/* a resync into this disk starts */
	SM_REPL_PAUSE,		/* a pause flag changed (this node's or the
				 * peer's): Sync* <-> PausedSync* */
	SM_REPL_RESYNC_DONE,	/* the resync ended */
	SM_REPL_VERIFY_S,	/* online verify: this node asks */
	SM_REPL_VERIFY_T,	/* ... the peer asks */
	SM_REPL_VERIFY_DONE,
	SM_REPL_DISK_GONE,	/* a side's disk went away: resync and
				 * verify stop */
};
#define SM_REPL_EV_COUNT (SM_REPL_DISK_GONE + 1)

/* The state ev leads to from from (paused: a pause flag is set on
 * either node), or -1 when ev is no transition of from (the engine
 * asserts it never asks for one). */
int sm_repl_next(enum repl_state from, enum sm_repl_ev ev, bool paused);
const char *sm_repl_ev_name(enum sm_repl_ev ev);

/* This node's disk state changes only by these events (sm_disk_next). */
enum sm_disk_ev {
	SM_DISK_ATTACH,		/* attach: a disk again, not trusted */
	SM_DISK_FAIL,		/* it failed a request */
	SM_DISK_DETACHED,	/* nothing in flight on it any more */
	SM_DISK_OUTDATE,	/* fence-peer said the peer is Primary, or
				 * the outdate command */
	SM_DISK_SYNC_TARGET,	/* a resync into it starts */
	SM_DISK_SYNCED,		/* the resync into it finished */
	SM_DISK_PEER_NO_NEWER,	/* Consistent, and the handshake showed
				 * nothing newer exists */
	SM_DISK_SOURCE_SYNCED,	/* Outdated, and its peer was synced from
				 * it: both hold the same */
	SM_DISK_NEW_DATA,	/* blank disks get a first generation: this
				 * one's (new-current-uuid) or the peer's */
	SM_DISK_FORCE,		/* primary --force vouches for it */
};
#define SM_DISK_EV_COUNT (SM_DISK_FORCE + 1)

/* The state ev leads to from from, or -1 when ev is no transition of
 * from (the engine asserts it never asks for one). */
int sm_disk_next(enum disk_state from, enum sm_disk_ev ev);
const char *sm_disk_ev_name(enum sm_disk_ev ev);

/* The connection state (sm_conn_next). */
enum sm_conn_ev {
	SM_CONN_EV_CONNECT,	/* the operator: connect */
	SM_CONN_EV_DISCONNECT,	/* the operator: disconnect */
	SM_CONN_EV_REFUSE,	/* the handshake, or a live STATE, refused
				 * the peer (split brain, unrelated or
				 * incomplete data, too small, stale) */
	SM_CONN_EV_HANDSHAKE,	/* the handshake is done */
	SM_CONN_EV_LINK_DOWN,	/* the connection ended: retry, unless
				 * StandAlone */
};
#define SM_CONN_EV_COUNT (SM_CONN_EV_LINK_DOWN + 1)
int sm_conn_next(enum conn_state from, enum sm_conn_ev ev);
const char *sm_conn_ev_name(enum sm_conn_ev ev);

/* The role (sm_role_next): promote and demote, once sm_promote (or the
 * demotion's checks) said yes. */
enum sm_role_ev { SM_ROLE_PROMOTE, SM_ROLE_DEMOTE };
#define SM_ROLE_EV_COUNT (SM_ROLE_DEMOTE + 1)
int sm_role_next(enum role from, enum sm_role_ev ev);

/* The peer as this node knows it (SM_EV_PEER). */
enum sm_peer_ev {
	SM_PEER_STATE,		/* its STATE: the event's peer_role, peer_disk
				 * and peer_paused */
	SM_PEER_DISK,		/* this node changed what its disk holds (a
				 * resync from here, fence-peer): peer_disk */
	SM_PEER_GONE,		/* the connection ended: unknown */
};
#define SM_PEER_EV_COUNT (SM_PEER_GONE + 1)

/* Fencing's I/O freeze (SM_EV_IO). */
enum sm_io_ev { SM_IO_FREEZE, SM_IO_THAW };

/* pause-sync and resume-sync here (SM_EV_PAUSE): the flag, and with it
 * a resync's state (SM_REPL_PAUSE). */
enum sm_pause_ev { SM_PAUSE_ON, SM_PAUSE_OFF };

/* One event for one of the states, by its table. */
enum sm_event_kind { SM_EV_REPL, SM_EV_DISK, SM_EV_CONN, SM_EV_ROLE,
		     SM_EV_PEER, SM_EV_IO, SM_EV_PAUSE };
struct sm_event {
	enum sm_event_kind kind;
	int ev;			/* enum sm_repl_ev, sm_disk_ev, ... */
	/* SM_EV_PEER: what the peer is now. */
	enum role peer_role;
	enum disk_state peer_disk;
	bool peer_paused;
};

/* The state machine's step: s moves by e, the actions it asks are added
 * to *acts (SM_ACT_*: sm_effects of the change, and the event's own),
 * and true; or false, and s and *acts are unchanged, when e is no
 * transition of s. A resync source or target is PausedSync* when a
 * pause flag in s is set. */
bool sm_step(struct sm_state *s, const struct sm_event *e, unsigned *acts);
/* "replication state SyncSource has no transition verify-source", for
 * the log when sm_step refused e. */
void sm_step_refusal(const struct sm_state *s, const struct sm_event *e,
		     char *buf, size_t len);

/* ---- actions: what a change of state asks of the engine -------------- */

/* sm_step derives some from the step (sm_effects, and the event's own);
 * the engine posts the others where its data, not its states, decide
 * them (a full resync starts at once, a bitmap-based one after the
 * exchange; the superblock records new generations and flags). The
 * engine's one executor (resource_commit) runs them in this order: a
 * hook that must see the disk before a resync first, then the
 * superblock, then the peer learns the new state before anything that
 * state starts reaches it, and users learn last (hooks, then the
 * event). */
#define SM_ACT_HOOK_BEFORE_TARGET (1U << 0) /* before-resync-target */
#define SM_ACT_WRITE_SB		(1U << 1)  /* the superblock as it is now */
#define SM_ACT_SEND_STATE	(1U << 2)  /* STATE to the peer */
#define SM_ACT_BITMAP_XCHG	(1U << 3)  /* the bitmap exchange starts */
#define SM_ACT_START_RESYNC	(1U << 4)  /* a resync from this disk starts,
					    * its bitmap saved first */
#define SM_ACT_PUMP_RESYNC	(1U << 5)  /* a resync from here may move on */
#define SM_ACT_RELEASE_HELD	(1U << 6)  /* I/O thawed: held writes go */
#define SM_ACT_RETRY		(1U << 7)  /* requests that waited for a
					    * state run again */
#define SM_ACT_HOOK_AFTER_TARGET (1U << 8) /* after-resync-target */
#define SM_ACT_HOOK_SPLIT_BRAIN	(1U << 9)  /* split-brain */
#define SM_ACT_HOOK_OUT_OF_SYNC	(1U << 10) /* out-of-sync (verify) */
#define SM_ACT_HOOK_UNFENCE	(1U << 11) /* unfence-peer */
#define SM_ACT_COUNT 12

/* What the change from a to b asks: SEND_STATE when anything the peer
 * sees in STATE changed (role, disk, the source, verify and pause
 * flags); HOOK_BEFORE_TARGET when a resync into this disk begins;
 * PUMP_RESYNC when
 * a resync from here was let go (PausedSyncS -> SyncSource);
 * RELEASE_HELD and RETRY when the I/O freeze ended. */
unsigned sm_effects(const struct sm_state *a, const struct sm_state *b);
const char *sm_act_name(unsigned bit);

#endif
