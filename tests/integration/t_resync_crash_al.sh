#!/bin/bash
# After a Primary crash only its activity-log extents are resynced, never
# the whole disk. A synced 512 MiB pair with al-extents = 16; two rounds:
#  1. fio writes 4 KiB random blocks (queue depth 32) into the first
#     32 MiB (8 extents of 4 MiB) of alice's export;
#  2. the same over the first 256 MiB (64 extents: the log of 16 keeps
#     evicting extents under load).
# Each time alice (Primary) is killed with SIGKILL once fio has written
# 8 MiB; bob stays Secondary, nobody is promoted. Restarted, alice must
# come back Secondary, log that it crashed as Primary with at most
# min(extents touched, 16) activity log extents marked and 0 < out of
# sync <= that many extents, reconnect with the bitmap decision that makes
# bob, who stayed up in sync with her in protocol C and so holds every
# write she acknowledged, the source of her extents
# (equal-current-self-crashed-primary-peer-holds-acked), and the resync
# must move (data, holes and checksum matches together) no more than the
# marked bound + 4 MiB, before both are Secondary/UpToDate with
# byte-identical data areas (so no write that reached only alice's disk
# hid in an extent the log had already dropped: the bitmap exchange
# brings her extents' bits to bob).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/resynclib.sh"
bt_init 120

fio --enghelp 2>&1 | grep -qw nbd || bt_skip "fio has no nbd engine"

SIZE=$((512 * M))
AL_EXTENTS=16
EXTENT=$((4 * M))

# crash_round N REGION: the load over the first REGION bytes, the kill,
# the restart and the checks. Sets EXTENTS and MOVED.
crash_round() {
	local n=$1 region=$2 bound written0 at_start sent zero same moved0
	bound=$region
	[ "$bound" -gt $((AL_EXTENTS * EXTENT)) ] && bound=$((AL_EXTENTS * EXTENT))
	printf '%s\n' '[global]' ioengine=nbd "uri=$(pair_uri alice)" rw=randwrite \
		bs=4k iodepth=32 offset=0 "size=$region" time_based=1 runtime=60 \
		randrepeat=0 "randseed=$((4240 + n))" '[load]' >"$BT_TMP/load$n.fio"
	written0=$(rl_num alice written_bytes)
	moved0=$(($(rl_num bob peer.resync_sent_bytes) + $(rl_num bob peer.resync_zero_bytes) + $(rl_num bob peer.resync_same_bytes)))
	fio "$BT_TMP/load$n.fio" >"$BT_TMP/fio$n.out" 2>&1 &
	FIO_PID=$!
	bt_on_exit "bt_kill_pid $FIO_PID"
	pair_wait alice 30 "8 MiB written by fio" "s['written_bytes'] >= $written0 + 8 * 1048576"
	bt_daemon_kill9 alice
	bt_wait_exit "$FIO_PID" 20 || bt_fail "round $n: fio did not end after alice was killed"
	wait "$FIO_PID" 2>/dev/null

	pair_wait bob 10 "peer loss noticed" 'p["connection"] != "Connected"'
	bt_expect_eq "$(pair_get bob role)" Secondary "round $n: bob's role after alice died"
	bt_expect_eq "$(pair_get bob disk)" UpToDate "round $n: bob's disk after alice died"

	rl_log_mark alice
	pair_start alice
	bt_expect_eq "$(pair_get alice role)" Secondary "round $n: alice's role after the restart"
	rl_expect_log alice 'did not shut down cleanly: [0-9]+ activity log extents marked' \
		"round $n: crashed-Primary notice at start"
	EXTENTS=$(rl_log_since alice | sed -nE 's/.*did not shut down cleanly: ([0-9]+) activity log extents.*/\1/p' | tail -n 1)
	at_start=$(rl_log_since alice | sed -nE 's/.*metadata: .* ([0-9]+) bytes out of sync.*/\1/p' | tail -n 1)
	[ -n "$at_start" ] || bt_fail "round $n: alice logged no 'metadata: ... bytes out of sync' line at start"
	rl_in_range "$EXTENTS" 1 $((bound / EXTENT)) ||
		bt_fail "round $n: alice marked $EXTENTS activity log extents; expected 1..$((bound / EXTENT))"
	rl_in_range "$at_start" 1 "$bound" ||
		bt_fail "round $n: alice started with $at_start bytes out of sync, expected 1..$bound"

	rl_wait_secondaries_synced 60
	rl_expect_log alice 'sync decision: target-bitmap \(rule equal-current-self-crashed-primary-peer-holds-acked' \
		"round $n: the crashed Primary's extents come from bob, in sync with her in protocol C"
	sent=$(rl_num bob peer.resync_sent_bytes)
	zero=$(rl_num bob peer.resync_zero_bytes)
	same=$(rl_num bob peer.resync_same_bytes)
	MOVED=$((sent + zero + same - moved0))
	rl_in_range "$MOVED" 1 $((bound + EXTENT)) ||
		bt_fail "round $n: resync moved $MOVED bytes (sent $sent, holes $zero, same $same); expected 1..$((bound + EXTENT)) of a $((SIZE / M)) MiB disk"
	rl_expect_identical "round $n: after the post-crash resync"
}

pair_setup C "$SIZE"
rl_conf_set al-extents "$AL_EXTENTS"
pair_start alice
pair_start bob
pair_wait_connected 20
pair_promote_first alice 60

crash_round 1 $((32 * M))
r1="$EXTENTS extents/$((MOVED / M)) MiB"
# alice is UpToDate and in sync: promoted again without --force.
pair_ok alice primary
pair_wait_synced alice 20
crash_round 2 $((256 * M))
bt_pass "32 MiB load: $r1 resynced; 256 MiB load: $EXTENTS extents/$((MOVED / M)) MiB resynced"
