#!/bin/bash
# A Secondary that loses power loses what its disk cache held: writes it
# had acknowledged (WRITE_ACK) but not yet flushed. The Primary must count
# them as not on the peer, so that the resync after the Secondary's return
# brings them back. bob's disk is a device with a volatile write cache
# (faultlib: nbdkit cache=writeback, killed); alice (Primary, protocol C)
# takes 4 KiB writes at depth 16 without any FLUSH (ackcheck writer);
# bob is killed and his device loses power; alice writes on alone for a
# moment. When bob is back over what survived and the resync reports
# success, bob's data area must equal alice's, and every write alice
# acknowledged must be on bob.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/netlib.sh"
. "$(dirname "$0")/faultlib.sh"
bt_init 150

fault_require
SIZE=$((32 * M))
REGION=$((16 * M))
fault_pair_up bob writeback C "$SIZE"
# The initial sync's data is on bob's device for good before the test.
sync "$(fault_link bobdisk)" 2>/dev/null
net_ck_init 0 "$REGION"

net_ck_writer alice 4096 16 0 1 30
net_ck_wait_acks 2000 30
bt_daemon_kill9 bob
fault_power_cut bobdisk
net_ck_wait_acks 2200 30	# alice goes on alone
net_ck_stop
fault_power_restore bobdisk >/dev/null
net_start bob
pair_wait_synced alice 60
size=$(pair_get alice size_bytes)
net_ck_check alice C "alice after bob's power loss"
/usr/bin/python3 "$BT_DIR/ackcheck.py" check --dir "$NET_CK_DIR" --proto C \
	--offset 0 --length "$REGION" --what "bob after his power loss and the resync" \
	--image "$(fault_link bobdisk)" >"$BT_TMP/bobcheck.out" 2>&1 ||
	bt_fail "$(head -n 6 "$BT_TMP/bobcheck.out" | tr '\n' '|')"
sa=$(head -c "$size" "$(pair_img alice)" | sha256sum | cut -d' ' -f1)
sb=$(head -c "$size" "$(fault_link bobdisk)" | sha256sum | cut -d' ' -f1)
bt_expect_eq "$sb" "$sa" "bob's data area after his power loss and the resync"
bt_pass "bob's unflushed acknowledged writes came back by resync: $(head -n 1 "$BT_TMP/bobcheck.out")"
