#!/bin/bash
# fio's nbd engine with crc32c verification: 4 KiB random writes at queue
# depth 32, 1 MiB sequential writes at depth 8 and 512 B-128 KiB random
# writes at depth 16, three connections at once. Then a verify-only pass on
# new connections, and a proof that a corrupted block makes verification fail.
. "$(dirname "$0")/lib.sh"
bt_init 150

fio --enghelp 2>&1 | grep -qw nbd || bt_skip "fio has no nbd engine"

M=$((1024 * 1024))
SIZE=$((192 * M))
img=$BT_TMP/disk.img
sock=$BT_TMP/nbd.sock
uri=$(bt_unix_uri "$sock")
truncate -s "$SIZE" "$img"

bt_daemon_start d --name r0 --disk "$img" --nbd "unix:$sock"
bt_wait_ready d "$uri"

# jobfile NAME EXTRA_GLOBAL_LINES [JOB_SECTIONS...]: write NAME.fio.
jobfile() {
	local name=$1 extra=$2
	shift 2
	{
		printf '[global]\nioengine=nbd\nuri=%s\nverify=crc32c\nverify_fatal=1\n' "$uri"
		printf 'randrepeat=1\ndo_verify=1\n%s\n' "$extra"
		printf '%s\n' "$@"
	} >"$BT_TMP/$name.fio"
}
RAND4K=$'[rand4k]\nrw=randwrite\nbs=4k\niodepth=32\noffset=0\nsize=64m'
SEQ1M=$'[seq1m]\nrw=write\nbs=1m\niodepth=8\noffset=64m\nsize=64m'
MIXED=$'[mixed]\nrw=randwrite\nbsrange=512-128k\nblockalign=512\niodepth=16\noffset=128m\nsize=32m'

# runfio NAME: run NAME.fio with json output; sets FIO_RC.
runfio() {
	fio --output-format=json --output="$BT_TMP/$1.json" "$BT_TMP/$1.fio" >"$BT_TMP/$1.out" 2>&1
	FIO_RC=$?
}

# jobcheck NAME JOB WRITE_BYTES READ_BYTES: error 0 and the bytes moved
# (WRITE_BYTES "-": not checked; verify_only counts writes it never did).
jobcheck() {
	/usr/bin/python3 - "$BT_TMP/$1.json" "$2" "$3" "$4" <<'EOF' || bt_fail "fio $1/$2: $(cat "$BT_TMP/why" 2>/dev/null)"
import json, sys, os
raw = open(sys.argv[1]).read()
# fio may print notes before the json object.
j = json.loads(raw[raw.index("{"):])
job = [x for x in j["jobs"] if x["jobname"] == sys.argv[2]]
why = []
if len(job) != 1:
    why.append("job missing from output")
else:
    x = job[0]
    if x["error"] != 0:
        why.append(f"error {x['error']}")
    if sys.argv[3] != "-" and x["write"]["io_bytes"] != int(sys.argv[3]):
        why.append(f"wrote {x['write']['io_bytes']} bytes, expected {sys.argv[3]}")
    if x["read"]["io_bytes"] != int(sys.argv[4]):
        why.append(f"verified {x['read']['io_bytes']} bytes, expected {sys.argv[4]}")
open(os.path.join(os.path.dirname(sys.argv[1]), "why"), "w").write("; ".join(why))
sys.exit(1 if why else 0)
EOF
}

# 1. Write and verify, three jobs (three connections) at once.
jobfile write "" "$RAND4K" "$SEQ1M" "$MIXED"
runfio write
[ "$FIO_RC" = 0 ] || bt_fail "fio write+verify exited $FIO_RC: $(grep -Ei 'verify|error|bad' "$BT_TMP/write.out" | head -3 | tr '\n' ' ')"
jobcheck write rand4k $((64 * M)) $((64 * M))
jobcheck write seq1m $((64 * M)) $((64 * M))
jobcheck write mixed $((32 * M)) $((32 * M))

# 2. Verify only, on fresh connections: the data stayed.
jobfile verify "verify_only=1" "$RAND4K" "$SEQ1M" "$MIXED"
runfio verify
[ "$FIO_RC" = 0 ] || bt_fail "fio verify-only pass exited $FIO_RC: $(grep -Ei 'verify|error|bad' "$BT_TMP/verify.out" | head -3 | tr '\n' ' ')"
jobcheck verify rand4k - $((64 * M))
jobcheck verify seq1m - $((64 * M))
jobcheck verify mixed - $((32 * M))

# 3. One corrupted 4 KiB block in the sequential region must be caught.
qemu-io -f raw "$uri" -c "write -P 0x5a $((64 * M + 5 * M + 8192)) 4k" >/dev/null 2>&1 ||
	bt_fail "qemu-io corrupting write failed"
jobfile corrupt "verify_only=1" "$SEQ1M"
runfio corrupt
[ "$FIO_RC" != 0 ] || bt_fail "fio verify-only passed over a corrupted block"
grep -q "verify failed at file seq1m.* offset $((64 * M + 5 * M))," "$BT_TMP/corrupt.out" ||
	bt_fail "fio did not report the corrupted 1 MiB block at $((64 * M + 5 * M)): $(head -2 "$BT_TMP/corrupt.out" | tr '\n' ' ')"

bt_daemon_alive d
bt_daemon_stop d
bt_pass
