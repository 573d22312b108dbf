#!/bin/bash
# An extent leaves the activity log only once its bitmap page is durable,
# even across a power loss of the metadata device. alice (Primary of a
# synced 512 MiB pair, al-extents = 7) keeps her metadata on a device with
# a volatile write cache (faultlib: nbdkit cache=writeback), bob in a
# file (external too, so both export the whole image).
# Disconnected, alice writes 200 blocks into the first 5 extents; once the
# bitmap page holding them has been written to the device (read back from
# it), she writes 100 blocks into 7 other extents, which evicts those 5 from
# the log (every write was acknowledged, so the evicting transactions are
# committed). Then alice is killed (SIGKILL) and the device loses power:
# what it had not flushed is gone. Reattached and restarted, alice must
# resync bob from her bitmap, and both data areas must be byte-identical:
# the first 200 blocks, covered only by the bitmap page, reached bob.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/resynclib.sh"
. "$(dirname "$0")/faultlib.sh"
bt_init 120
fault_require

SIZE=$((512 * M))
BITMAP_OFFSET=40960	# superblock slots and activity log ring: 10 blocks

pair_setup C "$SIZE"
rl_conf_set al-extents 7
fault_dev_writeback meta $((1 * M)) >/dev/null
sed -i -e "/^\[node alice\]/a meta = $(fault_link meta)" \
	-e "/^\[node bob\]/a meta = $BT_TMP/bob.meta" "$PAIR_CONF"
for n in alice bob; do
	out=$("$BLOCKCTL" -c "$PAIR_CONF" -n "$n" create-md --force 2>&1) ||
		bt_fail "create-md for $n with external metadata failed: $out"
done
pair_start alice
pair_start bob
pair_wait_connected 20
pair_promote_first alice 60
# A clean stop saves the cleared bitmap durably: the device must not still
# hold the bits of the initial full sync when the power goes.
pair_ok alice secondary
bt_daemon_stop alice
pair_start alice
pair_wait alice 20 "reconnected in sync" 's["disk"] == "UpToDate" and p["disk"] == "UpToDate" and p["replication"] == "Established" and p["out_of_sync_bytes"] == 0'
pair_ok alice primary

pair_ok alice disconnect
pair_wait alice 10 "StandAlone" 'p["connection"] == "StandAlone"'
rl_write_blocks "$(pair_uri alice)" 200 501 0 $((20 * M)) "$BT_TMP/blocks1"

# The page is read through the device's page cache, which the daemon
# writes through too: its content shows once the daemon wrote the page,
# durable or not.
/usr/bin/python3 - "$(fault_dev meta)" "$BITMAP_OFFSET" "$BT_TMP/blocks1" <<'EOF' ||
import os, sys, time
dev, off, blocks = sys.argv[1], int(sys.argv[2]), sys.argv[3]
want = [int(x) // 4096 for x in open(blocks).read().split()]
end = time.monotonic() + 20
while True:
    fd = os.open(dev, os.O_RDONLY)
    page = os.pread(fd, 4096, off)
    os.close(fd)
    if all(page[b // 8] >> (b % 8) & 1 for b in want):
        sys.exit(0)
    if time.monotonic() > end:
        sys.exit(print("bitmap page 0 lacks some of the 200 blocks after 20s"))
    time.sleep(0.05)
EOF
	bt_fail "alice never wrote bitmap page 0 to her metadata device"
rl_write_blocks "$(pair_uri alice)" 100 502 $((128 * M)) $((156 * M)) "$BT_TMP/blocks2"
written=$(rl_union_bytes "$BT_TMP"/blocks*)
bt_expect_eq "$(rl_num alice peer.out_of_sync_bytes)" "$written" \
	"alice's out_of_sync_bytes before the crash"

bt_daemon_kill9 alice
fault_power_cut meta
fault_power_restore meta >/dev/null
rl_log_mark alice
pair_start alice
rl_wait_secondaries_synced 60
rl_expect_log alice 'sync decision: source-bitmap' "alice resyncs bob from her bitmap"
rl_expect_identical "after the power loss and the resync"
bt_pass "$((written / 4096)) blocks written while disconnected, all resynced after a power loss"
