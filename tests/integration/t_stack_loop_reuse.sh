#!/bin/bash
# Loop device numbers are reused at once by tests running in parallel: a
# test waiting for its device to let go must stop waiting when its own
# file is gone, even though the same /dev/loopN already holds another
# test's file, and must never detach that other attachment, not even from
# its exit cleanup. (stacklib.sh; plain files, no daemon needed.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/stacklib.sh"
bt_init 60
stack_require

M=$((1024 * 1024))
OPENER=
NEIGHBOUR=
truncate -s $((8 * M)) "$BT_TMP/ours.img" "$BT_TMP/theirs.img"

cleanup_reuse() {
	[ -n "$OPENER" ] && bt_kill_pid "$OPENER"
	[ -n "$NEIGHBOUR" ] && [ "$(stack_loop_backing "$NEIGHBOUR")" = "$BT_TMP/theirs.img" ] &&
		losetup -d "$NEIGHBOUR"
	return 0
}
# Registered after stack_require: runs first, the neighbour is ours to end.
bt_on_exit cleanup_reuse

# reuse_round: attach ours, hold it open, detach (only marked for
# autoclear), close it, and attach the neighbour on the number it left.
# 1 if another test's file took that number first (tests run side by
# side and losetup -f picks the lowest free one): the round is played
# again on a fresh number.
reuse_round() {
	local end
	stack_loop_attach "$BT_TMP/ours.img" || bt_fail "$STACK_ERR"
	dev=$STACK_DEV
	bt_log "ours: $dev"

	# Someone keeps it open: losetup -d only marks it for autoclear.
	sleep 600 <"$dev" &
	OPENER=$!
	end=$((SECONDS + 10))
	until [ -n "$(find "/proc/$OPENER/fd" -maxdepth 1 -lname "$dev" 2>/dev/null)" ]; do
		[ "$SECONDS" -ge "$end" ] && bt_fail "the opener has no descriptor on $dev within 10s"
		sleep 0.05
	done
	stack_loop_detach "$dev" 1 && bt_fail "$dev let go of our file while still open"
	case "$STACK_ERR" in
	*"autoclear=1"*"pid $OPENER (sleep) has it open"*) ;;
	*) bt_fail "the diagnostic does not name the opener (pid $OPENER): $STACK_ERR" ;;
	esac
	bt_log "diagnostic: $STACK_ERR"

	# The opener goes, the device is released, and a neighbour takes the
	# same number before we look again. The kernel may still be tearing
	# the old attachment down when its backing file is gone (EBUSY):
	# retried until a deadline.
	bt_kill_pid "$OPENER"
	OPENER=
	end=$((SECONDS + 10))
	while [ -n "$(stack_loop_backing "$dev")" ]; do
		[ "$SECONDS" -ge "$end" ] && bt_fail "$dev not released within 10s of its last close"
		sleep 0.05
	done
	end=$((SECONDS + 10))
	until losetup "$dev" "$BT_TMP/theirs.img" 2>"$BT_TMP/neighbour.err"; do
		if [ -n "$(stack_loop_backing "$dev")" ]; then
			bt_log "$dev was taken by $(stack_loop_backing "$dev") first"
			return 1
		fi
		[ "$SECONDS" -ge "$end" ] &&
			bt_fail "the neighbour could not attach $dev within 10s: $(cat "$BT_TMP/neighbour.err")"
		sleep 0.05
	done
	NEIGHBOUR=$dev
}
round=1
until reuse_round; do
	round=$((round + 1))
	[ "$round" -le 5 ] || bt_fail "another test took the released number first, 5 rounds in a row"
done

t0=$SECONDS
stack_loop_detach "$dev" 20 || bt_fail "waiting for our file to leave $dev: $STACK_ERR"
[ $((SECONDS - t0)) -le 2 ] || bt_fail "the wait took $((SECONDS - t0))s although our file was gone"
bt_expect_eq "$(stack_loop_backing "$dev")" "$BT_TMP/theirs.img" "the neighbour's backing file on $dev"
bt_expect_eq "$(cat "/sys/block/${dev#/dev/}/loop/autoclear")" 0 "autoclear of the neighbour's $dev"

# The exit cleanup, run now: it must leave the neighbour alone too.
stack_cleanup
bt_expect_eq "$(stack_loop_backing "$dev")" "$BT_TMP/theirs.img" "the neighbour's backing file after stack_cleanup"
bt_expect_eq "$(cat "/sys/block/${dev#/dev/}/loop/autoclear")" 0 "autoclear of the neighbour's $dev after stack_cleanup"
bt_pass "the wait ended when our file left $dev; the neighbour's attachment untouched"
