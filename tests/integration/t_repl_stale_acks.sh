#!/bin/bash
# Acknowledgements of an old connection never go out on a new one. bob's
# disk is paused (pauselib) while alice (protocol C) has 32 writes in
# flight: bob holds them as disk writes that cannot finish. alice
# disconnects and reconnects at once (her writes complete locally and are
# marked out of sync; the reconnect starts a bitmap resync to bob). Then
# bob's disk resumes and his old writes complete: their WRITE_ACKs belong
# to the dead connection and must not reach alice on the new one (alice
# knows none of those ids and would drop the link). The new connection
# must stay up, the resync finish, and both data areas be identical.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/resynclib.sh"
. "$(dirname "$0")/pauselib.sh"
bt_init 60

SIZE=$((64 * M))
pd_pair_bob_pausable C "$SIZE"

pd_pause bob
/usr/bin/python3 - "$(pair_uri alice)" >"$BT_TMP/client.out" 2>&1 <<'PY' &
import nbd, sys
h = nbd.NBD()
h.connect_uri(sys.argv[1])
cookies = {h.aio_pwrite(bytes([i + 1]) * 4096, i * 65536) for i in range(32)}
while cookies:
    h.poll(-1)
    cookies = {c for c in cookies if not h.aio_command_completed(c)}
h.shutdown()
print("done")
PY
client=$!
bt_on_exit "bt_kill_pid $client"
pair_wait bob 10 "32 writes received" 'p["data_received_bytes"] >= 32 * 4096'
rl_log_mark alice
rl_log_mark bob
pair_ok alice disconnect
pair_wait alice 10 "StandAlone" 'p["connection"] == "StandAlone"'
wait "$client" || bt_fail "the client on alice failed: $(cat "$BT_TMP/client.out")"
pair_ok alice connect
pair_wait alice 10 "reconnected" 'p["connection"] == "Connected" and p["replication"] == "SyncSource"'
pd_resume bob
pair_wait_synced alice 30
for n in alice bob; do
	[ "$(rl_log_since "$n" | grep -c 'connection lost')" = 1 ] ||
		bt_fail "$n: the new connection dropped: $(rl_log_since "$n" | grep -E 'connection lost' | tr '\n' '|')"
done
rl_expect_identical "after the reconnect"
# A clean stop: exit status 0 and no sanitizer report.
bt_daemon_stop bob
bt_daemon_stop alice
bt_pass "old WRITE_ACKs kept off the new connection"
