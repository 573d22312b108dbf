#!/bin/bash
# A Primary may be SyncTarget: reads of blocks it lacks are served from the
# peer. A 256 MiB pair with 128 MiB of seeded random data on alice; alice
# is demoted, bob's copy of 64..128 MiB is zeroed behind blockd's back,
# and bob invalidates his copy, so a full resync alice -> bob runs slowly
# (resync-rate-max-mib = 16). While bob is SyncTarget:
#  - bob's own promotion without --force is allowed (alice is UpToDate);
#  - reads through bob's export of blocks the resync has not reached yet
#    return alice's bytes (they are fetched first), compared with alice's
#    image;
#  - writes through bob land on both nodes and are not overwritten by the
#    resync afterwards;
#  - the resync finishes (bob UpToDate, Established) and both data areas
#    are identical.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/resynclib.sh"
bt_init 90

SIZE=$((256 * M))
pair_setup C "$SIZE"
rl_conf_set resync-rate-max-mib 16
rl_fill "$(pair_img alice)" $((128 * M)) 11
pair_start alice
pair_start bob
pair_wait_connected 20
pair_ok alice primary --force
pair_wait_synced alice 60
pair_ok alice secondary
pair_wait bob 10 "alice Secondary" 'p["role"] == "Secondary"'

# bob's own copy goes bad behind blockd's back (zeros over 64..128 MiB), so
# a read served from bob's disk instead of alice's would show.
bt_daemon_stop bob
dd if=/dev/zero of="$(pair_img bob)" bs=1M seek=64 count=64 conv=notrunc status=none ||
	bt_fail "could not damage bob's image"
pair_start bob
pair_wait_connected 20

pair_ok bob invalidate
pair_wait bob 10 "bob SyncTarget" 'p["replication"] in ("SyncTarget", "PausedSyncT")'
pair_ok bob primary
pair_wait bob 5 "bob Primary while SyncTarget" \
	's["role"] == "Primary" and s["disk"] == "Inconsistent" and p["replication"] == "SyncTarget"'
left=$(rl_num bob peer.out_of_sync_bytes)
[ "$left" -gt $((64 * M)) ] || bt_fail "the resync went too fast to test (only $left bytes left)"

# Reads far ahead of the resync cursor, and writes into blocks not yet
# resynced (120..122 MiB) and beyond the data (200 MiB).
/usr/bin/python3 - "$(pair_uri bob)" "$(pair_img alice)" <<'PY' || bt_fail "reads/writes on the Primary SyncTarget failed"
import nbd, sys
uri, alice_img = sys.argv[1], sys.argv[2]
M = 1 << 20
h = nbd.NBD()
h.connect_uri(uri)
with open(alice_img, "rb") as f:
    for off in (100 * M, 64 * M + 12345, 127 * M):
        got = h.pread(256 * 1024, off)
        f.seek(off)
        want = f.read(256 * 1024)
        if got != want:
            sys.exit(f"read at {off} through bob differs from alice's image")
for off in (120 * M, 121 * M + 4096, 200 * M):
    h.pwrite(bytes([0x33]) * 65536, off)
h.flush()
for off in (120 * M, 121 * M + 4096, 200 * M):
    if h.pread(65536, off) != bytes([0x33]) * 65536:
        sys.exit(f"bob does not read back its own write at {off}")
h.shutdown()
PY

pair_wait bob 60 "resync finished" \
	's["disk"] == "UpToDate" and p["replication"] == "Established"'
rl_expect_identical "after the resync into a Primary"
/usr/bin/python3 - "$(pair_img alice)" <<'PY' || bt_fail "bob's writes are not on alice's disk"
import sys
M = 1 << 20
with open(sys.argv[1], "rb") as f:
    for off in (120 * M, 121 * M + 4096, 200 * M):
        f.seek(off)
        if f.read(65536) != bytes([0x33]) * 65536:
            sys.exit(f"alice lacks bob's write at {off}")
PY
bt_pass "Primary SyncTarget: reads fetched ahead of the resync, writes kept"
