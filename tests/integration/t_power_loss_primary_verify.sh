#!/bin/bash
# A Primary that loses power while an online verify runs: its Secondary
# still holds every write the Primary acknowledged in protocol C (a verify
# only reads; the writes keep being replicated), so the crashed Primary's
# activity-log extents must be resynced from the Secondary, not over it.
# As t_power_loss_primary: alice's disk has a volatile write cache
# (faultlib: nbdkit cache=writeback, killed); alice takes 4 KiB writes at
# depth 16 without any FLUSH (ackcheck writer), then `blockctl verify`
# starts (paced to 1 MiB/s, so it is still running), alice is killed and
# her device loses power, bob stays up. Asserts: bob was VerifyT when the
# link went; once alice is back and the resync reports success, both data
# areas are identical and hold every write alice acknowledged (before:
# bob counted himself in sync only while Established, alice's extents
# rolled him back: sim seed 486).
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

fault_primary_writeback 'resync-rate-max-mib = 1'
sync "$(fault_link alicedisk)" 2>/dev/null
net_ck_init 0 "$REGION"
NET_CK_DIR=$BT_TMP/ck
mkdir -p "$NET_CK_DIR"

net_ck_writer alice 4096 16 0 1 30
net_ck_wait_acks 2000 30
pair_ok alice verify
pair_wait bob 10 "bob verifying" 'p["replication"] == "VerifyT"'
net_ck_wait_acks 3000 30
bt_expect_eq "$(pair_get bob peer.replication)" VerifyT "bob's replication state when alice dies"
bt_daemon_kill9 alice
fault_power_cut alicedisk
net_ck_stop
pair_wait bob 10 "peer lost" 'p["connection"] != "Connected"'
fault_power_restore alicedisk >/dev/null
net_start alice
fault_resynced_check alice "$NET_CK_DIR" "$REGION" \
	"after alice's power loss during verify and the resync"
bt_pass "the crashed Primary's extents came back from its Secondary after a power loss during verify: $(head -n 1 "$BT_TMP/bob.check")"
