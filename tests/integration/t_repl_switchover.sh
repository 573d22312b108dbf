#!/bin/bash
# Planned switchover, once per protocol (A, B, C), each on a fresh pair:
# force-promote alice, wait for the full sync, write known data through
# alice's NBD export (aligned and unaligned writes, a TRIM, a WRITE_ZEROES,
# a FLUSH), check the replication counters and peer state in status --json,
# demote alice, promote bob without --force and read the whole export back
# through bob: it must be byte-identical to what alice served, to the data
# area of both backing files and to the model of what was written. Finally a write on bob
# must reach alice's disk (replication in the other direction).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
bt_init 120

M=$((1024 * 1024))
SIZE=$((64 * M))

# write_pattern NODE MODEL: the writes; prints the payload byte count.
write_pattern() {
	/usr/bin/python3 - "$(pair_uri "$1")" "$2" <<'EOF'
import random, sys
import nbd
M = 1 << 20
uri, model_path = sys.argv[1:]
h = nbd.NBD()
h.connect_uri(uri)
size = h.get_size()
if not (h.can_trim() and h.can_zero() and h.can_flush()):
    sys.exit(f"export lacks trim/zero/flush: {h.can_trim()} {h.can_zero()} {h.can_flush()}")
img = bytearray(size)
total = 0
# (offset, length, seed): aligned, unaligned start and length, a tail write
# ending at the last byte, and two regions that trim and zero then hit.
writes = [(0, 3 * M, 1), (10 * M + 511, M + 123, 2), (40 * M - 7, 2 * M, 3),
          (size - 4097, 4097, 4), (20 * M, 2 * M, 5), (30 * M, 2 * M, 6),
          (50 * M + 1, 1, 7)]
for off, n, seed in writes:
    data = random.Random(seed).randbytes(n)
    h.pwrite(data, off)
    img[off:off + n] = data
    total += n
trim_off, trim_len = 20 * M + 4096, M
h.trim(trim_len, trim_off)
zero_off, zero_len = 30 * M + 100, M + 1000
h.zero(zero_len, zero_off)
img[zero_off:zero_off + zero_len] = bytes(zero_len)
h.flush()
h.shutdown()
with open(model_path, "wb") as f:
    f.write(img)
with open(model_path + ".trim", "w") as f:
    f.write(f"{trim_off} {trim_len}\n")
print(total)
EOF
}

# check_model FILE MODEL WHAT: FILE equals MODEL except in the trimmed
# range, where each 4 KiB block holds either zeroes or the old data.
check_model() {
	/usr/bin/python3 - "$1" "$2" <<'EOF' || bt_fail "$3 differs from what was written"
import sys
got = open(sys.argv[1], "rb").read()
want = open(sys.argv[2], "rb").read()
toff, tlen = map(int, open(sys.argv[2] + ".trim").read().split())
if len(got) != len(want):
    sys.exit(print(f"size {len(got)}, expected {len(want)}"))
def first_diff(a, b, base):
    for i in range(0, len(a), 4096):
        if a[i:i + 4096] != b[i:i + 4096]:
            return base + i
    return None
for lo, hi in ((0, toff), (toff + tlen, len(want))):
    d = first_diff(got[lo:hi], want[lo:hi], lo)
    if d is not None:
        sys.exit(print(f"first differing 4 KiB block at offset {d}", file=sys.stderr) or 1)
for b in range(toff, toff + tlen, 4096):
    blk = got[b:b + 4096]
    if blk != want[b:b + 4096] and blk != bytes(4096):
        sys.exit(print(f"trimmed block {b} holds neither zeroes nor the old data", file=sys.stderr) or 1)
EOF
}

one_protocol() {
	local proto=$1 total sent recv sha_a sha_img sha_b sha_bimg t0=$SECONDS
	bt_log "---- protocol $proto"
	pair_setup "$proto" "$SIZE"
	pair_start alice
	pair_start bob
	pair_wait_connected 20
	pair_promote_first alice 30
	bt_expect_eq "$(pair_get alice protocol)" "$proto" "alice protocol"
	bt_expect_eq "$(pair_get bob protocol)" "$proto" "bob protocol"

	total=$(write_pattern alice "$BT_TMP/model") || bt_fail "protocol $proto: writes through alice failed: $total"
	bt_log "protocol $proto: wrote $total payload bytes"

	# Protocol A acks before the peer has the data: pending drains later.
	pair_wait alice 20 "pending writes drained" 'p["pending_writes"] == 0'
	sent=$(pair_get alice peer.data_sent_bytes)
	pair_wait bob 20 "all data received" "p['data_received_bytes'] == $sent"
	bt_daemon_alive bob
	recv=$(pair_get bob peer.data_received_bytes)
	[ "$sent" -ge "$total" ] || bt_fail "protocol $proto: alice data_sent_bytes $sent < $total bytes written"
	bt_expect_eq "$recv" "$sent" "protocol $proto: bob data_received_bytes vs alice data_sent_bytes"
	pair_wait alice 5 "peer state after writes" \
		'p["connection"] == "Connected" and p["role"] == "Secondary" and p["disk"] == "UpToDate" and p["replication"] == "Established" and p["out_of_sync_bytes"] == 0 and not s["io_frozen"]'

	pair_copy_export alice "$BT_TMP/alice.export"
	check_model "$BT_TMP/alice.export" "$BT_TMP/model" "protocol $proto: alice's export"
	sha_a=$(pair_sha_file "$BT_TMP/alice.export")
	pair_wait alice 10 "NBD clients gone" 's["nbd_connections"] == 0'
	pair_ok alice secondary
	pair_wait bob 10 "peer Secondary" 'p["role"] == "Secondary"'
	pair_ok bob primary
	pair_wait_synced bob 10

	pair_copy_export bob "$BT_TMP/bob.export"
	sha_b=$(pair_sha_file "$BT_TMP/bob.export")
	sha_img=$(pair_sha_data alice)
	sha_bimg=$(pair_sha_data bob)
	bt_expect_eq "$sha_b" "$sha_a" "protocol $proto: sha256 of bob's export vs alice's export"
	bt_expect_eq "$sha_img" "$sha_a" "protocol $proto: sha256 of alice's backing file vs alice's export"
	bt_expect_eq "$sha_bimg" "$sha_a" "protocol $proto: sha256 of bob's backing file vs alice's export"

	# The other direction: a write on bob lands on alice's disk.
	nbdsh -u "$(pair_uri bob)" -c 'h.pwrite(b"\xa5" * 8192 + b"bob-was-here", 5 * 1024 * 1024 + 3); h.flush()' ||
		bt_fail "protocol $proto: write through bob failed"
	pair_wait bob 20 "pending writes drained after bob's write" 'p["pending_writes"] == 0'
	pair_wait alice 20 "bob's write received" "p['data_received_bytes'] == 8204"
	/usr/bin/python3 - "$(pair_img alice)" <<'EOF' || bt_fail "protocol $proto: bob's write is not on alice's disk"
import sys
with open(sys.argv[1], "rb") as f:
    f.seek(5 * 1024 * 1024 + 3)
    sys.exit(f.read(8204) != b"\xa5" * 8192 + b"bob-was-here")
EOF
	bt_daemon_stop alice
	bt_daemon_stop bob
	TIMES="$TIMES $proto:$((SECONDS - t0))s"
}

TIMES=
for proto in A B C; do
	one_protocol "$proto"
done
bt_pass "protocols A B C, times$TIMES"
