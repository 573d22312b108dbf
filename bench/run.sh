#!/usr/bin/env bash
# bench/run.sh — the standalone comparison behind `make bench`.
#
# On one backing file, one server at a time, runs every job in bench/jobs
# against: blockd --io-mode buffered, blockd --io-mode direct, nbdkit file,
# qemu-nbd (O_DIRECT, io_uring), nbdkit null (the NBD protocol ceiling: no
# disk at all) and fio io_uring O_DIRECT on the file itself (the disk limit).
# Prints a table and blockd's ratios, and writes the same as markdown to
# bench/results/DATE-standalone.md. See bench/README.md for how to read it.
#
# Environment:
#   BLOCKD   blockd binary (default build/blockd; skipped if not built)
#   RUNTIME  seconds measured per job (default 10; QUICK=1: 2)
#   RAMP     seconds run before measuring starts (default 1; QUICK=1: 0)
#   SIZE     backing file size, K/M/G = KiB/MiB/GiB (default 1G; QUICK=1: 256M)
#   QUICK=1  smoke test: short runs, results file *-standalone-quick.md
#   SERVERS  subset/order of: blockd-buffered blockd-direct nbdkit-file
#            qemu-nbd nbdkit-null raw-io_uring, and blockd-buffered-poll,
#            blockd-direct-poll (the same with poll-us = POLL_US), and
#            nbd-floor, nbd-floor-simple (bench/nbd-floor.c, built beside
#            blockd: the least an NBD server does for direct I/O, with and
#            without structured replies)
#   POLL_US  poll-us of the -poll targets (default 50)
#   JOBS     subset/order of the job names in bench/jobs
#   RESULTS  markdown output path (default bench/results/DATE-standalone.md)
#   BENCH_TMPDIR  parent of the scratch dir (default /var/tmp; never tmpfs)
#   DROP_CACHES=0 keep the page cache between jobs (default: sync + drop)
#   KEEP_TMP=1    keep the scratch dir (fio JSON, server logs) after the run
#
# Exits non-zero if a server failed to start or a job failed; missing ratio
# targets are reported, never turned into a failure (benchmarks are not tests).
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

bench_timing_defaults
BLOCKD=${BLOCKD:-$BENCH_ROOT/build/blockd}
SERVERS=${SERVERS:-blockd-buffered blockd-direct nbdkit-file qemu-nbd nbdkit-null raw-io_uring}
JOBS=${JOBS:-randwrite-4k-qd32 randread-4k-qd32 seqwrite-1m-qd8 randwrite-4k-qd1 commit-8k-qd1}
DATE=$(date +%F)
if [[ $QUICK == 1 ]]; then
	RESULTS=${RESULTS:-$BENCH_DIR/results/$DATE-standalone-quick.md}
else
	RESULTS=${RESULTS:-$BENCH_DIR/results/$DATE-standalone.md}
fi
EXPORT=r0

read -r -a server_list <<<"$SERVERS"
read -r -a job_list <<<"$JOBS"
for job in "${job_list[@]}"; do
	[[ -f $BENCH_JOBS_DIR/$job.fio ]] || bench_die "no job file bench/jobs/$job.fio"
