#!/bin/bash
# A Secondary whose disk starts failing detaches it (protocol C, loopback;
# bob's disk, metadata included, is an nbdkit error device through nbdfuse
# and a loop device). While a client writes to alice (Primary), every
# write to bob's disk starts failing. Asserts:
#  - bob's disk goes Failed, then Diskless (status --json), its
#    local-io-error hook runs once, and alice shows the peer disk Diskless;
#  - alice keeps acknowledging writes (written_bytes grows);
#  - with alice gone (killed), bob refuses `primary` and `primary --force`
#    (no data of its own, no UpToDate peer);
#  - the disk replaced (errors off, `blockctl attach`), bob is Inconsistent
#    and, once alice is back, resynced in full from her; every write the
#    client was told was written is on alice, and the data areas are
#    byte-identical.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/netlib.sh"
. "$(dirname "$0")/faultlib.sh"
bt_init 180

fault_require
SIZE=$((64 * M))
net_hook_install
fault_pair_up bob error C "$SIZE" "local-io-error = $NET_HOOK"

LOG=$BT_TMP/acked.log
net_acked_writer "$(pair_uri alice)" 0 $((16 * M)) "$LOG" sec
net_wait_written alice $((2 * M)) "$NET_WRITER_PID" 30
fault_error_on bobdisk write
pair_wait bob 20 "bob's disk detached" 's["disk"] == "Diskless"'
pair_wait alice 20 "alice sees bob Diskless" 'p["disk"] == "Diskless"'
net_hook_wait end local-io-error 1 10 bob
[ "$(net_hook_count start local-io-error bob)" = 1 ] ||
	bt_fail "local-io-error ran $(net_hook_count start local-io-error bob) times on bob"
net_log_has bob 'disk-failed: role Secondary, disk Failed' ||
	bt_fail "bob never showed disk Failed"
w=$(pair_get alice written_bytes)
net_wait_written alice $((w + 2 * M)) "$NET_WRITER_PID" 30
bt_expect_eq "$(pair_get bob disk_error)" "Input/output error" "bob's disk_error"

bt_daemon_kill9 alice
bt_kill_pid "$NET_WRITER_PID"
pair_wait bob 10 "alice gone" 'p["connection"] != "Connected"'
pair_refused bob 1 'no usable disk' primary
pair_refused bob 1 'no usable disk.*no connected UpToDate peer' primary --force

fault_error_off bobdisk
pair_ok bob attach
bt_expect_eq "$(pair_get bob disk)" Inconsistent "bob's disk after attach"
net_start alice
pair_wait bob 60 "bob resynced from alice" \
	's["disk"] == "UpToDate" and p["disk"] == "UpToDate" and p["replication"] == "Established"'
pair_wait alice 20 "alice in sync" 's["disk"] == "UpToDate" and p["disk"] == "UpToDate" and p["out_of_sync_bytes"] == 0'
pair_ok alice primary
net_acked_check "$(pair_uri alice)" "$LOG" sec "after bob's disk was replaced"
size=$(pair_get alice size_bytes)
sa=$(head -c "$size" "$(pair_img alice)" | sha256sum | cut -d' ' -f1)
sb=$(head -c "$size" "$(fault_link bobdisk)" | sha256sum | cut -d' ' -f1)
bt_expect_eq "$sb" "$sa" "bob's data area after the full resync"
bt_pass "bob detached (Failed, Diskless), refused promotion, resynced in full after attach; $NET_ACKED acknowledged writes checked"
