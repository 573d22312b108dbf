#!/bin/bash
# A real filesystem on the export: nbdfuse exposes it as a file, a loop
# device turns that into a block device, ext4 goes on top. Files with known
# checksums are written (buffered and O_DIRECT), fstrim sends discards, fsck
# must find the filesystem clean; after a daemon restart the filesystem is
# mounted again and every checksum verified; finally the backing file itself
# must fsck clean. The stack is built and taken down by stacklib.sh.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/stacklib.sh"
bt_init 180

stack_require
for c in mkfs.ext4 fsck.ext4 fstrim; do
	command -v "$c" >/dev/null || bt_skip "$c not installed"
done

M=$((1024 * 1024))
img=$BT_TMP/disk.img
sock=$BT_TMP/nbd.sock
uri=$(bt_unix_uri "$sock")
mnt=$BT_TMP/fuse
fs=$BT_TMP/fs
truncate -s $((256 * M)) "$img"

LOOP=

# attach: daemon already running; nbdfuse + loop device (mounted later).
attach() {
	stack_fuse_start "$mnt" nbd "$BT_TMP/nbdfuse.log" "$uri" || bt_fail "$STACK_ERR"
	bt_expect_eq "$(stat -c %s "$mnt/nbd")" $((256 * M)) "size of the nbdfuse file"
	stack_loop_attach "$mnt/nbd" --direct-io=off || bt_fail "$STACK_ERR"
	LOOP=$STACK_DEV
	bt_log "loop device $LOOP"
}

mount_fs() {
	stack_fs_mount "$LOOP" "$fs" -t ext4 || bt_fail "$STACK_ERR"
}

umount_fs() {
	stack_fs_umount "$fs" || bt_fail "$STACK_ERR"
}

# detach: each step must complete; a failure names what holds the device
# or the mount. (Whatever is left at exit, stack_cleanup takes down.)
detach() {
	umount_fs
	if [ -n "$LOOP" ]; then
		stack_loop_detach "$LOOP" 20 || bt_fail "$STACK_ERR"
		LOOP=
	fi
	stack_fuse_stop "$mnt" 20 || bt_fail "$STACK_ERR"
}

bt_daemon_start d --name r0 --disk "$img" --nbd "unix:$sock"
bt_wait_ready d "$uri"
attach
mkfs.ext4 -q -F "$LOOP" >"$BT_TMP/mkfs.out" 2>&1 || bt_fail "mkfs.ext4 failed: $(tail -2 "$BT_TMP/mkfs.out")"
mount_fs

# Files: one large random, an O_DIRECT one, 150 small ones of odd sizes in
# nested directories, one truncated, one deleted (its blocks get trimmed).
head -c $((24 * M)) /dev/urandom >"$fs/big.bin"
head -c $((4 * M)) /dev/urandom >"$BT_TMP/direct.src"
dd if="$BT_TMP/direct.src" of="$fs/direct.bin" bs=1M oflag=direct status=none ||
	bt_fail "O_DIRECT write into the filesystem failed"
for i in $(seq 1 150); do
	d=$fs/dir$((i % 7))/sub$((i % 3))
	mkdir -p "$d"
	head -c $(((i * 7919) % 65536 + i)) /dev/urandom >"$d/f$i"
done
head -c $((3 * M)) /dev/urandom >"$fs/trunc.bin"
truncate -s 12345 "$fs/trunc.bin"
head -c $((16 * M)) /dev/urandom >"$fs/deleted.bin"
sync
rm "$fs/deleted.bin"
fstrim "$fs" || bt_fail "fstrim failed"
(cd "$fs" && find . -type f ! -name manifest -print0 | sort -z | xargs -0 sha256sum) >"$BT_TMP/manifest" ||
	bt_fail "computing checksums failed"
bt_expect_eq "$(wc -l <"$BT_TMP/manifest")" 153 "files in the checksum manifest"
sync
umount_fs

fsck.ext4 -n -f "$LOOP" >"$BT_TMP/fsck1.out" 2>&1
rc=$?
[ "$rc" = 0 ] || bt_fail "fsck.ext4 -n -f on the export exited $rc: $(tail -3 "$BT_TMP/fsck1.out" | tr '\n' ' ')"

# Restart the daemon: what is read back now came from the backing file.
detach
bt_daemon_stop d
bt_daemon_start d2 --name r0 --disk "$img" --nbd "unix:$sock"
bt_wait_ready d2 "$uri"
attach
mount_fs
(cd "$fs" && sha256sum --quiet -c "$BT_TMP/manifest") >"$BT_TMP/verify.out" 2>&1 ||
	bt_fail "checksums after remount: $(head -3 "$BT_TMP/verify.out" | tr '\n' ' ')"
cmp -s "$BT_TMP/direct.src" "$fs/direct.bin" || bt_fail "O_DIRECT-written file differs after remount"
bt_expect_eq "$(stat -c %s "$fs/trunc.bin")" 12345 "size of the truncated file"
[ ! -e "$fs/deleted.bin" ] || bt_fail "deleted file is back after remount"
umount_fs
detach
bt_daemon_alive d2
bt_daemon_stop d2

fsck.ext4 -n -f "$img" >"$BT_TMP/fsck2.out" 2>&1
rc=$?
[ "$rc" = 0 ] || bt_fail "fsck.ext4 -n -f on the backing file exited $rc: $(tail -3 "$BT_TMP/fsck2.out" | tr '\n' ' ')"
bt_pass
