#!/bin/bash
# What the Primary counts as possibly lost when it loses its peer is
# bounded in time, even for a client that never flushes: a write the
# Secondary acknowledged stays "unflushed" (its disk cache could lose it)
# only until the Primary's next flushing barrier, sent at least once a
# second while such writes exist. Protocol C on loopback: the client
# writes 4 KiB blocks into 16 different 4 MiB extents and never flushes;
# 3 s later the link is dropped (`disconnect` on bob, a clean cut).
# alice must then hold nothing out of sync (before: all 16 extents,
# 64 MiB, resynced after every cut), and her peer.flushed position must
# have caught up with what bob wrote.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/netlib.sh"
bt_init 60

SIZE=$((128 * M))
NET_LOOPBACK=1
net_init
net_pair_up C "$SIZE"
timeout 20 /usr/bin/python3 -m nbd -u "$(pair_uri alice)" -c '
for i in range(16):
    h.pwrite(bytes([i + 1]) * 4096, i * 4 * 1048576 + 8192)' ||
	bt_fail "the writes on alice failed"
pair_wait alice 10 "bob has the writes" 'p["pending_writes"] == 0'
# The writes are 3 s old: at least two flushing barriers' worth.
deadline=$((SECONDS + 3))
while [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
pair_ok bob disconnect
pair_wait alice 10 "peer lost" 'p["connection"] != "Connected"'
bt_expect_eq "$(pair_get alice peer.out_of_sync_bytes)" 0 \
	"bytes alice marked out of sync at the cut, 3 s after 16 unflushed writes"
bt_pass "no unflushed extent left 3 s after the last write"
