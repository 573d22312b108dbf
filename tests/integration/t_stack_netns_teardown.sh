#!/bin/bash
# The block stack (nbdfuse + loop device + ext4, as dblib.sh builds it) comes
# down cleanly while another mount namespace exists that was made when it
# was mounted, as `ip netns exec` makes one for every daemon of a partition
# test running beside this one. That namespace gets a copy of each mount;
# the teardown must still unmount, detach the loop device and end nbdfuse
# within its deadlines, the other namespace must be left holding none of
# it, and the data must read back after attaching again. A namespace made
# with private propagation (`unshare -m`) cannot be reached: then the
# failed wait must name it, and the detach complete once it is gone.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/dblib.sh"
bt_init 90

stack_require
for c in mkfs.ext4 ip unshare; do
	command -v "$c" >/dev/null || bt_skip "$c not installed"
done
bt_on_exit db_cleanup

M=$((1024 * 1024))
NS=bd-$$-h
HOLDER=
PRIVATE=

cleanup_holder() {
	[ -n "$HOLDER" ] && bt_kill_pid "$HOLDER"
	[ -n "$PRIVATE" ] && bt_kill_pid "$PRIVATE"
	ip netns del "$NS" 2>/dev/null
	return 0
}
bt_on_exit cleanup_holder
ip netns add "$NS" 2>"$BT_TMP/netns.err" || bt_skip "cannot create a network namespace: $(head -1 "$BT_TMP/netns.err")"

# holder_mounts MAJ:MIN [PID]: how many mounts of that device the
# holder's (or PID's) namespace has.
holder_mounts() {
	awk -v mm="$1" '$3 == mm { n++ } END { print n + 0 }' "/proc/${2:-$HOLDER}/mountinfo"
}

# wait_copy PID MAJ:MIN: until PID runs in a mount namespace of its own
# that holds a mount of that device.
wait_copy() {
	local end=$((SECONDS + 10))
	until [ -r "/proc/$1/mountinfo" ] && [ "$(holder_mounts "$2" "$1")" -gt 0 ] &&
		[ "$(readlink "/proc/$1/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ]; do
		[ "$SECONDS" -ge "$end" ] && bt_fail "pid $1 shows no copy of the mount of $2 within 10s"
		sleep 0.05
	done
}

truncate -s $((64 * M)) "$BT_TMP/alice.img"
bt_daemon_start alice --name r0 --disk "$BT_TMP/alice.img" --nbd "unix:$(pair_sock alice)"
bt_wait_ready alice "$(pair_uri alice)"

db_attach alice
dev=${DB_LOOP[alice]}
mkfs.ext4 -q -F "$dev" >"$BT_TMP/mkfs.out" 2>&1 || bt_fail "mkfs.ext4 failed: $(tail -2 "$BT_TMP/mkfs.out")"
db_mount alice
head -c $((4 * M)) /dev/urandom >"$BT_TMP/fs-alice/data"
sum=$(sha256sum <"$BT_TMP/fs-alice/data")
sync -f "$BT_TMP/fs-alice" || bt_fail "syncfs failed"
loop_mm=$(cat "/sys/block/${dev#/dev/}/dev")
fuse_mm=$(awk -v d="$BT_TMP/fuse-alice" '$5 == d && / - fuse / { print $3 }' /proc/self/mountinfo)
[ -n "$fuse_mm" ] || bt_fail "no FUSE mount on $BT_TMP/fuse-alice"

# A neighbour's daemon: a new mount namespace made while all of it is mounted.
ip netns exec "$NS" sleep 600 &
HOLDER=$!
wait_copy "$HOLDER" "$loop_mm"
bt_log "holder pid $HOLDER in its own mount namespace with a copy of the ext4 and FUSE mounts"

t0=$SECONDS
db_detach alice
bt_log "detached in $((SECONDS - t0))s with the holder running"
bt_pid_running "$HOLDER" || bt_fail "the holder exited during the teardown"
bt_expect_eq "$(holder_mounts "$loop_mm")" 0 "mounts of $dev left in the holder's namespace"
bt_expect_eq "$(holder_mounts "$fuse_mm")" 0 "FUSE mounts left in the holder's namespace"

# The same stack again: the data is there, and a second teardown is clean.
db_attach alice
db_mount alice
bt_expect_eq "$(sha256sum <"$BT_TMP/fs-alice/data")" "$sum" "checksum of the file after attaching again"
db_detach alice

# A private namespace keeps its copy: the wait fails and says who holds it.
db_attach alice
dev=${DB_LOOP[alice]}
loop_mm=$(cat "/sys/block/${dev#/dev/}/dev")
db_mount alice
unshare --mount --propagation private sleep 600 &
PRIVATE=$!
wait_copy "$PRIVATE" "$loop_mm"
stack_fs_umount "$BT_TMP/fs-alice" || bt_fail "umount with a private copy elsewhere: $STACK_ERR"
stack_loop_detach "$dev" 1 && bt_fail "$dev let go although a private namespace still mounts it"
bt_log "diagnostic: $STACK_ERR"
ns=$(readlink "/proc/$PRIVATE/ns/mnt")
case "$STACK_ERR" in
*"still attached"*"mounted in $ns (pid $PRIVATE, sleep) at $BT_TMP/fs-alice"*) ;;
*) bt_fail "the diagnostic does not name pid $PRIVATE's namespace $ns: $STACK_ERR" ;;
esac
bt_kill_pid "$PRIVATE"
PRIVATE=
db_detach alice
bt_daemon_alive alice
bt_daemon_stop alice
bt_pass "stack torn down beside a neighbour's mount namespace; a private one named in the diagnostic"
