#!/usr/bin/env bash
# The whole test suite, as `make check` runs it:
#   0. the layer rule: every include points down a layer, no include
#      cycle (tests/layers.py; DESIGN.md section 1)
#   1. release build, cmocka unit tests, the simulator's seed range,
#      integration tests against it
#   2. ASan+UBSan build, unit tests, some simulator seeds and the
#      integration tests again
#   3. clang libFuzzer build, a short fuzz run of each target
# Each step counts as passed or failed; the last line is the total.
set -uo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build}
BUILD_SAN=${BUILD_SAN:-build-asan}
BUILD_FUZZ=${BUILD_FUZZ:-build-fuzz}
passed=0
failed=0
failures=()

step() { # name, command...
	local name=$1
	shift
	echo "=== $name"
	if "$@"; then
		passed=$((passed + 1))
		echo "--- PASS $name"
	else
		failed=$((failed + 1))
		failures+=("$name")
		echo "--- FAIL $name"
	fi
}

# Count each cmocka/meson unit test and each integration script on its own.
# Count each unit-test case (cmocka reports them as TAP subtests) and each
# test without subtests (the fuzz runs) once.
suite_tests() { # builddir, suite, [meson test options]
	local out rc ok fail
	out=$(meson test -C "$1" --suite "$2" --print-errorlogs "${@:3}" 2>&1)
	rc=$?
	echo "$out" | grep -E '^ *[0-9]+/[0-9]+ ' || true
	ok=$(echo "$out" | awk '/^ *[0-9]+\/[0-9]+ / && / OK / {
		if (match($0, /[0-9]+ subtests passed/)) n += substr($0, RSTART, RLENGTH) + 0;
		else n += 1 } END { print n + 0 }')
	fail=$(echo "$out" | grep -cE '^ *[0-9]+/[0-9]+ .* (FAIL|ERROR|TIMEOUT) ' || true)
	passed=$((passed + ok))
	failed=$((failed + fail))
	if [ $rc -ne 0 ]; then
		echo "$out" | tail -40
		failures+=("$2 tests in $1")
		[ "$fail" -gt 0 ] || failed=$((failed + 1))
	fi
}

integration() { # blockd binary, label
	local out rc
	out=$(mktemp)
	BLOCKD="$1" tests/integration/run.sh 2>&1 | tee "$out"
	rc=${PIPESTATUS[0]}
	local line
	line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$out" | tail -1)
	passed=$((passed + $(echo "$line" | awk '{print $1}')))
	local f
	f=$(echo "$line" | awk '{print $3}')
	failed=$((failed + ${f:-1}))
	[ $rc -eq 0 ] || failures+=("integration ($2)")
	rm -f "$out"
}

setup() { # builddir, meson args...
	local dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@" >/dev/null || return 1
	fi
	ninja -C "$dir" $TARGETS >/dev/null || ninja -C "$dir" $TARGETS
}
TARGETS=

step "layers check finds planted problems" python3 tests/layers.py --self-test
step "layers (includes point down, no cycles)" python3 tests/layers.py
step "build ($BUILD)" setup "$BUILD"
suite_tests "$BUILD" unit
# The deterministic simulator: a fixed seed range (tests/sim/meson.build).
suite_tests "$BUILD" sim
integration "$BUILD/blockd" release

step "build ($BUILD_SAN, ASan+UBSan)" setup "$BUILD_SAN" \
	-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
suite_tests "$BUILD_SAN" unit
# The simulator under the sanitizers: seeds 1..30 and the regressions.
suite_tests "$BUILD_SAN" sim-san
# The round-based soak tests (kill/failover loops, the partition torture,
# the power losses) run the same paths many times: one round under the
# sanitizers cover them, the release pass runs them in full. The tests of
# the block stack (nbdfuse, loop, ext4, PostgreSQL, qemu) exercise that
# stack more than the daemon, whose paths they share with the others: the
# release pass runs them. So do four long tests whose daemon paths the
# sanitizers see elsewhere: protocol switching (t_repl_events switches
# live; A and B in t_repl_slow_secondary_a, t_al_protocol_a), checksum
# resync (t_ops_verify's checksums, the frame fuzzer), a Primary
# SyncTarget cut off (t_resync_primary_target, t_resync_target_race) and
# the split-brain policies (their decisions are the pure uuid code,
# unit-tested under the sanitizers); and three more: the pool's
# back-pressure under a Primary SyncTarget (t_remote_read_pool,
# t_resync_primary_target), pause cycles (t_resync_target_io_paused) and
# both nodes' power loss (t_power_loss_primary, t_power_loss_secondary,
# t_meta_power_loss restart the same way); and resync data against a
# Primary SyncTarget's writes under random load (t_resync_target_race:
# t_resync_target_dup stages the same race); and a power cut timed at
# the end of a resync (t_fence_unfence_durable: 1.5 s per write; every
# resync under the sanitizers sends its RS_DONE the same way); and a
# Primary's power loss during verify (t_power_loss_primary_verify: the
# same paths as t_power_loss_primary and t_ops_verify). This keeps make
# check under 15 minutes.
SAN_SKIP="t_db_pgbench_failover t_nbdfuse_ext4 t_repl_ext4_protocol_a t_qemu_img t_qemu_io t_stack_loop_reuse t_stack_netns_teardown t_repl_switchover t_resync_checksum t_partition_primary_synctarget t_splitbrain_policies t_resync_target_pool t_resync_pause t_power_loss_both t_resync_target_race t_fence_unfence_durable t_power_loss_primary_verify"
BT_SKIP=${BT_SKIP-$SAN_SKIP} ROUNDS=${SAN_ROUNDS:-1} integration "$BUILD_SAN/blockd" sanitizer
unset ASAN_OPTIONS UBSAN_OPTIONS

# Only the fuzz targets: the rest of the tree under clang is not run here
# (a minute of CPU saved).
TARGETS="tests/fuzz/fuzz_nbd tests/fuzz/fuzz_frame tests/fuzz/fuzz_config" CC=clang \
	step "build ($BUILD_FUZZ, libFuzzer)" setup "$BUILD_FUZZ" -Dfuzz=true
suite_tests "$BUILD_FUZZ" fuzz --no-rebuild

echo
[ ${#failures[@]} -eq 0 ] || printf 'failed: %s\n' "${failures[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
