#!/usr/bin/env bash
# bench/resync.sh — how fast a pair resyncs, and what one node costs to start
# and to keep, whatever the size of its disk.
#
# Part 1, resync throughput. Two backing files of SIZE under BENCH_TMPDIR,
# preallocated; alice's written once with random data, bob's with zeroes.
# Metadata is created on both (internal), then:
#   - raw copy: dd of the data area from alice's file to bob's, O_DIRECT,
#     1 MiB blocks, page cache dropped first; twice before the pair runs and
#     twice after (bob's data area is zeroed again in between). Their median
#     is the yardstick;
#   - full resync: both daemons, connected, `blockctl primary --force` on
#     alice; timed from the promote to alice seeing bob UpToDate. The ratio
#     to the raw copy has a target (>= 0.8);
#   - bitmap resync: `blockctl disconnect` on alice, RANDWRITE bytes written
#     at random (4 KiB, 32 in flight) through alice's NBD export, `blockctl
#     connect`; timed from the connect to bob UpToDate and nothing out of
#     sync. Its bytes are the change of peer.resync_sent_bytes.
#     Informational: scattered 4 KiB blocks cannot cross as fast as a stream;
# then both daemons stop and the data areas are compared (they must match).
#
# Part 2, start-up and memory. A sparse backing file (truncate) of
# SMALL_SIZE and one of BIG_SIZE, internal metadata created on each (timed);
# for each, one node of a pair whose peer never runs is started REPEAT times
# (page cache dropped first): start-up is from exec to `blockctl status`
# answering on the control socket (polled every 5 ms), memory is VmRSS,
# VmHWM and VmLck from /proc/PID/status one second later. Targets: start-up
# <= 1 s and VmHWM (the peak RSS) <= 64 MiB, for both sizes alike.
#
# Prints the tables and writes the same markdown to
# bench/results/DATE-resync.md. See bench/README.md.
#
# Environment:
#   BLOCKD      blockd binary (default build/blockd); BLOCKCTL (default: the
#               blockctl next to it). Both are copied to the scratch dir
#               first, so a rebuild during the run does not change what runs.
#   SIZE        each backing file of part 1 (default 1G; QUICK=1: 256M)
#   RANDWRITE   bytes written at random while disconnected (default 256M;
#               QUICK=1: 64M)
#   SMALL_SIZE, BIG_SIZE  the sparse files of part 2 (default 1G and 1T;
#               QUICK=1: 256M and 64G)
#   REPEAT      start-ups per size (default 3; QUICK=1: 1); the median
#               start-up and the largest memory figures are reported
#   QUICK=1     smoke test: smaller sizes, results file *-resync-quick.md
#   RESULTS     markdown output path (default bench/results/DATE-resync.md)
#   SYNC_TIMEOUT  seconds allowed for each resync (default 600)
#   BENCH_TMPDIR, DROP_CACHES=0, KEEP_TMP=1: as bench/run.sh
#
# Exits non-zero if a daemon failed to start, the pair did not connect or
# resync, or the two data areas differ afterwards; missed targets are
# reported, never an error.
set -euo pipefail

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
	SIZE=${SIZE:-256M}
	RANDWRITE=${RANDWRITE:-64M}
	SMALL_SIZE=${SMALL_SIZE:-256M}
	BIG_SIZE=${BIG_SIZE:-64G}
	REPEAT=${REPEAT:-1}
else
	SIZE=${SIZE:-1G}
	RANDWRITE=${RANDWRITE:-256M}
	SMALL_SIZE=${SMALL_SIZE:-1G}
	BIG_SIZE=${BIG_SIZE:-1T}
	REPEAT=${REPEAT:-3}