done
[[ $RUNTIME =~ ^[0-9]+$ && $RAMP =~ ^[0-9]+$ ]] || bench_die "RUNTIME and RAMP are whole seconds"
SIZE_BYTES=$(numfmt --from=iec -- "$SIZE") || bench_die "bad SIZE $SIZE"
[[ $BLOCKD == /* ]] || BLOCKD=$PWD/$BLOCKD

notes=()    # for the results file: what was skipped or went wrong
commands=() # for the results file: how each target ran

# server_cmd NAME SOCKET IMAGE — fill the array `cmd` with the server's argv;
# empty for the raw file target. Returns 1 with a note if it cannot run here.
server_cmd() {
	local name=$1 sock=$2 img=$3
	cmd=()
	case $name in
	blockd-buffered | blockd-direct | blockd-buffered-poll | blockd-direct-poll)
		if [[ ! -x $BLOCKD ]]; then
			notes+=("$name skipped: $(cmd_display "$BLOCKD") not built (meson setup build && ninja -C build)")
			return 1
		fi
		local mode=${name#blockd-}
		cmd=("$BLOCKD" --name "$EXPORT" --disk "$img" --nbd "unix:$sock"
			--io-mode "${mode%-poll}")
		[[ $name != *-poll ]] || cmd+=(--poll-us "${POLL_US:-50}")
		;;
	nbd-floor | nbd-floor-simple)
		local floor=${BLOCKD%/*}/nbd-floor
		if [[ ! -x $floor ]]; then
			notes+=("$name skipped: $(cmd_display "$floor") not built (it is built beside blockd)")
			return 1
		fi
		cmd=("$floor")
		[[ $name == nbd-floor ]] || cmd+=(--simple)
		cmd+=("$sock" "$img")
		;;
	nbdkit-file)
		# Default cache mode: the page cache, like blockd buffered.
		cmd=(nbdkit -f --exit-with-parent -U "$sock" file "$img")
		;;
	qemu-nbd)
		# -t: keep serving after a client leaves (the readiness probe is one);
		# -e 8: more than one client at a time; -x: the same export name as blockd.
		cmd=(qemu-nbd --cache=none --aio=io_uring -f raw -x "$EXPORT" -t -e 8
			-k "$sock" "$img")
		;;
	nbdkit-null)
		cmd=(nbdkit -f --exit-with-parent -U "$sock" null "size=$SIZE_BYTES")
		;;
	raw-io_uring) ;;
	*) bench_die "unknown server $name" ;;
	esac
	if ((${#cmd[@]})) && ! command -v "${cmd[0]}" >/dev/null; then
		notes+=("$name skipped: ${cmd[0]} not installed")
		return 1
	fi
}

# Replace scratch paths in a command line so the results file reads the same
# on every run.
cmd_display() {
	local s="$*"
	s=${s//$BENCH_TMP\/backing.img/IMG}
	s=${s//$BENCH_TMP\//}
	s=${s//$BENCH_ROOT\//}
	printf '%s' "$s"
}

# measure NAME — start the server, run every job against it, stop it.
measure() {
	local name=$1 sock=$BENCH_TMP/$1.sock uri job
	if ! server_cmd "$name" "$sock" "$IMG"; then
		bench_log "${notes[-1]}"
		for job in "${job_list[@]}"; do bench_record "$name" "$job" skipped; done
		return 0
	fi
	if ((${#cmd[@]} == 0)); then
		commands+=("$name: fio --ioengine=io_uring --direct=1 --filename=IMG")
		bench_jobs_run "$name" file "$IMG" "${job_list[@]}"
		return 0
	fi
	commands+=("$name: $(cmd_display "${cmd[@]}")")
	uri=$(bench_nbd_uri "$sock" "$EXPORT")
	rm -f -- "$sock"
	bench_server_start "$name" "$BENCH_TMP/$name.log" "${cmd[@]}"
	if ! bench_server_wait_nbd "$name" "$uri"; then
		notes+=("$name failed to start (its log tail is printed above the table)")
		bench_server_stop "$name" || true
		for job in "${job_list[@]}"; do bench_record "$name" "$job" failed; done
		return 0
	fi
	bench_jobs_run "$name" nbd "$uri" "${job_list[@]}"
	local died=0
	bench_server_alive "$name" || died=1
	if ! bench_server_stop "$name" || ((died)); then
		if ((died)); then
			notes+=("$name went away during the run (exit status $BENCH_SERVER_RC) before the script stopped it")
		else
			notes+=("$name exited with status $BENCH_SERVER_RC on SIGTERM (expected 0)")
		fi
		bench_log "${notes[-1]}; log tail:"
		tail -n 10 -- "$BENCH_TMP/$name.log" >&2
	fi
}

bench_require nbdkit qemu-nbd
bench_init
IMG=$BENCH_TMP/backing.img

fio_version=$(fio --version)
nbdkit_version=$(nbdkit --version | head -n 1)
qemu_version=$(qemu-nbd --version | head -n 1)
blockd_rev=$(git -C "$BENCH_ROOT" describe --always --dirty 2>/dev/null || echo "no commit")
bench_log "RUNTIME=${RUNTIME}s RAMP=${RAMP}s SIZE=$SIZE ($SIZE_BYTES bytes) QUICK=$QUICK"
bench_log "$fio_version, $nbdkit_version, $qemu_version, blockd $blockd_rev"

load_before=$(bench_load_note)
bench_backing_create "$IMG" "$SIZE_BYTES"
for server in "${server_list[@]}"; do
	measure "$server"
done

ratios=(
	--ratio "blockd-buffered/nbdkit-file@randwrite-4k-qd32>=1.2"
	--ratio "blockd-buffered/nbdkit-file@randread-4k-qd32>=1.1"
	--ratio "blockd-direct/raw-io_uring@*>=0.9"
	--ratio "blockd-direct/qemu-nbd@*>=1.5"
)
meta=(
	--meta "date: $(date -u '+%F %H:%M UTC')"
	--meta "machine: $(uname -r), $(nproc) x $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM"
	--meta "backing file: $SIZE on $(df --output=fstype,source -- "$BENCH_TMP" | tail -n 1 | xargs), preallocated and written once"
	--meta "per job: ${RUNTIME}s measured after ${RAMP}s ramp, one fio job, one connection; page cache $([[ ${DROP_CACHES:-1} == 1 ]] && echo dropped || echo kept) between jobs"
	--meta "load average (1 min) before the run: $load_before"
	--meta "versions: blockd $blockd_rev, $fio_version, $nbdkit_version, $qemu_version"
)
[[ $QUICK == 1 ]] && meta+=(--meta "QUICK=1: a smoke test, not a measurement")

mkdir -p -- "$(dirname -- "$RESULTS")"
note_args=()
for n in "${commands[@]}"; do note_args+=(--command "$n"); done
for n in "${notes[@]}"; do note_args+=(--note "$n"); done
rc=0
"$BENCH_PYTHON" "$BENCH_DIR/report.py" "$BENCH_MANIFEST" \
	--title "blockd standalone" --md "$RESULTS" \
	"${meta[@]}" "${ratios[@]}" "${note_args[@]}" || rc=$?
bench_log "wrote $RESULTS"
exit "$rc"
