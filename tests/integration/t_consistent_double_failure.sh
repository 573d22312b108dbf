#!/bin/bash
# A node that comes back without its peer is Consistent, not UpToDate
# (protocol C, loopback). The double failure: a client writes 4 KiB blocks
# to alice (Primary), each acknowledged write logged by name; bob
# (Secondary) is killed; alice goes on writing (bob misses all of it), then
# alice is killed too. Asserts:
#  - bob, restarted alone, shows disk Consistent in status --json, and a
#    plain `primary` is refused naming Consistent, waiting for the peer and
#    --force;
#  - once alice is back, the handshake makes alice the source (she has the
#    newer generation) and bob her SyncTarget; both end UpToDate,
#    Established, nothing out of sync;
#  - every write the client was told was written is on alice (promoted
#    without --force) and the two data areas are byte-identical.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/netlib.sh"
bt_init 150

SIZE=$((64 * M))
NET_LOOPBACK=1
net_init
net_pair_setup C "$SIZE"
net_start alice
net_start bob
pair_wait_connected 20
pair_promote_first alice 30

LOG=$BT_TMP/acked.log
net_acked_writer "$(pair_uri alice)" 0 $((32 * M)) "$LOG" dbl
net_wait_written alice $((4 * M)) "$NET_WRITER_PID" 30
bt_daemon_kill9 bob
pair_wait alice 10 "bob gone" 'p["connection"] != "Connected"'
w=$(pair_get alice written_bytes)
net_wait_written alice $((w + 8 * M)) "$NET_WRITER_PID" 30
bt_daemon_kill9 alice
bt_kill_pid "$NET_WRITER_PID"
acked=$(wc -l <"$LOG")
[ "$acked" -gt 0 ] || bt_fail "the writer logged no acknowledged write"

net_start bob
bt_expect_eq "$(pair_get bob disk)" Consistent "bob's disk, restarted without alice"
bt_expect_eq "$(pair_get bob role)" Secondary "bob's role"
pair_refused bob 1 'Consistent.*(peer|connect).*--force' primary
bt_expect_eq "$(pair_get bob role)" Secondary "bob's role after the refused promotion"

net_start alice
pair_wait bob 60 "bob resynced from alice" \
	's["disk"] == "UpToDate" and p["disk"] == "UpToDate" and p["replication"] == "Established" and p["out_of_sync_bytes"] == 0'
pair_wait alice 20 "alice UpToDate and in sync" \
	's["disk"] == "UpToDate" and p["disk"] == "UpToDate" and p["replication"] == "Established"'
net_log_has bob 'sync decision: target-' ||
	bt_fail "bob was not the sync target: $(grep 'sync decision' "$BT_TMP/bob.log" | tail -1)"
net_log_has alice 'sync decision: source-' ||
	bt_fail "alice was not the sync source: $(grep 'sync decision' "$BT_TMP/alice.log" | tail -1)"

pair_ok alice primary
net_acked_check "$(pair_uri alice)" "$LOG" dbl "after the double failure"
diff=$(pair_diff_blocks "$(pair_get alice size_bytes)")
[ -z "$diff" ] || bt_fail "data areas differ after the resync in blocks: $(echo $diff | cut -c1-200)"
bt_pass "bob refused alone as Consistent; $NET_ACKED acknowledged writes on alice and bob after the resync"
