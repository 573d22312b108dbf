# The block stack of the integration tests: an NBD export shown as a file
# by nbdfuse, a loop device on that file, a filesystem on the loop device;
# set up and taken down so that the teardown cannot be blocked by tests
# running beside this one, and never touches their loop devices. Source it
# after lib.sh and bt_init (dblib.sh, faultlib.sh and pauselib.sh do):
#
#   stack_require                         # skips (77) without root, FUSE, loop
#                                         # (stack_require_fuse: FUSE only)
#   stack_fuse_start DIR nbd LOG URI || bt_fail "$STACK_ERR"  # DIR/nbd, STACK_PID
#   stack_loop_attach DIR/nbd --direct-io=off || bt_fail "$STACK_ERR"  # STACK_DEV
#   stack_fs_mount DEV FSDIR -t ext4 || bt_fail "$STACK_ERR"
#   ...
#   stack_fs_umount FSDIR || bt_fail "$STACK_ERR"          # strict: each step
#   stack_loop_detach DEV 20 || bt_fail "$STACK_ERR"       # fails with who
#   stack_fuse_stop DIR 20 || bt_fail "$STACK_ERR"         # holds what
#   stack_teardown_fs/_loop/_fuse ...     # best effort, stack half dead
#
# Why a teardown used to fail under load (measured, see the commit): this
# machine's mounts are private (no systemd). A mount namespace made while a
# test's mounts exist (`ip netns exec`, as netlib.sh does for every daemon
# of a partition test running beside) receives a copy of each of them, and
# an unmount here does not reach that copy. The copied ext4 keeps the loop
# device open, so `losetup -d` only sets autoclear and the device keeps the
# FUSE file open: "still attached 20s after losetup -d", then "fusermount3
# -u: Device or resource busy", and nbdfuse does not exit, until that other
# test's daemon exits. A slow export answering FLUSH is not the cause: the
# umount writes everything back and a `losetup -d` with no other opener
# releases the file before it returns, even at load average 6 behind a
# 50 ms-per-write server; direct I/O, `blockdev --flushbufs` and `sync -f`
# change nothing. Hence every mount point is first bind-mounted on itself
# and made shared, so the nbdfuse and filesystem mounts are shared from
# birth: `ip netns exec` turns its copies into slaves (MS_SLAVE|MS_REC) and
# an unmount here propagates into them. A namespace made with private
# propagation (`unshare -m`) is still not reached; the diagnostics of a
# failed wait name it (PID, namespace, mount point).
#
# Loop device numbers are reused at once: when ours is released, a test
# running beside may be handed the same /dev/loopN the next moment. So a
# device is known by number and backing file together (as the kernel shows
# it in /sys/block/loopN/loop/backing_file), LOOP_CLR_FD is issued at most
# once per attachment and only while the device still shows our file, and
# a wait ends when our file is gone from the device, whatever the number
# holds then.
#
# What it owns: the shared bind mounts of the mount points handed to it,
# the nbdfuse processes it started (ended by PID), the loop devices it
# attached, the filesystems it mounted. stack_cleanup (registered by
# stack_require) undoes whatever is left, newest first. Call the functions
# directly, never inside $(...): they set STACK_* variables and nbdfuse
# must outlive the caller's shell.

declare -A STACK_SHARED=()   # mount point -> 1: our shared bind is under it
declare -A STACK_FUSE_PID=() # FUSE mount point -> its nbdfuse PID
declare -A STACK_LOOP_FILE=() # /dev/loopN -> its backing file, kernel's spelling
declare -A STACK_LOOP_CLEARED=() # /dev/loopN -> 1 once losetup -d was issued
STACK_FS=()                  # filesystem mount points, in mount order
STACK_ERR=
STACK_PID=
STACK_DEV=
STACK_REQUIRED=

