#!/bin/bash
# qemu-img convert a raw image with random data, explicit zeros and a hole
# into an export that starts out full of garbage, convert it back out, and
# compare: qemu-img compare, sha256 of the copy, and of the backing file.
. "$(dirname "$0")/lib.sh"
bt_init 120

M=$((1024 * 1024))
SIZE=$((64 * M))
img=$BT_TMP/disk.img
src=$BT_TMP/src.raw
out=$BT_TMP/out.raw
sock=$BT_TMP/nbd.sock
uri=$(bt_unix_uri "$sock")

# Source: random 0-20M, written zeros 20-30M, random 30-40M, hole 40-60M,
# random 60M-64M minus 4097 bytes, and an unaligned random tail.
truncate -s "$SIZE" "$src"
put() { # OFFSET_BYTES LEN_BYTES SOURCE
	head -c "$2" "$3" | dd of="$src" bs=64k seek="$1" oflag=seek_bytes conv=notrunc status=none
}
put 0 $((20 * M)) /dev/urandom
put $((20 * M)) $((10 * M)) /dev/zero
put $((30 * M)) $((10 * M)) /dev/urandom
put $((60 * M)) $((4 * M - 4097)) /dev/urandom
put $((SIZE - 4097)) 4097 /dev/urandom
# The export starts full of garbage, so every zero must be written.
head -c "$SIZE" /dev/urandom >"$img"

bt_daemon_start d --name r0 --disk "$img" --nbd "unix:$sock"
bt_wait_ready d "$uri"

qemu-img info -f raw "$uri" >"$BT_TMP/info.out" 2>&1 || bt_fail "qemu-img info failed: $(tail -2 "$BT_TMP/info.out")"
grep -q "virtual size: 64 MiB ($SIZE bytes)" "$BT_TMP/info.out" ||
	bt_fail "qemu-img info: wrong virtual size: $(grep 'virtual size' "$BT_TMP/info.out")"

qemu-img convert -p -n -W -m 8 -f raw -O raw "$src" "$uri" >"$BT_TMP/in.out" 2>&1 ||
	bt_fail "qemu-img convert into the export failed: $(tail -2 "$BT_TMP/in.out")"
qemu-img convert -f raw -O raw "$uri" "$out" >"$BT_TMP/outconv.out" 2>&1 ||
	bt_fail "qemu-img convert out of the export failed: $(tail -2 "$BT_TMP/outconv.out")"

qemu-img compare -f raw -F raw "$src" "$out" >"$BT_TMP/cmp1.out" 2>&1
bt_expect_eq "$?" 0 "qemu-img compare source vs copy out ($(head -1 "$BT_TMP/cmp1.out"))"
qemu-img compare -f raw -F raw "$src" "$uri" >"$BT_TMP/cmp2.out" 2>&1
bt_expect_eq "$?" 0 "qemu-img compare source vs export ($(head -1 "$BT_TMP/cmp2.out"))"
want=$(sha256sum <"$src" | cut -d' ' -f1)
bt_expect_eq "$(sha256sum <"$out" | cut -d' ' -f1)" "$want" "sha256 of the copy out"
bt_expect_eq "$(stat -c %s "$out")" "$SIZE" "size of the copy out"

# The hole at 40M reads back as zero in qemu's map (base:allocation).
qemu-img map -f raw --output=json "$uri" >"$BT_TMP/map.json" 2>&1 || bt_fail "qemu-img map failed"
/usr/bin/python3 - "$BT_TMP/map.json" $((40 * M)) $((60 * M)) <<'EOF' || bt_fail "qemu-img map: 40M-60M not reported as zero: $(head -c 600 "$BT_TMP/map.json")"
import json, sys
m = json.load(open(sys.argv[1]))
lo, hi = int(sys.argv[2]), int(sys.argv[3])
cover = [e for e in m if e["start"] < hi and e["start"] + e["length"] > lo]
sys.exit(0 if cover and all(e["zero"] for e in cover) else 1)
EOF

# compare must notice one changed byte (proves it can fail here).
qemu-io -f raw "$uri" -c "write -P 0x5a $((25 * M + 7)) 1" >/dev/null 2>&1 || bt_fail "qemu-io single-byte write failed"
qemu-img compare -f raw -F raw "$src" "$uri" >"$BT_TMP/cmp3.out" 2>&1
bt_expect_eq "$?" 1 "qemu-img compare after changing one byte"
# qemu-img names the 512-byte sector holding the difference.
grep -Eq "Content mismatch at offset ($((25 * M))|$((25 * M + 7)))!" "$BT_TMP/cmp3.out" ||
	bt_fail "qemu-img compare reported: $(head -1 "$BT_TMP/cmp3.out")"
qemu-io -f raw "$uri" -c "write -z $((25 * M + 7)) 1" >/dev/null 2>&1 || bt_fail "qemu-io single-byte zero failed"

bt_daemon_alive d
bt_daemon_stop d
bt_expect_eq "$(sha256sum <"$img" | cut -d' ' -f1)" "$want" "sha256 of the backing file after a clean stop"
bt_pass
