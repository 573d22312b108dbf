#!/bin/bash
# A disk image cached by someone else (made with cp or dd, read by a
# backup) and then served with direct I/O: blockd drops its clean cached
# pages at start, so direct writes over them are not each handed to an
# io_uring worker first (the kernel invalidates cached pages under a
# direct write, which a non-blocking submission cannot do). With
# io-mode = buffered the cache is blockd's own and stays. Checked with
# fincore(1): the image's resident pages; the data reads back either way.
. "$(dirname "$0")/lib.sh"
bt_init 60

M=$((1024 * 1024))
img=$BT_TMP/disk.img
sock=$BT_TMP/nbd.sock
uri=$(bt_unix_uri "$sock")

resident() { fincore --bytes --noheadings --output RES -- "$img" | tr -d ' '; }

# Written through the page cache, then flushed: clean pages, all cached.
head -c $((64 * M)) /dev/urandom >"$img"
sync -- "$img"
before=$(resident)
[ "$before" -ge $((32 * M)) ] ||
	bt_skip "the image is not in the page cache after writing it ($before bytes resident)"

# --- 1. buffered: blockd serves from the page cache, which stays -----------
bt_daemon_start d1 --name r0 --disk "$img" --nbd "unix:$sock" --io-mode buffered
bt_wait_ready d1 "$uri"
after=$(resident)
[ "$after" -ge $((32 * M)) ] ||
	bt_fail "io-mode buffered dropped the image's page cache ($before -> $after bytes resident)"
bt_daemon_stop d1

# --- 2. direct: the cached pages are dropped at start ----------------------
bt_daemon_start d2 --name r0 --disk "$img" --nbd "unix:$sock"
bt_wait_ready d2 "$uri"
grep -q "direct I/O" "$BT_TMP/d2.log" ||
	bt_skip "the filesystem under $BT_TMP refuses O_DIRECT: $(grep -m1 'O_DIRECT' "$BT_TMP/d2.log")"
after=$(resident)
bt_expect_eq "$after" 0 "bytes of the image still cached after a direct-I/O start (were $before)"

qemu-io -f raw "$uri" -c 'write -P 0x5a 1M 4M' -c 'read -P 0x5a 1M 4M' -c 'read -P 0x5a 4M 4k' \
	>"$BT_TMP/qio.out" 2>&1 || bt_fail "write and read back failed: $(tail -2 "$BT_TMP/qio.out")"
grep -q "Pattern verification failed" "$BT_TMP/qio.out" &&
	bt_fail "data read back differs: $(grep -m1 'Pattern' "$BT_TMP/qio.out")"
bt_daemon_stop d2
cmp -s <(head -c $((4 * M)) <(tail -c +$((M + 1)) "$img")) <(head -c $((4 * M)) /dev/zero | tr '\0' '\132') ||
	bt_fail "the image does not hold the 4 MiB written at 1 MiB after the daemon stopped"

bt_pass "a cached image is dropped from the page cache at a direct-I/O start ($before -> 0 bytes), kept with io-mode buffered; data reads back"