# stack_require_fuse: skip unless FUSE and nbdfuse are here; registers
# stack_cleanup (once). For a stack without a loop device (pauselib.sh).
stack_require_fuse() {
	local c
	[ -n "$STACK_REQUIRED" ] && return 0
	[ -c /dev/fuse ] || bt_skip "no /dev/fuse"
	for c in nbdfuse fusermount3 mount umount; do
		command -v "$c" >/dev/null || bt_skip "$c not installed"
	done
	STACK_REQUIRED=1
	bt_on_exit stack_cleanup
}

# stack_require: stack_require_fuse, and root, loop devices and losetup.
stack_require() {
	[ "$(id -u)" = 0 ] || bt_skip "needs root (loop devices, mount)"
	[ -e /dev/loop-control ] || bt_skip "no /dev/loop-control"
	command -v losetup >/dev/null || bt_skip "losetup not installed"
	losetup -f >/dev/null 2>&1 || bt_skip "no free loop device"
	stack_require_fuse
}

# stack_mounts_at DIR: how many mounts sit on DIR in our namespace.
stack_mounts_at() {
	awk -v d="$1" '$5 == d { n++ } END { print n + 0 }' /proc/self/mountinfo
}

# stack_mounted DIR: something is mounted on DIR (on top of our shared
# bind, when there is one), even a dead FUSE mount that stat(2) fails on.
stack_mounted() {
	local base=0
	[ -n "${STACK_SHARED[$1]:-}" ] && base=1
	[ "$(stack_mounts_at "$1")" -gt "$base" ]
}

# stack_share_dir DIR: make DIR a shared mount point (see the header).
# Not as an ordinary user: no bind mounts then, and no namespaces to copy
# into either (ip netns needs root).
stack_share_dir() {
	local d=$1
	mkdir -p "$d"
	[ -n "${STACK_SHARED[$d]:-}" ] && return 0
	[ "$(id -u)" = 0 ] || return 0
	if ! mount --bind "$d" "$d" 2>"$BT_TMP/stack.err"; then
		STACK_ERR="bind mount of $d failed: $(cat "$BT_TMP/stack.err")"
		return 1
	fi
	STACK_SHARED[$d]=1
	mount --make-shared "$d" 2>"$BT_TMP/stack.err" ||
		{ STACK_ERR="mount --make-shared $d failed: $(cat "$BT_TMP/stack.err")"; return 1; }
}

# stack_unshare_dir DIR: remove our bind once nothing else is on DIR.
# Never fails: a bind left over pins nothing, stack_cleanup retries it.
stack_unshare_dir() {
	local d=$1
	[ -n "${STACK_SHARED[$d]:-}" ] || return 0
	stack_mounted "$d" && return 0
	if [ "$(stack_mounts_at "$d")" -gt 0 ]; then
		umount "$d" 2>/dev/null || umount -l "$d" 2>/dev/null || return 0
	fi
	unset "STACK_SHARED[$d]"
}

# stack_fuse_start DIR FILE LOG ARGS...: `nbdfuse DIR/FILE ARGS...` (ARGS:
# a URI, or --command/--socket-activation/--unix ...) on a shared DIR;
# waits until DIR/FILE answers. Sets STACK_PID; 1 with STACK_ERR if
# nbdfuse exits first or takes longer than 20 s.
stack_fuse_start() {
	local dir=$1 file=$2 log=$3 pid end=$((SECONDS + 20))
	shift 3
	stack_share_dir "$dir" || return 1
	nbdfuse "$dir/$file" "$@" >>"$log" 2>&1 </dev/null &
	pid=$!
	STACK_FUSE_PID[$dir]=$pid
	STACK_PID=$pid
	until stack_mounted "$dir" && [ -e "$dir/$file" ]; do
		if ! bt_pid_running "$pid"; then
			STACK_ERR="nbdfuse on $dir exited before mounting: $(tail -2 "$log" | tr '\n' ' ')"
			return 1
		fi
		if [ "$SECONDS" -ge "$end" ]; then
			STACK_ERR="nbdfuse did not mount $dir/$file within 20s"
			return 1
		fi
		sleep 0.05
	done
}

