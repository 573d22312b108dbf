#!/bin/bash
# A bitmap resync moves only what changed while the peer was away: on a
# synced 256 MiB pair, alice (Primary) disconnects and writes 16384
# distinct 4 KiB blocks (64 MiB, seeded random offsets) through her NBD
# export. Her out_of_sync_bytes must then be exactly 64 MiB and bob's 0.
# After `connect` the decision must be the bitmap rule
# (self-bitmap-is-peer-current on alice), alice becomes SyncSource, and
# when both are Established/UpToDate again alice's resync_sent_bytes must
# have grown by 64..80 MiB (not the whole disk), bob's resync_received_bytes
# by the same amount, and both data areas must be byte-identical.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/resynclib.sh"
bt_init 90

SIZE=$((256 * M))
NBLOCKS=16384
CHANGED=$((NBLOCKS * 4096))

pair_setup C "$SIZE"
pair_start alice
pair_start bob
pair_wait_connected 20
pair_promote_first alice 60
data=$(rl_size alice)

sent0=$(rl_num alice peer.resync_sent_bytes)
recv0=$(rl_num bob peer.resync_received_bytes)
pair_ok alice disconnect
pair_wait alice 10 "StandAlone" 'p["connection"] == "StandAlone"'
pair_wait bob 10 "peer lost" 'p["connection"] != "Connected"'

rl_write_blocks "$(pair_uri alice)" "$NBLOCKS" 101 0 "$data"
oos=$(rl_num alice peer.out_of_sync_bytes)
bt_expect_eq "$oos" "$CHANGED" "alice's out_of_sync_bytes after writing $NBLOCKS blocks while disconnected"
bt_expect_eq "$(rl_num bob peer.out_of_sync_bytes)" 0 "bob's out_of_sync_bytes (bob wrote nothing)"

rl_log_mark alice
pair_ok alice connect
pair_wait_synced alice 60
rl_expect_log alice 'sync decision: source-bitmap \(rule self-bitmap-is-peer-current' \
	"bitmap resync decision"

sent=$(($(rl_num alice peer.resync_sent_bytes) - sent0))
recv=$(($(rl_num bob peer.resync_received_bytes) - recv0))
rl_in_range "$sent" "$CHANGED" $((80 * M)) ||
	bt_fail "alice's resync_sent_bytes grew by $sent, expected 64..80 MiB ($CHANGED..$((80 * M)))"
bt_expect_eq "$recv" "$sent" "bob's resync_received_bytes growth vs alice's resync_sent_bytes growth"
rl_expect_identical "after the resync"
bt_pass "64 MiB out of sync, resync sent $((sent / M)) MiB of $((data / M)) MiB"
