#!/bin/bash
# A Diskless Primary's reads are served by its peer, and the reply's data
# needs pool buffers while the read holds its own: large reads must not
# starve the replies they wait for. buffer-mib = 8, so the largest request
# is 7 MiB; alice (Primary, 16 MiB of random data, synced) detaches her
# disk and reads 7 MiB twice at once, then 1 MiB reads at depth 8, through
# bob. Every read must complete within 30 s with bob's bytes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/resynclib.sh"
bt_init 90

SIZE=$((32 * M))
pair_setup C "$SIZE"
rl_conf_set buffer-mib 8
rl_fill "$(pair_img alice)" $((16 * M)) 13
pair_start alice
pair_start bob
pair_wait_connected 20
pair_promote_first alice 60
pair_ok alice detach
pair_wait alice 20 "alice Diskless" 's["disk"] == "Diskless"'

out=$(timeout 40 /usr/bin/python3 - "$(pair_uri alice)" "$(pair_img bob)" 2>&1 <<'PY'
import nbd, sys, time
M = 1 << 20
h = nbd.NBD()
h.connect_uri(sys.argv[1])
img = open(sys.argv[2], "rb")
start = time.monotonic()
def run(reads, depth):
    bufs = {}
    for off, n in reads:
        while h.aio_in_flight() >= depth:
            h.poll(1)
            if time.monotonic() - start > 30:
                sys.exit(f"reads stuck: {h.aio_in_flight()} in flight after 30 s")
        b = nbd.Buffer(n)
        h.aio_pread(b, off)
        bufs[off] = b
    while h.aio_in_flight():
        h.poll(1)
        if time.monotonic() - start > 30:
            sys.exit(f"reads stuck: {h.aio_in_flight()} in flight after 30 s")
    for off, b in bufs.items():
        img.seek(off)
        if b.to_bytearray() != img.read(len(b)):
            sys.exit(f"read at {off} differs from bob's data")
    return len(bufs)
n = run([(0, 7 * M), (8 * M, 7 * M)], 2)
n += run([(i * M, M) for i in range(16)], 8)
print(f"{n} reads through bob in {time.monotonic() - start:.1f}s")
PY
) || bt_fail "reads on the Diskless Primary: $out"
bt_pass "large reads on a Diskless Primary left their replies buffers: $out"
