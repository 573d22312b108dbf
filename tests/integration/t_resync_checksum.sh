#!/bin/bash
# Checksum-based resync (resync-checksum = yes) sends only checksums for
# blocks the target already holds: on a synced 256 MiB pair alice
# (Primary) disconnects, bob is stopped, and the same 16384 seeded 4 KiB
# blocks (64 MiB) are written through alice's NBD export and straight into
# bob's image at the same offsets. Bob restarts, alice connects: the
# bitmap says 64 MiB differ, but alice's resync_sent_bytes must grow by
# less than 1 MiB while her resync_same_bytes grows by 64 MiB (bob counts
# the same), and both data areas end byte-identical. A second round writes
# different data at the same offsets on each side: then the checksums
# differ and all 64 MiB must cross as data.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/resynclib.sh"
bt_init 120

SIZE=$((256 * M))
NBLOCKS=16384
CHANGED=$((NBLOCKS * 4096))

pair_setup C "$SIZE"
rl_conf_set resync-checksum yes
pair_start alice
pair_start bob
pair_wait_connected 20
pair_promote_first alice 60
data=$(rl_size alice)

# round SEED_ALICE SEED_BOB: disconnect, write the plan with SEED_ALICE
# through alice and with SEED_BOB (same offsets; see rl_write_blocks) into
# stopped bob's image, reconnect and wait for the resync; sets SENT, SAME,
# SAME_BOB (counter growth).
round() {
	local sent0 same0 oos
	sent0=$(rl_num alice peer.resync_sent_bytes)
	same0=$(rl_num alice peer.resync_same_bytes)
	pair_ok alice disconnect
	pair_wait alice 10 "StandAlone" 'p["connection"] == "StandAlone"'
	bt_daemon_stop bob
	rl_write_blocks "$(pair_uri alice)" "$NBLOCKS" "$1" 0 "$data"
	rl_write_blocks "$(pair_img bob)" "$NBLOCKS" "$2" 0 "$data"
	oos=$(rl_num alice peer.out_of_sync_bytes)
	bt_expect_eq "$oos" "$CHANGED" "alice's out_of_sync_bytes after writing $NBLOCKS blocks while disconnected"
	pair_start bob
	rl_log_mark alice
	pair_ok alice connect
	pair_wait_synced alice 60
	rl_expect_log alice 'sync decision: source-bitmap \(rule self-bitmap-is-peer-current' \
		"bitmap resync decision"
	SENT=$(($(rl_num alice peer.resync_sent_bytes) - sent0))
	SAME=$(($(rl_num alice peer.resync_same_bytes) - same0))
	# bob's counters started over with his restart.
	SAME_BOB=$(rl_num bob peer.resync_same_bytes)
}

round 202 202
[ "$SENT" -lt "$M" ] ||
	bt_fail "identical blocks: alice's resync_sent_bytes grew by $SENT (>= 1 MiB) although bob held the same data"
bt_expect_eq "$SAME" "$CHANGED" "identical blocks: alice's resync_same_bytes growth"
bt_expect_eq "$SAME_BOB" "$CHANGED" "identical blocks: bob's resync_same_bytes"
rl_expect_identical "after the checksum resync of identical blocks"
same_sent=$SENT

round 303 303/304
rl_in_range "$SENT" "$CHANGED" $((80 * M)) ||
	bt_fail "different blocks: alice's resync_sent_bytes grew by $SENT, expected 64..80 MiB"
bt_expect_eq "$SAME" 0 "different blocks: alice's resync_same_bytes growth"
rl_expect_identical "after the checksum resync of different blocks"
bt_pass "identical 64 MiB: $same_sent bytes sent, 64 MiB matched by checksum; different 64 MiB: $((SENT / M)) MiB sent"
