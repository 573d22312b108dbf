#!/bin/bash
# A bitmap resync survives a restart of both nodes and resumes where it
# stopped: on a synced 256 MiB pair alice (Primary) disconnects and fio
# writes 160 MiB of data (1 MiB sequential writes) through her export.
# With resync-rate-max-mib = 20 alice connects and becomes SyncSource
# (bitmap rule self-bitmap-is-peer-current); when her done_pct is between
# 10 and 60 both daemons get SIGTERM (both must exit 0). Restarted without
# the rate limit, alice must start with 0 < out of sync <= what she
# reported just before the stop (the bitmap was saved, nothing was
# forgotten or re-marked), bob's out_of_sync_bytes must have shrunk below
# the total as well, the pair must decide a bitmap resync again and
# finish it moving no more than what alice had left (not from zero);
# then both data areas are byte-identical.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/resynclib.sh"
bt_init 120

fio --enghelp 2>&1 | grep -qw nbd || bt_skip "fio has no nbd engine"

SIZE=$((256 * M))
CHANGED=$((160 * M))

pair_setup C "$SIZE"
rl_conf_set resync-rate-max-mib 20
pair_start alice
pair_start bob
pair_wait_connected 20
pair_promote_first alice 60

pair_ok alice disconnect
pair_wait alice 10 "StandAlone" 'p["connection"] == "StandAlone"'
fio --name=fill --ioengine=nbd --uri="$(pair_uri alice)" --rw=write --bs=1m \
	--iodepth=4 --offset=$((32 * M)) --size="$CHANGED" --randseed=55 \
	>"$BT_TMP/fio.out" 2>&1 || bt_fail "fio writing 160 MiB failed: $(tail -3 "$BT_TMP/fio.out")"
bt_expect_eq "$(rl_num alice peer.out_of_sync_bytes)" "$CHANGED" "alice's out_of_sync_bytes after the writes"

rl_log_mark alice
pair_ok alice connect
rl_restart_mid_sync alice bob 10 60
rl_in_range "$RL_OOS_STOP" 1 $((CHANGED - 1)) ||
	bt_fail "alice had $RL_OOS_STOP bytes out of sync at the stop, expected 1..$CHANGED"
rl_in_range "$RL_OOS_START" 1 "$RL_OOS_STOP" ||
	bt_fail "alice restarted with $RL_OOS_START bytes out of sync; $RL_OOS_STOP were left at the stop (of $CHANGED)"
# The target's bitmap must shrink too (chunks still in flight aside): a
# target that keeps every bit hands them all back in the next bitmap
# exchange and the resync starts over.
[ "$RL_OOS_STOP_TGT" -lt "$CHANGED" ] ||
	bt_fail "bob (SyncTarget) still counted $RL_OOS_STOP_TGT of $CHANGED bytes out of sync when alice had $RL_OOS_STOP left"

rl_wait_secondaries_synced 60
# The target took alice's generation when the resync started (rule
# equal-current-peer-inconsistent) or kept its own (the bitmap rule).
rl_expect_log alice 'sync decision: source-bitmap \(rule (equal-current-peer-inconsistent|self-bitmap-is-peer-current);' \
	"bitmap resync decision after the restart"
sent=$(rl_num alice peer.resync_sent_bytes)
zero=$(rl_num alice peer.resync_zero_bytes)
same=$(rl_num alice peer.resync_same_bytes)
moved=$((sent + zero + same))
[ "$moved" -le "$RL_OOS_STOP" ] ||
	bt_fail "the resumed resync moved $moved bytes; only $RL_OOS_STOP were left at the stop (of $CHANGED)"
rl_expect_identical "after the resumed resync"
bt_pass "stopped with $((RL_OOS_STOP / M)) of $((CHANGED / M)) MiB left, resumed and moved $((moved / M)) MiB"
