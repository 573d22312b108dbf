#!/bin/bash
# A Secondary whose disk fails a flush detaches it, and the flushing
# barrier's acknowledgement says so (protocol C, loopback; bob's disk is an
# nbdkit device whose FLUSH fails on demand, through nbdfuse and a loop
# device). Before, bob logged the failure, acknowledged the barrier as
# done and stayed UpToDate and promotable. Asserts:
#  - with bob's flushes failing, a client write + FLUSH on alice completes
#    (alice's own disk flushed it) and bob's disk goes Failed, then
#    Diskless; alice shows the peer disk Diskless;
#  - alice goes on writing alone; with alice gone, bob refuses `primary`;
#  - bob's disk, fixed and attached again, is resynced in full: the data
#    areas are byte-identical and every acknowledged write is on alice.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/netlib.sh"
. "$(dirname "$0")/faultlib.sh"
bt_init 180

fault_require_flush
SIZE=$((16 * M))
fault_pair_up bob flush C "$SIZE"

flush_write() { # OFFSET BYTE: one 4 KiB write and a FLUSH through alice
	timeout 30 /usr/bin/python3 -c '
import nbd, sys
h = nbd.NBD(); h.connect_uri(sys.argv[1])
h.pwrite(bytes([int(sys.argv[3])]) * 4096, int(sys.argv[2])); h.flush(); h.shutdown()' \
		"$(pair_uri alice)" "$1" "$2"
}
flush_write 0 17 || bt_fail "a write + FLUSH before the fault failed"
fault_error_on bobdisk flush
flush_write 4096 18 || bt_fail "a write + FLUSH on alice failed while only bob's flush failed"
pair_wait bob 20 "bob detached after his flush failed" 's["disk"] == "Diskless"'
pair_wait alice 20 "alice sees bob Diskless" 'p["disk"] == "Diskless"'
flush_write 8192 19 || bt_fail "a write + FLUSH on alice alone failed"

bt_daemon_stop alice
pair_wait bob 10 "alice gone" 'p["connection"] != "Connected"'
pair_refused bob 1 'no usable disk' primary

fault_error_off bobdisk
pair_ok bob attach
net_start alice
pair_wait bob 60 "bob resynced from alice" \
	's["disk"] == "UpToDate" and p["disk"] == "UpToDate" and p["replication"] == "Established"'
pair_ok alice primary
timeout 20 /usr/bin/python3 -c '
import nbd, sys
h = nbd.NBD(); h.connect_uri(sys.argv[1])
for off, b in ((0, 17), (4096, 18), (8192, 19)):
    assert h.pread(4096, off) == bytes([b]) * 4096, off' "$(pair_uri alice)" ||
	bt_fail "alice lost an acknowledged write"
size=$(pair_get alice size_bytes)
sa=$(head -c "$size" "$(pair_img alice)" | sha256sum | cut -d' ' -f1)
sb=$(head -c "$size" "$(fault_link bobdisk)" | sha256sum | cut -d' ' -f1)
bt_expect_eq "$sb" "$sa" "bob's data area after the full resync"
bt_pass "a failed flush detached bob; alice went on alone; bob resynced in full after attach"
