#!/bin/bash
# Bitmap pages survive activity-log evictions and a Primary crash. A
# synced 512 MiB pair (4 bitmap pages of 128 MiB each) with the smallest
# activity log (al-extents = 7); alice (Primary) disconnects and writes
# 4 KiB blocks at seeded random offsets: first 1500 over the whole disk
# (every page changes), then 2000 in the first 128 MiB only (32 extents:
# nearly every write stages an extent and evicts another, whose bitmap
# page is written before the transaction that forgets it, while the other
# pages are being saved lazily: no write may use another's buffer). Then
# alice is killed with SIGKILL.
# Restarted, she must resync bob from her bitmap (rule source-bitmap) and
# both data areas must be byte-identical: every block written while
# disconnected reached bob, so no bitmap page was lost or overwritten
# with another page's bits.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/resynclib.sh"
bt_init 150

SIZE=$((512 * M))

pair_setup C "$SIZE"
rl_conf_set al-extents 7
pair_start alice
pair_start bob
pair_wait_connected 20
pair_promote_first alice 60
data=$(rl_size alice)

pair_ok alice disconnect
pair_wait alice 10 "StandAlone" 'p["connection"] == "StandAlone"'
rl_write_blocks "$(pair_uri alice)" 1500 301 0 "$data" "$BT_TMP/blocks1"
rl_write_blocks "$(pair_uri alice)" 2000 302 0 $((128 * M)) "$BT_TMP/blocks2"
written=$(rl_union_bytes "$BT_TMP"/blocks*)
oos=$(rl_num alice peer.out_of_sync_bytes)
bt_expect_eq "$oos" "$written" "alice's out_of_sync_bytes before the crash"
bt_daemon_kill9 alice

rl_log_mark alice
pair_start alice
rl_wait_secondaries_synced 90
rl_expect_log alice 'sync decision: source-bitmap' "alice resyncs bob from her bitmap"
rl_expect_identical "after the post-crash resync"
bt_pass "$((written / 4096)) blocks written over $((data / M)) MiB while disconnected, all resynced"
