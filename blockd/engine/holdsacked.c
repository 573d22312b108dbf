/* holdsacked.c - a Secondary's answer to "do you hold every write your
 * Primary acknowledged?", and its records of it (MDF_HOLDS_ACKED, and
 * MDF_HOLDS_ACKED_BOOT for this boot's caches): the peer of a crashed
 * Primary that holds them is the source of its activity log (rule
 * equal-current-self-crashed-primary-peer-holds-acked). peer.c sends the
 * answer in STATE and weighs the peer's; the receiver holds WRITE_ACKs
 * while the record is not durable.
 */
#include "blockd/engine/peer.h"
#include "blockd/engine/peer_priv.h"

#include <string.h>

#include "blockd/engine/resource.h"
#include "common/log.h"

/* Does this Secondary hold every write its Primary acknowledged? It did
 * when last connected: UpToDate, Established, under a Primary in
 * protocol C (each write the Primary completed was written here first;
 * frames before a protocol change arrive before its STATE). The answer
 * is kept when the connection ends - that is when it matters, the
 * Primary may have crashed - and dropped by anything that can leave a
 * gap since: another protocol, a resync into this disk, a promotion, a
 * failed disk.
 *
 * In memory it does not survive a restart (this disk's cache may have
 * lost writes), so once the connection ended a flush makes those writes
 * durable and MDF_HOLDS_ACKED records it: a restart, even a power loss
 * here, then still knows (sim seed 234: the Secondary's restart made the
 * crashed Primary the source of its extents, rolling back a write only
 * the Secondary held). The record goes at the next connection to a
 * Primary (new writes arrive unflushed: the in-memory answer takes
 * over), a promotion, or when the disk stops being a whole image. */
static void holds_acked_forget(struct resource *res)
{
	if (!res->meta.enabled || !(res->meta.sb.flags & MDF_HOLDS_ACKED))
		return;
	res->meta.sb.flags &= ~MDF_HOLDS_ACKED;
	meta_write_sb(&res->meta);
}

/* A Secondary whose connection ended keeps its answer, UpToDate or
 * Outdated by a fence since (its own fence-peer told it the peer is
 * still Primary, or the Primary's outdated it): any write the Primary
 * makes without it starts a new generation first, so while the
 * generations are equal it still holds every write the Primary
 * acknowledged (sim seed 3788: the Primary then lost power, and the
 * record dropped at the outdate made its rolled-back extents the
 * source). */
static bool off_holder(const struct resource *res)
{
	return res->st.role == ROLE_SECONDARY && res->st.repl == RS_OFF &&
	       (res->st.disk_state == DS_UPTODATE ||
		res->st.disk_state == DS_OUTDATED);
}

static void holds_acked_flushed(struct blk_req *r, int err)
{
	struct resource *res = r->res;

	res->holds_acked_flushing = false;
	if (err < 0 || !res->peer.holds_acked || !off_holder(res) ||
	    !res->meta.enabled)
		return;
	/* Durable now: the record of this boot's caches is not needed. */
	res->meta.sb.flags |= MDF_HOLDS_ACKED;
	res->meta.sb.flags &= ~MDF_HOLDS_ACKED_BOOT;
	meta_write_sb(&res->meta);
	log_info("this disk holds every write the Primary acknowledged, now "
		 "flushed: recorded, so that after a restart here it is still "
		 "the source of a crashed Primary's activity log");
}

/* The record above is written once the connection ended and a flush
 * made the writes durable: both daemons dying while connected (the
 * Primary's machine then losing power before its restart) left the
 * Secondary without it, and the crashed Primary's activity log rolled
 * it back. So, while connected, MDF_HOLDS_ACKED_BOOT records the same
 * for this boot's caches: written once the answer is yes and no write of
 * the stream is queued or in flight here (one acknowledged under
 * protocol B before a change to C may not be on the disk yet), and
 * every WRITE_ACK waits until that record is durable
 * (peer_write_acks_held). A restart in the same boot, after its start-up
 * flush, turns it into MDF_HOLDS_ACKED (peer_boot_restart); another boot
 * voids it. When the answer turns no while connected it is dropped;
 * RECV_ACKs wait for that write (receiver.c). */
static bool boot_record_durable(const struct resource *res)
{
	return (res->meta.sb.flags & MDF_HOLDS_ACKED_BOOT) &&
	       meta_sb_durable(&res->meta, res->peer.boot_ticket);
}

static bool boot_record_possible(const struct resource *res)
{
	return res->meta.enabled && !res->meta.failed && res->boot_known;
}

