#!/bin/bash
# 'detach' gives a disk up (resynced in full when it comes back, never a
# source), so it must not take the only copy of blocks the peer lacks
# (protocol C, loopback). alice is Primary; bob disconnects; alice writes
# alone (out of sync for bob) and is demoted. alice's 'detach' is refused,
# naming the bytes the peer may lack, and her disk stays UpToDate: before,
# it was detached, and bob, without those writes, became the source of
# every block. Once bob is back and resynced, the detach goes through, and
# bob holds the write alice made alone.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
bt_init 120

M=$((1024 * 1024))

pair_setup C $((16 * M))
pair_start alice
pair_start bob
pair_wait_connected 20
pair_promote_first alice 60
nbdsh -u "$(pair_uri alice)" -c 'h.pwrite(b"\x5a" * (1 << 20), 2 << 20); h.flush()' ||
	bt_fail "writing through alice failed"

pair_ok bob disconnect
pair_wait alice 10 "alice lost bob" 'p["replication"] == "Off"'
nbdsh -u "$(pair_uri alice)" -c 'h.pwrite(b"\x6b" * (1 << 20), 4 << 20); h.flush()' ||
	bt_fail "writing through alice alone failed"
pair_ok alice secondary
pair_wait alice 5 "alice Secondary, bob's blocks out of sync" \
	's["role"] == "Secondary" and s["disk"] == "UpToDate" and p["out_of_sync_bytes"] > 0'

pair_refused alice 1 "bytes its peer may lack.*not connected" detach
pair_wait alice 5 "alice kept her disk" 's["disk"] == "UpToDate"'

pair_ok bob connect
pair_wait alice 30 "bob resynced from alice" \
	'p["disk"] == "UpToDate" and p["replication"] == "Established" and p["out_of_sync_bytes"] == 0'
pair_ok alice detach
pair_wait alice 20 "alice Diskless" 's["disk"] == "Diskless"'
got=$(dd if="$(pair_img bob)" bs=4096 skip=$((4 * M / 4096)) count=1 2>/dev/null | od -An -tx1 -N1 | tr -d ' ')
[ "$got" = 6b ] || bt_fail "bob lacks the write alice made alone (byte $got at 4 MiB)"
bt_pass "detach refused while the disk held blocks the peer lacked; allowed once the peer was resynced"
