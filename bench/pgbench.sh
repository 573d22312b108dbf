#!/usr/bin/env bash
# bench/pgbench.sh — a database's view of the export: PostgreSQL (fsync on)
# on ext4 on a loop device on nbdfuse of the NBD export, pgbench TPC-B-like.
# A commit there is a small write plus a FLUSH, so this is what a database
# user would call blockd's speed (issue 15).
#
# Targets, each on a backing file of SIZE under BENCH_TMPDIR, preallocated
# and written once (bench/lib.sh):
#   nbdkit-file        nbdkit file FILE (default cache): the reference
#   blockd-standalone  build/blockd alone, default io-mode (direct), no metadata
#   blockd-C           a pair on loopback (alice Primary, bob synced first),
#                      protocol C, internal metadata; the stack on alice
#   blockd-A           optional: the same pair in protocol A
#   blockd-buffered    optional: standalone with --io-mode buffered
# The two standalone targets and nbdkit share one file, the pair has two
# more (alice's holds its metadata, so it is never reformatted by the rest).
#
# Per target and round: start the target, nbdfuse of the export, losetup
# (--direct-io=off, as the integration tests' stack), mkfs.ext4 (no discard,
# inode tables and journal written now, not lazily during the runs), mount,
# initdb, postgres, pgbench -i -s SCALE, CHECKPOINT, pgbench -c 8 -j 2 -T
# RUNTIME, CHECKPOINT, pgbench -c 1 -T RUNTIME (commit latency), then
# everything stopped in reverse order. ROUNDS rounds alternate over the
# targets (ABCABC...); the report gives per target the median TPS and -c 1
# latency, and the ratios. Markdown to bench/results/DATE-pgbench.md, the
# same tables on stdout. See bench/README.md.
#
# Environment:
#   BLOCKD, BLOCKCTL  binaries (default build/blockd, the blockctl next to
#              it); copied to the scratch dir first, as bench/replicated.sh
#   TARGETS    subset/order (default: nbdkit-file blockd-standalone blockd-C)
#   ROUNDS     alternating rounds (default 3)
#   RUNTIME    seconds per pgbench run (default 30; QUICK=1: 5)
#   SCALE      pgbench -i scale (default 10: about 160 MB of tables)
#   SIZE       each backing file (default 2G)
#   QUICK=1    smoke test: results file *-pgbench-quick.md (ignored by git)
#   PG_SHARED_BUFFERS  postgres shared_buffers (default 128MB, its default)
#   BOB_DIR   directory for bob's image (default: the scratch dir, one disk
#             for both replicas); /dev/shm gives the Secondary a disk of
#             its own with no latency, to measure the protocol apart
#   BENCH_NOTE a note for the results file (e.g. what else ran meanwhile)
#   RESULTS, BENCH_TMPDIR, KEEP_TMP=1: as bench/run.sh
#
# Everything started here is a child of this shell, ended by PID: the
# targets (bench/lib.sh), nbdfuse, postgres (started directly rather than
# through pg_ctl, which would detach it), pgbench. The EXIT trap stops
# postgres, unmounts, detaches the loop device and ends nbdfuse
# (tests/integration/stacklib.sh) before the servers are stopped.
# Exits non-zero if a round failed; ratios are reported, never asserted.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then RUNTIME=${RUNTIME:-5}; else RUNTIME=${RUNTIME:-30}; fi
SIZE=${SIZE:-2G}
ROUNDS=${ROUNDS:-3}
SCALE=${SCALE:-10}
TARGETS=${TARGETS:-nbdkit-file blockd-standalone blockd-C}
PG_SHARED_BUFFERS=${PG_SHARED_BUFFERS:-128MB}
BLOCKD=${BLOCKD:-$BENCH_ROOT/build/blockd}
[[ $BLOCKD == /* ]] || BLOCKD=$PWD/$BLOCKD
BLOCKCTL=${BLOCKCTL:-$(dirname -- "$BLOCKD")/blockctl}
[[ $BLOCKCTL == /* ]] || BLOCKCTL=$PWD/$BLOCKCTL
PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
PG_USER=postgres
PG_DB=bench
EXPORT=r0
DATE=$(date +%F)
if [[ $QUICK == 1 ]]; then
	RESULTS=${RESULTS:-$BENCH_DIR/results/$DATE-pgbench-quick.md}
else
	RESULTS=${RESULTS:-$BENCH_DIR/results/$DATE-pgbench.md}
fi
# pgbench's own limit on top of RUNTIME (its -i and vacuum included).
PGBENCH_SLACK_S=300

read -r -a target_list <<<"$TARGETS"
for t in "${target_list[@]}"; do
	case $t in
	nbdkit-file | blockd-standalone | blockd-buffered | blockd-C | blockd-A) ;;
	*) bench_die "TARGETS: unknown target $t" ;;
	esac
done
[[ $RUNTIME =~ ^[0-9]+$ && $ROUNDS =~ ^[1-9][0-9]*$ && $SCALE =~ ^[1-9][0-9]*$ ]] ||
	bench_die "RUNTIME, ROUNDS and SCALE are whole numbers"
SIZE_BYTES=$(numfmt --from=iec -- "$SIZE") || bench_die "bad SIZE $SIZE"
[[ $(id -u) == 0 ]] || bench_die "needs root (loop devices, mounts, running postgres as $PG_USER)"
[[ -c /dev/fuse && -e /dev/loop-control ]] || bench_die "needs /dev/fuse and /dev/loop-control"
[[ -n $PG_BIN ]] || bench_die "PostgreSQL not installed (/usr/lib/postgresql/*/bin)"
for c in initdb postgres pgbench psql; do
	[[ -x $PG_BIN/$c ]] || bench_die "$PG_BIN/$c missing"
done
id -u "$PG_USER" >/dev/null 2>&1 || bench_die "no $PG_USER user"
bench_require nbdfuse fusermount3 losetup mkfs.ext4 mount umount setpriv nbdkit
[[ -x $BLOCKD && -x $BLOCKCTL ]] || bench_die "$BLOCKD or $BLOCKCTL not built (make all)"

# tests/integration/stacklib.sh builds and tears down nbdfuse + loop +
# filesystem robustly; it expects these few helpers of the test library.
BT_TMP=
bt_log() { bench_log "$*"; }
bt_skip() { bench_die "$*"; }
bt_on_exit() { :; } # the EXIT trap below calls stack_cleanup itself
bt_pid_running() { bench_pid_running "$1"; }
bt_wait_exit() {
	local end=$((SECONDS + $2))
	while bench_pid_running "$1"; do
		((SECONDS < end)) || return 1
		sleep 0.05
	done
}
bt_kill_pid() {
	kill -TERM "$1" 2>/dev/null || true
	bt_wait_exit "$1" 5 || kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}
# shellcheck source=../tests/integration/stacklib.sh
source "$BENCH_ROOT/tests/integration/stacklib.sh"

notes=()    # for the results file: what went wrong or looked odd
commands=() # for the results file: how each target ran
failed=0
PM_PID=     # the postmaster
PGB_PID=    # a running pgbench
PAIR_MD=0   # the pair's metadata exists and bob was synced once
PM_LOG=

note() { notes+=("$*"); bench_log "note: $*"; }

cmd_display() {
	local s="$*"
	s=${s//$BENCH_TMP\/bin\//}
	s=${s//$BENCH_TMP\//}
	s=${s//$BENCH_ROOT\//}
	printf '%s' "$s"
}

ctl() { timeout 15 "$BC" -c "$CONF" -n "$@"; }
status_get() { "$BENCH_PYTHON" "$BENCH_DIR/status.py" get "$BC" "$CONF" "$@"; }
status_wait() { # NODE DEADLINE_S EXPR: prints the seconds waited
	"$BENCH_PYTHON" "$BENCH_DIR/status.py" wait "$BC" "$CONF" "$1" \
		"${BENCH_SERVER_PID[$1]:-0}" "$2" "$3"
}
SYNCED_PRIMARY='s["role"] == "Primary" and s["disk"] == "UpToDate" and p["connection"] == "Connected" and p["role"] == "Secondary" and p["disk"] == "UpToDate" and p["replication"] == "Established" and p["out_of_sync_bytes"] == 0'
BOTH_UPTODATE='s["disk"] == "UpToDate" and p["connection"] == "Connected" and p["disk"] == "UpToDate"'

# ---- targets -----------------------------------------------------------

# target_start NAME: start it and wait for its NBD handshake; sets URI.
target_start() {
	local name=$1 round=$2 sock=$BENCH_TMP/$1.nbd
	local -a cmd
	case $name in
	blockd-C | blockd-A)
		pair_start "$name" "$round" || return 1
		URI=$(bench_nbd_uri "$BENCH_TMP/alice.nbd" "$EXPORT")
		return 0
		;;
	nbdkit-file) cmd=(nbdkit -f --exit-with-parent -U "$sock" file "$IMG") ;;
	blockd-standalone) # the default io-mode (direct), as a user would run it
		cmd=("$BD" --name "$EXPORT" --disk "$IMG" --nbd "unix:$sock"
			--control "$BENCH_TMP/$name.ctl") ;;
	blockd-buffered)
		cmd=("$BD" --name "$EXPORT" --disk "$IMG" --nbd "unix:$sock"
			--control "$BENCH_TMP/$name.ctl" --io-mode buffered) ;;
	esac
	((round > 1)) || commands+=("$name: $(cmd_display "${cmd[@]}")")
	rm -f -- "$sock"
	URI=$(bench_nbd_uri "$sock" "$EXPORT")
	bench_server_start "$name" "$BENCH_TMP/$name-r$round.log" "${cmd[@]}"
	bench_server_wait_nbd "$name" "$URI" || { note "$name round $round: did not start"; return 1; }
}

