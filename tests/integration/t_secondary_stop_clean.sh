#!/bin/bash
# A Secondary stopped cleanly (SIGTERM) leaves nothing to resync
# (protocol C, loopback, 64 MiB). alice, the Primary, writes 512 random
# 4 KiB blocks over the whole data area without a flush, and bob is sent
# SIGTERM right after the last one is acknowledged (well inside the
# second after which alice would flush bob on her own). bob applies what
# he received, flushes his disk and tells alice so before he leaves: alice
# must then count nothing out of sync for him (before, every 4 MiB extent
# written since the last flush was marked: bob's cache might have lost
# them, 64 MiB here). When bob starts again the pair connects without a
# resync, and both data areas are identical.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
bt_init 120

M=$((1024 * 1024))
SIZE=$((64 * M))

pair_setup C "$SIZE"
pair_start alice
pair_start bob
pair_wait_connected 20
pair_promote_first alice 60

/usr/bin/python3 - "$(pair_uri alice)" "${BT_PIDS[bob]}" <<'EOF' ||
import os, random, signal, sys
import nbd
uri, bob = sys.argv[1], int(sys.argv[2])
h = nbd.NBD()
h.connect_uri(uri)
size = h.get_size()
rng = random.Random(21)
for i in range(512):
    off = rng.randrange(size // 4096) * 4096
    h.pwrite(bytes([i % 251 + 1]) * 4096, off)
os.kill(bob, signal.SIGTERM)
h.shutdown()
EOF
	bt_fail "the writes through alice failed"
bt_daemon_reap bob "$BT_STOP_S" 0
pair_wait alice 20 "bob gone" 'p["connection"] != "Connected"'
oos=$(pair_get alice peer.out_of_sync_bytes)
[ "$oos" = 0 ] || bt_fail "alice counts $oos bytes out of sync for bob after his clean stop (expected 0)"
grep -q "flushed everything it acknowledged" "$BT_TMP/alice.log" ||
	bt_fail "alice's log does not say bob flushed before he left"

pair_start bob
pair_wait_synced alice 30
grep -Eq "sync decision: (none|no-sync)" "$BT_TMP/bob.log" ||
	bt_fail "bob's decision at the reconnect: $(grep 'sync decision' "$BT_TMP/bob.log" | tail -1)"
diff=$(pair_diff_blocks "$(pair_get alice size_bytes)")
[ -z "$diff" ] || bt_fail "data areas differ: $(echo $diff | cut -c1-120)"
bt_pass "a clean stop of bob left 0 bytes out of sync; he reconnected without a resync"
