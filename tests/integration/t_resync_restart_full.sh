#!/bin/bash
# The initial full sync survives a restart of both nodes and resumes where
# it stopped: a fresh 256 MiB pair whose alice holds 255 MiB of seeded
# random data; `primary --force` on alice starts the full sync to bob with
# resync-rate-max-mib = 20. When alice's done_pct is between 10 and 60
# both daemons get SIGTERM (both must exit 0). Restarted without the rate
# limit, alice must start with 0 < out of sync <= what she reported just
# before the stop, bob's out_of_sync_bytes must have shrunk below the
# data size before the stop, the sync must finish (both Secondary,
# UpToDate) having moved no more than what was left at the stop (not a
# new full sync from zero), and both data areas must be byte-identical.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/resynclib.sh"
bt_init 120

SIZE=$((256 * M))

pair_setup C "$SIZE"
rl_conf_set resync-rate-max-mib 20
rl_fill "$(pair_img alice)" $((SIZE - M)) 5
pair_start alice
pair_start bob
pair_wait_connected 20
data=$(rl_size alice)

rl_log_mark alice
pair_ok alice primary --force
rl_restart_mid_sync alice bob 10 60
rl_in_range "$RL_OOS_STOP" 1 $((data - 1)) ||
	bt_fail "alice had $RL_OOS_STOP bytes out of sync at the stop, expected 1..$data"
rl_in_range "$RL_OOS_START" 1 "$RL_OOS_STOP" ||
	bt_fail "alice restarted with $RL_OOS_START bytes out of sync; $RL_OOS_STOP were left at the stop (of $data)"
[ "$RL_OOS_STOP_TGT" -lt "$data" ] ||
	bt_fail "bob (SyncTarget) still counted $RL_OOS_STOP_TGT of $data bytes out of sync when alice had $RL_OOS_STOP left"

rl_wait_secondaries_synced 60
decision=$(rl_log_since alice | grep -E 'sync decision' | tail -n 1 | sed -E 's/.*sync decision: ([a-z-]+) \(rule ([^;),]*).*/\1, rule \2/')
sent=$(rl_num alice peer.resync_sent_bytes)
zero=$(rl_num alice peer.resync_zero_bytes)
same=$(rl_num alice peer.resync_same_bytes)
moved=$((sent + zero + same))
[ "$moved" -le "$RL_OOS_STOP" ] ||
	bt_fail "the sync after the restart ($decision) moved $moved bytes; only $RL_OOS_STOP of $data were left at the stop"
rl_expect_identical "after the resumed full sync"
bt_pass "stopped with $((RL_OOS_STOP / M)) of $((data / M)) MiB left, resumed ($decision) and moved $((moved / M)) MiB"