# stack_loop_backing DEV: the backing file DEV shows now (empty if none).
stack_loop_backing() { cat "/sys/block/${1#/dev/}/loop/backing_file" 2>/dev/null; }

# stack_loop_ours DEV: DEV still holds the file this test attached to it.
stack_loop_ours() {
	[ -n "${STACK_LOOP_FILE[$1]:-}" ] && [ "$(stack_loop_backing "$1")" = "${STACK_LOOP_FILE[$1]}" ]
}

# stack_loop_attach FILE [LOSETUP_OPT...]: a free loop device on FILE;
# sets STACK_DEV; 1 with STACK_ERR.
stack_loop_attach() {
	local file=$1 dev
	shift
	if ! dev=$(losetup "$@" -f --show "$file" 2>"$BT_TMP/stack.err"); then
		STACK_ERR="losetup $* -f --show $file failed: $(cat "$BT_TMP/stack.err")"
		return 1
	fi
	STACK_LOOP_FILE[$dev]=$(stack_loop_backing "$dev")
	if [ -z "${STACK_LOOP_FILE[$dev]}" ]; then
		STACK_ERR="$dev shows no backing file right after losetup on $file"
		STACK_LOOP_FILE[$dev]=$(readlink -f "$file")
		return 1
	fi
	STACK_DEV=$dev
}

# stack_loop_detach DEV DEADLINE_S: detach DEV and wait until it has let go
# of our file; 1 with STACK_ERR (naming what still holds it) after the
# deadline.
stack_loop_detach() {
	local dev=$1 end=$((SECONDS + $2))
	[ -n "${STACK_LOOP_FILE[$dev]:-}" ] || return 0
	if [ -z "${STACK_LOOP_CLEARED[$dev]:-}" ] && stack_loop_ours "$dev"; then
		# Set before the call: even a failed LOOP_CLR_FD is never
		# repeated, it might reach a device that is no longer ours.
		STACK_LOOP_CLEARED[$dev]=1
		if ! losetup -d "$dev" 2>"$BT_TMP/stack.err" && stack_loop_ours "$dev"; then
			STACK_ERR="losetup -d $dev failed: $(cat "$BT_TMP/stack.err")"
			return 1
		fi
	fi
	while stack_loop_ours "$dev"; do
		if [ "$SECONDS" -ge "$end" ]; then
			STACK_ERR="$dev still attached to ${STACK_LOOP_FILE[$dev]} ${2}s after losetup -d: $(stack_loop_holders "$dev")"
			return 1
		fi
		sleep 0.05
	done
	unset "STACK_LOOP_FILE[$dev]" "STACK_LOOP_CLEARED[$dev]"
}

# stack_mount_holders MAJ:MIN: each other mount namespace holding a mount
# of that device (PID, command, namespace, mount point), on one line.
stack_mount_holders() {
	local mm=$1 f pid ns self seen=" " out=
	self=$(readlink /proc/self/ns/mnt)
	for f in $(grep -lE "^[0-9]+ [0-9]+ $mm " /proc/[0-9]*/mountinfo 2>/dev/null); do
		pid=${f#/proc/}
		pid=${pid%/mountinfo}
		ns=$(readlink "/proc/$pid/ns/mnt" 2>/dev/null) || continue
		[ "$ns" = "$self" ] && continue
		case "$seen" in *" $ns "*) continue ;; esac
		seen="$seen$ns "
		out="$out; mounted in $ns (pid $pid, $(cat "/proc/$pid/comm" 2>/dev/null)) at $(awk -v mm="$mm" '$3 == mm { print $5; exit }' "$f" 2>/dev/null)"
	done
	[ "$(stack_mounts_at_dev "$mm")" -gt 0 ] && out="$out; still mounted here"
	echo "${out#; }"
}

