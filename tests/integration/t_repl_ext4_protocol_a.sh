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
. "$(dirname "$0")/stacklib.sh"
bt_init 150

stack_require
for c in mkfs.ext4 fsck.ext4; do
	command -v "$c" >/dev/null || bt_skip "$c not installed"
done

M=$((1024 * 1024))
SIZE=$((128 * M))
declare -A LOOP=()
WRITER_PID=

# attach NODE: nbdfuse of NODE's export on $BT_TMP/fuse-NODE, then a loop
# device on the file it shows; sets LOOP[NODE].
attach() {
	local n=$1 dir=$BT_TMP/fuse-$1
	stack_fuse_start "$dir" nbd "$BT_TMP/nbdfuse-$n.log" "$(pair_uri "$n")" ||
		bt_fail "$n's export: $STACK_ERR"
	stack_loop_attach "$dir/nbd" --direct-io=off || bt_fail "$n's export: $STACK_ERR"
	LOOP[$n]=$STACK_DEV
	bt_log "$n: loop device ${LOOP[$n]}"
}

# teardown NODE: unmount and detach whatever is left of NODE's stack, even
# with its daemon dead (lazy unmounts, nbdfuse ended by PID).
teardown() {
	local n=$1
	stack_teardown_fs "$BT_TMP/fs-$n"
	[ -n "${LOOP[$n]:-}" ] && stack_teardown_loop "${LOOP[$n]}"
	LOOP[$n]=
	stack_teardown_fuse "$BT_TMP/fuse-$n"
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
stack_fs_mount "${LOOP[alice]}" "$BT_TMP/fs-alice" -t ext4 || bt_fail "mount on alice failed: $STACK_ERR"

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
stack_fs_mount "${LOOP[bob]}" "$BT_TMP/fs-bob" -t ext4 || bt_fail "mounting bob's copy failed: $STACK_ERR"
files=$(find "$BT_TMP/fs-bob" -type f | wc -l)
stack_fs_umount "$BT_TMP/fs-bob" || bt_fail "umount of bob's copy failed: $STACK_ERR"
fsck.ext4 -n -f "${LOOP[bob]}" >"$BT_TMP/fsck.out" 2>&1
rc=$?
[ "$rc" = 0 ] || bt_fail "fsck.ext4 -n -f on bob's copy exited $rc: $(grep -v '^Pass' "$BT_TMP/fsck.out" | head -8 | tr '\n' ' ')"
teardown bob
bt_daemon_alive bob
bt_daemon_stop bob
bt_pass "fsck clean on bob after alice was killed mid-writes; $files files survived"
