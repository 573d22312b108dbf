/* operator.c - see operator.h. The refusals name what a person would
 * check next; the state changes are the resource's (peer.c tells the
 * peer). */
#include "blockd/engine/operator.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "blockd/core/sm.h"
#include "blockd/engine/resource.h"
#include "common/log.h"

#define REFUSE(...) do { snprintf(err, errlen, __VA_ARGS__); return -EPERM; } while (0)

#define NOT_ASKED INT_MIN	/* no fence-peer answer for this promotion */

static void become_primary(struct resource *res)
{
	resource_step(res, SM_EV_ROLE, SM_ROLE_PROMOTE);
	/* A Primary never discards its data: a --discard-my-data given as
	 * Secondary ends here (DRBD refuses it on a Primary), or every
	 * reconnect would be a split brain it loses or refuses. */
	res->discard_my_data = false;
}

/* answer: fence-peer's exit code for this promotion, or NOT_ASKED;
 * granted: the connected peer said yes to it. The decision is the state
 * machine's (sm_promote); this carries it out. */
static int promote(struct resource *res, bool force, int answer, bool granted,
		   char *err, size_t errlen)
{
	struct sm_promote_cmd cmd = {
		.force = force, .fence_answered = answer != NOT_ASKED,
		.fence_answer = answer, .granted = granted,
	};
	struct sm_view v;
	struct sm_promote d;
	int ret;

	resource_view(res, &v);
	sm_promote(&v, &cmd, &d);
	switch (d.act) {
	case SM_PROMOTE_ALREADY:
		return 0;
	case SM_PROMOTE_REFUSE:
		snprintf(err, errlen, "%s", d.why);
		return -EPERM;
	case SM_PROMOTE_FENCE_PEER:
		ret = fencing_run_for_promotion(res);
		if (ret < 0)
			REFUSE("fencing %s: the peer %s is away and fence-peer "
			       "could not be started (%s)", v.fencing_name,
			       res->peer_name, strerror(-ret));
		res->fence.promotion_waits = true;
		return -EINPROGRESS;
	case SM_PROMOTE_ASK_PEER:
		if (rolereq_ask(res) < 0) {
			snprintf(err, errlen, "an earlier promotion request to "
				 "the peer %s is still being sent: try again",
				 res->peer_name);
			return -EAGAIN;
		}
		return -EINPROGRESS;
	case SM_PROMOTE_DISKLESS:
		log_warn("promoted without a disk: all I/O goes through the peer");
		res->exposed_gen = res->peer.state.uuid[UUID_CURRENT];
		become_primary(res);
		resource_commit(res, "role-changed");
		return 0;
	case SM_PROMOTE_SYNC_TARGET:
		become_primary(res);
		log_info("promoted while SyncTarget: blocks not yet resynced are "
			 "fetched from %s before use", res->peer_name);
		peer_promoted(res, force);
		resource_commit(res, "role-changed");
		return 0;
	case SM_PROMOTE_NOW:
		break;
	}
	if (d.warn_unfenced)
		log_warn("promotion forced with the peer %s away and not fenced: "
			 "if it is Primary, this is a split brain", res->peer_name);
	if (d.declare_uptodate) {
		log_warn("promotion forced: %s disk declared UpToDate",
			 disk_state_name(res->st.disk_state));
		resource_step(res, SM_EV_DISK, SM_DISK_FORCE);
	}
	become_primary(res);
	peer_promoted(res, force);
	resource_commit(res, "role-changed");
	return 0;
}

static void promotion_answer(struct resource *res, int ret, const char *err)
{
	if (ret < 0)
		log_info("promotion refused: %s", err);
	if (res->observer && res->observer->promoted)
		res->observer->promoted(res->observer_arg, res, ret, err);
}

int resource_promote(struct resource *res, bool force, char *err,
		     size_t errlen)
{
	if (res->fence.promotion_waits && !force && res->st.role != ROLE_PRIMARY)
		return -EINPROGRESS;	/* the same answer for both */
	if (res->rolereq.asked && res->st.role != ROLE_PRIMARY) {
		int ret;

		if (!force)
			return -EINPROGRESS;	/* the peer's answer, for both */
		/* --force does not wait: it answers the waiting one too. */
		rolereq_forget(res);
		ret = promote(res, true, NOT_ASKED, false, err, errlen);
		promotion_answer(res, ret, err);
		return ret;
	}
	return promote(res, force, NOT_ASKED, false, err, errlen);
}

