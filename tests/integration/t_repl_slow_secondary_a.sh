#!/bin/bash
# Protocol A with a Secondary whose disk stalls: the Primary runs ahead
# (its transfer log holds up to 4096 unacknowledged writes, and each epoch
# adds a barrier), and the Secondary must push back through TCP rather
# than drop the link. bob's disk is paused (pauselib); a client on alice
# does 6000 4 KiB writes, each followed by a flush, 16 requests in flight.
# Once alice's transfer log is full the stall lasts three ping timeouts
# longer (the Secondary that stopped reading must not take its own
# silence for a dead peer); then bob's disk resumes. The client must
# finish, the link must never have dropped on either side, nothing may be
# left pending or out of sync, and both data areas must be identical.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/resynclib.sh"
. "$(dirname "$0")/pauselib.sh"
bt_init 90

SIZE=$((64 * M))
pd_pair_bob_pausable A "$SIZE"
rl_log_mark alice
rl_log_mark bob

pd_pause bob
/usr/bin/python3 - "$(pair_uri alice)" >"$BT_TMP/client.out" 2>&1 <<'PY' &
import nbd, sys
h = nbd.NBD()
h.connect_uri(sys.argv[1])
inflight, i, n = set(), 0, 6000
while i < n or inflight:
    while i < n and len(inflight) < 16:
        inflight.add(h.aio_pwrite(i.to_bytes(4, "big") * 1024, (i % 8192) * 4096))
        inflight.add(h.aio_flush())
        i += 1
    h.poll(-1)
    inflight = {c for c in inflight if not h.aio_command_completed(c)}
h.shutdown()
print("done")
PY
client=$!
bt_on_exit "bt_kill_pid $client"
pair_wait alice 30 "transfer log full (4096 writes bob has not acknowledged)" \
	'p["pending_writes"] >= 4096 or p["connection"] != "Connected"'
stalled_at=$SECONDS
while [ $((SECONDS - stalled_at)) -lt 3 ]; do sleep 0.1; done
pd_resume bob
wait "$client" || bt_fail "the client on alice failed: $(cat "$BT_TMP/client.out")"
pair_wait alice 30 "everything acknowledged" \
	'p["connection"] == "Connected" and p["pending_writes"] == 0 and p["out_of_sync_bytes"] == 0'
for n in bob alice; do
	rl_log_has "$n" 'connection lost' &&
		bt_fail "$n dropped the link: $(rl_log_since "$n" | grep -E 'connection lost|exceeded' | head -2 | tr '\n' '|')"
done
rl_expect_identical "after the stall"
# A clean stop: exit status 0 and no sanitizer report.
bt_daemon_stop bob
bt_daemon_stop alice
bt_pass "6000 writes + flushes over a stalled Secondary in protocol A, link kept"
