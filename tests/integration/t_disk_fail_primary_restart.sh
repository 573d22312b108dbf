#!/bin/bash
# A Primary whose disk failed served through its peer, then crashed; its
# disk, readable again (a transient path failure), comes back with the
# daemon. That disk still names the generation it had when it failed and
# carries the crashed-Primary flag, while every write since went to bob
# alone: bob must be the source of the resync, never the old disk (which
# would roll bob back to the moment alice's disk failed). Protocol A (in
# C, bob stayed in sync under alice and is the source by that rule
# already; in A only the new generation bob took when alice lost her disk
# tells them apart), loopback; the writer stops and a FLUSH through alice
# completes before she is killed (a protocol A Primary's crash may lose
# writes still in its socket, by design); alice's disk (metadata included) is an nbdkit error device
# through nbdfuse and a loop device. Asserts, after alice's restart over
# her old disk: the sync decision makes alice the target; once in sync,
# every write acknowledged before and after her disk failed reads back
# from bob (promoted) and the two data areas are byte-identical.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/netlib.sh"
. "$(dirname "$0")/faultlib.sh"
bt_init 180

fault_require
SIZE=$((64 * M))
fault_pair_up alice error A "$SIZE"

LOG=$BT_TMP/acked.log
net_acked_writer "$(pair_uri alice)" 0 $((16 * M)) "$LOG" pri
net_wait_written alice $((2 * M)) "$NET_WRITER_PID" 30
fault_error_on alicedisk
pair_wait alice 20 "alice's disk detached" 's["disk"] == "Diskless" and s["role"] == "Primary"'
w=$(pair_get bob written_bytes)
net_wait_written bob $((w + 2 * M)) "$NET_WRITER_PID" 30
bt_kill_pid "$NET_WRITER_PID"
timeout 20 /usr/bin/python3 -m nbd -u "$(pair_uri alice)" -c 'h.flush()' ||
	bt_fail "a FLUSH through alice (Diskless) did not complete"
bt_daemon_kill9 alice
pair_wait bob 10 "peer loss noticed" 'p["connection"] != "Connected"'

fault_error_off alicedisk
net_start alice
pair_wait alice 60 "in sync with bob" \
	's["disk"] == "UpToDate" and p["disk"] == "UpToDate" and p["replication"] == "Established"'
net_log_has alice 'sync decision: target-' ||
	bt_fail "alice's old disk was not made the target: $(grep 'sync decision' "$BT_TMP/alice.log" | tail -n 1)"
pair_ok bob primary
net_acked_check "$(pair_uri bob)" "$LOG" pri "bob after alice came back over her old disk"
pair_wait bob 30 "in sync as Primary" \
	's["role"] == "Primary" and p["disk"] == "UpToDate" and p["replication"] == "Established" and p["out_of_sync_bytes"] == 0'
size=$(pair_get bob size_bytes)
sa=$(head -c "$size" "$(fault_link alicedisk)" | sha256sum | cut -d' ' -f1)
sb=$(head -c "$size" "$(pair_img bob)" | sha256sum | cut -d' ' -f1)
bt_expect_eq "$sa" "$sb" "alice's data area after the resync from bob"
bt_pass "alice's old disk came back as the target: $NET_ACKED acknowledged writes on bob, data areas identical"
