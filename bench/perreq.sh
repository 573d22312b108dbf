#!/usr/bin/env bash
# bench/perreq.sh — where the time goes, per request. For each target
# (blockd standalone with --io-mode buffered and direct, and a protocol C
# pair on loopback) and each job (4 KiB random write at QD1 and QD32, 4 KiB
# random read at QD32; fio's nbd engine, one connection), counts what the
# server did while fio ran and divides by the requests fio completed:
#
#   cpu_us      CPU time of the server process, every thread (utime + stime
#               from /proc/PID/stat, which keeps exited threads' time)
#   syscalls    system calls entered by the server (raw_syscalls:sys_enter)
#   sqes        io_uring requests submitted (io_uring:io_uring_submit_req)
#   punts       requests io_uring handed to an io-wq worker thread
#               (io_uring:io_uring_queue_async_work): each is a thread
#               hand-off, tens of microseconds at QD1
#   cs          context switches of the server's threads
#   cs_all      context switches on the whole machine (fio's included): the
#               wake-ups one request costs end to end
#
# and where the requests wait, sampled every 50 ms while fio runs (mean
# number of requests): srv_q, sent by the client but not yet read by the
# server (its NBD socket's receive queue); disk, at the device under the
# backing file (/sys/dev/block/M:m/inflight; for the pair both nodes'
# writes, one disk); cli_q, answered but not yet read by the client (the
# client's receive queue). At depth N, what none of them holds is inside a
# process: being parsed, submitted or completed by the server, or handled
# by fio's NBD client. And the time, in microseconds (means): clat_us,
# fio's completion latency; srv_us, the server's own (blockd's metrics,
# blockd_nbd_request_duration_seconds: from the request's header parsed to
# its reply queued, disk and peer included). clat_us - srv_us is the NBD
# round trip: the sockets and the client.
#
# For the pair both daemons count (alice + bob: the Secondary's work is part
# of a replicated request). The tracepoint counts come from `perf stat -p`,
# which follows the threads that exist when it starts: the run first warms
# up (RAMP) so the io-wq workers exist. Judge a change against these figures
# (bench/README.md has the current ones); they do not depend much on the
# machine's speed, unlike latencies.
#
# Environment: BLOCKD, RUNTIME (default 10; QUICK=1: 2), RAMP (default 1;
# QUICK=1: 1), SIZE (default 1G; QUICK=1: 256M), JOBS, TARGETS (subset of
# buffered direct protocol-C), RESULTS (default
# bench/results/DATE-perreq.md), BENCH_TMPDIR, KEEP_TMP=1 as bench/run.sh;
# BOB_DIR as bench/replicated.sh.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

bench_timing_defaults

