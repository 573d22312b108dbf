#!/bin/bash
# Protocol A leaves the Secondary crash-consistent: ext4 on alice's export
# (nbdfuse + loop device), a loop creating, appending to, renaming and
# deleting files with a sync every few files, alice killed with SIGKILL in
# the middle of it. After the dead stack is torn down, bob is promoted
# without --force, its export attached the same way, the ext4 journal
# replayed by mounting it (what a user does after a failover), and then
# `fsck.ext4 -n -f` must find nothing to fix.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
bt_init 150

[ "$(id -u)" = 0 ] || bt_skip "needs root (loop devices, mount)"
[ -c /dev/fuse ] || bt_skip "no /dev/fuse"
[ -e /dev/loop-control ] || bt_skip "no /dev/loop-control"
for c in nbdfuse fusermount3 losetup mkfs.ext4 fsck.ext4 mount umount mountpoint; do
	command -v "$c" >/dev/null || bt_skip "$c not installed"
done
losetup -f >/dev/null 2>&1 || bt_skip "no free loop device"

M=$((1024 * 1024))
SIZE=$((128 * M))
declare -A FUSE_PID=() LOOP=()
WRITER_PID=

# attach NODE: nbdfuse of NODE's export on $BT_TMP/fuse-NODE, then a loop
# device on the file it shows; sets LOOP[NODE].
attach() {
	local n=$1 dir=$BT_TMP/fuse-$1 end=$((SECONDS + 20))
	mkdir -p "$dir"
	nbdfuse -P "$BT_TMP/nbdfuse-$n.pid" "$dir/nbd" "$(pair_uri "$n")" >>"$BT_TMP/nbdfuse-$n.log" 2>&1 &
	FUSE_PID[$n]=$!
	until [ -s "$BT_TMP/nbdfuse-$n.pid" ] && mountpoint -q "$dir"; do
		bt_pid_running "${FUSE_PID[$n]}" || bt_fail "nbdfuse on $n's export exited before mounting: $(tail -2 "$BT_TMP/nbdfuse-$n.log")"
		[ "$SECONDS" -ge "$end" ] && bt_fail "nbdfuse on $n's export did not mount within 20s"
		sleep 0.05
	done
	LOOP[$n]=$(losetup --direct-io=off -f --show "$dir/nbd") || bt_fail "losetup on $n's export failed"
	bt_log "$n: loop device ${LOOP[$n]}"
}

# is_mounted DIR: DIR is a mount point, even a dead one (a FUSE mount whose
# server is gone fails stat, so mountpoint(1) cannot tell).
is_mounted() { awk -v d="$1" '$5 == d { f = 1 } END { exit !f }' /proc/self/mountinfo; }

# teardown NODE: unmount and detach whatever is left of NODE's stack, even
# with its daemon dead (lazy unmounts, nbdfuse ended by PID).
teardown() {
	local n=$1 dir=$BT_TMP/fuse-$1
	if is_mounted "$BT_TMP/fs-$n"; then umount "$BT_TMP/fs-$n" 2>/dev/null || umount -l "$BT_TMP/fs-$n"; fi
	[ -n "${LOOP[$n]:-}" ] && losetup -d "${LOOP[$n]}" 2>/dev/null
	LOOP[$n]=
	if is_mounted "$dir"; then
		fusermount3 -u "$dir" 2>/dev/null || fusermount3 -u -z "$dir" 2>/dev/null || umount -l "$dir"
	fi
	[ -n "${FUSE_PID[$n]:-}" ] && bt_kill_pid "${FUSE_PID[$n]}"
	FUSE_PID[$n]=
	return 0
}

cleanup_all() {
	[ -n "$WRITER_PID" ] && kill -KILL "$WRITER_PID" 2>/dev/null
	teardown alice
	teardown bob
}
bt_on_exit cleanup_all

# writer DIR: files of varied sizes in 8 directories, appends, renames and
# deletes, a sync every 8 files; runs until killed or the fs fails.
writer() {
	local d=$1 i=0 sub
	mkdir -p "$d"/dir{0..7} || return 1
	while :; do
		sub=$d/dir$((i % 8))
		head -c $(((i * 7919) % 300000 + 1)) /dev/urandom >"$sub/f$i" || return 1
		[ $((i % 5)) = 0 ] && { head -c 4096 /dev/urandom >>"$d/dir0/f0" || return 1; }
		[ $((i % 7)) = 3 ] && { mv "$sub/f$i" "$sub/r$i" || return 1; }
		[ $((i % 11)) = 5 ] && [ -e "$d/dir$(((i - 5) % 8))/f$((i - 5))" ] &&
			{ rm "$d/dir$(((i - 5) % 8))/f$((i - 5))" || return 1; }
		[ $((i % 8)) = 7 ] && { sync || return 1; }
		i=$((i + 1))
	done
}

pair_setup A "$SIZE"
pair_start alice
pair_start bob
pair_wait_connected 20
pair_promote_first alice 30

attach alice
mkfs.ext4 -q -F "${LOOP[alice]}" >"$BT_TMP/mkfs.out" 2>&1 || bt_fail "mkfs.ext4 failed: $(tail -2 "$BT_TMP/mkfs.out")"
mkdir -p "$BT_TMP/fs-alice" "$BT_TMP/fs-bob"
mount -t ext4 "${LOOP[alice]}" "$BT_TMP/fs-alice" || bt_fail "mount on alice failed"

w0=$(pair_get alice written_bytes)
writer "$BT_TMP/fs-alice/data" >>"$BT_TMP/writer.log" 2>&1 &
WRITER_PID=$!
# Kill in the middle of the writes: once 24 MiB more have reached alice's
# disk (several syncs done, more dirty data on the way).
pair_wait alice 60 "24 MiB written by the file loop" "s['written_bytes'] >= $w0 + 24 * 1024 * 1024"
bt_pid_running "$WRITER_PID" || bt_fail "the writer loop stopped before the kill: $(tail -2 "$BT_TMP/writer.log")"
bt_daemon_kill9 alice
bt_log "alice killed after $(($(pair_get bob peer.data_received_bytes) / M)) MiB replicated"
kill -KILL "$WRITER_PID" 2>/dev/null
wait "$WRITER_PID" 2>/dev/null
WRITER_PID=
teardown alice

pair_wait bob 10 "peer loss noticed" 'p["connection"] != "Connected"'
bt_expect_eq "$(pair_get bob disk)" UpToDate "bob's disk after alice died"
pair_ok bob primary
pair_wait bob 5 "Primary" 's["role"] == "Primary"'

attach bob
# Mounting replays the journal; then the check must find nothing to fix.
mount -t ext4 "${LOOP[bob]}" "$BT_TMP/fs-bob" 2>"$BT_TMP/mount-bob.err" ||
	bt_fail "mounting bob's copy failed: $(cat "$BT_TMP/mount-bob.err")"
files=$(find "$BT_TMP/fs-bob" -type f | wc -l)
umount "$BT_TMP/fs-bob" || bt_fail "umount of bob's copy failed"
fsck.ext4 -n -f "${LOOP[bob]}" >"$BT_TMP/fsck.out" 2>&1
rc=$?
[ "$rc" = 0 ] || bt_fail "fsck.ext4 -n -f on bob's copy exited $rc: $(grep -v '^Pass' "$BT_TMP/fsck.out" | head -8 | tr '\n' ' ')"
teardown bob
bt_daemon_alive bob
bt_daemon_stop bob
bt_pass "fsck clean on bob after alice was killed mid-writes; $files files survived"