void resource_promote_answered(struct resource *res, int result)
{
	char err[512] = "";
	int ret;

	if (!res->fence.promotion_waits)
		return;
	res->fence.promotion_waits = false;
	ret = promote(res, false, result, false, err, sizeof(err));
	if (ret != -EINPROGRESS)
		promotion_answer(res, ret, err);
}

void resource_promote_consented(struct resource *res, int result)
{
	char err[512] = "";
	int ret;

	switch (result) {
	case 0:
		ret = promote(res, false, NOT_ASKED, true, err, sizeof(err));
		break;
	case -EBUSY:
		ret = -EPERM;
		snprintf(err, sizeof(err), "the peer %s is Primary: demote it "
			 "first (two Primaries would split the data)",
			 res->peer_name);
		break;
	case -EALREADY:
		ret = -EPERM;
		snprintf(err, sizeof(err), "the peer %s is becoming Primary: it "
			 "was promoted at the same moment and goes first. Demote "
			 "it first to promote this node", res->peer_name);
		break;
	case -ECONNRESET:
		ret = -EPERM;
		snprintf(err, sizeof(err), "the connection to the peer %s ended "
			 "before it answered: it may be Primary now. Check it, "
			 "then try again", res->peer_name);
		break;
	default:
		ret = -EPERM;
		snprintf(err, sizeof(err), "the peer %s refused the promotion "
			 "(%s)", res->peer_name, strerror(-result));
	}
	if (ret != -EINPROGRESS)
		promotion_answer(res, ret, err);
}

int resource_demote(struct resource *res, char *err, size_t errlen)
{
	if (res->fence.promotion_waits) {
		res->fence.promotion_waits = false;
		promotion_answer(res, -ECANCELED, "the promotion was cancelled by "
				 "'secondary' while fence-peer ran");
	}
	if (res->rolereq.asked) {
		rolereq_forget(res);
		promotion_answer(res, -ECANCELED, "the promotion was cancelled by "
				 "'secondary' while the peer was asked");
	}
	if (res->st.role == ROLE_SECONDARY)
		return 0;
	if (!res->link)
		REFUSE("a one-node resource is always Primary");
	peer_demote_flush(res);	/* while Primary: the peer takes its barrier */
	resource_step(res, SM_EV_ROLE, SM_ROLE_DEMOTE);
	resource_commit(res, "role-changed");	/* STATE: Secondary */
	return 0;
}

int resource_connect(struct resource *res, bool discard_my_data, char *err,
		     size_t errlen)
{
	if (!res->link)
		REFUSE("no peer is configured for %s", res->name);
	if (discard_my_data && res->st.role == ROLE_PRIMARY)
		REFUSE("a Primary cannot discard its data: demote it first");
	/* Each connect says it anew (DRBD's net options): a --discard-my-
	 * data that ended in a refused handshake does not outlive it. */
	res->discard_my_data = discard_my_data;
	if (res->st.peer_conn == CS_STANDALONE) {
		resource_step(res, SM_EV_CONN, SM_CONN_EV_CONNECT);
		link_connect(res->link);
		resource_commit(res, "connecting");
	}
	return 0;
}

int resource_disconnect(struct resource *res, char *err, size_t errlen)
{
	if (!res->link)
		REFUSE("no peer is configured for %s", res->name);
	if (res->st.peer_conn != CS_STANDALONE) {
		resource_step(res, SM_EV_CONN, SM_CONN_EV_DISCONNECT);
		link_disconnect(res->link, "disconnected by the operator");
		resource_commit(res, "standalone");
	}
	return 0;
}

int resource_set_protocol(struct resource *res, char p, char *err,
			  size_t errlen)
{
	if (p != 'A' && p != 'B' && p != 'C') {
		snprintf(err, errlen, "usage: protocol A|B|C");
		return -EINVAL;
	}
	if (p == 'A' && res->cfg->fencing == FENCING_RESOURCE_AND_STONITH)
		REFUSE("protocol A cannot be used with fencing "
		       "resource-and-stonith: acknowledged writes could be lost");
	res->protocol = p;
	resource_post(res, SM_ACT_SEND_STATE);
	resource_commit(res, "protocol-changed");
	return 0;
}
