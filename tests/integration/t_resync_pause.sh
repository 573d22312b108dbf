#!/bin/bash
# pause-sync and resume-sync, from either side: a fresh 256 MiB pair whose
# alice holds 64 MiB of seeded random data is force-promoted, and the
# full sync runs at resync-rate-max-mib = 4 (holes cost nothing, so the
# sync lasts about 16 s: every pause below lands on a running resync
# however slowly the test itself runs, e.g. under ASan; at 20 the whole
# sync took about 3 s and a slow run paused one that had finished, "no
# resync is running"). Once it has made progress,
# `pause-sync` on alice (the source) must turn the replication state into
# PausedSyncS on alice and PausedSyncT on bob, and over about a second
# alice's out_of_sync_bytes and bob's resync_received_bytes must not move
# (> 0 left). `resume-sync` on alice resumes it (SyncSource/SyncTarget,
# progress again). Then the same with pause-sync/resume-sync on bob (the
# target), then up to 20 quick pause/resume cycles alternating between
# the two, each started only while at least 8 MiB (2 s) of data are left
# to sync (at least 5 must fit). The sync must then finish and both data
# areas be identical.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/resynclib.sh"
bt_init 90

SIZE=$((256 * M))

pair_setup C "$SIZE"
rl_conf_set resync-rate-max-mib 4
rl_fill "$(pair_img alice)" $((64 * M)) 6
pair_start alice
pair_start bob
pair_wait_connected 20
data=$(rl_size alice)

# expect_paused WHO: both sides show the paused states, and nothing moves
# for about a second (after a moment for chunks already in flight). Sets
# PAUSED_OOS.
expect_paused() {
	pair_wait alice 10 "PausedSyncS after pause-sync on $1" 'p["replication"] == "PausedSyncS"'
	pair_wait bob 10 "PausedSyncT after pause-sync on $1" 'p["replication"] == "PausedSyncT"'
	PAUSED_OOS=$(/usr/bin/python3 - "$BLOCKCTL" "$PAIR_CONF" <<'EOF'
import json, subprocess, sys, time
ctl, conf = sys.argv[1:]
def st(node):
    r = subprocess.run([ctl, "-c", conf, "-n", node, "status", "--json"],
                       capture_output=True, text=True, timeout=5)
    return json.loads(r.stdout)["peer"]
time.sleep(0.3)
seen = []
for _ in range(5):
    a, b = st("alice"), st("bob")
    seen.append((a["replication"], b["replication"], a["out_of_sync_bytes"],
                 b["resync_received_bytes"]))
    time.sleep(0.25)
if len(set(seen)) != 1 or seen[0][2] == 0:
    sys.exit(print(f"samples (alice repl, bob repl, alice oos, bob received): {seen}") or 1)
print(seen[0][2])
EOF
) || bt_fail "paused by $1, but: $PAUSED_OOS"
}

# expect_progress WHO: SyncSource/SyncTarget again and at least 1 MiB
# more in sync than while paused.
expect_progress() {
	pair_wait alice 10 "SyncSource after resume-sync on $1" \
		"p['replication'] == 'SyncSource' and p['out_of_sync_bytes'] <= $PAUSED_OOS - 1048576 or p['replication'] == 'Established'"
	pair_wait bob 10 "SyncTarget after resume-sync on $1" \
		'p["replication"] in ("SyncTarget", "Established")'
}

pair_ok alice primary --force
pair_wait alice 20 "full sync under way" \
	"p['replication'] == 'SyncSource' and 0 < p['out_of_sync_bytes'] <= $data - 2 * 1048576"
pair_ok alice pause-sync
expect_paused alice
p1=$PAUSED_OOS
pair_ok alice resume-sync
expect_progress alice

pair_ok bob pause-sync
expect_paused bob
p2=$PAUSED_OOS
[ "$p2" -lt "$p1" ] || bt_fail "no progress between the two pauses ($p1 then $p2 bytes out of sync)"
pair_ok bob resume-sync
expect_progress bob

# Quick pause/resume cycles from both sides: a pause that lands while
# resync reads or acknowledgements are in flight must not lose those
# chunks (the sync would stall short of the end). Every pause must find
# the resync running, however slowly this test runs: a cycle starts only
# while 8 MiB of the data (at the start of the disk; the holes after it
# are free) are left, 2 s at the rate limit.
cycles=0
for i in $(seq 1 20); do
	[ "$(rl_num alice peer.out_of_sync_bytes)" -gt $((data - 56 * M)) ] || break
	n=alice
	[ $((i % 2)) = 0 ] && n=bob
	pair_ok "$n" pause-sync
	pair_ok "$n" resume-sync
	cycles=$i
done
[ "$cycles" -ge 5 ] ||
	bt_fail "only $cycles pause/resume cycles fit before the last 8 MiB of the resync"
pair_wait_synced alice 45
rl_expect_identical "after the paused and resumed sync"
bt_pass "paused at $((p1 / M)) and $((p2 / M)) MiB out of sync, $cycles quick cycles, resumed, finished"
