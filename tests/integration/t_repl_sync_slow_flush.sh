#!/bin/bash
# A Secondary slow to complete a flushing barrier does not stall a client
# that never flushes. The Primary sends a flushing barrier of its own
# while writes the Secondary acknowledged are unflushed there
# (writepath_tick), and the Secondary holds every later write back until
# the barrier is done: once a second, with a disk whose flush takes half a
# second under load, that cost a replicated stream of large writes half
# its throughput. The interval now grows to ten times what the last
# flushing barrier took (30 s at most). Protocol C; bob's disk is
# pausable and logs its requests. With bob's disk paused, a client writes
# a block and flushes without waiting for the write: the flushing barrier
# waits at bob behind the write; 3 s later bob's disk resumes. Then 6 s of
# writes without a flush must bring bob's disk no flush at all (before:
# one a second).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/resynclib.sh"
. "$(dirname "$0")/pauselib.sh"
bt_init 90

PD_LOG=1
pd_pair_bob_pausable C $((64 * M))

pd_pause bob
/usr/bin/python3 - "$(pair_uri alice)" <<'PY' >"$BT_TMP/client.out" 2>&1 &
import nbd, sys
h = nbd.NBD()
h.connect_uri(sys.argv[1])
cookies = {h.aio_pwrite(b"1" * 4096, 0), h.aio_flush()}
while True:
    cookies = {c for c in cookies if not h.aio_command_completed(c)}
    if not cookies:
        break
    h.poll(-1)
h.shutdown()
print("done")
PY
client=$!
bt_on_exit "bt_kill_pid $client"
pair_wait bob 10 "the write received" 'p["data_received_bytes"] >= 4096'
# bob's disk stays paused 3 s: the barrier's round trip.
end=$((SECONDS + 3))
while [ "$SECONDS" -lt "$end" ]; do sleep 0.2; done
pd_resume bob
wait "$client" || bt_fail "the write and flush through alice failed: $(cat "$BT_TMP/client.out")"
pair_wait alice 10 "bob's flush acknowledged" 'p["lag"]["flush_lag_bytes"] == 0'

before=$(pd_count bob Flush)
timeout 30 /usr/bin/python3 - "$(pair_uri alice)" <<'PY' || bt_fail "the writes through alice failed"
import nbd, sys, time
h = nbd.NBD()
h.connect_uri(sys.argv[1])
end = time.monotonic() + 6
i = 0
while time.monotonic() < end:
    h.pwrite(bytes([i % 251 + 1]) * 4096, (i % 4096) * 4096)
    i += 1
h.shutdown()
PY
flushes=$(($(pd_count bob Flush) - before))
bt_log "bob's disk got $flushes flushes during 6 s of writes"
[ "$flushes" -eq 0 ] ||
	bt_fail "bob's disk got $flushes flushes in 6 s of writes that never flushed, after a flushing barrier of 3 s (want none: the next is due 30 s after it)"
bt_daemon_stop bob
bt_daemon_stop alice
bt_pass "after a flushing barrier of 3 s, 6 s of writes brought bob's disk no flush"
