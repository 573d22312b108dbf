#!/bin/bash
# qemu's NBD client against the export: pattern writes and verified reads,
# FUA writes, write-zeroes (plain, unmap, no-fallback), discard, async
# writes, vectored I/O, unaligned I/O; data checked again from a second
# connection, over tcp, and in the backing file after a clean stop.
. "$(dirname "$0")/lib.sh"
bt_init 90

M=$((1024 * 1024))
SIZE=$((64 * M))
img=$BT_TMP/disk.img
sock=$BT_TMP/nbd.sock
port=$(bt_free_port)
truncate -s "$SIZE" "$img"
uri=$(bt_unix_uri "$sock")

bt_daemon_start d --name r0 --disk "$img" --nbd "unix:$sock,tcp:127.0.0.1:$port"
bt_wait_ready d "$uri"

# qio NAME URI CMD...: run qemu-io with one -c per CMD; output in NAME.out.
# Fails the test on a non-zero exit or any failure message.
qio() {
	local name=$1 target=$2 args=() c
	shift 2
	for c in "$@"; do args+=(-c "$c"); done
	qemu-io -f raw "$target" "${args[@]}" >"$BT_TMP/$name.out" 2>&1
	local rc=$?
	if grep -Eqi 'verification failed|failed|error' "$BT_TMP/$name.out"; then
		bt_fail "qemu-io ($name): $(grep -Ei 'verification failed|failed|error' "$BT_TMP/$name.out" | head -3 | tr '\n' ' ')"
	fi
	[ "$rc" = 0 ] || bt_fail "qemu-io ($name) exited $rc: $(tail -3 "$BT_TMP/$name.out" | tr '\n' ' ')"
}

# Every write that qemu-io reports must say how much it wrote.
expect_line() { # NAME REGEX WHAT
	grep -Eq "$2" "$BT_TMP/$1.out" || bt_fail "qemu-io ($1): no line matching '$2' ($3)"
}

qio main "$uri" \
	'write -P 0xab 0 1M' \
	'read -P 0xab 0 1M' \
	'write -f -P 0xcd 1M 64k' \
	'read -P 0xcd 1M 64k' \
	'write -P 0xee 2M 3M' \
	'write -z 2M 1M' \
	'read -P 0 2M 1M' \
	'write -z -u 3M 1M' \
	'read -P 0 3M 1M' \
	'write -z -n 4M 1M' \
	'read -P 0 4M 1M' \
	'write -z -f 4M 64k' \
	'read -P 0 4M 64k' \
	'write -P 0x77 5M 1M' \
	'discard 5M 1M' \
	'read -P 0 5M 1M' \
	'aio_write -P 0x11 6M 64k' \
	'aio_write -P 0x22 6208k 64k' \
	'aio_write -f -P 0x33 6272k 64k' \
	'aio_write -z 6336k 64k' \
	'aio_flush' \
	'read -P 0x11 6M 64k' \
	'read -P 0x22 6208k 64k' \
	'read -P 0x33 6272k 64k' \
	'read -P 0 6336k 64k' \
	'writev -P 0x44 7M 4k 8k 512' \
	'readv -P 0x44 7M 4k 8k 512' \
	'write -P 0x55 8388609 3' \
	'read -P 0x55 8388609 3' \
	'read -P 0 8388608 1' \
	'read -P 0 8388612 4092' \
	'write -P 0x66 8392703 2' \
	'read -P 0x66 8392703 2' \
	'flush' \
	'length'
expect_line main '^wrote 1048576/1048576 bytes at offset 0$' "1 MiB pattern write"
expect_line main '^read 1048576/1048576 bytes at offset 0$' "1 MiB pattern read"
expect_line main '^wrote 65536/65536 bytes at offset 1048576$' "FUA write"
expect_line main '^wrote 3/3 bytes at offset 8388609$' "unaligned write"
expect_line main '^wrote 12800/12800 bytes at offset 7340032$' "vectored write"
expect_line main '^discard 1048576/1048576 bytes at offset 5242880$' "discard"
expect_line main '^64 MiB$' "export length"
n=$(grep -c '^read ' "$BT_TMP/main.out")
bt_expect_eq "$n" 16 "number of successful qemu-io reads"

# A wrong pattern must be reported: proves the verification above can fail.
qemu-io -f raw "$uri" -c 'read -P 0x99 0 4k' >"$BT_TMP/neg.out" 2>&1
grep -q 'Pattern verification failed' "$BT_TMP/neg.out" ||
	bt_fail "qemu-io read with a wrong pattern was not reported as a mismatch"

# Second connection, over tcp: everything written is still there.
qio again "nbd://127.0.0.1:$port/r0" \
	'read -P 0xab 0 1M' \
	'read -P 0xcd 1M 64k' \
	'read -P 0 2M 3M' \
	'read -P 0x11 6M 64k' \
	'read -P 0x22 6208k 64k' \
	'read -P 0x33 6272k 64k' \
	'readv -P 0x44 7M 4k 8k 512' \
	'read -P 0x55 8388609 3' \
	'read -P 0x66 8392703 2'

# Many async writes in flight from one client, then verified.
cmds=()
for i in $(seq 0 63); do cmds+=("aio_write -P $((i + 1)) $((16 * M + i * 64 * 1024)) 64k"); done
cmds+=(aio_flush)
for i in $(seq 0 63); do cmds+=("read -P $((i + 1)) $((16 * M + i * 64 * 1024)) 64k"); done
qio aio "$uri" "${cmds[@]}"
bt_expect_eq "$(grep -c '^read 65536/65536' "$BT_TMP/aio.out")" 64 "verified reads after 64 aio writes"

bt_daemon_alive d
bt_daemon_stop d

# The backing file holds what qemu wrote.
/usr/bin/python3 - "$img" <<'EOF' || bt_fail "backing file content differs from what qemu-io wrote"
import sys
M = 1 << 20
f = open(sys.argv[1], "rb")
def at(off, n):
    f.seek(off)
    return f.read(n)
assert at(0, M) == b"\xab" * M, "0..1M"
assert at(M, 65536) == b"\xcd" * 65536, "1M FUA"
assert at(2 * M, 3 * M) == bytes(3 * M), "zeroed/discarded 2M..5M"
assert at(8388608, 5) == b"\0\x55\x55\x55\0", "unaligned"
for i in range(64):
    assert at(16 * M + i * 65536, 65536) == bytes([i + 1]) * 65536, f"aio {i}"
EOF
bt_pass
