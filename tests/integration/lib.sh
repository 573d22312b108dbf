# Shared helpers for the bash integration tests. Source it first thing:
#
#   . "$(dirname "$0")/lib.sh"
#   bt_init 120          # overall timeout in seconds
#
# What it owns: the test's temp dir, the daemons it starts (tracked by PID),
# extra cleanup steps, the overall timeout and the one-line result.
# Invariants: every process a test starts is ended by PID in the EXIT trap;
# nothing outside the test's temp dir is touched except what a test registers
# with bt_on_exit (loop devices, mounts). Readiness is always polled against a
# deadline, never waited for with a fixed sleep.
#
# Environment:
#   BLOCKD         daemon binary (default: <repo>/build/blockd)
#   BT_KEEP_TMP=1  keep the temp dir (logs, images) after the test
#   BT_TIMEOUT     override a test's overall timeout (seconds)

set -u
set -o pipefail

BT_NAME=$(basename "$0")
BT_NAME=${BT_NAME%.*}
BT_DIR=$(cd "$(dirname "$0")" && pwd)
BT_ROOT=$(cd "$BT_DIR/../.." && pwd)
BLOCKD=${BLOCKD:-$BT_ROOT/build/blockd}
case "$BLOCKD" in /*) ;; *) BLOCKD=$BT_ROOT/$BLOCKD ;; esac
export BLOCKD

declare -A BT_PIDS=()
BT_CLEANUPS=()
BT_TMP=
BT_DONE=0

# Start deadline for a daemon and stop deadline after SIGTERM; sanitizer
# builds start slower, so both are generous but finite.
BT_READY_S=${BT_READY_S:-20}
BT_STOP_S=${BT_STOP_S:-20}

# nbdsh runs "python3 -mnbd" from PATH, which may not be the system python
# that has the nbd module.
nbdsh() { /usr/bin/python3 -m nbd "$@"; }

bt_log() { printf '%s: %s\n' "$BT_NAME" "$*" >&2; }

# bt_init TIMEOUT_S: re-exec under timeout(1) (own process group, so an
# expiry reaches every child), make the temp dir, install the traps.
bt_init() {
	local timeout_s=${BT_TIMEOUT:-${1:-120}}
	if [ -z "${BT_UNDER_TIMEOUT:-}" ]; then
		export BT_UNDER_TIMEOUT=1
		exec timeout -k 10 "$timeout_s" "$0"
	fi
	BT_TMP=$(mktemp -d "${TMPDIR:-/tmp}/$BT_NAME.XXXXXX")
	trap bt_exit_trap EXIT
	trap 'bt_log "caught signal (timeout?)"; exit 124' TERM INT HUP
	if [ ! -x "$BLOCKD" ]; then
		bt_fail "daemon binary not found or not executable: $BLOCKD"
	fi
}

# bt_on_exit CMD...: run CMD (eval'd) at exit, most recently added first.
bt_on_exit() { BT_CLEANUPS+=("$*"); }

bt_exit_trap() {
	local rc=$? i id
	trap - EXIT TERM INT HUP
	for ((i = ${#BT_CLEANUPS[@]} - 1; i >= 0; i--)); do
		eval "${BT_CLEANUPS[$i]}" >/dev/null 2>&1 || true
	done
	for id in "${!BT_PIDS[@]}"; do
		bt_kill_pid "${BT_PIDS[$id]}"
	done
	if [ "$BT_DONE" = 0 ]; then
		[ "$rc" = 0 ] && rc=1
		echo "FAIL $BT_NAME: exited early (status $rc)"
		bt_dump_logs
	fi
	if [ -n "$BT_TMP" ] && [ -z "${BT_KEEP_TMP:-}" ]; then
		rm -rf "$BT_TMP"
	elif [ -n "$BT_TMP" ]; then
		bt_log "kept $BT_TMP"
	fi
	exit "$rc"
}

bt_dump_logs() {
	local f
	for f in "$BT_TMP"/*.log; do
		[ -f "$f" ] || continue
		echo "---- tail of $(basename "$f")" >&2
		tail -n 30 "$f" >&2
	done
}

bt_fail() {
	echo "FAIL $BT_NAME: $*"
	bt_dump_logs
	BT_DONE=1
	exit 1
}

bt_pass() {
	echo "PASS $BT_NAME${1:+: $*}"
	BT_DONE=1
	exit 0
}

bt_skip() {
	echo "SKIP $BT_NAME: $*"
	BT_DONE=1
	exit 77
}

bt_expect_eq() { # ACTUAL EXPECTED WHAT
	[ "$1" = "$2" ] || bt_fail "$3: expected '$2', got '$1'"
}

# bt_free_port: a TCP port on 127.0.0.1, free now and kept for this test
# while it runs, even while the daemon that listens on it is down (a
# restart must find it again). Drawn below the kernel's ephemeral range,
# so no outgoing connection takes it as its source port meanwhile, and
# recorded in $BT_PORTS (port and the test's PID, under flock), so no
# other test running at the same time is given it: with ports from
# bind(0), a test's restarted daemon once found its port taken ("Address
# already in use").
BT_PORTS=${BT_PORTS:-/tmp/blockd-test-ports}
bt_free_port() {
	/usr/bin/python3 - "$BT_PORTS" "$$" <<'PY'
import fcntl, os, random, socket, sys
reg, owner = sys.argv[1], sys.argv[2]
with open(reg + ".lock", "a") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    kept = []
    try:
        with open(reg) as f:
            kept = [l.split() for l in f if len(l.split()) == 2]
    except FileNotFoundError:
        pass
    kept = [(p, pid) for p, pid in kept if os.path.exists("/proc/" + pid)]
    taken = {int(p) for p, _ in kept}
    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
        low = int(f.read().split()[0])
    lo, hi = (10000, low - 1) if low > 12000 else (low, 65535)
    for _ in range(2000):
        port = random.randint(lo, hi)
        if port in taken:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            s.close()
        break
    else:
        sys.exit("bt_free_port: no free port")
    kept.append((str(port), owner))
    with open(reg + ".new", "w") as f:
        f.writelines(p + " " + pid + "\n" for p, pid in kept)
    os.replace(reg + ".new", reg)
    print(port)
PY
}

bt_pid_running() { # PID: alive and not a zombie
	local st
	[ -r "/proc/$1/stat" ] || return 1
	st=$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# bt_wait_exit PID DEADLINE_S: poll until PID is gone; 0 if it exited in time.
bt_wait_exit() {
	local pid=$1 end=$((SECONDS + $2))
	while bt_pid_running "$pid"; do
		[ "$SECONDS" -ge "$end" ] && return 1
		sleep 0.05
	done
	return 0
}

bt_kill_pid() {
	local pid=$1
	bt_pid_running "$pid" || { wait "$pid" 2>/dev/null; return 0; }
	kill -TERM "$pid" 2>/dev/null
	bt_wait_exit "$pid" 5 || kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

# bt_daemon_start ID ARGS...: start "$BLOCKD ARGS..." in the background with
# stderr in $BT_TMP/ID.log; its PID goes to BT_PIDS[ID]. Unless a config file
# is given (-c, which must name its own control socket), the control socket
# goes to $BT_TMP/ID.ctl: the default path under /run/blockd is shared by
# every daemon of the same resource and node on the machine.
bt_daemon_start() {
	local id=$1 a ctl
	shift
	ctl=(--control "$BT_TMP/$id.ctl")
	for a in "$@"; do
		case "$a" in -c | --config | --control) ctl=() ;; esac
	done
	set -- "$@" "${ctl[@]}"
	"$BLOCKD" "$@" >>"$BT_TMP/$id.log" 2>&1 &
	BT_PIDS[$id]=$!
	bt_log "started $id (pid ${BT_PIDS[$id]}): $BLOCKD $*"
}

# bt_wait_ready ID URI: poll nbdinfo --can connect until it succeeds, the
# daemon dies or the deadline passes.
bt_wait_ready() {
	local id=$1 uri=$2 end=$((SECONDS + BT_READY_S))
	local pid=${BT_PIDS[$id]}
	while :; do
		if ! bt_pid_running "$pid"; then
			wait "$pid"
			bt_fail "$id exited (status $?) before accepting connections on $uri"
		fi
		nbdinfo --can connect "$uri" 2>/dev/null && return 0
		[ "$SECONDS" -ge "$end" ] &&
			bt_fail "$id not ready on $uri within ${BT_READY_S}s"
		sleep 0.05
	done
}

# bt_sanitizer_check ID: a sanitizer report in the log is a failure even when
# the process exited 0.
bt_sanitizer_check() {
	local log="$BT_TMP/$1.log"
	if grep -Eq 'ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:' "$log"; then
		bt_fail "$1: sanitizer report in $log"
	fi
}

# bt_daemon_reap ID DEADLINE_S [EXPECTED_STATUS]: wait (no signal sent) for
# the daemon to exit, check the exit status (default 0) and the log.
# bt_dump_stuck ID PID: where a daemon that does not exit is waiting, for
# the test's log: each thread's state, wait channel, system call and
# kernel stack, and its user stack when gdb is installed.
bt_dump_stuck() {
	local id=$1 pid=$2 t
	bt_log "$id (pid $pid) is still running; its threads:"
	for t in /proc/"$pid"/task/*; do
		[ -d "$t" ] || continue
		{
			printf '  thread %s (%s): %s, wchan %s, syscall %s\n' \
				"${t##*/}" "$(cat "$t/comm" 2>/dev/null)" \
				"$(awk '/^State:/ {print $2, $3}' "$t/status" 2>/dev/null)" \
				"$(cat "$t/wchan" 2>/dev/null)" "$(cat "$t/syscall" 2>/dev/null)"
			sed 's/^/    /' "$t/stack" 2>/dev/null
		} >&2
	done
	if command -v gdb >/dev/null; then
		timeout 20 gdb -p "$pid" -batch -nx -ex 'thread apply all bt' \
			2>/dev/null | grep -E '^(Thread|#)' | sed 's/^/  /' >&2
	fi
}