fi
BLOCKD=${BLOCKD:-$BENCH_ROOT/build/blockd}
[[ $BLOCKD == /* ]] || BLOCKD=$PWD/$BLOCKD
BLOCKCTL=${BLOCKCTL:-$(dirname -- "$BLOCKD")/blockctl}
[[ $BLOCKCTL == /* ]] || BLOCKCTL=$PWD/$BLOCKCTL
SYNC_TIMEOUT=${SYNC_TIMEOUT:-600}
DATE=$(date +%F)
if [[ $QUICK == 1 ]]; then
	RESULTS=${RESULTS:-$BENCH_DIR/results/$DATE-resync-quick.md}
else
	RESULTS=${RESULTS:-$BENCH_DIR/results/$DATE-resync.md}
fi
EXPORT=r0
# Targets.
RESYNC_RATIO_MIN=0.8
STARTUP_MAX_MS=1000
HWM_MAX_MIB=64
# Raw copies before and after the pair runs (each).
RAW_COPIES=2

[[ $SYNC_TIMEOUT =~ ^[0-9]+$ && $REPEAT =~ ^[1-9][0-9]*$ ]] ||
	bench_die "SYNC_TIMEOUT and REPEAT are whole numbers (REPEAT >= 1)"
SIZE_BYTES=$(numfmt --from=iec -- "$SIZE") || bench_die "bad SIZE $SIZE"
RANDWRITE_BYTES=$(numfmt --from=iec -- "$RANDWRITE") || bench_die "bad RANDWRITE $RANDWRITE"
SMALL_BYTES=$(numfmt --from=iec -- "$SMALL_SIZE") || bench_die "bad SMALL_SIZE $SMALL_SIZE"
BIG_BYTES=$(numfmt --from=iec -- "$BIG_SIZE") || bench_die "bad BIG_SIZE $BIG_SIZE"
((RANDWRITE_BYTES % 4096 == 0 && RANDWRITE_BYTES > 0)) || bench_die "RANDWRITE must be a multiple of 4 KiB"
[[ -x $BLOCKD ]] || bench_die "$BLOCKD not built (meson setup build && ninja -C build)"
[[ -x $BLOCKCTL ]] || bench_die "$BLOCKCTL not built (meson setup build && ninja -C build)"
bench_require dd cmp truncate awk

notes=()    # for the results file: what went wrong or looked odd
commands=() # for the results file: what ran
summary=()  # for the results file: the figures behind the tables
rc=0

cmd_display() {
	local s="$*"
	s=${s//$BENCH_TMP\/bin\//}
	s=${s//$BENCH_TMP\//}
	s=${s//$BENCH_ROOT\//}
	printf '%s' "$s"
}

# Wall clock in seconds with microseconds, without a fork.
now() { printf '%s' "$EPOCHREALTIME"; }
ms_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", (b - a) * 1000 }'; }
mib_s() { awk -v b="$1" -v s="$2" 'BEGIN { printf "%.1f", (s > 0 ? b / 1048576 / s : 0) }'; }
median() {
	printf '%s\n' "$@" | sort -g |
		awk '{ v[NR] = $1 } END { if (NR) printf "%.1f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
maximum() { printf '%s\n' "$@" | sort -g | tail -n 1; }

ctl() { local conf=$1; shift; timeout 15 "$BC" -c "$conf" -n "$@"; }
status_get() { "$BENCH_PYTHON" "$BENCH_DIR/status.py" get "$BC" "$CONF" "$@"; }
# status_wait NODE DEADLINE_S EXPR — as in replicated.sh (20 ms polls).
status_wait() {
	"$BENCH_PYTHON" "$BENCH_DIR/status.py" wait "$BC" "$CONF" "$1" \
		"${BENCH_SERVER_PID[$1]:-0}" "$2" "$3"
}

# mem PID — "VmRSS VmHWM VmLck" in KiB.
mem() {
	awk '/^VmRSS:/ { r = $2 } /^VmHWM:/ { h = $2 } /^VmLck:/ { l = $2 }
		END { printf "%d %d %d", r, h, l }' "/proc/$1/status"
}
kib_mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# stop_server NAME — SIGTERM; a non-zero exit or an earlier death is a note.
stop_server() {
	local name=$1 died=0
	[[ -n ${BENCH_SERVER_PID[$name]:-} ]] || return 0
	bench_server_alive "$name" || died=1
	if ! bench_server_stop "$name" || ((died)); then
		if ((died)); then
			notes+=("$name went away during the run (exit status $BENCH_SERVER_RC) before the script stopped it")
		else
			notes+=("$name exited with status $BENCH_SERVER_RC on SIGTERM (expected 0)")
		fi
		bench_log "${notes[-1]}; log tail:"
		tail -n 10 -- "${BENCH_SERVER_LOG[$name]}" >&2
	fi
}

# log_findings NAME — warn/error lines a daemon logged, deduplicated, as notes.
log_findings() {
	local name=$1 log=${BENCH_SERVER_LOG[$1]:-} line
	[[ -n $log && -f $log ]] || return 0
	while IFS= read -r line; do
		notes+=("$name log: $line")
	done < <(awk '/ (warn|error|crit|fatal): / { $1 = ""; sub(/^ /, ""); print }' "$log" |
		sort | uniq -c |
		awk '{ n = $1; $1 = ""; sub(/^ /, ""); printf "%s%s\n", $0, (n > 1 ? " (" n " times)" : "") }')
}

# fill FILE BYTES FIO_ARGS... — write every block once, O_DIRECT, 1 MiB.
fill() {
	local file=$1 bytes=$2 t0
	shift 2
	t0=$(now)
	fio --name=fill --filename="$file" --size="$bytes" --rw=write --bs=1m \
		--iodepth=8 --ioengine=io_uring --direct=1 --end_fsync=1 "$@" \
		--output=/dev/null || bench_die "filling $file failed"
	bench_log "$file: $bytes bytes written in $(ms_since "$t0") ms ($*)"
}

# raw_copy WHEN — one dd of DATA_BYTES from alice's file to bob's; appends
# its MiB/s to raw_rates.
raw_rates=()
raw_when=()
raw_copy() {
	local t0 secs rate
	bench_drop_caches
	t0=$(now)
	dd if="$ALICE_IMG" of="$BOB_IMG" bs=1M count="$DATA_BYTES" \
		iflag=direct,count_bytes oflag=direct conv=notrunc status=none ||
		bench_die "dd failed"
	secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }')
	rate=$(mib_s "$DATA_BYTES" "$secs")
	bench_log "raw copy $1: $DATA_BYTES bytes in $secs s = $rate MiB/s"
	raw_rates+=("$rate")
	raw_when+=("$1: $rate")
}

# ---- part 1: resync -------------------------------------------------------

FULL_SECS='' FULL_BYTES='' BITMAP_SECS='' BITMAP_BYTES='' BITMAP_OOS=''

# pair_resync — start the pair, full resync, then the bitmap one. Returns
# non-zero (with a note) at the first thing that does not happen.
pair_resync() {
	local n out t0 r0 r1 uri m
	for n in alice bob; do
		bench_server_start "$n" "$BENCH_TMP/$n.log" "$BD" -c "$CONF" -n "$n"
		commands+=("$n: $(cmd_display "$BD" -c "$CONF" -n "$n")")
	done
	if ! status_wait alice 30 'p["connection"] == "Connected" and p["disk"] == "Inconsistent"' >/dev/null; then
		notes+=("the pair did not connect (with bob Inconsistent) within 30 s")
		return 1
	fi
	bench_drop_caches
	bench_log "pair connected; promoting alice (--force): full resync of bob"
	commands+=("full resync: $(cmd_display "$BC" -c "$CONF" -n alice primary --force)")
	t0=$(now)
	if ! out=$(ctl "$CONF" alice primary --force 2>&1); then
		notes+=("blockctl primary --force on alice failed: $out")
		return 1
	fi
	if ! status_wait alice "$SYNC_TIMEOUT" 'p["disk"] == "UpToDate"' >/dev/null; then
		notes+=("the full resync did not finish within ${SYNC_TIMEOUT} s")
		return 1
	fi
	FULL_SECS=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }')
	FULL_BYTES=$(status_get alice peer.resync_sent_bytes)
	bench_log "full resync: $FULL_BYTES bytes in $FULL_SECS s = $(mib_s "$FULL_BYTES" "$FULL_SECS") MiB/s"
	((FULL_BYTES == DATA_BYTES)) ||
		notes+=("the full resync sent $FULL_BYTES bytes of block data (peer.resync_sent_bytes), not the $DATA_BYTES of the data area (zero: $(status_get alice peer.resync_zero_bytes), same: $(status_get alice peer.resync_same_bytes))")
	for n in alice bob; do
		read -r -a m <<<"$(mem "${BENCH_SERVER_PID[$n]}")"
		summary+=("$n after the full resync: VmRSS $(kib_mib "${m[0]}") MiB, VmHWM $(kib_mib "${m[1]}") MiB, VmLck $(kib_mib "${m[2]}") MiB")
	done
	if ! status_wait alice 30 'p["replication"] == "Established" and p["out_of_sync_bytes"] == 0' >/dev/null; then
		notes+=("after the full resync alice does not report Established and nothing out of sync")
		return 1
	fi

	uri=$(bench_nbd_uri "$BENCH_TMP/pair-alice.nbd" "$EXPORT")
	if ! bench_server_wait_nbd alice "$uri"; then
		notes+=("alice (Primary) does not serve NBD")
		return 1
	fi
	commands+=("bitmap resync: $(cmd_display "$BC" -c "$CONF" -n alice disconnect); fio --name=dirty --ioengine=nbd --uri=nbd+unix:///$EXPORT?socket=pair-alice.nbd --rw=randwrite --bs=4k --iodepth=32 --io_size=$RANDWRITE_BYTES; $(cmd_display "$BC" -c "$CONF" -n alice connect)")
	if ! out=$(ctl "$CONF" alice disconnect 2>&1) ||
		! status_wait alice 30 'p["connection"] != "Connected"' >/dev/null; then
		notes+=("blockctl disconnect on alice did not disconnect: $out")
		return 1
	fi
	bench_log "disconnected; writing $RANDWRITE_BYTES bytes at random through alice's NBD"
	if ! timeout -k 5 600 fio --name=dirty --ioengine=nbd --uri="$uri" --rw=randwrite \
		--bs=4k --iodepth=32 --io_size="$RANDWRITE_BYTES" >"$BENCH_TMP/dirty.log" 2>&1; then
		notes+=("fio randwrite through alice's NBD failed: $(tail -n 3 -- "$BENCH_TMP/dirty.log" | xargs)")
		return 1
	fi
	BITMAP_OOS=$(status_get alice peer.out_of_sync_bytes)
	r0=$(status_get alice peer.resync_sent_bytes)
	bench_drop_caches
	t0=$(now)
	if ! out=$(ctl "$CONF" alice connect 2>&1); then
		notes+=("blockctl connect on alice failed: $out")
		return 1
	fi
	if ! status_wait alice "$SYNC_TIMEOUT" 'p["connection"] == "Connected" and p["disk"] == "UpToDate" and p["replication"] == "Established" and p["out_of_sync_bytes"] == 0' >/dev/null; then
		notes+=("the bitmap resync did not finish within ${SYNC_TIMEOUT} s")
		return 1
	fi
	BITMAP_SECS=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }')
	r1=$(status_get alice peer.resync_sent_bytes)
	BITMAP_BYTES=$((r1 - r0))
	bench_log "bitmap resync: $BITMAP_BYTES bytes in $BITMAP_SECS s = $(mib_s "$BITMAP_BYTES" "$BITMAP_SECS") MiB/s ($BITMAP_OOS bytes were out of sync)"
	((BITMAP_OOS == RANDWRITE_BYTES)) ||
		notes+=("after writing $RANDWRITE_BYTES bytes at random (distinct 4 KiB blocks) while disconnected, alice had $BITMAP_OOS bytes out of sync")
	((BITMAP_BYTES == BITMAP_OOS)) ||
		notes+=("the bitmap resync sent $BITMAP_BYTES bytes of block data for $BITMAP_OOS bytes out of sync")
	for n in alice bob; do
		read -r -a m <<<"$(mem "${BENCH_SERVER_PID[$n]}")"
		summary+=("$n after the bitmap resync: VmRSS $(kib_mib "${m[0]}") MiB, VmHWM $(kib_mib "${m[1]}") MiB, VmLck $(kib_mib "${m[2]}") MiB")
	done
	if ! status_wait bob 30 's["disk"] == "UpToDate" and p["connection"] == "Connected"' >/dev/null; then
		notes+=("bob does not report itself UpToDate after the resyncs")
		return 1
	fi
}

# ---- part 2: start-up and memory ------------------------------------------

# start_rows: one markdown row per size; start_ok: 0 once a start-up failed.
start_rows=()
start_ok=1
declare -A START_MS=() HWM_KIB=()

# startup_case LABEL BYTES
startup_case() {
	local label=$1 bytes=$2 img conf t0 md_ms out i pid ms name meets
	local -a starts=() rss=() hwm=() lck=() m
	img=$BENCH_TMP/sparse-$label.img
	conf=$BENCH_TMP/start-$label.conf
	if ! truncate -s "$bytes" -- "$img" 2>"$BENCH_TMP/truncate.err"; then
		notes+=("truncate -s $label: $(cat -- "$BENCH_TMP/truncate.err")")
		start_rows+=("| $label | failed | | | | | |")
		start_ok=0
		return 0
	fi
	bench_pair_conf "$conf" "$EXPORT" "$img" "$BENCH_TMP/absent.img" "start-$label"
	bench_drop_caches
	t0=$(now)
	if ! out=$(ctl "$conf" alice create-md 2>&1); then
		notes+=("create-md on the $label file failed: $out")
		start_rows+=("| $label | failed | | | | | |")
		start_ok=0
		return 0
	fi
	md_ms=$(ms_since "$t0")
	bench_log "$label: create-md in $md_ms ms: $out; $(du -h -- "$img" | cut -f 1) allocated"
	summary+=("$label sparse file: create-md took $md_ms ms ($out); $(du -k -- "$img" | cut -f 1) KiB allocated afterwards")
	commands+=("start-up $label: truncate -s $bytes sparse-$label.img; $(cmd_display "$BC" -c "$conf" -n alice create-md); $(cmd_display "$BD" -c "$conf" -n alice) (bob never runs), polled with $(cmd_display "$BC" -c "$conf" -n alice status)")
	for ((i = 1; i <= REPEAT; i++)); do
		name=start-$label-$i
		bench_drop_caches
		t0=$(now)
		bench_server_start "$name" "$BENCH_TMP/$name.log" "$BD" -c "$conf" -n alice
		pid=${BENCH_SERVER_PID[$name]}
		until "$BC" -c "$conf" -n alice status >/dev/null 2>&1; do
			if ! bench_pid_running "$pid"; then
				notes+=("$name: blockd exited before its control socket answered: $(tail -n 3 -- "$BENCH_TMP/$name.log" | xargs)")
				stop_server "$name"
				start_ok=0
				start_rows+=("| $label | $md_ms | failed | | | | |")
				return 0
			fi
			if awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { exit !(b - a > 30) }'; then
				notes+=("$name: the control socket did not answer within 30 s")
				stop_server "$name"
				start_ok=0
				start_rows+=("| $label | $md_ms | failed | | | | |")
				return 0
			fi
			sleep 0.005
		done
		ms=$(ms_since "$t0")
		sleep 1
		read -r -a m <<<"$(mem "$pid")"
		bench_log "$name: start-up $ms ms; VmRSS ${m[0]} KiB, VmHWM ${m[1]} KiB, VmLck ${m[2]} KiB"
		starts+=("$ms")
		rss+=("${m[0]}")
		hwm+=("${m[1]}")
		lck+=("${m[2]}")
		stop_server "$name"
		cat -- "$BENCH_TMP/$name.log" >>"$BENCH_TMP/start-ups.log"
	done
	START_MS[$label]=$(median "${starts[@]}")
	HWM_KIB[$label]=$(maximum "${hwm[@]}")
	meets=ok
	if awk -v s="${START_MS[$label]}" -v t="$STARTUP_MAX_MS" 'BEGIN { exit !(s > t) }'; then
		meets="MISS (start-up)"
	fi
	if ((HWM_KIB[$label] > HWM_MAX_MIB * 1024)); then
		[[ $meets == ok ]] && meets="MISS (memory)" || meets="MISS (start-up, memory)"
	fi
	start_rows+=("| $label | $md_ms | ${START_MS[$label]} | $(kib_mib "$(maximum "${rss[@]}")") | $(kib_mib "${HWM_KIB[$label]}") | $(kib_mib "$(maximum "${lck[@]}")") | $meets |")
	summary+=("$label start-ups (ms): ${starts[*]}; its bitmap, 1 bit per 4 KiB, takes $(awk -v b="$bytes" 'BEGIN { k = b / 4096 / 8 / 1024; if (k < 1024) printf "%.0f KiB", k; else printf "%.1f MiB", k / 1024 }') of address space, resident only where bits are set (none here: fresh metadata)")
}

# ---- run ------------------------------------------------------------------

bench_init
mkdir -p -- "$BENCH_TMP/bin"
cp -- "$BLOCKD" "$BENCH_TMP/bin/blockd"
cp -- "$BLOCKCTL" "$BENCH_TMP/bin/blockctl"
BD=$BENCH_TMP/bin/blockd
BC=$BENCH_TMP/bin/blockctl
CONF=$BENCH_TMP/pair.conf
ALICE_IMG=$BENCH_TMP/alice.img
BOB_IMG=$BENCH_TMP/bob.img

fio_version=$(fio --version)
blockd_rev=$(git -C "$BENCH_ROOT" describe --always --dirty 2>/dev/null || echo "no commit")
bench_log "SIZE=$SIZE RANDWRITE=$RANDWRITE SMALL_SIZE=$SMALL_SIZE BIG_SIZE=$BIG_SIZE REPEAT=$REPEAT QUICK=$QUICK"
bench_log "$fio_version, blockd $blockd_rev"
load_before=$(bench_load_note)

fallocate -l "$SIZE_BYTES" -- "$ALICE_IMG"
fallocate -l "$SIZE_BYTES" -- "$BOB_IMG"
# Random data that no step can skip: every buffer refilled, a fresh seed.
fill "$ALICE_IMG" "$SIZE_BYTES" --refill_buffers --randrepeat=0
fill "$BOB_IMG" "$SIZE_BYTES" --zero_buffers
bench_pair_conf "$CONF" "$EXPORT" "$ALICE_IMG" "$BOB_IMG" pair
for n in alice bob; do
	out=$(ctl "$CONF" "$n" create-md 2>&1) || bench_die "create-md for $n failed: $out"
	bench_log "$n: create-md: $out"
	commands+=("create-md $n: $(cmd_display "$BC" -c "$CONF" -n "$n" create-md)")
done
DATA_BYTES=$(awk '{ for (i = 1; i < NF; i++) if ($(i + 1) == "bytes" && $(i + 2) == "of" && $(i + 3) == "data") print $i }' <<<"$out" | head -n 1)
[[ $DATA_BYTES =~ ^[0-9]+$ ]] || bench_die "cannot read the data area size from: $out"
((DATA_BYTES % 4096 == 0)) || bench_die "data area of $DATA_BYTES bytes is not 4 KiB aligned"
commands+=("raw copy: dd if=alice.img of=bob.img bs=1M count=$DATA_BYTES iflag=direct,count_bytes oflag=direct conv=notrunc (sync; echo 3 > /proc/sys/vm/drop_caches first)")

for ((i = 1; i <= RAW_COPIES; i++)); do raw_copy "before the pair, $i"; done
# bob's data area back to zeroes, so the resync has something to change
# (dd: fio would lay the file out anew and lose the metadata at its end).
t0=$(now)
dd if=/dev/zero of="$BOB_IMG" bs=1M count="$DATA_BYTES" iflag=count_bytes \
	oflag=direct conv=notrunc,fsync status=none || bench_die "zeroing $BOB_IMG failed"
bench_log "$BOB_IMG: data area zeroed in $(ms_since "$t0") ms"

pair_ok=1
if ! pair_resync; then
	pair_ok=0
	rc=1
	bench_log "pair: ${notes[-1]}"
	for n in alice bob; do
		bench_log "$n log tail:"
		tail -n 20 -- "$BENCH_TMP/$n.log" >&2 || true
	done
fi
stop_server alice
stop_server bob
log_findings alice
log_findings bob

if ((pair_ok)); then
	bench_drop_caches
	if cmp -s -n "$DATA_BYTES" -- "$ALICE_IMG" "$BOB_IMG"; then
		summary+=("after both resyncs the data areas of alice's and bob's files are equal (cmp of $DATA_BYTES bytes)")
	else
		notes+=("after both resyncs the data areas of alice's and bob's files DIFFER: $(cmp -n "$DATA_BYTES" -- "$ALICE_IMG" "$BOB_IMG" 2>&1 | sed "s#$BENCH_TMP/##g" | head -n 1)")
		bench_log "error: ${notes[-1]}"
		rc=1
	fi
fi
for ((i = 1; i <= RAW_COPIES; i++)); do raw_copy "after the pair, $i"; done
RAW_MIB_S=$(median "${raw_rates[@]}")

startup_case "$SMALL_SIZE" "$SMALL_BYTES"
startup_case "$BIG_SIZE" "$BIG_BYTES"
((start_ok)) || rc=1
BENCH_SERVER_LOG[start-ups]=$BENCH_TMP/start-ups.log
log_findings start-ups
rm -f -- "$BENCH_TMP"/sparse-*.img
read -r load_after _ </proc/loadavg

# ---- report ---------------------------------------------------------------

resync_row() { # WHAT BYTES SECS [TARGET]
	local rate ratio meets=
	if [[ -z $2 || -z $3 ]]; then
		printf '| %s | | | failed | | %s | %s |\n' "$1" "${4:+>= $4}" "${4:+n/a}"
		return
	fi
	rate=$(mib_s "$2" "$3")
	ratio=$(awk -v a="$rate" -v b="$RAW_MIB_S" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
	if [[ -n ${4:-} ]]; then
		meets=$(awk -v r="$ratio" -v t="$4" 'BEGIN { print (r >= t ? "ok" : "MISS") }')
	fi
	printf '| %s | %.0f | %s | %s | %s | %s | %s |\n' "$1" "$(awk -v b="$2" 'BEGIN { print b / 1048576 }')" \
		"$3" "$rate" "$ratio" "${4:+>= $4}" "$meets"
}

raw_secs=$(awk -v b="$DATA_BYTES" -v r="$RAW_MIB_S" 'BEGIN { printf "%.3f", (r > 0 ? b / 1048576 / r : 0) }')
report() {
	local name
	echo "# blockd resync and start-up"
	echo
	echo "- date: $(date -u '+%F %H:%M UTC')"
	echo "- machine: $(uname -r), $(nproc) x $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1), $(free -g | awk '/^Mem:/ {print $2}') GiB RAM"
	echo "- resync: two files of $SIZE on $(df --output=fstype,source -- "$BENCH_TMP" | tail -n 1 | xargs), preallocated, alice's written once with random data, bob's with zeroes; internal metadata, so the data area is $DATA_BYTES bytes; both nodes --io-mode direct, peer link TCP on 127.0.0.1, both on this machine; page cache $([[ ${DROP_CACHES:-1} == 1 ]] && echo dropped || echo kept) before each copy and resync"
	echo "- start-up: sparse files (truncate) of $SMALL_SIZE and $BIG_SIZE, internal metadata, one node of a pair whose peer never runs, $REPEAT start(s) each"
	echo "- load average (1 min): $load_before before the run, $load_after after"
	echo "- versions: blockd $blockd_rev, $fio_version"
	[[ $QUICK == 1 ]] && echo "- QUICK=1: a smoke test, not a measurement"
	echo
	echo "## Resync throughput"
	echo
	echo "MiB/s = bytes / seconds; ratio = MiB/s over the raw copy's. Full resync: from \`primary --force\` to alice seeing bob UpToDate; bitmap resync: from \`connect\` to bob UpToDate with nothing out of sync (both polled every 20 ms); bytes = peer.resync_sent_bytes (its change for the bitmap resync)."
	echo
	echo "| what | MiB | seconds | MiB/s | ratio | target | meets |"
	echo "|---|---:|---:|---:|---:|---:|---:|"
	printf '| raw copy (dd, O_DIRECT, 1 MiB; median of %d) | %.0f | %s | %s | 1.00 | | |\n' \
		"${#raw_rates[@]}" "$(awk -v b="$DATA_BYTES" 'BEGIN { print b / 1048576 }')" "$raw_secs" "$RAW_MIB_S"
	resync_row "full resync" "$FULL_BYTES" "$FULL_SECS" "$RESYNC_RATIO_MIN"
	resync_row "bitmap resync ($RANDWRITE at random, 4 KiB)" "$BITMAP_BYTES" "$BITMAP_SECS"
	echo
	echo "## Start-up and memory"
	echo
	echo "Start-up: from exec to \`blockctl status\` answering (polled every 5 ms), median of $REPEAT. Memory from /proc/PID/status 1 s after start-up, the largest of the runs. Targets: start-up <= $STARTUP_MAX_MS ms, VmHWM (peak RSS) <= $HWM_MAX_MIB MiB, at every size."
	echo
	echo "| backing file | create-md ms | start-up ms | VmRSS MiB | VmHWM MiB | VmLck MiB | meets |"
	echo "|---|---:|---:|---:|---:|---:|---|"
	printf '%s\n' "${start_rows[@]}"
	if [[ -n ${START_MS[$BIG_SIZE]:-} && -n ${START_MS[$SMALL_SIZE]:-} ]]; then
		printf '| %s / %s | | %s | | %s | | |\n' "$BIG_SIZE" "$SMALL_SIZE" \
			"$(awk -v a="${START_MS[$BIG_SIZE]}" -v b="${START_MS[$SMALL_SIZE]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')" \
			"$(awk -v a="${HWM_KIB[$BIG_SIZE]}" -v b="${HWM_KIB[$SMALL_SIZE]}" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')"
	fi
	echo
	echo "## Summary"
	echo
	echo "- raw copies (MiB/s): $(IFS=';'; j="${raw_when[*]}"; printf '%s' "${j//;/, }")"
	[[ -z $BITMAP_OOS ]] || echo "- bitmap resync: $BITMAP_OOS bytes out of sync on alice before the connect"
	for name in "${summary[@]}"; do echo "- $name"; done
	echo
	echo "## Commands"
	echo
	for name in "${commands[@]}"; do echo "- \`$name\`"; done
	if ((${#notes[@]})); then
		echo
		echo "## Notes"
		echo
		for name in "${notes[@]}"; do echo "- $name"; done
	fi
}

mkdir -p -- "$(dirname -- "$RESULTS")"
report | tee -- "$RESULTS"
bench_log "wrote $RESULTS"
exit "$rc"
