#!/bin/bash
# Split brain and the after-sb policies, on one 64 MiB pair, case after
# case. Each case starts from a synced pair with both Secondary: alice
# disconnects, both are promoted while apart (new generations on both
# sides), each writes its own seeded 4 KiB blocks (a few hundred) through
# its export, the roles are set as the case needs, the policy is written
# into the config and both daemons are restarted (SIGTERM; metadata
# persists) so they reconnect:
#   1. after-sb-0pri = disconnect, both Secondary: both must end StandAlone,
#      both logs say "split brain detected", neither disk changed. Then
#      manual recovery: `connect --discard-my-data` on bob (Secondary),
#      `connect` on alice: bob becomes SyncTarget (rule discard-my-data).
#   2. discard-zero-changes: only bob wrote; alice (no changes) loses
#      (by the policy, or by the plain bitmap rule when her promotion
#      without a write did not start a new generation).
#   3. discard-least-changes: alice wrote 384 blocks, bob 128; bob loses.
#   4. discard-younger-primary: bob promoted first, alice a second later
#      (and alice wrote more): alice loses.
#   5. after-sb-1pri = discard-secondary: alice Primary at connect, bob
#      Secondary (bob wrote more): bob loses.
# In every resolved case both logs name the policy's rule (source-bitmap
# on the survivor, target-bitmap on the loser), the survivor's data area
# is unchanged and the loser's becomes identical to it (the loser's own
# writes are rolled back), and the resync moves exactly the union of both
# sides' changed blocks (data, holes and checksum matches together), far
# below the disk size (< 25 %).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/resynclib.sh"
bt_init 150

SIZE=$((64 * M))
LATE_FAILS=()
declare -A SHA=()

pair_setup C "$SIZE"
rl_conf_set after-sb-0pri disconnect
rl_conf_set after-sb-1pri disconnect
pair_start alice
pair_start bob
pair_wait_connected 20
pair_promote_first alice 30
data=$(rl_size alice)
pair_ok alice secondary
rl_wait_secondaries_synced 20

# split FIRST SECOND [WAIT]: from a synced pair, alice disconnects and
# FIRST then SECOND are promoted while apart (WAIT: promote SECOND in a
# later wall-clock second than FIRST).
split() {
	local t
	pair_ok alice disconnect
	pair_wait alice 10 "StandAlone" 'p["connection"] == "StandAlone"'
	pair_wait bob 10 "peer lost" 'p["connection"] != "Connected"'
	pair_ok "$1" primary
	t=$(date +%s)
	if [ -n "${3:-}" ]; then
		while [ "$(date +%s)" -le "$t" ]; do sleep 0.05; done
	fi
	pair_ok "$2" primary
	rm -f "$BT_TMP"/changed.*
}

# change NODE NBLOCKS SEED: NODE writes NBLOCKS seeded blocks.
change() {
	rl_write_blocks "$(pair_uri "$1")" "$2" "$3" 0 "$data" "$BT_TMP/changed.$1"
}

# reconnect KEY VALUE [PRIMARY]: both daemons stop, KEY = VALUE goes into
# the config, the data areas are fingerprinted (SHA[alice], SHA[bob]) and
# both start again; PRIMARY (if given) is started first and promoted
# before its peer starts, so it is Primary when they meet. Started alone
# it is Consistent (it cannot know whether its peer went on writing), so
# this deliberate promotion needs --force.
reconnect() {
	local n first=${3:-alice}
	bt_daemon_stop alice
	bt_daemon_stop bob
	rl_conf_set "$1" "$2"
	SHA[alice]=$(rl_sha "$(pair_img alice)" "$data")
	SHA[bob]=$(rl_sha "$(pair_img bob)" "$data")
	UNION=$(rl_union_bytes "$BT_TMP"/changed.*)
	rl_log_mark alice
	rl_log_mark bob
	pair_start "$first"
	[ -n "${3:-}" ] && pair_ok "$first" primary --force
	pair_start "$(pair_peer_of "$first")"
}

