#!/bin/bash
# A Primary that loses power loses what its disk cache held: writes it
# acknowledged in protocol C (so its Secondary wrote them too) but never
# flushed. Its Secondary holds every one of them. When the old Primary
# restarts over what survived, both name the same generation and the old
# Primary crashed: its activity-log extents must be resynced from the
# Secondary, not over it, or the acknowledged writes are lost from both.
# alice's disk is a device with a volatile write cache (faultlib: nbdkit
# cache=writeback, killed); alice takes 4 KiB writes at depth 16 without
# any FLUSH (ackcheck writer); alice is killed and her device loses
# power. Three rounds:
#  1. bob stays up (he knows he holds them: in memory);
#  2. bob records it (a flush, then MDF_HOLDS_ACKED) and his daemon is
#     killed and started again before alice returns (before: the restart
#     forgot it and alice's extents rolled bob back);
#  3. both daemons die while connected (bob is stopped first, so alice
#     acknowledges nothing more, then both are killed) before bob could
#     flush and record it; bob starts again in the same boot, then alice.
#     bob's record made while connected (MDF_HOLDS_ACKED_BOOT, this
#     boot's caches) counts after his start-up flush, and his log says
#     so (before: he came back without any record and alice's extents
#     rolled him back).
# Each round: once alice is back and the resync reports success, both
# data areas must be identical and hold every write alice acknowledged.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/netlib.sh"
. "$(dirname "$0")/faultlib.sh"
bt_init 220

fault_require
SIZE=$((32 * M))
REGION=$((16 * M))
NET_LOOPBACK=1
net_init

# round N: 1 bob stays up, 2 bob restarts before alice returns.
round() {
	fault_primary_writeback
	sync "$(fault_link alicedisk)" 2>/dev/null
	net_ck_init 0 "$REGION"
	NET_CK_DIR=$BT_TMP/ck$1
	mkdir -p "$NET_CK_DIR"

	net_ck_writer alice 4096 16 0 1 30
	net_ck_wait_acks 2000 30
	mark=$(net_log_lines bob)
	if [ "$1" = 3 ]; then
		kill -STOP "${BT_PIDS[bob]}" || bt_fail "could not stop bob"
		bt_daemon_kill9 alice
		bt_daemon_kill9 bob
	else
		bt_daemon_kill9 alice
	fi
	fault_power_cut alicedisk
	net_ck_stop
	if [ "$1" = 3 ]; then
		net_start bob
		pair_wait bob 10 "bob up again, alice away" 'p["connection"] != "Connected"'
	else
		pair_wait bob 10 "peer lost" 'p["connection"] != "Connected"'
	fi
	if [ "$1" = 2 ]; then
		net_wait_log bob 'holds every write the Primary acknowledged, now flushed' 10 "$mark"
		bt_daemon_kill9 bob
		net_start bob
	fi
	fault_power_restore alicedisk >/dev/null
	net_start alice
	fault_resynced_check alice "$NET_CK_DIR" "$REGION" \
		"after alice's power loss and the resync (round $1)"
	ROUND_RESULT[$1]=$(head -n 1 "$BT_TMP/bob.check")
	[ "$1" = 3 ] && net_wait_log bob 'held every write the Primary acknowledged when the daemon stopped, in this boot' 10 "$mark"
	fault_detach alicedisk
	rm -f "$(fault_backing alicedisk)"
}
declare -A ROUND_RESULT
round 1
round 2
round 3
bt_pass "the crashed Primary's extents came back from its Secondary, also after his restart, also after both daemons died: ${ROUND_RESULT[1]}; ${ROUND_RESULT[2]}; ${ROUND_RESULT[3]}"