bt_daemon_reap() {
	local id=$1 deadline_s=$2 want=${3:-0} pid=${BT_PIDS[$1]} rc
	if ! bt_wait_exit "$pid" "$deadline_s"; then
		bt_dump_stuck "$id" "$pid"
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		unset "BT_PIDS[$id]"
		bt_fail "$id did not exit within ${deadline_s}s of SIGTERM"
	fi
	wait "$pid"
	rc=$?
	unset "BT_PIDS[$id]"
	[ "$rc" = "$want" ] || bt_fail "$id exited with status $rc after SIGTERM, expected $want"
	bt_sanitizer_check "$id"
}

# bt_daemon_stop ID [EXPECTED_STATUS]: SIGTERM, then bt_daemon_reap within
# BT_STOP_S.
bt_daemon_stop() {
	kill -TERM "${BT_PIDS[$1]}" 2>/dev/null
	bt_daemon_reap "$1" "$BT_STOP_S" "${2:-0}"
}

# bt_daemon_kill9 ID: SIGKILL and reap.
bt_daemon_kill9() {
	local pid=${BT_PIDS[$1]}
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	unset "BT_PIDS[$1]"
}

# bt_daemon_alive ID: fail the test if the daemon has died.
bt_daemon_alive() {
	bt_pid_running "${BT_PIDS[$1]}" || bt_fail "$1 (pid ${BT_PIDS[$1]}) is no longer running"
}

bt_unix_uri() { # SOCKET [EXPORT]
	echo "nbd+unix:///${2-r0}?socket=$1"
}
