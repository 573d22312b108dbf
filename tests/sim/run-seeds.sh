#!/bin/bash
# run-seeds.sh SIM FIRST LAST [STEPS [FLAG...]]: every seed of FIRST..LAST
# (with the simulator's FLAGs, e.g. --strict), each in
# its own process, against tests/sim/known-failures (tab-separated: seed,
# the flags it fails with or "-", finding). Passes when exactly
# the listed seeds of the range fail: a new failure is a bug (its report
# and replay command are printed), a listed seed that passes is a fixed
# finding whose line must go. SIM_JOBS seeds run at once (default: the
# number of CPUs); the report is in seed order either way.
set -u
sim=$1 first=$2 last=$3 steps=${4:-20000}
shift $(($# < 4 ? $# : 4))
flags=("$@")
jobs=${SIM_JOBS:-$(nproc 2>/dev/null || echo 1)}
known=$(dirname "$0")/known-failures
mode=${flags[*]:--}
declare -A expect=()
while IFS=$'\t' read -r seed with why; do
	case "$seed" in '' | \#*) continue ;; esac
	[ "$with" = "$mode" ] && expect[$seed]=$why
done <"$known"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
start=$(date +%s%N)
running=0
for ((s = first; s <= last; s++)); do
	if [ "$running" -ge "$jobs" ]; then
		wait -n
		running=$((running - 1))
	fi
	("$sim" --seed "$s" --steps "$steps" "${flags[@]}" >"$out/$s.log" 2>&1
	 echo $? >"$out/$s.rc") &
	running=$((running + 1))
done
wait
ms=$((($(date +%s%N) - start) / 1000000))
new=0 fixed=0 xfail=0 ok=0
for ((s = first; s <= last; s++)); do
	if [ "$(cat "$out/$s.rc")" = 0 ]; then
		ok=$((ok + 1))
		if [ -n "${expect[$s]:-}" ]; then
			echo "FIXED seed $s passes now: remove it from tests/sim/known-failures (${expect[$s]})"
			fixed=$((fixed + 1))
		fi
	elif [ -n "${expect[$s]:-}" ]; then
		xfail=$((xfail + 1))
		echo "known: seed $s fails: ${expect[$s]}"
	else
		new=$((new + 1))
		echo "NEW FAILURE seed $s:"
		tail -n 20 "$out/$s.log" | sed 's/^/    /'
	fi
done
echo "sim seeds $first..$last${flags[*]:+ (${flags[*]})}: $ok passed, $xfail known failures, $new new failures, $fixed fixed ($jobs at a time, $ms ms)"
[ "$new" = 0 ] && [ "$fixed" = 0 ]
