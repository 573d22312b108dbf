#!/bin/bash
# A Primary SyncTarget's source holds the only copy of its writes on a
# disk that counts: when that source loses power, the writes it had
# acknowledged must not be lost with its disk cache. bob's disk is a
# device with a volatile write cache (faultlib: nbdkit cache=writeback,
# killed). alice (Primary, protocol C) detaches her disk, attaches it
# again and pauses the full resync from bob at once, so she stays a
# Primary SyncTarget of bob; she takes 4 KiB writes
# at depth 16 without any FLUSH (ackcheck writer); bob is killed and his
# device loses power. When bob is back and the resync reports success,
# both data areas must be identical and hold every write alice
# acknowledged (before: bob's cache lost them and the resync copied his
# older blocks over alice's: sim seed 215 --strict; now such writes are
# FUA at the source).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/netlib.sh"
. "$(dirname "$0")/faultlib.sh"
bt_init 150

fault_require
SIZE=$((32 * M))
REGION=$((16 * M))
fault_pair_up bob writeback C "$SIZE"
sync "$(fault_link bobdisk)" 2>/dev/null
net_ck_init 0 "$REGION"

# A Primary SyncTarget: alice detaches her disk and attaches it again
# (resynced in full from bob while she serves), and pauses that resync
# right after it starts (32 MiB on loopback take tens of milliseconds).
paused=0
for try in 1 2 3 4 5; do
	pair_ok alice detach
	pair_wait alice 20 "alice Diskless" 's["disk"] == "Diskless"'
	pair_ok alice attach
	if pair_ctl alice pause-sync >/dev/null 2>&1; then
		paused=1
		break
	fi
	pair_wait alice 20 "the resync ended" 's["disk"] == "UpToDate"'
done
[ "$paused" = 1 ] || bt_fail "could not pause alice's resync in 5 tries"
pair_wait alice 20 "alice a paused Primary SyncTarget" \
	's["role"] == "Primary" and s["disk"] == "Inconsistent" and p["replication"] == "PausedSyncT"'
net_ck_writer alice 4096 16 0 1 30
net_ck_wait_acks 2000 30
bt_daemon_kill9 bob
fault_power_cut bobdisk
net_ck_stop
pair_wait alice 10 "bob lost" 'p["connection"] != "Connected"'
fault_power_restore bobdisk >/dev/null
net_start bob
pair_ok alice resume-sync
pair_wait alice 60 "alice resynced" \
	's["disk"] == "UpToDate" and p["disk"] == "UpToDate" and p["replication"] == "Established" and p["out_of_sync_bytes"] == 0'
size=$(pair_get alice size_bytes)
bt_daemon_stop alice
bt_daemon_stop bob
for n in alice bob; do
	img=$(pair_img alice)
	[ "$n" = bob ] && img=$(fault_link bobdisk)
	/usr/bin/python3 "$BT_DIR/ackcheck.py" check --dir "$NET_CK_DIR" --proto C \
		--offset 0 --length "$REGION" --what "$n after the source's power loss and the resync" \
		--image "$img" >"$BT_TMP/$n.check" 2>&1 ||
		bt_fail "$(head -n 6 "$BT_TMP/$n.check" | tr '\n' '|')"
done
sa=$(head -c "$size" "$(pair_img alice)" | sha256sum | cut -d' ' -f1)
sb=$(head -c "$size" "$(fault_link bobdisk)" | sha256sum | cut -d' ' -f1)
bt_expect_eq "$sb" "$sa" "bob's data area after his power loss and the resync"
bt_pass "a Primary SyncTarget's writes survived its source's power loss: $(head -n 1 "$BT_TMP/alice.check")"
