#!/usr/bin/env bash
# bench/torture.sh — the partition torture at length (make torture).
#
# Runs tests/integration/t_torture_partition.sh for each protocol in PROTOS
# (default "C B A"), ROUNDS rounds each (default 200), with one seed
# (SEED, default: the current time; printed, so a run can be repeated
# exactly) and TORTURE_KEEP_GOING=1: a violation (an acknowledged write
# lost, a node holding a prefix it may not, data areas that differ after a
# resync, a resync that never finishes) is counted and the run goes on.
# Each protocol's whole output goes to RESULTS (default: a fresh temp
# dir); this prints each run's summary and its first violations, with
# the command that replays the round that failed first. Not a benchmark
# in the timing sense: it lives here because it runs for tens of minutes.
# Exit 0 only if every protocol ran all its rounds without a violation.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2

ROUNDS=${ROUNDS:-200}
PROTOS=${PROTOS:-C B A}
SEED=${SEED:-$(date +%s)}
RESULTS=${RESULTS:-$(mktemp -d "${TMPDIR:-/tmp}/blockd-torture.XXXXXX")}
mkdir -p "$RESULTS"
echo "torture: seed $SEED, $ROUNDS rounds each for protocols $PROTOS; outputs in $RESULTS"

rc=0
for p in $PROTOS; do
	out=$RESULTS/torture-$p.out
	t0=$SECONDS
	TORTURE_SEED=$SEED TORTURE_PROTO=$p TORTURE_KEEP_GOING=1 ROUNDS=$ROUNDS \
		tests/integration/t_torture_partition.sh >"$out" 2>&1
	r=$?
	[ "$r" = 0 ] || rc=1
	echo "== protocol $p: exit $r after $((SECONDS - t0))s"
	grep -E '^(PASS|FAIL|SKIP) ' "$out" | tail -n 1
	last=$(grep -E '^round [0-9]+/' "$out" | tail -n 1)
	echo "   last round started: ${last:-none}"
	if grep -q '^VIOLATION ' "$out"; then
		echo "   $(grep -c '^VIOLATION ' "$out") violations; the first ones:"
		grep '^VIOLATION ' "$out" | head -n 3 | cut -c1-600 | sed 's/^/   /'
		first=$(grep -m1 '^VIOLATION ' "$out" | sed -nE 's/^VIOLATION seed ([0-9]+) round ([0-9]+) .*/\2/p')
		echo "   replay: TORTURE_SEED=$SEED TORTURE_PROTO=$p ROUNDS=$first tests/integration/t_torture_partition.sh"
	fi
done
exit "$rc"
