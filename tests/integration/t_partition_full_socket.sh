#!/bin/bash
# A partition while the peer socket is full must not lose an acknowledged
# write (issue 9, first scenario). Protocol C, fencing resource-and-stonith,
# ping-timeout-ms 2000, alice and bob in network namespaces. A client
# writes 256 KiB blocks at queue depth 32 to alice (the Primary), every
# submission and acknowledgement logged (ackcheck.py). alice's packets
# then stall (a token bucket at 8 kbit/s holds them; the test waits until
# frames are queued there) and the link is cut: the frames in flight are
# lost with it. alice's fence-peer hook sleeps 2 s and exits 1 (outcome
# unknown): alice must stay frozen. The other side wins: alice is killed
# (SIGKILL, her STONITH), bob, still UpToDate, is promoted as an operator
# would (plain `primary`; --force only if that is refused, and the test
# says so). Protocol C promises that every write alice acknowledged is on
# bob: the checker reads bob's export and names every acknowledged write
# that is missing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/netlib.sh"
bt_init 90

SIZE=$((64 * M))
REGION=$((48 * M))

net_init
net_hook_install
net_pair_setup C "$SIZE" 'fencing = resource-and-stonith' \
	"fence-peer = $NET_HOOK" 'ping-timeout-ms = 2000'
net_hook_set fence-peer sleep 2
net_hook_set fence-peer rc 1
net_start alice
net_start bob
pair_wait_connected 20
pair_promote_first alice 30

net_ck_init 0 "$REGION"
net_ck_writer alice $((256 * 1024)) 32 0
# 100 writes of 256 KiB: the pair is streaming at full depth.
net_ck_wait_acks 100 30
net_stall alice || bt_fail "tc tbf on alice's veth end failed: cannot stall the link"
net_wait_backlog alice $((256 * 1024)) 10
acked_at_cut=$(net_ck_acks)
net_cut

net_hook_wait start fence-peer 1 10 alice
pair_wait alice 5 "io_frozen while fence-peer runs" 's["io_frozen"] is True'
net_hook_wait end fence-peer 1 10 alice
net_wait_log alice 'fence-peer failed \(exit 1\)' 5
bt_expect_eq "$(pair_get alice io_frozen)" true "alice's io_frozen after fence-peer exit 1"

# The STONITH of alice; the client's connection dies with her.
bt_daemon_kill9 alice
bt_wait_exit "$NET_CK_PID" 20 || bt_fail "the writer did not end after alice was killed"
net_ck_stop
acked=$(net_ck_acks)
bt_log "$acked writes acknowledged in all, $((acked - acked_at_cut)) of them after the link was cut"

pair_wait bob 10 "peer loss noticed" 'p["connection"] != "Connected"'
bt_expect_eq "$(pair_get bob disk)" UpToDate "bob's disk after the partition"
forced=
if ! out=$(pair_ctl bob primary 2>&1); then
	bt_log "'primary' on bob refused ($out); using --force"
	forced=" (promoted with --force: plain primary said: $out)"
	pair_ok bob primary --force
fi
pair_wait bob 5 "bob Primary" 's["role"] == "Primary"'
net_ck_check bob C "bob promoted after alice was STONITHed"
bt_daemon_stop bob
bt_pass "$NET_CK_SUMMARY$forced"
