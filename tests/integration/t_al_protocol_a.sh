#!/bin/bash
# In protocol A a write is acknowledged when its frame is handed to the
# socket, before the peer has it: its activity log extents must stay in
# the log until the peer acknowledges it (or the loss of the peer marks it
# out of sync), or a Primary crash loses it. alice (Primary, protocol A,
# al-extents = 7, namespaces) has her outgoing packets held (tc tbf at
# 8 kbit/s) and then writes one 4 KiB block into each of 12 extents, one
# after the other. Before the fix each extent left the log at the reply,
# was evicted by the next ones, and after alice was killed and restarted
# only the last 7 were resynced. Asserts: alice, restarted, is the sync
# source of her activity log extents, and after that resync the two data
# areas are byte-identical and hold every write alice acknowledged.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/netlib.sh"
bt_init 150

SIZE=$((128 * M))
net_init
# The loss of the peer must not be noticed before the crash: that would
# mark the writes out of sync by itself.
net_pair_setup A "$SIZE" 'al-extents = 7' 'ping-timeout-ms = 30000'
net_start alice
net_start bob
pair_wait_connected 20
pair_promote_first alice 60

net_stall alice || bt_skip "tc cannot hold alice's packets here"
ACKED=$BT_TMP/acked
# One block per extent, QD1; a write that gets no reply in 3 s is left
# pending (it waits for the activity log: that is the fix at work).
timeout 120 /usr/bin/python3 - "$(pair_uri alice)" "$ACKED" <<'PY' &
import nbd, sys, time
h = nbd.NBD()
h.connect_uri(sys.argv[1])
out = open(sys.argv[2], "w", buffering=1)
for i in range(12):
    off = i * (4 << 20) + 8192
    c = h.aio_pwrite(bytes([0x40 + i]) * 4096, off)
    end = time.monotonic() + 3
    while not h.aio_command_completed(c):
        if time.monotonic() > end:
            sys.exit(0)
        h.poll(100)
    out.write(f"{off} {0x40 + i}\n")
PY
WRITER=$!
bt_on_exit "bt_kill_pid $WRITER"
end=$((SECONDS + 60))
until [ "$(wc -l <"$ACKED" 2>/dev/null || echo 0)" -ge 7 ]; do
	[ "$SECONDS" -ge "$end" ] && bt_fail "alice acknowledged only $(wc -l <"$ACKED") writes"
	bt_pid_running "$WRITER" || [ "$(wc -l <"$ACKED")" -ge 7 ] || bt_fail "the writer ended early"
	sleep 0.1
done
# Every write the activity log lets through is acknowledged at once (it
# only has to reach the socket); give the rest 3 s (the writer's own wait).
until ! bt_pid_running "$WRITER" || [ "$(wc -l <"$ACKED")" -ge 12 ]; do
	[ "$SECONDS" -ge "$end" ] && break
	sleep 0.1
done
acked=$(wc -l <"$ACKED")
bt_daemon_kill9 alice
bt_kill_pid "$WRITER"
net_cut
net_heal
before=$(wc -l <"$BT_TMP/alice.log")
net_start alice
# Wait on the restarted alice: bob may still show the old connection as
# up (the cut dropped its end's FIN), which a wait on bob took for done.
net_wait_log alice 'sync decision: ' 60 "$before"
tail -n +"$((before + 1))" "$BT_TMP/alice.log" |
	grep -Eq 'sync decision: source-bitmap \(rule equal-current-self-crashed-primary' ||
	bt_fail "alice was not the source: $(grep 'sync decision' "$BT_TMP/alice.log" | tail -1)"
pair_wait alice 60 "bob resynced from alice" \
	's["disk"] == "UpToDate" and p["disk"] == "UpToDate" and p["replication"] == "Established" and p["out_of_sync_bytes"] == 0'
pair_wait bob 30 "bob synced by the new alice" \
	's["disk"] == "UpToDate" and p["replication"] == "Established"'
size=$(pair_get alice size_bytes)
diff=$(pair_diff_blocks "$size")
[ -z "$diff" ] || bt_fail "data areas differ after the crash resync in blocks: $(echo $diff | cut -c1-200) ($acked writes acknowledged)"
while read -r off b; do
	got=$(dd if="$(pair_img bob)" bs=4096 skip=$((off / 4096)) count=1 2>/dev/null | od -An -tu1 -N1 | tr -d ' ')
	[ "$got" = "$b" ] || bt_fail "acknowledged write at $off ($b) is not on bob ($got)"
done <"$ACKED"
bt_pass "$acked acknowledged protocol A writes across $acked extents all resynced after the Primary crash"