RAMP=$((RAMP < 1 ? 1 : RAMP))
BLOCKD=${BLOCKD:-$BENCH_ROOT/build/blockd}
[[ $BLOCKD == /* ]] || BLOCKD=$PWD/$BLOCKD
BLOCKCTL=${BLOCKCTL:-$(dirname -- "$BLOCKD")/blockctl}
[[ $BLOCKCTL == /* ]] || BLOCKCTL=$PWD/$BLOCKCTL
JOBS=${JOBS:-randwrite-4k-qd1 randwrite-4k-qd32 randread-4k-qd32}
TARGETS=${TARGETS:-buffered direct protocol-C}
DATE=$(date +%F)
RESULTS=${RESULTS:-$BENCH_DIR/results/$DATE-perreq$([[ $QUICK == 1 ]] && echo -quick).md}
EXPORT=r0
EVENTS=raw_syscalls:sys_enter,io_uring:io_uring_submit_req,io_uring:io_uring_queue_async_work,context-switches

bench_require perf
[[ -x $BLOCKD && -x $BLOCKCTL ]] || bench_die "$BLOCKD or $BLOCKCTL not built"
read -r -a job_list <<<"$JOBS"
read -r -a target_list <<<"$TARGETS"
SIZE_BYTES=$(numfmt --from=iec -- "$SIZE") || bench_die "bad SIZE $SIZE"
perf stat -e "$EVENTS" -- true >/dev/null 2>&1 ||
	bench_die "perf cannot count $EVENTS (run as root; tracefs mounted?)"

bench_init
mkdir -p "$BENCH_TMP/bin"
cp -- "$BLOCKD" "$BLOCKCTL" "$BENCH_TMP/bin/"
BD=$BENCH_TMP/bin/$(basename -- "$BLOCKD")
BC=$BENCH_TMP/bin/$(basename -- "$BLOCKCTL")
ALICE_IMG=$BENCH_TMP/alice.img
bench_bob_img
BOB_IMG=$BENCH_BOB_IMG
CONF=$BENCH_TMP/pair.conf
bench_backing_create "$ALICE_IMG" "$SIZE_BYTES"
LOAD=$(bench_load_note)
rows=()

ctl() { timeout 15 "$BC" -c "$CONF" -n "$@"; }

# scrape HOST:PORT — the server's Prometheus text.
scrape() {
	"$BENCH_PYTHON" -c 'import sys, urllib.request
print(urllib.request.urlopen("http://%s/metrics" % sys.argv[1], timeout=5).read().decode())' "$1" ||
		bench_die "no metrics from $1"
}

# The backing file's device: its in-flight requests (reads, writes).
DISK_INFLIGHT=/sys/dev/block/$(stat -c '%Hd:%Ld' -- "$ALICE_IMG")/inflight
[[ -r $DISK_INFLIGHT ]] || DISK_INFLIGHT=/dev/null

# sample_queues SOCK OUT — until killed, every 50 ms one line to OUT: the
# server's receive queue on its NBD socket SOCK, the client's receive queue
# on the other end (bytes; 0 0 when not connected), the device's reads and
# writes in flight (bench/qsample.py: one process, no ss per sample).
sample_queues() {
	exec "$BENCH_PYTHON" "$BENCH_DIR/qsample.py" "$1" "$2" "$DISK_INFLIGHT" 0.05
}
status_wait() {
	"$BENCH_PYTHON" "$BENCH_DIR/status.py" wait "$BC" "$CONF" "$1" \
		"${BENCH_SERVER_PID[$1]:-0}" "$2" "$3" >/dev/null
}

# measure TARGET URI SOCK METRICS PID... — every job against URI (the NBD
# socket SOCK, the server's metrics at METRICS), counting PIDs.
measure() {
	local target=$1 uri=$2 sock=$3 metrics=$4 job out perf_p perf_a sampler t0 t1 ios pids
	shift 4
	pids=$(IFS=,; echo "$*")
	for job in "${job_list[@]}"; do
		out=$BENCH_TMP/$target-$job
		# As bench/run.sh: no page cache left of the file by an earlier
		# target (a buffered run, or cp making bob's copy). An O_DIRECT
		# write over cached pages is punted to io-wq, to drop them.
		bench_drop_caches
		# The ramp first, uncounted: io-wq workers come into being.
		RUNTIME=$RAMP RAMP=0 bench_fio "$job" "$out.warm.json" \
			$(bench_fio_nbd_args "$uri") || bench_die "$target $job: warm-up failed"
		perf stat -x, -o "$out.perf-p" -e "$EVENTS" -p "$pids" &
		perf_p=$!
		perf stat -x, -o "$out.perf-a" -a -e context-switches &
		perf_a=$!
		sleep 0.5	# perf attaches (not a synchronisation of the measurement)
		sample_queues "$sock" "$out.queues" &
		sampler=$!
		scrape "$metrics" >"$out.m0"
		t0=$(bench_cpu_ticks "$@")
		RAMP=0 bench_fio "$job" "$out.json" $(bench_fio_nbd_args "$uri") ||
			bench_die "$target $job: fio failed ($(tail -n 3 "$out.json.log"))"
		t1=$(bench_cpu_ticks "$@")
		scrape "$metrics" >"$out.m1"
		kill -INT "$perf_p" "$perf_a"
		kill "$sampler"
		wait "$perf_p" "$perf_a" "$sampler" || true
		ios=$("$BENCH_PYTHON" -c '
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
print(j["read"]["total_ios"] + j["write"]["total_ios"])' "$out.json")
		rows+=("$("$BENCH_PYTHON" - "$target" "$job" "$ios" "$((t1 - t0))" \
			"$(getconf CLK_TCK)" "$out.perf-p" "$out.perf-a" "$out.json" \
			"$out.queues" "$out.m0" "$out.m1" <<'EOF'
import json, re, sys
target, job, ios, ticks, hz, fp, fa, fj, fq, m0, m1 = sys.argv[1:]
ios, ticks, hz = int(ios), int(ticks), int(hz)
def counts(path):
    c = {}
    for line in open(path):
        f = line.strip().split(",")
        if len(f) > 2 and f[0].replace(".", "").isdigit():
            c[f[2]] = c.get(f[2], 0) + float(f[0])
    return c
p, a = counts(fp), counts(fa)
j = json.load(open(fj))["jobs"][0]
rw = j["write"] if j["write"]["total_ios"] else j["read"]
lat = rw["clat_ns"]["percentile"].get("50.000000", 0) / 1000
per = lambda v: v / ios if ios else 0
# Bytes on the wire per request and per reply (structured replies, as
# libnbd negotiates): READ 28 / 20 + 8 + data; WRITE 28 + data / 20.
bs = rw["io_bytes"] / rw["total_ios"] if rw["total_ios"] else 4096
req, rep = (28, 28 + bs) if rw is j["read"] else (28 + bs, 20)
qs = [list(map(float, l.split())) for l in open(fq) if len(l.split()) == 4]
mean = lambda i: sum(q[i] for q in qs) / len(qs) if qs else 0
waits = (mean(0) / req, mean(2) + mean(3), mean(1) / rep)
cmd = "read" if rw is j["read"] else "write"
def nbd(path, what):
    pat = r'^blockd_nbd_request_duration_seconds_%s\{[^}]*cmd="%s"\} (\S+)' % (what, cmd)
    return sum(float(m.group(1)) for m in re.finditer(pat, open(path).read(), re.M))
n = nbd(m1, "count") - nbd(m0, "count")
srv = (nbd(m1, "sum") - nbd(m0, "sum")) * 1e6 / n if n > 0 else 0
times = (rw["clat_ns"]["mean"] / 1000, srv)
print("| %s | %s | %d | %.0f | %.1f | %.1f | %.2f | %.2f | %.2f | %.2f | %.0f | %.1f | %.1f | %.1f | %.0f | %.0f |" % ((
    target, job, ios, rw["iops"], per(ticks * 1e6 / hz),
    per(p.get("raw_syscalls:sys_enter", 0)), per(p.get("io_uring:io_uring_submit_req", 0)),
    per(p.get("io_uring:io_uring_queue_async_work", 0)), per(p.get("context-switches", 0)),
    per(a.get("context-switches", 0)), lat) + waits + times))
EOF
)")
		bench_log "${rows[-1]}"
	done
}

standalone() { # MODE
	local name=blockd-$1 sock=$BENCH_TMP/$1.nbd uri metrics
	uri=$(bench_nbd_uri "$sock" "$EXPORT")
	metrics=127.0.0.1:$(bench_free_port)
	bench_server_start "$name" "$BENCH_TMP/$name.log" "$BD" --name "$EXPORT" \
		--disk "$ALICE_IMG" --nbd "unix:$sock" --control "$BENCH_TMP/$1.ctl" \
		--io-mode "$1" --metrics "$metrics"
	bench_server_wait_nbd "$name" "$uri" || bench_die "$name did not start"
	measure "$name" "$uri" "$sock" "$metrics" "${BENCH_SERVER_PID[$name]}"
	bench_server_stop "$name" || bench_die "$name did not stop cleanly"
}

pair() {
	local n metrics
	cp --sparse=always -- "$ALICE_IMG" "$BOB_IMG"
	bench_pair_conf "$CONF" "$EXPORT" "$ALICE_IMG" "$BOB_IMG"
	metrics=127.0.0.1:$(bench_free_port)
	sed -i "/^\[node alice\]/a metrics = $metrics" "$CONF"
	for n in alice bob; do ctl "$n" create-md >/dev/null || bench_die "create-md $n failed"; done
	for n in alice bob; do bench_server_start "$n" "$BENCH_TMP/$n.log" "$BD" -c "$CONF" -n "$n"; done
	status_wait alice 30 'p["connection"] == "Connected"' || bench_die "the pair did not connect"
	ctl alice primary --force >/dev/null || bench_die "primary --force on alice failed"
	status_wait alice 600 's["disk"] == "UpToDate" and p["disk"] == "UpToDate" and p["replication"] == "Established"' ||
		bench_die "the initial sync did not finish"
	bench_server_wait_nbd alice "$(bench_nbd_uri "$BENCH_TMP/alice.nbd" "$EXPORT")" ||
		bench_die "alice does not serve"
	measure protocol-C "$(bench_nbd_uri "$BENCH_TMP/alice.nbd" "$EXPORT")" \
		"$BENCH_TMP/alice.nbd" "$metrics" "${BENCH_SERVER_PID[alice]}" "${BENCH_SERVER_PID[bob]}"
	bench_server_stop alice || true
	bench_server_stop bob || true
}

for t in "${target_list[@]}"; do
	case $t in
	buffered | direct) standalone "$t" ;;
	protocol-C) pair ;;
	*) bench_die "TARGETS: unknown target $t" ;;
	esac
done

{
	echo "# Per request: $DATE"
	echo
	echo "bench/perreq.sh, RUNTIME=$RUNTIME s per job after a ${RAMP} s warm-up, $SIZE file, load average $LOAD before the run, $(nproc) CPUs, kernel $(uname -r)."
	[[ -z ${BOB_DIR:-} ]] || echo "$(bench_bob_note); the disk column counts alice's device only."
	echo "Counts per completed request (protocol-C: alice + bob); cs_all is the whole machine, fio included. p50 is fio's completion latency."
	echo "srv_q, disk, cli_q: mean requests waiting in the server's NBD receive queue, at the disk (both nodes for the pair), in the client's receive queue (sampled every 50 ms)."
	echo
	echo "clat_us: fio's mean completion latency; srv_us: alice's or the server's mean time from a request parsed to its reply queued (its metrics)."
	echo
	echo "| target | job | requests | IOPS | cpu_us | syscalls | sqes | punts | cs | cs_all | p50 us | srv_q | disk | cli_q | clat_us | srv_us |"
	echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	printf '%s\n' "${rows[@]}"
} | tee "$RESULTS"
bench_log "results: $RESULTS"
