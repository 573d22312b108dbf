#!/bin/bash
# A Primary whose disk was detached and attached again writes to the new
# disk: a crash must resync that disk's activity log as it would the disk
# it was promoted on. alice's disk has a volatile write cache (faultlib:
# nbdkit cache=writeback, killed); alice, Primary, detaches and attaches
# it, is resynced in full from bob, then takes 4 KiB writes at depth 16
# in protocol C without any FLUSH (ackcheck writer); alice is killed and
# her device loses power, bob stays up. Asserts: once alice is back and
# the pair reports itself in sync, both data areas are identical and
# hold every write alice acknowledged (before: the attach dropped the
# crashed-primary mark, the restart took the disks for equal, "no-sync",
# and alice's disk lacked what her cache lost; sim seed 1027).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/netlib.sh"
. "$(dirname "$0")/faultlib.sh"
bt_init 150

fault_require
SIZE=$((32 * M))
REGION=$((16 * M))
NET_LOOPBACK=1
net_init

fault_primary_writeback
pair_ok alice detach
pair_wait alice 10 "alice Diskless" 's["disk"] == "Diskless"'
pair_ok alice attach
pair_wait alice 60 "alice resynced" \
	's["disk"] == "UpToDate" and p["replication"] == "Established" and p["disk"] == "UpToDate"'
sync "$(fault_link alicedisk)" 2>/dev/null
net_ck_init 0 "$REGION"
NET_CK_DIR=$BT_TMP/ck
mkdir -p "$NET_CK_DIR"

net_ck_writer alice 4096 16 0 1 30
net_ck_wait_acks 2000 30
bt_daemon_kill9 alice
fault_power_cut alicedisk
net_ck_stop
pair_wait bob 10 "peer lost" 'p["connection"] != "Connected"'
fault_power_restore alicedisk >/dev/null
net_start alice
fault_resynced_check alice "$NET_CK_DIR" "$REGION" \
	"after the attached Primary's power loss"
bt_pass "an attached Primary's crash resynced its activity log from the Secondary: $(head -n 1 "$BT_TMP/bob.check")"
