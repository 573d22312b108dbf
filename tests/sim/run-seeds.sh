#!/bin/bash
# run-seeds.sh SIM FIRST LAST [STEPS [FLAG...]]: every seed of FIRST..LAST
# (with the simulator's FLAGs, e.g. --strict), each in
# its own process, against tests/sim/known-failures. Passes when exactly
# the listed seeds of the range fail: a new failure is a bug (its report
# and replay command are printed), a listed seed that passes is a fixed
# finding whose line must go.
set -u
sim=$1 first=$2 last=$3 steps=${4:-20000}
shift $(($# < 4 ? $# : 4))
flags=("$@")
known=$(dirname "$0")/known-failures
declare -A expect=()
while read -r seed why; do
	case "$seed" in '' | \#*) continue ;; esac
	expect[$seed]=$why
done <"$known"
new=0 fixed=0 xfail=0 ok=0
for ((s = first; s <= last; s++)); do
	if out=$("$sim" --seed "$s" --steps "$steps" "${flags[@]}" 2>&1); then
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
		printf '%s\n' "$out" | tail -n 20 | sed 's/^/    /'
	fi
done
echo "sim seeds $first..$last${flags[*]:+ (${flags[*]})}: $ok passed, $xfail known failures, $new new failures, $fixed fixed"
[ "$new" = 0 ] && [ "$fixed" = 0 ]
