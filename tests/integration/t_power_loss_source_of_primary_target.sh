#!/bin/bash
# A Primary SyncTarget's source holds the only copy of its writes on a
# disk that counts: when that source loses power, the writes it had
# acknowledged must not be lost with its disk cache. bob's disk is a
# device with a volatile write cache (faultlib: nbdkit cache=writeback,
# killed). alice (Primary, protocol C) detaches her disk, attaches it
# again and pauses the full resync from bob (paced, so still running),
# so she stays a Primary SyncTarget of bob; she takes 4 KiB writes
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
SIZE=$((8 * M))
REGION=$((4 * M))
fault_pair_up bob writeback C "$SIZE" 'resync-rate-max-mib = 1'
sync "$(fault_link bobdisk)" 2>/dev/null
net_ck_init 0 "$REGION"

# A Primary SyncTarget: alice detaches her disk and attaches it again
# (resynced in full from bob while she serves). The disks' second half,
# outside the checked region, is filled first (zeroes would cross as
# ranges, unpaced) and the resync is paced to 1 MiB/s, so its 4 MiB of
# data take seconds: pause-sync, once alice is SyncTarget, always finds
# it running.
timeout 60 /usr/bin/python3 - "$(pair_uri alice)" "$REGION" <<'PY' || bt_fail "filling the disks failed"
import nbd, sys
h = nbd.NBD()
h.connect_uri(sys.argv[1])
size = h.get_size()
for off in range(int(sys.argv[2]), size, 1 << 20):
    h.pwrite(b"\x5a" * min(1 << 20, size - off), off)
h.flush()
PY
pair_ok alice detach
pair_wait alice 20 "alice Diskless" 's["disk"] == "Diskless"'
pair_ok alice attach
pair_wait alice 20 "alice a Primary SyncTarget" 'p["replication"] == "SyncTarget"'
pair_ok alice pause-sync
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
fault_check_both bob "$NET_CK_DIR" "$REGION" "$size" \
	"after the source's power loss and the resync"
bt_pass "a Primary SyncTarget's writes survived its source's power loss: $(head -n 1 "$BT_TMP/alice.check")"
