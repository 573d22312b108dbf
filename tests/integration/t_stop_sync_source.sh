#!/bin/bash
# A Secondary stopped (SIGTERM) while it is the source of a resync must
# exit. Its clean leave flushes its disk and queues FLUSHED for the peer
# behind the resync data already in its socket; each resync chunk sent
# meanwhile wakes the receiver, which reported idle again and started the
# leave's flush a second time, queueing the same FLUSHED frame twice. The
# send queue then pointed at itself, and the daemon spun on it for good
# once it shut the link down (found by the simulator, seed 211 --stop
# --direct; and once seen in make check, a Secondary that did not exit
# within 20 s after logging that it told its peer it had flushed).
# Two namespaces, protocol C, 64 MiB of random data, both Secondary and
# UpToDate:
#  1. bob's outgoing link slowed to 40 Mbit/s; 'invalidate-remote' on bob:
#     a full resync from bob to alice, its data queued on the slow link;
#  2. SIGTERM to bob while he is SyncSource.
# Asserts: bob exits with status 0 within the usual 20 s and says once
# that he told alice he flushed; restarted, he finishes the resync and
# both data areas are identical.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/netlib.sh"
bt_init 120

SIZE=$((64 * M))
net_init
net_pair_up C "$SIZE" 'ping-timeout-ms = 30000'
# Data to move (a resync skips what reads as holes).
head -c "$(pair_get alice size_bytes)" /dev/urandom >"$BT_TMP/random.img"
nbdcopy "$BT_TMP/random.img" "$(pair_uri alice)" ||
	bt_fail "writing random data through alice failed"
pair_ok alice secondary
pair_wait bob 10 "both Secondary and UpToDate" \
	'p["role"] == "Secondary" and p["disk"] == "UpToDate" and s["disk"] == "UpToDate" and p["replication"] == "Established"'

# 1. A resync from bob, slowed on the way.
net_slow bob 40mbit || bt_skip "tc cannot shape the veth here"
pair_ok bob invalidate-remote
pair_wait bob 10 "bob is SyncSource" 'p["replication"] == "SyncSource"'
net_wait_backlog bob 65536 10

# 2. Stopped mid-resync.
bt_daemon_stop bob
sent=$(grep -c "told the peer alice that every write acknowledged to it is flushed" "$BT_TMP/bob.log")
[ "$sent" -le 1 ] || bt_fail "bob told alice $sent times that he flushed (once expected)"

net_heal bob
net_start bob
pair_wait alice 120 "the resync finished" \
	'p["replication"] == "Established" and s["disk"] == "UpToDate" and p["disk"] == "UpToDate" and p["out_of_sync_bytes"] == 0'
diff=$(pair_diff_blocks "$(pair_get alice size_bytes)")
[ -z "$diff" ] || bt_fail "data areas differ: $(echo $diff | cut -c1-120)"
bt_pass "bob, stopped as SyncSource, exited; restarted, he finished the resync and the disks are identical"