# pair_start NAME ROUND: both nodes up, alice Primary, bob UpToDate. The
# first time: create-md, then primary --force makes bob a full copy; later
# rounds restart on that metadata (both come up Consistent, the first STATE
# exchange makes them UpToDate) and promote alice without --force.
pair_start() {
	local name=$1 round=$2 n out secs proto=${1#blockd-}
	if ((!PAIR_MD)); then
		bench_pair_conf "$CONF" "$EXPORT" "$ALICE_IMG" "$BOB_IMG"
		for n in alice bob; do
			out=$(ctl "$n" create-md 2>&1) || { note "create-md $n: $out"; return 1; }
		done
	fi
	for n in alice bob; do
		bench_server_start "$n" "$BENCH_TMP/$n-r$round-$name.log" "$BD" -c "$CONF" -n "$n"
	done
	((round > 1)) || commands+=("$name: $(cmd_display "$BD" -c "$CONF" -n alice) and -n bob (after create-md on each, the first time); $(cmd_display "$BC") -n alice primary (--force the first time: bob gets a full copy), protocol $proto")
	if ((!PAIR_MD)); then
		status_wait alice 30 'p["connection"] == "Connected"' >/dev/null ||
			{ note "$name: the pair did not connect within 30 s"; return 1; }
		out=$(ctl alice primary --force 2>&1) || { note "$name: primary --force: $out"; return 1; }
		secs=$(status_wait alice 600 "$SYNCED_PRIMARY") ||
			{ note "$name: the initial sync did not finish in 600 s"; return 1; }
		bench_log "initial sync of bob: $secs s"
		PAIR_MD=1
	else
		status_wait alice 60 "$BOTH_UPTODATE" >/dev/null ||
			{ note "$name round $round: the pair did not reconnect UpToDate within 60 s"; return 1; }
		out=$(ctl alice primary 2>&1) || { note "$name round $round: primary: $out"; return 1; }
	fi
	out=$(ctl alice protocol "$proto" 2>&1) || { note "$name: protocol $proto: $out"; return 1; }
	status_wait alice 60 "$SYNCED_PRIMARY and s[\"protocol\"] == \"$proto\"" >/dev/null ||
		{ note "$name round $round: alice not Primary and in sync with bob"; return 1; }
	bench_server_wait_nbd alice "$(bench_nbd_uri "$BENCH_TMP/alice.nbd" "$EXPORT")" ||
		{ note "$name round $round: alice does not serve NBD"; return 1; }
	PAIR_COUNTERS=$(status_get alice written_bytes peer.data_sent_bytes peer.resync_sent_bytes | xargs)
}

# pair_check NAME ROUND: what alice wrote went to bob as replication, not
# as a resync (a resync would mean the peer link dropped during the round).
pair_check() {
	local w0 d0 r0 w1 d1 r1
	read -r w0 d0 r0 <<<"$PAIR_COUNTERS"
	read -r w1 d1 r1 <<<"$(status_get alice written_bytes peer.data_sent_bytes peer.resync_sent_bytes | xargs)"
	bench_log "$1 round $2: $(((w1 - w0) / 1048576)) MiB written on alice, $(((d1 - d0) / 1048576)) MiB replicated"
	((w1 - w0 == d1 - d0)) || note "$1 round $2: alice wrote $((w1 - w0)) bytes, sent $((d1 - d0)) to bob"
	((r1 == r0)) || note "$1 round $2: a resync ran ($((r1 - r0)) bytes): the peer link dropped"
}

# stop_server NAME: SIGTERM by PID; a non-zero exit or a death is a note.
stop_server() {
	local name=$1 died=0
	[[ -n ${BENCH_SERVER_PID[$name]:-} ]] || return 0
	bench_server_alive "$name" || died=1
	if ! bench_server_stop "$name" || ((died)); then
		note "$name exited with status $BENCH_SERVER_RC$( ((died)) && echo ' before the script stopped it' || echo ' on SIGTERM')"
		tail -n 10 -- "${BENCH_SERVER_LOG[$name]}" >&2
	fi
}

# log_findings LOG WHO ROUND CUTOFF: warn/error lines a daemon logged before
# its stop began (CUTOFF, epoch seconds), collected per WHO and line with
# the rounds they were seen in; findings_notes turns them into notes.
declare -A FINDINGS=()
FINDINGS_ORDER=()
log_findings() {
	local line key
	[[ -f $1 ]] || return 0
	while IFS= read -r line; do
		key="$2 log: $line"
		[[ -n ${FINDINGS[$key]:-} ]] || FINDINGS_ORDER+=("$key")
		FINDINGS[$key]+=" $3"
	done < <(awk -v cut="$4" '$1 + 0 < cut && / (warn|error|crit|fatal): / {
			$1 = ""; sub(/^ /, ""); print }' "$1" | sort -u)
}
findings_notes() {
	local key rounds
	for key in "${FINDINGS_ORDER[@]}"; do
		rounds=${FINDINGS[$key]# }
		rounds=${rounds// /,}
		notes+=("$key (round $rounds)")
	done
}

target_stop() {
	local name=$1 round=$2 cut n out
	cut=$(date +%s.%N)
	case $name in
	blockd-C | blockd-A)
		for n in alice bob; do
			log_findings "${BENCH_SERVER_LOG[$n]:-}" "$name $n" "$round" "$cut"
		done
		# Demoted first, so the next round starts from a clean Secondary pair.
		if bench_server_alive alice && ! out=$(ctl alice secondary 2>&1); then
			note "$name round $round: secondary on alice: $out"
		fi
		stop_server alice
		stop_server bob
		;;
	*)
		[[ $name == nbdkit-file ]] ||
			log_findings "${BENCH_SERVER_LOG[$name]:-}" "$name" "$round" "$cut"
		stop_server "$name"
		;;
	esac
}

# ---- postgres on the stack ----------------------------------------------

as_pg() { (cd "$BENCH_TMP" && setpriv --reuid="$PG_USER" --regid="$PG_USER" --init-groups -- "$@"); }
psql_q() { "$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$BENCH_TMP/pgsock" -U "$PG_USER" "$@"; }

# pg_start DATADIR LOG: the postmaster as a child of this shell (PM_PID);
# fsync, synchronous_commit and full_page_writes are on (their defaults,
# spelled out because they are what is measured); no TCP listener.
pg_start() {
	local end=$((SECONDS + 60))
	PM_LOG=$2
	(cd "$BENCH_TMP" && exec setpriv --reuid="$PG_USER" --regid="$PG_USER" --init-groups -- \
		"$PG_BIN/postgres" -D "$1" -c listen_addresses= \
		-c unix_socket_directories="$BENCH_TMP/pgsock" \
		-c fsync=on -c synchronous_commit=on -c full_page_writes=on \
		-c shared_buffers="$PG_SHARED_BUFFERS") </dev/null >>"$PM_LOG" 2>&1 &
	PM_PID=$!
	until grep -q 'database system is ready to accept connections' "$PM_LOG"; do
		bench_pid_running "$PM_PID" || { note "postgres exited during start-up: $(tail -3 "$PM_LOG" | tr '\n' ' ')"; return 1; }
		((SECONDS < end)) || { note "postgres not ready within 60 s"; return 1; }
		sleep 0.05
	done
}

# pg_stop: fast shutdown (SIGINT), SIGKILL of it and its children by PID
# after 60 s. Quiet when it is not running.
pg_stop() {
	local pm=$PM_PID kids p rc=0
	[[ -n $pm ]] || return 0
	PM_PID=
	kill -INT "$pm" 2>/dev/null || true
	if ! bt_wait_exit "$pm" 60; then
		note "postgres did not shut down within 60 s; killed"
		kill -STOP "$pm" 2>/dev/null || true
		kids=$(ps -o pid= --ppid "$pm" 2>/dev/null || true)
		kill -KILL "$pm" 2>/dev/null || true
		for p in $kids; do kill -KILL "$p" 2>/dev/null || true; done
	fi
	wait "$pm" 2>/dev/null || rc=$?
	((rc == 0)) || note "postgres exited with status $rc on fast shutdown"
}

# bg_wait CMD...: run CMD as a child and wait for it, so that a signal to
# this script is handled at once and the EXIT trap can end CMD by PID.
bg_wait() {
	local rc=0
	"$@" &
	PGB_PID=$!
	wait "$PGB_PID" || rc=$?
	PGB_PID=
	return "$rc"
}

# pgbench_q ARGS...: exec'd, so that under bg_wait the PID is timeout's,
# which passes a SIGTERM on to pgbench.
pgbench_q() {
	exec timeout -k 5 $((RUNTIME + PGBENCH_SLACK_S)) \
		"$PG_BIN/pgbench" -h "$BENCH_TMP/pgsock" -U "$PG_USER" "$@" "$PG_DB"
}

# measure_run OUT ARGS...: CHECKPOINT (each run starts with nothing dirty),
# then one pgbench run, its output in OUT; sets RUN_TPS and RUN_LAT (ms).
measure_run() {
	local out=$1
	shift
	psql_q -c CHECKPOINT "$PG_DB" >/dev/null || { note "CHECKPOINT failed"; return 1; }
	bg_wait pgbench_q "$@" -T "$RUNTIME" >"$out" 2>&1 ||
		{ note "pgbench $* failed: $(tail -3 "$out" | tr '\n' ' ')"; return 1; }
	RUN_TPS=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$out" | tail -n 1)
	RUN_LAT=$(sed -n 's/^latency average = \([0-9.]*\) ms.*/\1/p' "$out")
	local fails
	fails=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$out")
	[[ -z $fails || $fails == 0 ]] || note "pgbench $*: $fails failed transactions"
	[[ -n $RUN_TPS && -n $RUN_LAT ]] || { note "pgbench $*: no tps/latency in its output"; return 1; }
}

# round_body NAME ROUND: the stack on the running target, postgres, pgbench.
round_body() {
	local name=$1 round=$2 dir=$BENCH_TMP/$1-r$2 t0 init_s load
	mkdir -p "$dir"
	stack_fuse_start "$FUSE_DIR" nbd "$dir/nbdfuse.log" "$URI" || { note "$name round $round: $STACK_ERR"; return 1; }
	stack_loop_attach "$FUSE_DIR/nbd" --direct-io=off || { note "$name round $round: $STACK_ERR"; return 1; }
	LOOP_DEV=$STACK_DEV
	# No discard: it would punch holes in the written-once backing file.
	# Inode tables and journal are written now, not by ext4lazyinit during
	# the measured runs.
	bg_wait mkfs.ext4 -q -F -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 "$LOOP_DEV" \
		>"$dir/mkfs.out" 2>&1 || { note "$name round $round: mkfs.ext4: $(tail -2 "$dir/mkfs.out")"; return 1; }
	stack_fs_mount "$LOOP_DEV" "$FS_DIR" -t ext4 || { note "$name round $round: $STACK_ERR"; return 1; }
	mkdir -p "$FS_DIR/pgdata"
	chown "$PG_USER:" "$FS_DIR/pgdata"
	chmod 700 "$FS_DIR/pgdata"
	# initdb's own per-file sync replaced by one syncfs: the same durability.
	as_pg "$PG_BIN/initdb" --no-sync -A trust -U "$PG_USER" -D "$FS_DIR/pgdata" >"$dir/initdb.out" 2>&1 ||
		{ note "$name round $round: initdb: $(tail -2 "$dir/initdb.out")"; return 1; }
	sync -f "$FS_DIR/pgdata"
	pg_start "$FS_DIR/pgdata" "$dir/postgres.log" || return 1
	psql_q -c "CREATE DATABASE $PG_DB" postgres >/dev/null || { note "CREATE DATABASE failed"; return 1; }
	t0=$(bench_now_ms)
	bg_wait pgbench_q -i -q -s "$SCALE" >"$dir/init.out" 2>&1 ||
		{ note "$name round $round: pgbench -i: $(tail -3 "$dir/init.out" | tr '\n' ' ')"; return 1; }
	init_s=$(awk -v ms=$(($(bench_now_ms) - t0)) 'BEGIN { printf "%.1f", ms / 1000 }')
	read -r load _ </proc/loadavg
	bench_log "$name round $round: pgbench -c 8 -j 2 -T $RUNTIME (load $load)"
	measure_run "$dir/c8.out" -c 8 -j 2 || return 1
	local tps8=$RUN_TPS lat8=$RUN_LAT
	bench_log "$name round $round: pgbench -c 1 -T $RUNTIME"
	measure_run "$dir/c1.out" -c 1 || return 1
	bench_log "$name round $round: -c 8: $tps8 TPS, $lat8 ms; -c 1: $RUN_TPS TPS, $RUN_LAT ms; init ${init_s}s"
	printf '%s\t%s\tok\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$round" "$tps8" "$lat8" \
		"$RUN_TPS" "$RUN_LAT" "$init_s" "$load" >>"$ROWS"
}

# round_teardown: postgres stopped, unmounted, detached, nbdfuse ended, each
# step strict (a failure is a note naming what holds it), then whatever is
# left best effort.
round_teardown() {
	pg_stop
	if ((${#STACK_FS[@]})); then
		stack_fs_umount "$FS_DIR" || note "teardown: $STACK_ERR"
		STACK_FS=()
	fi
	if [[ -n $LOOP_DEV ]]; then
		stack_loop_detach "$LOOP_DEV" 20 || note "teardown: $STACK_ERR"
		LOOP_DEV=
	fi
	if [[ -n ${STACK_FUSE_PID[$FUSE_DIR]:-} ]]; then
		stack_fuse_stop "$FUSE_DIR" 30 || note "teardown: $STACK_ERR"
	fi
	stack_cleanup
}

run_round() {
	local name=$1 round=$2 ok=1
	bench_log "== round $round/$ROUNDS: $name"
	LOOP_DEV=
	if target_start "$name" "$round" && round_body "$name" "$round"; then :; else ok=0; fi
	round_teardown
	[[ $name != blockd-[CA] || $ok == 0 ]] || pair_check "$name" "$round"
	target_stop "$name" "$round"
	if ((!ok)); then
		failed=1
		printf '%s\t%s\tfailed\n' "$name" "$round" >>"$ROWS"
	fi
}

bench_cleanup_hook() {
	[[ -z $PGB_PID ]] || bt_kill_pid "$PGB_PID"
	pg_stop 2>/dev/null || true
	stack_cleanup
}

# ---- main -----------------------------------------------------------------

bench_init
# shellcheck disable=SC2034 # stacklib.sh keeps its error output there
BT_TMP=$BENCH_TMP
# postgres runs as $PG_USER and must reach its socket dir under the scratch dir.
chmod 711 "$BENCH_TMP"
mkdir -p "$BENCH_TMP/pgsock" "$BENCH_TMP/bin"
chown "$PG_USER:" "$BENCH_TMP/pgsock"
cp -- "$BLOCKD" "$BENCH_TMP/bin/blockd"
cp -- "$BLOCKCTL" "$BENCH_TMP/bin/blockctl"
BD=$BENCH_TMP/bin/blockd
BC=$BENCH_TMP/bin/blockctl
CONF=$BENCH_TMP/r0.conf
IMG=$BENCH_TMP/single.img
ALICE_IMG=$BENCH_TMP/alice.img
bench_bob_img
BOB_IMG=$BENCH_BOB_IMG
FUSE_DIR=$BENCH_TMP/fuse
FS_DIR=$BENCH_TMP/fs
ROWS=$BENCH_TMP/rows.tsv
: >"$ROWS"
LOOP_DEV=
URI=

blockd_rev=$(git -C "$BENCH_ROOT" describe --always --dirty 2>/dev/null || echo "no commit")
pg_version=$("$PG_BIN/postgres" --version)
bench_log "RUNTIME=${RUNTIME}s ROUNDS=$ROUNDS SCALE=$SCALE SIZE=$SIZE TARGETS=$TARGETS QUICK=$QUICK"
load_before=$(bench_load_note)

need_single=0 need_pair=0
for t in "${target_list[@]}"; do
	if [[ $t == blockd-[CA] ]]; then need_pair=1; else need_single=1; fi
done
((!need_single)) || bench_backing_create "$IMG" "$SIZE_BYTES"
if ((need_pair)); then
	bench_backing_create "$ALICE_IMG" "$SIZE_BYTES"
	bench_backing_create "$BOB_IMG" "$SIZE_BYTES"
fi

for ((round = 1; round <= ROUNDS; round++)); do
	for t in "${target_list[@]}"; do
		run_round "$t" "$round"
	done
done
read -r load_after _ </proc/loadavg
findings_notes

meta=(
	--meta "date: $(date -u '+%F %H:%M UTC')"
	--meta "machine: $(uname -r), $(nproc) x $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM"
	--meta "backing files: $SIZE each on $(df --output=fstype,source -- "$BENCH_TMP" | tail -n 1 | xargs), preallocated and written once; nbdkit-file and the standalone blockd share one, the pair has one per node"
	--meta "stack: nbdfuse of the export, losetup --direct-io=off, mkfs.ext4 -E nodiscard,lazy_itable_init=0,lazy_journal_init=0, mount (defaults), all rebuilt for every target and round"
	--meta "postgres: fsync=on, synchronous_commit=on, full_page_writes=on, shared_buffers=$PG_SHARED_BUFFERS, the rest default; pgbench -i -s $SCALE, then CHECKPOINT before each of pgbench -c 8 -j 2 -T $RUNTIME and pgbench -c 1 -T $RUNTIME (TPC-B-like)"
	--meta "rounds: $ROUNDS, alternating over the targets in the order ${TARGETS}"
	--meta "load average (1 min): $load_before before the run, $load_after after"
	--meta "versions: blockd $blockd_rev, $pg_version, $(nbdkit --version), $(nbdfuse --version | sed -n 1p)"
)
[[ -z ${BOB_DIR:-} ]] || meta+=(--meta "$(bench_bob_note)")
[[ $QUICK == 1 ]] && meta+=(--meta "QUICK=1: a smoke test, not a measurement")
extra=()
[[ -z ${BENCH_NOTE:-} ]] || extra+=(--note "$BENCH_NOTE")
for n in "${commands[@]}"; do extra+=(--command "$n"); done
for n in "${notes[@]}"; do extra+=(--note "$n"); done
mkdir -p -- "$(dirname -- "$RESULTS")"
rc=0
"$BENCH_PYTHON" "$BENCH_DIR/pgreport.py" "$ROWS" --md "$RESULTS" \
	--title "blockd under PostgreSQL: pgbench on ext4 on the export" "${meta[@]}" \
	--ratio "blockd-standalone/nbdkit-file>=1.0" --ratio "blockd-C/blockd-standalone>=0.9" \
	--ratio "blockd-C/nbdkit-file" --ratio "blockd-A/blockd-standalone" \
	--ratio "blockd-buffered/nbdkit-file" --ratio "blockd-standalone/blockd-buffered" \
	"${extra[@]}" || rc=$?
bench_log "wrote $RESULTS"
((failed == 0)) || rc=1
exit "$rc"
