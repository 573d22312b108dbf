#!/bin/bash
# expect-fail.sh SIM PATTERN FIRST LAST [FLAG...]: a self-test of the
# simulator's checks. Every seed of FIRST..LAST, run with FLAGs that plant
# a fault the checks must catch (e.g. --lying-disk), has to fail, and its
# report has to contain PATTERN (the check meant to catch it, not any
# other). Passes when all do; prints the seeds that do not.
set -u
sim=$1 pattern=$2 first=$3 last=$4
shift 4
bad=0
for ((s = first; s <= last; s++)); do
	out=$("$sim" --seed "$s" "$@" 2>&1)
	rc=$?
	if [ "$rc" -eq 0 ]; then
		echo "seed $s $*: passed, but the planted fault must fail it"
		bad=$((bad + 1))
	elif ! grep -q -- "$pattern" <<<"$out"; then
		echo "seed $s $*: failed, but not with '$pattern':"
		grep -m1 "^FAIL" <<<"$out"
		bad=$((bad + 1))
	fi
done
n=$((last - first + 1))
echo "$((n - bad)) of $n seeds caught by '$pattern'"
[ "$bad" -eq 0 ]
