#!/bin/bash
# fence-peer outcomes that must NOT resume I/O, under resource-and-stonith,
# protocol C, with the link between two network namespaces cut:
#  1. the hook exits 1: alice stays frozen (io_frozen true, a reason) well
#     after the hook ended; a write issued while frozen is held (neither
#     completed nor failed) while a read is served; `blockctl resume-io`
#     exits 0, io_frozen goes false and the held write completes.
#  2. the hook exits 6 (outdate myself), but only once the link has healed
#     and alice has reconnected (the test holds the hook until then): the
#     reconnection resumes I/O and the late result is ignored: once alice
#     has handled it she is still Primary, UpToDate, not frozen, and a
#     write completes.
#  3. (pair restarted with hook-timeout-ms = 1500) the hook sleeps 4 s and
#     would then exit 7: it is killed at the timeout (its end is never
#     recorded) and alice stays frozen past the moment the hook would have
#     exited 7; resume-io resumes a held write.
# Between the cases bob is resynced (both UpToDate again).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/netlib.sh"
bt_init 150

SIZE=$((32 * M))
URI=$(pair_uri alice)

net_init
net_hook_install
net_pair_setup C "$SIZE" 'fencing = resource-and-stonith' \
	"fence-peer = $NET_HOOK" 'hook-timeout-ms = 20000'
net_start alice
net_start bob
pair_wait_connected 20
pair_promote_first alice 30

# writer NAME OFFSET: a 4 KiB NBD write in the background (fill byte from
# the offset); WRITER_PID is its PID, $BT_TMP/NAME.rc its exit status.
writer() {
	rm -f "$BT_TMP/$1.rc"
	(
		nbdsh -u "$URI" -c "h.pwrite(bytes([($2 >> 12) & 0xff]) * 4096, $2)" \
			>"$BT_TMP/$1.out" 2>&1
		# Whole or not at all: writer_done polls for the file.
		echo $? >"$BT_TMP/$1.rc.tmp" && mv "$BT_TMP/$1.rc.tmp" "$BT_TMP/$1.rc"
	) &
	WRITER_PID=$!
	bt_on_exit "bt_kill_pid $WRITER_PID"
}

# writer_held NAME: the write has neither completed nor failed.
writer_held() {
	[ -f "$BT_TMP/$1.rc" ] &&
		bt_fail "$1: a write issued while frozen ended (status $(cat "$BT_TMP/$1.rc")): $(head -3 "$BT_TMP/$1.out")"
	return 0
}

# writer_done NAME DEADLINE_S: the write completed successfully.
writer_done() {
	local end=$((SECONDS + $2))
	until [ -f "$BT_TMP/$1.rc" ]; do
		[ "$SECONDS" -ge "$end" ] && bt_fail "$1: held write not completed within ${2}s of the resume"
		sleep 0.05
	done
	bt_expect_eq "$(cat "$BT_TMP/$1.rc")" 0 "$1: status of the held write ($(head -3 "$BT_TMP/$1.out"))"
}

# read_ok: a read over NBD is served within 5 s.
read_ok() {
	timeout 5 /usr/bin/python3 -m nbd -u "$URI" -c 'assert len(h.pread(4096, 1 << 20)) == 4096' ||
		bt_fail "a read was not served while I/O was frozen"
}

# resync_bob: heal and wait until both are UpToDate again.
resync_bob() {
	net_heal
	pair_wait_synced alice 30
}

# frozen_reason WHAT: REASON = alice's io_frozen_reason, which must be set.
frozen_reason() {
	REASON=$(pair_get alice io_frozen_reason)
	[ -n "$REASON" ] && [ "$REASON" != None ] ||
		bt_fail "$1: io_frozen true but io_frozen_reason is '$REASON'"
}

