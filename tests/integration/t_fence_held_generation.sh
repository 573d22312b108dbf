#!/bin/bash
# Writes held under a freeze and released because the peer came back to
# sync from here start a new generation (sim seed 2784 --relapse: released
# with none, they were rolled back after the peer lost power before its
# own decision was durable and came back claiming every acknowledged
# write). fencing = resource-and-stonith, protocol C, two namespaces.
# alice's outgoing link stalls while 16 writes are in flight; the link is
# cut; alice freezes and runs fence-peer, which exits 1: the writes are
# held. The link heals and bob, who lacks them, syncs from alice.
# Asserts:
#  - the held writes are answered (without an error) only once bob is
#    back, and alice's current generation (status uuids[0]) is then a new
#    one (before: the one she had before the cut);
#  - bob is resynced: both UpToDate, the same current generation, and the
#    held writes on bob's disk.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/netlib.sh"
bt_init 120

SIZE=$((16 * M))
net_init
net_hook_install
net_pair_up C "$SIZE" 'fencing = resource-and-stonith' \
	"fence-peer = $NET_HOOK" 'hook-timeout-ms = 20000'

before=$(pair_get alice uuids.0)
net_hold_writes alice "$BT_TMP/writes.out"
writer=$NET_INFLIGHT_PID
pair_wait alice 2 "still frozen after fence-peer exit 1" 's["io_frozen"] is True'
kill -0 "$writer" 2>/dev/null ||
	bt_fail "the writes were answered while alice was frozen: $(cat "$BT_TMP/writes.out")"
[ "$(pair_get alice uuids.0)" = "$before" ] || bt_fail "alice started a generation while frozen"

net_heal
wait "$writer" || bt_fail "the held writes failed: $(cat "$BT_TMP/writes.out")"
after=$(pair_get alice uuids.0)
[ "$after" != "$before" ] ||
	bt_fail "alice released writes bob lacks without a new generation (current still $before)"

pair_wait alice 30 "bob resynced" \
	's["disk"] == "UpToDate" and p["disk"] == "UpToDate" and p["replication"] == "Established" and p["out_of_sync_bytes"] == 0'
pair_wait bob 10 "bob UpToDate" 's["disk"] == "UpToDate"'
[ "$(pair_get bob uuids.0)" = "$after" ] || bt_fail "bob's current generation $(pair_get bob uuids.0), alice's $after"
diff=$(pair_diff_blocks "$(pair_get alice size_bytes)")
[ -z "$diff" ] || bt_fail "data areas differ after bob's resync: $(echo $diff | cut -c1-120)"
got=$(dd if="$(pair_img bob)" bs=65536 skip=15 count=1 2>/dev/null | od -An -tx1 -N1 | tr -d ' ')
[ "$got" = a5 ] || bt_fail "the held writes are not on bob after the resync (byte $got)"
bt_pass "16 held writes released as bob came back started generation $after (was $before); bob resynced with them"