stack_mounts_at_dev() {
	awk -v mm="$1" '$3 == mm { n++ } END { print n + 0 }' /proc/self/mountinfo
}

# stack_openers PATH_GLOB: processes with a file descriptor on PATH_GLOB.
stack_openers() {
	local f pid out=
	for f in $(find /proc/[0-9]*/fd -maxdepth 1 -lname "$1" 2>/dev/null); do
		pid=${f#/proc/}
		pid=${pid%%/*}
		out="$out; pid $pid ($(cat "/proc/$pid/comm" 2>/dev/null)) has it open"
	done
	echo "${out#; }"
}

# stack_loop_holders DEV: what keeps DEV attached, on one line: its loop
# flags and requests in flight, block devices stacked on it, processes
# with it open, other mount namespaces with it mounted.
stack_loop_holders() {
	local n=${1#/dev/} h out
	out="autoclear=$(cat "/sys/block/$n/loop/autoclear" 2>/dev/null)"
	out="$out inflight=$(cat "/sys/block/$n/inflight" 2>/dev/null | tr -s ' ' | sed 's/^ //')"
	for h in /sys/block/"$n"/holders/*; do
		[ -e "$h" ] && out="$out; holder ${h##*/}"
	done
	h=$(stack_openers "$1")
	[ -n "$h" ] && out="$out; $h"
	h=$(stack_mount_holders "$(cat "/sys/block/$n/dev" 2>/dev/null)")
	[ -n "$h" ] && out="$out; $h"
	echo "$out"
}

# stack_fuse_holders DIR: what keeps the FUSE mount on DIR busy or alive:
# loop devices on its files, processes with its files open, copies of it
# in other mount namespaces.
stack_fuse_holders() {
	local dir=$1 f out= h mm
	for f in /sys/block/loop*/loop/backing_file; do
		case "$(cat "$f" 2>/dev/null)" in "$dir"/*)
			h=${f#/sys/block/}
			out="$out; /dev/${h%%/*} is attached to $(cat "$f" 2>/dev/null)" ;;
		esac
	done
	h=$(stack_openers "$dir/*")
	[ -n "$h" ] && out="$out; $h"
	mm=$(awk -v d="$dir" '$5 == d && $0 ~ / - fuse/ { mm = $3 } END { print mm }' /proc/self/mountinfo)
	if [ -n "$mm" ]; then
		h=$(stack_mount_holders "$mm")
		[ -n "$h" ] && out="$out; $h"
	fi
	echo "${out#; }"
}

# stack_fs_mount DEV DIR [MOUNT_OPT...]: mount DEV on a shared DIR.
stack_fs_mount() {
	local dev=$1 dir=$2
	shift 2
	stack_share_dir "$dir" || return 1
	if ! mount "$@" "$dev" "$dir" 2>"$BT_TMP/stack.err"; then
		STACK_ERR="mount $* $dev $dir failed: $(cat "$BT_TMP/stack.err")"
		return 1
	fi
	STACK_FS+=("$dir")
}

# stack_fs_umount DIR: unmount the filesystem on DIR (and our bind under
# it); 1 with STACK_ERR naming what keeps it busy.
stack_fs_umount() {
	local dir=$1
	if stack_mounted "$dir" && ! umount "$dir" 2>"$BT_TMP/stack.err"; then
		STACK_ERR="umount $dir failed: $(cat "$BT_TMP/stack.err") $(stack_openers "$dir/*")"
		return 1
	fi
	stack_unshare_dir "$dir"
}

# stack_fuse_stop DIR DEADLINE_S: unmount the nbdfuse mount on DIR, wait
# for its nbdfuse to exit, drop the bind; 1 with STACK_ERR naming what
# holds it after the deadline.
stack_fuse_stop() {
	local dir=$1 pid=${STACK_FUSE_PID[$1]:-} end=$((SECONDS + $2))
	while stack_mounted "$dir" && ! fusermount3 -u "$dir" 2>"$BT_TMP/stack.err"; do
		if [ "$SECONDS" -ge "$end" ]; then
			STACK_ERR="fusermount3 -u $dir failed for ${2}s: $(cat "$BT_TMP/stack.err"): $(stack_fuse_holders "$dir")"
			return 1
		fi
		sleep 0.1
	done
	if [ -n "$pid" ]; then
		if ! bt_wait_exit "$pid" $((end > SECONDS ? end - SECONDS : 1)); then
			STACK_ERR="nbdfuse (pid $pid) still running ${2}s after $dir was unmounted: $(stack_fuse_holders "$dir")"
			return 1
		fi
		wait "$pid" 2>/dev/null
		unset "STACK_FUSE_PID[$dir]"
	fi
	stack_unshare_dir "$dir"
}

# The stack_teardown_* functions are for a stack that may be half dead,
# and for the exit trap, which timeout(1) ends with SIGKILL 10 s after its
# SIGTERM: each asks for its release at once (a lazy unmount, autoclear on
# the loop device) so that the kernel finishes it even if this shell is
# killed, and only then waits, briefly.

# stack_teardown_fs DIR: unmount DIR, lazily if it is busy; never fails.
stack_teardown_fs() {
	if stack_mounted "$1"; then
		umount "$1" 2>/dev/null || umount -l "$1" 2>/dev/null
	fi
	stack_unshare_dir "$1"
	return 0
}

# stack_teardown_loop DEV [DEADLINE_S]: detach DEV if it is still ours and
# wait (default 2 s) for it to let go; logs what holds it; never fails.
stack_teardown_loop() {
	[ -n "${STACK_LOOP_FILE[$1]:-}" ] || return 0
	stack_loop_detach "$1" "${2:-2}" || bt_log "teardown: $STACK_ERR"
	# Ours or not by now, it is no longer this test's to touch.
	unset "STACK_LOOP_FILE[$1]" "STACK_LOOP_CLEARED[$1]"
	return 0
}

# stack_teardown_fuse DIR: unmount (lazily if busy), end nbdfuse by PID,
# drop the bind; for a stack whose server may be dead. Never fails.
stack_teardown_fuse() {
	local dir=$1 pid=${STACK_FUSE_PID[$1]:-}
	if stack_mounted "$dir"; then
		fusermount3 -u "$dir" 2>/dev/null || fusermount3 -u -z "$dir" 2>/dev/null ||
			umount -l "$dir" 2>/dev/null
	fi
	if [ -n "$pid" ]; then
		# nbdfuse may abort once its server is gone: no job report for it.
		disown "$pid" 2>/dev/null
		# Exits by itself once unmounted; by PID if its server is gone.
		bt_wait_exit "$pid" 2 || bt_kill_pid "$pid"
		wait "$pid" 2>/dev/null
		unset "STACK_FUSE_PID[$dir]"
	fi
	# A FUSE mount whose server died stays listed until detached.
	stack_mounted "$dir" && umount -l "$dir" 2>/dev/null
	stack_unshare_dir "$dir"
	return 0
}

# stack_cleanup: whatever is left, newest layer first (exit trap).
stack_cleanup() {
	local i d
	for ((i = ${#STACK_FS[@]} - 1; i >= 0; i--)); do
		stack_teardown_fs "${STACK_FS[$i]}"
	done
	STACK_FS=()
	for d in "${!STACK_LOOP_FILE[@]}"; do stack_teardown_loop "$d"; done
	for d in "${!STACK_FUSE_PID[@]}"; do stack_teardown_fuse "$d"; done
	for d in "${!STACK_SHARED[@]}"; do
		stack_mounted "$d" && umount -l "$d" 2>/dev/null
		stack_unshare_dir "$d"
	done
	return 0
}
