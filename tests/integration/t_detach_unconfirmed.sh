#!/bin/bash
# A detached disk is given up (resynced in full, never a source), so it
# must not take the only copy of writes with it. In protocol A a write is
# acknowledged before the peer has it: detaching while such writes are
# not yet confirmed by the peer, on a link that then fails, left the
# Primary (now Diskless, served by its peer) showing its users a past
# without them (sim seed 668 --direct, the order invariant).
# Two namespaces, protocol A (ping-timeout-ms 30000: the stalled link is
# not found dead meanwhile), alice Primary. alice's outgoing link stalls;
# 4 writes of 4 KiB (0xa5, little enough for the socket's send buffer:
# protocol A acknowledges a write once its frame is handed to the socket)
# are acknowledged while their frames sit in the stalled queue. Asserts:
#  - 'detach' on alice is refused (exit 1) naming the unconfirmed writes;
#  - once the link heals and bob confirmed them, 'detach' succeeds, and
#    alice, Diskless, reads the 4 writes back through bob.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/netlib.sh"
bt_init 90

SIZE=$((16 * M))
net_init
# The stalled link must not be declared dead while alice is asked.
net_pair_up A "$SIZE" 'ping-timeout-ms = 30000'
net_stall alice || bt_skip "tc cannot shape the veth here"
timeout 60 /usr/bin/python3 -c "$NET_AIO_WRITES" "$(pair_uri alice)" 4 4096 >"$BT_TMP/writes.out" 2>&1 ||
	bt_fail "4 writes in protocol A on a stalled link were not acknowledged: $(cat "$BT_TMP/writes.out")"
net_wait_backlog alice 4096 10
pair_refused alice 1 'acknowledged.*not.*confirmed' detach
pair_wait alice 2 "alice keeps her disk" 's["disk"] == "UpToDate"'

net_heal
pair_wait alice 30 "bob confirmed every write" \
	'p["connection"] == "Connected" and p["pending_writes"] == 0 and p["out_of_sync_bytes"] == 0'
pair_ok alice detach
pair_wait alice 10 "alice Diskless" 's["disk"] == "Diskless"'
got=$(/usr/bin/python3 - "$(pair_uri alice)" <<'PY'
import nbd, sys
h = nbd.NBD()
h.connect_uri(sys.argv[1])
print(sum(h.pread(4096, i * 65536) == bytes([0xa5]) * 4096 for i in range(4)))
PY
)
bt_expect_eq "$got" 4 "writes alice reads back through bob once Diskless"
bt_pass "detach refused while 4 writes acknowledged in protocol A were unconfirmed; allowed once bob had them, and they read back through him"
