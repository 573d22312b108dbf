#!/bin/bash
# External metadata and the blank-disk shortcut: both nodes keep their
# metadata in a file (meta = FILE), so the export is the whole image.
#  - create-md writes it; a second create-md is refused without --force;
#  - a fresh pair connects as both-new (both Inconsistent, no sync);
#  - new-current-uuid --clear-bitmap makes both UpToDate with no resync
#    (resync counters stay 0), and alice can then be promoted without
#    --force; her writes reach bob;
#  - after a clean restart of both, they reconnect with no resync at all
#    (rule equal-current) and the data is identical.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
bt_init 60

SIZE=$((64 * 1024 * 1024))
pair_setup C "$SIZE"
# Rewrite the config with external metadata files and start from truly
# blank images (pair_setup wrote internal metadata at their ends; the
# --clear-bitmap shortcut is only for disks that really are identical).
for n in alice bob; do
	sed -i "/^\[node $n\]/a meta = $BT_TMP/$n.meta" "$PAIR_CONF"
	truncate -s 0 "$(pair_img "$n")" && truncate -s "$SIZE" "$(pair_img "$n")"
done
for n in alice bob; do
	out=$("$BLOCKCTL" -c "$PAIR_CONF" -n "$n" create-md --force 2>&1) ||
		bt_fail "create-md for $n with external metadata failed: $out"
	[ -s "$BT_TMP/$n.meta" ] || bt_fail "no metadata file for $n"
done
out=$("$BLOCKCTL" -c "$PAIR_CONF" -n alice create-md 2>&1) && bt_fail "a second create-md was not refused"
echo "$out" | grep -q "already holds blockd metadata" ||
	bt_fail "second create-md: unexpected message: $out"

pair_start alice
pair_start bob
pair_wait_connected 20
bt_expect_eq "$(pair_get alice size_bytes)" "$SIZE" "export size with external metadata"
pair_wait alice 10 "both new" 's["disk"] == "Inconsistent" and p["disk"] == "Inconsistent" and p["replication"] == "Established"'
pair_refused alice 1 'Inconsistent' primary

pair_ok alice new-current-uuid --clear-bitmap
pair_wait alice 10 "UpToDate without a sync" 's["disk"] == "UpToDate" and p["disk"] == "UpToDate" and p["replication"] == "Established"'
pair_wait bob 10 "bob UpToDate" 's["disk"] == "UpToDate" and p["disk"] == "UpToDate"'
for n in alice bob; do
	bt_expect_eq "$(pair_get "$n" peer.resync_sent_bytes)" 0 "$n: resync bytes sent after --clear-bitmap"
	bt_expect_eq "$(pair_get "$n" peer.resync_zero_bytes)" 0 "$n: resync ranges sent after --clear-bitmap"
done
[ "$(pair_get alice uuids)" = "$(pair_get bob uuids)" ] ||
	bt_fail "generation UUIDs differ after --clear-bitmap: $(pair_get alice uuids) vs $(pair_get bob uuids)"

pair_ok alice primary
timeout 20 /usr/bin/python3 -c '
import nbd, sys
h = nbd.NBD(); h.connect_uri(sys.argv[1])
h.pwrite(b"\x5b" * (1 << 20), 8 << 20); h.flush(); h.shutdown()' "$(pair_uri alice)" ||
	bt_fail "write through alice failed"
pair_wait_synced alice 20
pair_ok alice secondary

bt_daemon_stop alice
bt_daemon_stop bob
pair_start alice
pair_start bob
pair_wait_connected 20
pair_wait alice 10 "reconnected in sync" 's["disk"] == "UpToDate" and p["disk"] == "UpToDate" and p["replication"] == "Established"'
grep -q "rule equal-current;" "$BT_TMP/alice.log" ||
	bt_fail "the reconnect after a clean restart was not 'equal-current': $(grep 'sync decision' "$BT_TMP/alice.log" | tail -1)"
bt_expect_eq "$(pair_get alice peer.resync_sent_bytes)" 0 "resync after a clean restart"
[ "$(pair_sha_file "$(pair_img alice)")" = "$(pair_sha_file "$(pair_img bob)")" ] ||
	bt_fail "the two images differ: $(cmp "$(pair_img alice)" "$(pair_img bob)" 2>&1 | head -1)"
bt_pass "external metadata; --clear-bitmap skipped the initial sync; clean restart needs no resync"
