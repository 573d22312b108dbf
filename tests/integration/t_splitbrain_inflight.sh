#!/bin/bash
# Writes in flight when the link fails are writes the peer may lack: a
# Primary that completes them alone has changed its data since the two
# last agreed, even if it writes nothing more. Protocol C, fencing
# dont-care, two namespaces. alice's outgoing link stalls (frames queue
# on her veth end) while 16 writes are in flight; the link is cut; alice
# notices (ping timeout), completes them locally and acknowledges them;
# the writer asks nothing more. bob is promoted across the partition and
# writes; alice is demoted; the link heals.
# Asserts: the handshake reports a split brain (both changed: alice's
# acknowledged writes are not silently rolled back by a resync from
# bob), and alice does not become SyncTarget. Before: alice kept her
# generation, so the handshake made her bob's target (rule
# peer-bitmap-is-self-current) and her 16 acknowledged writes were gone.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/netlib.sh"
bt_init 120

SIZE=$((16 * M))
net_init
net_pair_up C "$SIZE"

net_inflight_cut alice "$BT_TMP/writes.out"
writer=$NET_INFLIGHT_PID
wait "$writer" || bt_fail "the in-flight writes were not acknowledged: $(cat "$BT_TMP/writes.out")"
pair_wait alice 10 "peer lost" 'p["connection"] != "Connected"'
pair_wait bob 10 "peer lost" 'p["connection"] != "Connected"'
pair_ok bob primary --force
timeout 20 /usr/bin/python3 -m nbd -u "$(pair_uri bob)" -c 'h.pwrite(b"\x5a" * 4096, 8 * 1048576); h.flush()' ||
	bt_fail "a write through bob failed"
pair_ok alice secondary
mark=$(net_log_lines alice)
net_heal
net_wait_log alice 'sync decision: ' 20 "$mark"
tail -n +"$((mark + 1))" "$BT_TMP/alice.log" | grep -q 'sync decision: split-brain' ||
	bt_fail "no split brain reported: $(tail -n +"$((mark + 1))" "$BT_TMP/alice.log" | grep 'sync decision' | head -n 2 | tr '\n' '|')"
pair_wait alice 10 "not SyncTarget" 'p["replication"] not in ("SyncTarget", "PausedSyncT")'
bt_pass "writes completed alone after the link failed made the reconnect a split brain: $(cat "$BT_TMP/writes.out")"
