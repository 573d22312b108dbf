#!/bin/bash
# A disk that failed is not trusted again after a restart. alice is
# Primary (protocol C, fencing resource-only); bob dies and alice's
# fence-peer answers 7, so alice records bob fenced (she may then restart
# alone as UpToDate) and writes on alone. Then her disk fails a read (an
# nbdkit error device through nbdfuse and a loop device; its writes still
# work, as on a disk with bad sectors) and she detaches it. Her daemon is
# killed and started again over the same disk, readable again.
# Asserts:
#  1. alice comes back Inconsistent, her log names the disk given up, and
#     a plain `primary` is refused (before: UpToDate with the peer
#     recorded fenced, promoted alone over a disk that had failed);
#  2. bob (stale: he lacks alice's writes since he died) comes back and
#     neither becomes the other's source: alice's disk holds the newest
#     writes but is given up, so the connection is refused and bob stays
#     Consistent, not promotable;
#  3. the operator vouches for alice's disk with `primary --force`: she
#     syncs bob, every write acknowledged before the failure reads back
#     from her, and the two data areas are byte-identical.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/netlib.sh"
. "$(dirname "$0")/faultlib.sh"
bt_init 180

fault_require
SIZE=$((32 * M))
net_hook_install
fault_pair_up alice error C "$SIZE" 'fencing = resource-only' "fence-peer = $NET_HOOK"

net_hook_set fence-peer rc 7 alice
bt_daemon_kill9 bob
net_hook_wait end fence-peer 1 20 alice
pair_wait alice 10 "bob recorded fenced" 's["peer_outdated"] is True'

LOG=$BT_TMP/acked.log
net_acked_writer "$(pair_uri alice)" 0 $((8 * M)) "$LOG" alone
net_wait_written alice $((4 * M)) "$NET_WRITER_PID" 30
bt_kill_pid "$NET_WRITER_PID"

fault_error_on alicedisk read
timeout 20 /usr/bin/python3 - "$(pair_uri alice)" <<'EOF' || bt_fail "a read from alice's failing disk did not fail"
import nbd, sys
h = nbd.NBD()
h.connect_uri(sys.argv[1])
try:
    h.pread(4096, 0)
except nbd.Error:
    sys.exit(0)
sys.exit(1)
EOF
pair_wait alice 20 "alice's disk detached" 's["disk"] == "Diskless"'
bt_daemon_kill9 alice
fault_error_off alicedisk

# 1. Back over the disk that failed.
net_start alice
bt_expect_eq "$(pair_get alice disk)" Inconsistent "alice's disk state after the restart"
net_log_has alice 'this disk was given up before' ||
	bt_fail "alice's log does not say her disk was given up"
pair_refused alice 1 'Inconsistent' primary

# 2. bob is stale, alice's disk given up: no source.
net_start bob
net_wait_log alice 'would make this node SyncSource' 10
bt_expect_eq "$(pair_get bob disk)" Consistent "bob's disk state next to alice's given-up disk"
bt_expect_eq "$(pair_get alice disk)" Inconsistent "alice's disk state next to stale bob"

# 3. The operator vouches for alice's disk.
pair_ok alice primary --force
pair_ok alice connect
pair_wait alice 60 "bob synced from alice" \
	's["disk"] == "UpToDate" and p["disk"] == "UpToDate" and p["replication"] == "Established" and p["out_of_sync_bytes"] == 0'
net_acked_check "$(pair_uri alice)" "$LOG" alone "alice after the forced promotion"
size=$(pair_get alice size_bytes)
sa=$(head -c "$size" "$(fault_link alicedisk)" | sha256sum | cut -d' ' -f1)
sb=$(head -c "$size" "$(pair_img bob)" | sha256sum | cut -d' ' -f1)
bt_expect_eq "$sa" "$sb" "the data areas after bob's resync from alice"
bt_pass "a failed disk came back Inconsistent and unpromotable; forced, it synced bob: $NET_ACKED acknowledged writes kept"
