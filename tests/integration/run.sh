#!/bin/bash
# Run every tests/integration/t_* executable, at most $BT_JOBS (default 2)
# at a time, each under `timeout 300`. Prints one result line per test and a
# final "N passed, N failed[, N skipped]" line; exits non-zero if any failed.
#
#   tests/integration/run.sh [PATTERN...]     # e.g. run.sh t_fio t_libnbd
#
# BLOCKD selects the daemon binary for every test (default build/blockd), so
# the same suite runs against a sanitizer build:
#   BLOCKD=build-asan/blockd tests/integration/run.sh
# A failed test's output is printed after its result line; every output is
# kept in $BT_RESULTS (default: a fresh temp dir, removed when all passed).
# BT_SKIP lists test names (without extension) not to run at all.
# BT_RELEASE lists test names run against $BLOCKD_RELEASE instead (make
# check: the sanitizer build for most tests, the release build for the
# rest); their result lines say "release" after the time.
# BT_FIRST lists test names started before the others, in that order
# (the longest first, so that the slots finish together).
# BLOCKCTL_POLL is the blockctl the tests' status polls use (default: the
# one beside the test's daemon); make check gives the release build's, so
# that polling a sanitizer build's daemon does not pay a sanitizer build's
# process start and exit every 50 ms. Relative paths are from the tree.

set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BLOCKD=${BLOCKD:-$ROOT/build/blockd}
case "$BLOCKD" in /*) ;; *) BLOCKD=$ROOT/$BLOCKD ;; esac
export BLOCKD
case "${BLOCKD_RELEASE:-}" in "" | /*) ;; *) BLOCKD_RELEASE=$ROOT/$BLOCKD_RELEASE ;; esac
case "${BLOCKCTL_POLL:-}" in "" | /*) ;; *) BLOCKCTL_POLL=$ROOT/$BLOCKCTL_POLL ;; esac
[ -z "${BLOCKCTL_POLL:-}" ] || export BLOCKCTL_POLL
JOBS=${BT_JOBS:-2}
PER_TEST_S=${BT_PER_TEST_S:-300}
RESULTS=${BT_RESULTS:-$(mktemp -d "${TMPDIR:-/tmp}/blockd-integration.XXXXXX")}
mkdir -p "$RESULTS"

tests=()
first=()
for name in ${BT_FIRST:-}; do
	for t in "$HERE/$name".*; do
		[ -f "$t" ] && [ -x "$t" ] && first+=("$t")
	done
done
for t in "${first[@]}" "$HERE"/t_*; do
	[ -f "$t" ] && [ -x "$t" ] || continue
	name=${t##*/}
	case " ${BT_SKIP:-} " in *" ${name%.*} "*) continue ;; esac
	case " ${tests[*]} " in *" $t "*) continue ;; esac
	if [ $# -gt 0 ]; then
		keep=0
		for p in "$@"; do
			case "$name" in *"$p"*) keep=1 ;; esac
		done
		[ "$keep" = 1 ] || continue
	fi
	tests+=("$t")
done
if [ ${#tests[@]} = 0 ]; then
	echo "no tests matched"
	echo "0 passed, 0 failed"
	exit 1
fi

echo "integration: daemon $BLOCKD, ${#tests[@]} tests, $JOBS at a time, outputs in $RESULTS"
[ -x "$BLOCKD" ] || echo "integration: warning: $BLOCKD is not an executable; tests will fail"
if [ -n "${BLOCKD_RELEASE:-}" ] && [ -n "${BT_RELEASE:-}" ]; then
	echo "integration: daemon $BLOCKD_RELEASE for$(printf ' %s' $BT_RELEASE)"
	[ -x "$BLOCKD_RELEASE" ] || echo "integration: warning: $BLOCKD_RELEASE is not an executable; tests will fail"
fi

passed=0 failed=0 skipped=0
declare -A pid_of=() start_of=()
running=0

# release_test NAME: NAME runs against $BLOCKD_RELEASE.
release_test() {
	[ -n "${BLOCKD_RELEASE:-}" ] || return 1
	case " ${BT_RELEASE:-} " in *" ${1%.*} "*) return 0 ;; esac
	return 1
}

# report NAME RC SECONDS: one result line (the test's own last line if it
# printed one), plus the whole output of a failed test.
report() {
	local name=$1 rc=$2 secs=$3 out=$RESULTS/$1.out line
	line=$(grep -E '^(PASS|FAIL|SKIP) ' "$out" | tail -n 1)
	secs="${secs}s"
	release_test "$name" && secs="$secs, release"
	case "$rc" in
	0)
		passed=$((passed + 1))
		echo "${line:-PASS $name} ($secs)"
		;;
	77)
		skipped=$((skipped + 1))
		echo "${line:-SKIP $name} ($secs)"
		;;
	*)
		failed=$((failed + 1))
		[ "$rc" = 124 ] && line="FAIL $name: killed after ${PER_TEST_S}s"
		echo "${line:-FAIL $name: exit status $rc} ($secs, exit $rc)"
		sed 's/^/    | /' "$out"
		;;
	esac
}

# reap: wait for any one running test to finish and report it.
reap() {
	local name rc
	wait -n 2>/dev/null
	for name in "${!pid_of[@]}"; do
		[ -f "$RESULTS/$name.rc" ] || continue
		rc=$(cat "$RESULTS/$name.rc")
		wait "${pid_of[$name]}" 2>/dev/null
		report "$name" "$rc" $((SECONDS - start_of[$name]))
		unset "pid_of[$name]" "start_of[$name]"
		running=$((running - 1))
	done
}

for t in "${tests[@]}"; do
	while [ "$running" -ge "$JOBS" ]; do reap; done
	name=${t##*/}
	rm -f "$RESULTS/$name.rc"
	daemon=$BLOCKD
	release_test "$name" && daemon=$BLOCKD_RELEASE
	(
		BLOCKD=$daemon timeout -k 10 "$PER_TEST_S" "$t" >"$RESULTS/$name.out" 2>&1 </dev/null
		echo $? >"$RESULTS/$name.rc"
	) &
	pid_of[$name]=$!
	start_of[$name]=$SECONDS
	running=$((running + 1))
done
while [ "$running" -gt 0 ]; do reap; done

# Outputs are kept when something failed or BT_RESULTS asked for them.
if [ "$failed" = 0 ] && [ -z "${BT_RESULTS:-}" ]; then
	rm -rf "$RESULTS"
fi
summary="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && summary="$summary, $skipped skipped"
echo "$summary"
[ "$failed" = 0 ]
