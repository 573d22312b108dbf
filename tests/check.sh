#!/usr/bin/env bash
# The whole test suite, as `make check` runs it:
#   0. the layer rule: every include points down a layer, no include
#      cycle (tests/layers.py; DESIGN.md section 1)
#   1. release build, cmocka unit tests, the simulator's seed range
#   2. ASan+UBSan build, unit tests, the simulator's regression seeds,
#      then the integration tests, each once: against the sanitizer
#      build, the block-stack tests and the longest against the release
#      build (BT_RELEASE below)
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
	echo "=== $name (at ${SECONDS}s)"
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
	echo "=== $2 tests in $1 (at ${SECONDS}s)"
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
	echo "=== integration tests, $2 (at ${SECONDS}s)"
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
step "build ($BUILD_SAN, ASan+UBSan)" setup "$BUILD_SAN" \
	-Db_sanitize=address,undefined -Db_lundef=false -Dbuildtype=debug
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
suite_tests "$BUILD_SAN" unit
# The simulator's regression seeds under the sanitizers.
suite_tests "$BUILD_SAN" sim-san
# The integration tests, each once, three at a time (they wait on the
# disk and on timers between bursts of CPU): against the sanitizer build,
# so that every daemon path they take is checked for memory errors and
# undefined behaviour; the tests of the block stack as a user runs it
# (nbdfuse, loop, ext4, PostgreSQL, qemu) and the longest tests whose
# daemon paths the others take under the sanitizers (protocol switching,
# checksum resync, a Primary SyncTarget cut off, the split-brain
# policies, the pool under a Primary SyncTarget, pause cycles, both
# nodes' power loss, resync races, a power cut at the end of a resync,
# verify under a power loss) against the release build. The longest start
# first, so that the slots finish together.
RELEASE_TESTS="t_db_pgbench_failover t_nbdfuse_ext4 t_repl_ext4_protocol_a t_qemu_img t_qemu_io t_stack_loop_reuse t_stack_netns_teardown t_repl_switchover t_resync_checksum t_partition_primary_synctarget t_splitbrain_policies t_resync_target_pool t_resync_pause t_power_loss_both t_resync_target_race t_fence_unfence_durable t_power_loss_primary_verify"
LONGEST="t_power_loss_primary t_db_pgbench_failover t_partition_primary_synctarget t_power_loss_both t_ops_verify t_torture_partition t_repl_kill_primary_c t_splitbrain_policies t_repl_switchover t_resync_target_race t_resync_target_pool t_fence_no_split_brain t_resync_pause t_power_loss_primary_verify t_resync_checksum t_fence_hook_fail t_disk_fail_primary t_ops_invalidate"
# Status polls use the release build's blockctl (run.sh: BLOCKCTL_POLL).
BT_JOBS=${BT_JOBS:-3} BLOCKD_RELEASE=$BUILD/blockd BT_RELEASE=$RELEASE_TESTS BT_FIRST=$LONGEST \
	BLOCKCTL_POLL=$BUILD/blockctl \
	integration "$BUILD_SAN/blockd" "sanitizer and release"
unset ASAN_OPTIONS UBSAN_OPTIONS

# Only the fuzz targets: the rest of the tree under clang is not run here
# (a minute of CPU saved).
TARGETS="tests/fuzz/fuzz_nbd tests/fuzz/fuzz_frame tests/fuzz/fuzz_config" CC=clang \
	step "build ($BUILD_FUZZ, libFuzzer)" setup "$BUILD_FUZZ" -Dfuzz=true
suite_tests "$BUILD_FUZZ" fuzz --no-rebuild

echo
echo "make check took ${SECONDS}s"
[ ${#failures[@]} -eq 0 ] || printf 'failed: %s\n' "${failures[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
