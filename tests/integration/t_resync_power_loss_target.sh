#!/bin/bash
# A resync's data must be durable on the target before the target records
# it in sync. bob's disk is a device with a volatile write cache
# (faultlib: nbdkit cache=writeback, killed); io-mode buffered, checksum
# resync. alice (Primary alone) takes 8 MiB; bob comes up and is resynced in
# full. Before: the resync writes sat in bob's cache while his bitmap and
# superblock said UpToDate and in sync, so the reconnect resynced nothing
# and bob stayed behind for good. Right after the resync reports success
# bob is killed, his device loses power, and he comes back over what
# survived; once the pair is in sync again the two data areas must be
# byte-identical. (The checksum path's identical blocks are made durable
# too: sim seed 28 is that test.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/netlib.sh"
. "$(dirname "$0")/faultlib.sh"
bt_init 120

fault_require
SIZE=$((32 * M))
NET_LOOPBACK=1
net_init
net_pair_setup C "$SIZE" "io-mode = buffered" "resync-checksum = yes"
fault_pair_disk bob writeback "$SIZE"
sync "$(fault_link bobdisk)" 2>/dev/null	# its fresh metadata
net_start alice
pair_ok alice primary --force
timeout 60 /usr/bin/python3 - "$(pair_uri alice)" <<'PY' || bt_fail "writing the data through alice failed"
import nbd, sys
h = nbd.NBD()
h.connect_uri(sys.argv[1])
for i in range(2048):
    h.pwrite(bytes([i % 251 + 1]) * 4096, i * 4096)
h.flush()
PY
net_start bob
pair_wait_synced alice 60

bt_daemon_kill9 bob
fault_power_cut bobdisk
fault_power_restore bobdisk >/dev/null
net_start bob
pair_wait_synced alice 60
size=$(pair_get alice size_bytes)
sa=$(head -c "$size" "$(pair_img alice)" | sha256sum | cut -d' ' -f1)
sb=$(head -c "$size" "$(fault_link bobdisk)" | sha256sum | cut -d' ' -f1)
bt_expect_eq "$sb" "$sa" "bob's data area after his power loss right after the resync"
bt_pass "the resync's data survived the target's power loss right after it"
