#!/bin/bash
# A Primary SyncTarget's reads and writes that wait for blocks from the
# source must not starve the resync data they wait for of buffers.
# buffer-mib = 8: the client's reads (1 MiB) and writes (2 MiB), 16 in
# flight, all of blocks bob has not received yet, can take the whole pool
# while they wait, and the source's RS_DATA for those blocks needs
# buffers on bob too. A 64 MiB
# pair with 48 MiB of random data on alice, bob invalidated and resynced slowly
# (resync-rate-max-mib = 4), bob promoted as SyncTarget: every request must
# complete within 30 s (reads with alice's bytes, writes reading back as
# written), and the resync must finish
# with both data areas identical.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/resynclib.sh"
bt_init 120

SIZE=$((64 * M))
pair_setup C "$SIZE"
rl_conf_set resync-rate-max-mib 4
rl_conf_set buffer-mib 8
rl_fill "$(pair_img alice)" $((48 * M)) 12
pair_start alice
pair_start bob
pair_wait_connected 20
pair_ok alice primary --force
pair_wait_synced alice 60
pair_ok alice secondary
pair_wait bob 10 "alice Secondary" 'p["role"] == "Secondary"'
pair_ok bob invalidate
pair_wait bob 10 "bob SyncTarget" 'p["replication"] in ("SyncTarget", "PausedSyncT")'
pair_ok bob primary
left=$(rl_num bob peer.out_of_sync_bytes)
[ "$left" -gt $((32 * M)) ] || bt_fail "the resync went too fast to test (only $left bytes left)"

out=$(timeout 40 /usr/bin/python3 - "$(pair_uri bob)" "$(pair_img alice)" 2>&1 <<'PY'
import nbd, sys, time
M = 1 << 20
h = nbd.NBD()
h.connect_uri(sys.argv[1])
img = open(sys.argv[2], "rb")
# Reads of 1 MiB (12..28 MiB) and writes of 2 MiB (30..46 MiB), 16 in
# flight, all far ahead of the resync, whose scan starts at 0: together
# they ask for twice the pool.
ops, writes = [], {}
for i in range(16):
    ops.append(("r", 12 * M + i * M, M))
    ops.append(("w", 30 * M + (i % 8) * 2 * M, 2 * M))
start = time.monotonic()
reads = {}
def wait_below(n):
    while h.aio_in_flight() > n:
        h.poll(1)
        if time.monotonic() - start > 30:
            sys.exit(f"I/O stuck: {h.aio_in_flight()} requests in flight after 30 s")
for kind, off, n in ops:
    wait_below(15)
    if kind == "r":
        buf = nbd.Buffer(n)
        h.aio_pread(buf, off)
        reads[off] = buf
    else:
        data = bytes([(off // M) % 250 + 1]) * n
        writes[off] = data
        h.aio_pwrite(nbd.Buffer.from_bytearray(bytearray(data)), off)
wait_below(0)
for off, buf in reads.items():
    img.seek(off)
    if buf.to_bytearray() != img.read(M):
        sys.exit(f"read at {off} differs from alice's data")
for off, data in writes.items():
    if h.pread(len(data), off) != data:
        sys.exit(f"write at {off} did not read back")
print(f"{len(reads)} reads and {len(ops) - len(reads)} writes in {time.monotonic() - start:.1f}s")
PY
) || bt_fail "writes on the Primary SyncTarget: $out"
bt_log "$out"
pair_wait bob 60 "the resync finished" \
	's["disk"] == "UpToDate" and p["replication"] == "Established"'
rl_expect_identical "after the resync under the Primary SyncTarget's writes"
bt_pass "a Primary SyncTarget's waiting writes left the resync its buffers: $out"
