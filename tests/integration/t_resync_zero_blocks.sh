#!/bin/bash
# Blocks of zeroes cross a resync as a range (RS_ZERO), never as data,
# whether the file has them as holes or as written zeroes. A 64 MiB pair;
# alice's data area: 16 MiB of seeded random data, then 24 MiB of zeroes
# written out (allocated), then never-written holes. The full sync after
# her forced promotion must count the random 16 MiB as
# resync_sent_bytes (within 16..17 MiB) and everything else as
# resync_zero_bytes, bob must count as much received, and both data
# areas must be identical.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/resynclib.sh"
bt_init 60

SIZE=$((64 * M))
pair_setup C "$SIZE"
rl_fill "$(pair_img alice)" $((16 * M)) 21
dd if=/dev/zero of="$(pair_img alice)" bs=1M seek=16 count=24 conv=notrunc status=none ||
	bt_fail "could not write zeroes into alice's image"
pair_start alice
pair_start bob
pair_wait_connected 20
pair_promote_first alice 60
data=$(rl_size alice)
sent=$(rl_num alice peer.resync_sent_bytes)
zero=$(rl_num alice peer.resync_zero_bytes)
recv=$(rl_num bob peer.resync_received_bytes)
rl_in_range "$sent" $((16 * M)) $((17 * M)) ||
	bt_fail "alice sent $sent bytes of block data (resync_sent_bytes), expected 16..17 MiB: only the random data; zeroes $zero"
bt_expect_eq "$((sent + zero))" "$data" "alice's resync_sent_bytes + resync_zero_bytes"
bt_expect_eq "$recv" "$sent" "bob's resync_received_bytes"
rl_expect_identical "after the full sync"
# A clean stop: exit status 0 and no sanitizer report.
bt_daemon_stop bob
bt_daemon_stop alice
bt_pass "$((sent / M)) MiB sent as data, $((zero / M)) MiB of zeroes as ranges"