# resolved CASE WINNER RULE [WINNER_RULE]: the split brain was resolved
# by RULE (an ERE) with WINNER as the source (WINNER_RULE: the rule WINNER
# logs, when it differs); the loser ends identical to the winner's data
# from before the reconnect, and the resync moved the union of changes.
resolved() {
	local c=$1 w=$2 l moved
	l=$(pair_peer_of "$w")
	if [ "$(pair_get "$w" role)" = Primary ]; then
		pair_wait_synced "$w" 30
	else
		rl_wait_secondaries_synced 30
	fi
	rl_expect_log "$w" "(split brain|sync decision): source-bitmap \\(rule (${4:-$3})[);]" \
		"$c: the survivor's decision"
	rl_expect_log "$l" "(split brain|sync decision): target-bitmap \\(rule ($3)[);]" \
		"$c: the loser's decision"
	moved=$(($(rl_num "$w" peer.resync_sent_bytes) + $(rl_num "$w" peer.resync_zero_bytes) + $(rl_num "$w" peer.resync_same_bytes)))
	rl_in_range "$moved" "$UNION" $((UNION + M)) ||
		bt_fail "$c: the resync moved $moved bytes; both sides changed $UNION bytes together"
	[ "$(rl_num "$w" peer.resync_sent_bytes)" -lt $((data / 4)) ] ||
		bt_fail "$c: the resync sent $(rl_num "$w" peer.resync_sent_bytes) bytes of data, >= 25% of the disk"
	bt_expect_eq "$(rl_sha "$(pair_img "$w")" "$data")" "${SHA[$w]}" "$c: $w's (the survivor's) data area"
	rl_expect_identical "$c: after $l's changes were discarded"
	bt_log "$c: $l discarded its changes, $moved bytes resynced (union $UNION)"
}

# 1. disconnect, then manual recovery.
split alice bob
change alice 256 11
change bob 128 12
pair_ok alice secondary
pair_ok bob secondary
reconnect after-sb-0pri disconnect
# Both sides must notice; a miss is reported at the end so the other
# cases still run.
end=$((SECONDS + 20))
until rl_log_has alice 'split brain detected' || rl_log_has bob 'split brain detected'; do
	[ "$SECONDS" -lt "$end" ] || bt_fail "disconnect policy: no node logged 'split brain detected' within 20s"
	sleep 0.05
done
for n in alice bob; do
	if ! last=$(rl_poll "$n" 5 'p["connection"] == "StandAlone" and s["role"] == "Secondary"'); then
		LATE_FAILS+=("disconnect policy: $n is not StandAlone after the split brain ($last)")
	fi
	rl_log_has "$n" 'split brain detected' ||
		LATE_FAILS+=("disconnect policy: $n logged no 'split brain detected'")
	bt_expect_eq "$(rl_sha "$(pair_img "$n")" "$data")" "${SHA[$n]}" \
		"disconnect policy: $n's data area after the refused connection"
done
pair_ok bob secondary
pair_ok bob connect --discard-my-data
pair_ok alice connect
resolved "manual recovery" alice discard-my-data peer-discards-its-data

# 2. discard-zero-changes: alice is promoted but writes nothing. A node
# takes a new generation only at its first write without the peer, so
# alice may not count as diverged at all: then the plain bitmap rule
# makes her the target. Either way she must lose.
split alice bob
change bob 256 21
pair_ok alice secondary
pair_ok bob secondary
reconnect after-sb-0pri discard-zero-changes
resolved discard-zero-changes bob \
	'split-brain-discard-zero-changes|peer-bitmap-is-self-current' \
	'split-brain-discard-zero-changes|self-bitmap-is-peer-current'

# 3. discard-least-changes.
split alice bob
change alice 384 31
change bob 128 32
pair_ok alice secondary
pair_ok bob secondary
reconnect after-sb-0pri discard-least-changes
resolved discard-least-changes alice split-brain-discard-least-changes

# 4. discard-younger-primary: alice promoted last, but with more changes.
split bob alice wait
change alice 384 41
change bob 128 42
pair_ok alice secondary
pair_ok bob secondary
reconnect after-sb-0pri discard-younger-primary
resolved discard-younger-primary bob split-brain-discard-younger-primary

# 5. after-sb-1pri discard-secondary: bob (Secondary) has more changes.
split alice bob
change alice 128 51
change bob 384 52
pair_ok alice secondary
pair_ok bob secondary
reconnect after-sb-1pri discard-secondary alice
resolved discard-secondary alice split-brain-discard-secondary

[ ${#LATE_FAILS[@]} = 0 ] || bt_fail "$(printf '%s; ' "${LATE_FAILS[@]}")"
bt_pass "disconnect + manual recovery, discard-zero-changes, discard-least-changes, discard-younger-primary, discard-secondary"