bool peer_write_acks_held(const struct resource *res)
{
	return res->peer.holds_acked && boot_record_possible(res) &&
	       !boot_record_durable(res);
}

void peer_boot_record(struct resource *res)
{
	struct meta *m = &res->meta;

	if (!boot_record_possible(res))
		return;
	if (!res->peer.holds_acked) {
		if (m->sb.flags & MDF_HOLDS_ACKED_BOOT) {
			m->sb.flags &= ~MDF_HOLDS_ACKED_BOOT;
			meta_write_sb(m);
		}
		return;
	}
	if ((m->sb.flags & MDF_HOLDS_ACKED_BOOT) || res->st.repl == RS_OFF ||
	    receiver_writes_pending(res))
		return;
	m->sb.flags |= MDF_HOLDS_ACKED_BOOT;
	memcpy(m->sb.boot_id, res->boot_id, sizeof(m->sb.boot_id));
	res->peer.boot_ticket = meta_write_sb(m);
}

void peer_boot_restart(struct resource *res)
{
	struct meta *m = &res->meta;

	res->boot_known = loop_boot_id(res->loop, res->boot_id) == 0;
	if (!res->boot_known)
		log_warn("this machine's boot identity is unknown: a record "
			 "that this disk holds every write its Primary "
			 "acknowledged is kept only once flushed");
	if (!m->enabled || !(m->sb.flags & MDF_HOLDS_ACKED_BOOT))
		return;
	m->sb.flags &= ~MDF_HOLDS_ACKED_BOOT;
	if (res->boot_known && res->disk.flushed_at_open &&
	    !memcmp(m->sb.boot_id, res->boot_id, sizeof(m->sb.boot_id))) {
		m->sb.flags |= MDF_HOLDS_ACKED;
		log_info("this disk held every write the Primary acknowledged "
			 "when the daemon stopped, in this boot, and is now "
			 "flushed: recorded, it is the source of a crashed "
			 "Primary's activity log");
	} else {
		log_warn("this disk held every write the Primary acknowledged "
			 "when the daemon stopped, but %s: that record is void",
			 !res->disk.flushed_at_open ?
			 "flushing it at start failed" :
			 !res->boot_known ? "this boot's identity is unknown" :
			 "the machine booted since (its caches may have lost "
			 "them)");
	}
	meta_write_sb(m);
}

static void holds_acked_persist(struct resource *res)
{
	struct blk_req *r = &res->holds_acked_flush;

	if (!res->peer.holds_acked || !res->meta.enabled || res->stopping ||
	    (res->meta.sb.flags & MDF_HOLDS_ACKED) || res->holds_acked_flushing)
		return;
	res->holds_acked_flushing = true;
	peer_flush_submit(res, r, holds_acked_flushed);
}

static void note_state(struct resource *res)
{
	if (off_holder(res)) {
		holds_acked_persist(res);
		return;
	}
	if (res->st.role != ROLE_SECONDARY || res->st.disk_state != DS_UPTODATE) {
		res->peer.holds_acked = false;
		/* A restarted holder is Consistent until its handshake. */
		if (res->st.role != ROLE_SECONDARY ||
		    res->st.disk_state != DS_CONSISTENT)
			holds_acked_forget(res);
		return;
	}
	if (res->st.peer_role == ROLE_PRIMARY)
		holds_acked_forget(res);
	/* In sync: Established, or an online verify (it reads; the
	 * Primary's writes keep coming; seed 486: a Primary's power loss
	 * during verify rolled its Secondary back by its extents). */
	res->peer.holds_acked = (res->st.repl == RS_ESTABLISHED ||
				 res->st.repl == RS_VERIFY_S ||
				 res->st.repl == RS_VERIFY_T) &&
				res->st.peer_role == ROLE_PRIMARY &&
				res->peer.state_received &&
				res->peer.state.protocol == 'C';
}

void peer_note_state(struct resource *res)
{
	note_state(res);
	peer_boot_record(res);
	receiver_kick(res);	/* WRITE_ACKs parked may go now */
}

bool peer_holds_acked(const struct resource *res)
{
	bool held = (res->peer.holds_acked &&
		     (res->st.disk_state == DS_UPTODATE || off_holder(res))) ||
		    (res->meta.enabled &&
		     (res->meta.sb.flags & MDF_HOLDS_ACKED) &&
		     (res->st.disk_state == DS_UPTODATE ||
		      res->st.disk_state == DS_CONSISTENT ||
		      res->st.disk_state == DS_OUTDATED));

	return held && res->st.role == ROLE_SECONDARY &&
	       (link_features(res->link) & FRAME_FEAT_HOLDS_ACKED);
}
