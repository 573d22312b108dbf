# shellcheck shell=bash
# bench/lib.sh — plumbing shared by the benchmark scripts (bench/run.sh, the
# standalone comparison, and bench/replicated.sh, the two-node pair). Sourced,
# never run.
#
# Owns: the scratch directory and its cleanup, the backing file, starting NBD
# servers in the foreground as children of the calling shell, waiting for them
# by polling, stopping them by PID, one fio run per (target, job), and the
# manifest that bench/report.py turns into tables.
#
# Invariants:
#   - every process started here is a direct child of the sourcing shell, so
#     its PID is known, `wait` reaps it and the EXIT trap can always kill it;
#   - NBD servers listen on unix sockets in the scratch directory only; the
#     one TCP traffic is a pair's peer link (and its round-trip probe) on
#     127.0.0.1, so no traffic leaves the host;
#   - readiness is observed (a successful NBD handshake), never assumed after
#     a fixed sleep.
#
# Scripts call bench_init first; it installs the EXIT trap. A script that
# needs its own cleanup too defines bench_cleanup_hook, which runs first.
# A script may also define bench_before_job_hook SERVER JOB, run before each
# job after the caches are dropped: non-zero skips the job (recorded failed);
# and bench_after_job_hook SERVER JOB FIO_JSON, run after each job fio
# completed (its status is ignored).

BENCH_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck disable=SC2034 # used by the sourcing scripts
BENCH_ROOT=$(cd -- "$BENCH_DIR/.." && pwd)
BENCH_JOBS_DIR=$BENCH_DIR/jobs
BENCH_PYTHON=${PYTHON:-/usr/bin/python3}

# name -> PID of every server still running.
declare -A BENCH_SERVER_PID=()
# name -> log file of every server started.
declare -A BENCH_SERVER_LOG=()
# manifest name -> the servers (space-separated) that must be running for its
# jobs, when that is not simply the server of the same name: one replicated
# pair is measured under several names (protocol-A, -B, -C), all of which
# need both nodes.
declare -A BENCH_RECORD_SERVERS=()
# Exit status of the last server stopped, or that died before serving.
BENCH_SERVER_RC=
BENCH_TMP=
BENCH_MANIFEST=
# Scratch dirs elsewhere (BOB_DIR), removed with BENCH_TMP.
BENCH_EXTRA_TMP=()

bench_log() { printf '[bench] %s\n' "$*" >&2; }
bench_die() { bench_log "error: $*"; exit 1; }