# 1. fence-peer fails (exit 1).
net_hook_set fence-peer rc 1
net_cut
pair_wait alice 5 "io_frozen after the cut" 's["io_frozen"] is True'
net_hook_wait end fence-peer 1 5
writer w1 $((1 * M))
read_ok
sleep 2
bt_expect_eq "$(pair_get alice io_frozen)" true "case 1: io_frozen 2s after fence-peer exited 1"
frozen_reason "case 1"
writer_held w1
bt_expect_eq "$(net_hook_count start fence-peer)" 1 "case 1: fence-peer calls"
pair_ok alice resume-io
bt_expect_eq "$(pair_get alice io_frozen)" false "case 1: io_frozen after resume-io"
bt_expect_eq "$(pair_get alice peer_outdated)" false "case 1: peer_outdated after a failed fence-peer"
writer_done w1 5
bt_log "case 1: frozen ($REASON) until resume-io"
resync_bob

# 2. fence-peer answers "the peer is Primary" (6) after the peer came back.
# The hook is held until the test has seen the reconnection (a sleep in
# the hook raced the reconnection on a slow machine).
net_hook_set fence-peer wait "$NET_HOOK_DIR/release-2"
net_hook_set fence-peer rc 6
net_cut
pair_wait alice 5 "io_frozen after the second cut" 's["io_frozen"] is True'
net_hook_wait start fence-peer 2 5
net_heal
pair_wait alice 10 "reconnected while fence-peer runs" \
	'p["connection"] == "Connected" and s["io_frozen"] is False'
mark=$(net_log_lines alice)
net_hook_release release-2
net_hook_wait end fence-peer 2 10
# alice handles the result (ignored, or wrongly applied) when it arrives.
net_wait_log alice 'fence-peer (result 6 ignored|: the peer is Primary)' 10 "$mark"
pair_wait alice 5 "Primary, UpToDate, not frozen after the late exit 6" \
	's["role"] == "Primary" and s["disk"] == "UpToDate" and s["io_frozen"] is False'
grep -q 'fence-peer result 6 ignored' "$BT_TMP/alice.log" ||
	bt_fail "case 2: alice did not log that the late fence-peer result was ignored"
writer w2 $((2 * M))
writer_done w2 5
pair_wait_synced alice 30

# 3. fence-peer hangs past hook-timeout-ms; it would exit 7 after 4 s. The
# pair restarts with hook-timeout-ms = 1500 (alice is promoted again: both
# are UpToDate and connected, so no --force).
bt_daemon_stop alice
bt_daemon_stop bob
sed -i 's/^hook-timeout-ms = .*/hook-timeout-ms = 1500/' "$PAIR_CONF"
net_start alice
net_start bob
pair_wait_connected 20
pair_ok alice primary
pair_wait_synced alice 30
net_hook_set fence-peer wait -
net_hook_set fence-peer sleep 4
net_hook_set fence-peer rc 7
net_cut
pair_wait alice 5 "io_frozen after the third cut" 's["io_frozen"] is True'
net_hook_wait start fence-peer 3 5
hook_t0=$SECONDS
writer w3 $((3 * M))
# Past the timeout and past the moment the hook would have exited 7.
sleep 5
bt_expect_eq "$(net_hook_count end fence-peer)" 2 "case 3: the timed-out hook was not killed (its end was recorded)"
bt_expect_eq "$(pair_get alice io_frozen)" true "case 3: io_frozen after fence-peer timed out"
frozen_reason "case 3"
bt_expect_eq "$(pair_get alice peer_outdated)" false "case 3: peer_outdated after a timed-out fence-peer"
writer_held w3
grep -q 'still running after its timeout' "$BT_TMP/alice.log" ||
	bt_fail "case 3: alice did not log the hook timeout"
pair_ok alice resume-io
bt_expect_eq "$(pair_get alice io_frozen)" false "case 3: io_frozen after resume-io"
writer_done w3 5
bt_log "case 3: frozen ($REASON) $((SECONDS - hook_t0))s after the hook started, until resume-io"
resync_bob

bt_expect_eq "$(net_hook_count start fence-peer)" 3 "fence-peer calls in all"
grep -q '^start fence-peer .*node=bob' "$NET_HOOK_LOG" && bt_fail "bob ran fence-peer as a Secondary"

bt_daemon_stop alice
bt_daemon_stop bob
bt_pass "exit 1 and a timeout keep I/O frozen until resume-io; a late exit 6 is ignored"
