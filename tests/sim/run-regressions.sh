#!/bin/bash
# run-regressions.sh SIM [LIST]: every seed of LIST (default: the
# regressions file next to this script; tab-separated: seed, flags or
# "-", finding) with its flags, SIM_JOBS at a time; passes when all of
# them pass.
set -u
sim=$1
list=${2:-$(dirname "$0")/regressions}
jobs=${SIM_JOBS:-$(nproc 2>/dev/null || echo 1)}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
seeds=()
running=0
n=0
while IFS=$'\t' read -r seed flags why; do
	case "$seed" in '' | \#*) continue ;; esac
	[ "$flags" = - ] && flags=
	n=$((n + 1))
	seeds+=("$n:$seed $flags")
	if [ "$running" -ge "$jobs" ]; then
		wait -n
		running=$((running - 1))
	fi
	# shellcheck disable=SC2086 # flags is a word list
	("$sim" --seed "$seed" --steps 20000 $flags >"$out/$n.log" 2>&1
	 echo $? >"$out/$n.rc") &
	running=$((running + 1))
done <"$list"
wait
failed=0
for entry in "${seeds[@]}"; do
	i=${entry%%:*} what=${entry#*:}
	if [ "$(cat "$out/$i.rc")" != 0 ]; then
		failed=$((failed + 1))
		echo "REGRESSION seed $what fails again ($(grep -v '^#' "$list" | grep -v '^$' | sed -n "${i}p" | cut -f3-)):"
		tail -n 20 "$out/$i.log" | sed 's/^/    /'
	fi
done
echo "sim regression seeds: $((${#seeds[@]} - failed)) passed, $failed failed"
[ "$failed" = 0 ]