# Monotonic-enough clock in milliseconds, for poll deadlines.
bench_now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# bench_require CMD... — fail early, naming every missing tool at once.
bench_require() {
	local c missing=()
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || missing+=("$c")
	done
	((${#missing[@]} == 0)) || bench_die "missing tools: ${missing[*]} (try: make deps)"
}

# bench_init — scratch dir (not tmpfs: the disk must be real), manifest, traps.
bench_init() {
	local parent=${BENCH_TMPDIR:-/var/tmp} fstype
	bench_require fio nbdinfo fallocate numfmt timeout "$BENCH_PYTHON"
	mkdir -p -- "$parent"
	fstype=$(stat -f -c %T -- "$parent")
	[[ $fstype != tmpfs && $fstype != ramfs ]] ||
		bench_die "$parent is $fstype; set BENCH_TMPDIR to a directory on a real disk"
	BENCH_TMP=$(mktemp -d -- "$parent/blockd-bench.XXXXXX")
	BENCH_MANIFEST=$BENCH_TMP/manifest.tsv
	: >"$BENCH_MANIFEST"
	trap bench_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	bench_log "scratch dir $BENCH_TMP ($fstype)"
}

bench_cleanup() {
	local rc=$? name
	trap - EXIT
	if declare -F bench_cleanup_hook >/dev/null; then
		bench_cleanup_hook || true
	fi
	for name in "${!BENCH_SERVER_PID[@]}"; do
		bench_server_stop "$name" 2>/dev/null || true
	done
	if [[ -n $BENCH_TMP && -d $BENCH_TMP ]]; then
		if [[ ${KEEP_TMP:-0} == 1 ]]; then
			bench_log "kept $BENCH_TMP (KEEP_TMP=1)"
		else
			rm -rf -- "$BENCH_TMP" "${BENCH_EXTRA_TMP[@]}"
		fi
	fi
	exit "$rc"
}

# bench_bob_img — the path of the pair's Secondary image: in the scratch dir,
# or with BOB_DIR set in a scratch dir of its own there. BOB_DIR=/dev/shm
# gives bob a disk of its own with no latency (memory): what the protocol
# costs when the replicas do not share one disk is then measured apart from
# the disk they share here. Not a subshell's call: it records the dir.
# bench_bob_note prints the line the results file carries about it.
BENCH_BOB_IMG=
bench_bob_img() {
	local dir
	if [[ -z ${BOB_DIR:-} ]]; then
		BENCH_BOB_IMG=$BENCH_TMP/bob.img
		return
	fi
	dir=$(mktemp -d -- "$BOB_DIR/blockd-bench-bob.XXXXXX") ||
		bench_die "BOB_DIR: cannot make a scratch dir in $BOB_DIR"
	BENCH_EXTRA_TMP+=("$dir")
	BENCH_BOB_IMG=$dir/bob.img
	bench_log "bob's image in $dir ($(stat -f -c %T -- "$dir"))"
}
bench_bob_note() {
	[[ -n ${BOB_DIR:-} ]] || return 0
	printf "bob's image on %s in %s (BOB_DIR): the replicas do not share a disk" \
		"$(df --output=fstype,source -- "$(dirname -- "$BENCH_BOB_IMG")" | tail -n 1 | xargs)" "$BOB_DIR"
}

# bench_load_note — the 1-minute load average, with a warning on stderr when
# something else is busy: on a 2-core machine a neighbour's build moves every
# number in the table.
bench_load_note() {
	local load
	read -r load _ </proc/loadavg
	if awk -v l="$load" 'BEGIN { exit !(l > 0.5) }'; then
		bench_log "warning: load average $load before the run; numbers will be noisy"
	fi
	printf '%s' "$load"
}

# bench_backing_create FILE SIZE_BYTES — preallocate, then write every block
# once, so reads hit real blocks rather than unwritten extents (which the
# filesystem answers with zeroes without touching the disk).
bench_backing_create() {
	local file=$1 size_bytes=$2 t0
	t0=$(bench_now_ms)
	fallocate -l "$size_bytes" -- "$file"
	fio --name=fill --filename="$file" --size="$size_bytes" --rw=write \
		--bs=1m --iodepth=8 --ioengine=io_uring --direct=1 --end_fsync=1 \
		--output=/dev/null ||
		bench_die "filling $file failed"
	bench_log "backing file $file: $size_bytes bytes written in $(( $(bench_now_ms) - t0 )) ms"
}

# bench_drop_caches — start every job from the same state: no dirty pages
# from the previous job still being written back, nothing of the file cached.
# DROP_CACHES=0 skips the drop (sync still happens).
bench_drop_caches() {
	sync
	[[ ${DROP_CACHES:-1} == 1 ]] || return 0
	if [[ -w /proc/sys/vm/drop_caches ]]; then
		echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
	fi
}

# bench_free_port — a TCP port on 127.0.0.1 that was free a moment ago.
bench_free_port() {
	"$BENCH_PYTHON" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# bench_pair_conf CONF NAME ALICE_DISK BOB_DISK [TAG]: write a two-node
# (alice, bob) config for resource NAME, protocol C, direct I/O, peer links on
# two free loopback ports, NBD and control sockets in the scratch dir (their
# names prefixed by TAG-, when given).
bench_pair_conf() {
	local conf=$1 name=$2 alice_disk=$3 bob_disk=$4 pre=${5:+$5-} port_a port_b
	port_a=$(bench_free_port)
	port_b=$(bench_free_port)
	while [[ $port_b == "$port_a" ]]; do port_b=$(bench_free_port); done
	cat >"$conf" <<EOF
[resource]
name = $name
protocol = C
secret = bench
io-mode = direct
${PAIR_POLL_US:+poll-us = $PAIR_POLL_US}
${PAIR_AL_EXTENTS:+al-extents = $PAIR_AL_EXTENTS}
[node alice]
address = 127.0.0.1:$port_a
disk = $alice_disk
nbd = unix:$BENCH_TMP/${pre}alice.nbd
control = $BENCH_TMP/${pre}alice.ctl
[node bob]
address = 127.0.0.1:$port_b
disk = $bob_disk
nbd = unix:$BENCH_TMP/${pre}bob.nbd
control = $BENCH_TMP/${pre}bob.ctl
EOF
}

# bench_timing_defaults: RUNTIME, RAMP and SIZE unless set, short under
# QUICK=1 (sets QUICK to 0 when unset).
bench_timing_defaults() {
	QUICK=${QUICK:-0}
	if [[ $QUICK == 1 ]]; then
		RUNTIME=${RUNTIME:-2}
		RAMP=${RAMP:-0}
		SIZE=${SIZE:-256M}
	else
		RUNTIME=${RUNTIME:-10}
		RAMP=${RAMP:-1}
		SIZE=${SIZE:-1G}
	fi
}

# bench_nbd_uri SOCKET [EXPORT] — the URI libnbd-based clients (fio, nbdinfo) use.
bench_nbd_uri() { printf 'nbd+unix:///%s?socket=%s' "${2:-r0}" "$1"; }

# bench_server_start NAME LOG CMD... — run CMD in the background as a child of
# this shell, stdout and stderr to LOG. Not to be called in $(...): the PID
# must belong to this shell for `wait` and the EXIT trap.
bench_server_start() {
	local name=$1 log=$2
	shift 2
	[[ -z ${BENCH_SERVER_PID[$name]:-} ]] || bench_die "server $name already running"
	bench_log "start $name: $*"
	"$@" </dev/null >"$log" 2>&1 &
	BENCH_SERVER_PID[$name]=$!
	BENCH_SERVER_LOG[$name]=$log
}

# bench_server_wait_nbd NAME URI [TIMEOUT_S] — poll until an NBD handshake on
# URI succeeds. Fails at once if the server exits, or after TIMEOUT_S.
bench_server_wait_nbd() {
	local name=$1 uri=$2 timeout_s=${3:-15} pid deadline
	pid=${BENCH_SERVER_PID[$name]:?server $name not started}
	deadline=$(( $(bench_now_ms) + timeout_s * 1000 ))
	while :; do
		if ! bench_pid_running "$pid"; then
			unset 'BENCH_SERVER_PID[$name]'
			BENCH_SERVER_RC=0
			wait "$pid" 2>/dev/null || BENCH_SERVER_RC=$?
			bench_log "$name (pid $pid) exited with status $BENCH_SERVER_RC before serving; log:"
			tail -n 20 -- "${BENCH_SERVER_LOG[$name]}" >&2
			return 1
		fi
		if nbdinfo --size "$uri" >/dev/null 2>&1; then
			bench_log "$name (pid $pid) is serving $uri"
			return 0
		fi
		if (( $(bench_now_ms) > deadline )); then
			bench_log "$name (pid $pid) not serving after ${timeout_s}s"
			return 1
		fi
		sleep 0.05
	done
}

# bench_pid_running PID — true while PID runs. Not `kill -0`, which also
# succeeds for a zombie that has exited but is not yet reaped.
bench_pid_running() {
	local stat
	{ read -r stat <"/proc/$1/stat"; } 2>/dev/null || return 1
	stat=${stat##*) }
	[[ ${stat%% *} != Z ]]
}

# bench_cpu_ticks PID... — user + system time of the processes, every
# thread (exited ones included), in clock ticks (getconf CLK_TCK); fails
# if one is gone.
bench_cpu_ticks() {
	local pid s sum=0
	local -a f
	for pid in "$@"; do
		{ read -r s <"/proc/$pid/stat"; } 2>/dev/null || return 1
		s=${s##*) }	# the fields after "(comm)", state first
		read -r -a f <<<"$s"
		sum=$((sum + f[11] + f[12]))
	done
	echo "$sum"
}

# bench_server_alive NAME — true while the server process runs.
bench_server_alive() {
	local pid=${BENCH_SERVER_PID[$1]:-}
	[[ -n $pid ]] && bench_pid_running "$pid"
}

# bench_server_stop NAME [TIMEOUT_S] — SIGTERM by PID, poll for the exit,
# SIGKILL after TIMEOUT_S. Leaves the exit status in BENCH_SERVER_RC (143 or
# 137: killed by that signal rather than exiting on its own) and returns 0
# only for a clean 0. Not to be called in $(...), like bench_server_start.
bench_server_stop() {
	local name=$1 timeout_s=${2:-10} pid deadline rc=0 killed=0
	pid=${BENCH_SERVER_PID[$name]:-}
	BENCH_SERVER_RC=
	[[ -n $pid ]] || return 0
	unset 'BENCH_SERVER_PID[$name]'
	kill -TERM "$pid" 2>/dev/null || true
	deadline=$(( $(bench_now_ms) + timeout_s * 1000 ))
	while bench_pid_running "$pid"; do
		if (( !killed && $(bench_now_ms) > deadline )); then
			bench_log "$name (pid $pid) ignored SIGTERM for ${timeout_s}s; SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
			killed=1
		fi
		sleep 0.05
	done
	wait "$pid" 2>/dev/null || rc=$?
	BENCH_SERVER_RC=$rc
	return $(( rc != 0 ))
}

# bench_fio JOB OUT_JSON TARGET_ARGS... — one fio job (a file in bench/jobs,
# or a job file's path) against one target, JSON to OUT_JSON. TARGET_ARGS
# name the target: bench_fio_nbd_args / bench_fio_file_args below (none
# when the job file names its own). A hung server cannot hang the run: fio
# gets RUNTIME + RAMP + 60 s.
bench_fio() {
	local job=$1 out=$2 limit_s
	shift 2
	[[ $job == */* ]] || job=$BENCH_JOBS_DIR/$job.fio
	limit_s=$(( RUNTIME + RAMP + 60 ))
	RUNTIME=$RUNTIME RAMP=$RAMP timeout -k 5 "$limit_s" \
		fio --output-format=json --output="$out" "$@" "$job" \
		>"$out.log" 2>&1
}

bench_fio_nbd_args() { printf '%s\n' --ioengine=nbd "--uri=$1"; }
bench_fio_file_args() { printf '%s\n' --ioengine=io_uring --direct=1 "--filename=$1"; }

# bench_record SERVER JOB STATUS [JSON] — one line of the manifest read by
# bench/report.py. STATUS is ok, failed or skipped.
bench_record() {
	printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:-}" >>"$BENCH_MANIFEST"
}

# bench_jobs_run SERVER TARGET_KIND TARGET JOB... — run each job against one
# target (kind nbd: TARGET is a URI; kind file: a path) and record the result.
# For a server, a job is only attempted while its process is alive (or all of
# BENCH_RECORD_SERVERS[SERVER]); once one has died the remaining jobs are
# recorded as failed.
bench_jobs_run() {
	local server=$1 kind=$2 target=$3 job out needed gone
	local -a args
	shift 3
	mapfile -t args < <("bench_fio_${kind}_args" "$target")
	mkdir -p -- "$BENCH_TMP/fio/$server"
	for job in "$@"; do
		out=$BENCH_TMP/fio/$server/$job.json
		if [[ $kind == nbd ]]; then
			gone=
			for needed in ${BENCH_RECORD_SERVERS[$server]:-$server}; do
				bench_server_alive "$needed" || gone+=" $needed"
			done
			if [[ -n $gone ]]; then
				bench_log "$server: $job not run, gone:$gone"
				bench_record "$server" "$job" failed
				continue
			fi
		fi
		bench_drop_caches
		if declare -F bench_before_job_hook >/dev/null &&
			! bench_before_job_hook "$server" "$job"; then
			bench_log "$server: $job not run, not ready"
			bench_record "$server" "$job" failed
			continue
		fi
		bench_log "$server: $job (${RUNTIME}s)"
		if bench_fio "$job" "$out" "${args[@]}"; then
			bench_record "$server" "$job" ok "$out"
			if declare -F bench_after_job_hook >/dev/null; then
				bench_after_job_hook "$server" "$job" "$out" || true
			fi
		else
			bench_log "$server: $job failed; fio said:"
			tail -n 5 -- "$out.log" >&2
			bench_record "$server" "$job" failed
		fi
	done
}
