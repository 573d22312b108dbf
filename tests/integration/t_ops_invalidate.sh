#!/bin/bash
# invalidate and invalidate-remote on a synced protocol C pair (64 MiB,
# alice Primary, her first 63 MiB random data, the rest a hole). Before
# each step bob is stopped and a few 4 KiB blocks of his data area are
# overwritten in bob.img, so only a real copy makes the areas equal again.
#  1. 'invalidate' on bob: bob becomes SyncTarget (Inconsistent), alice
#     SyncSource; the whole data area moves (resync_sent_bytes +
#     resync_zero_bytes on alice grow by size_bytes, the data itself by
#     at least 63 MiB; bob's resync_received_bytes agrees); both end
#     byte-identical. Refusals: 'invalidate' on the Primary, and
#     'invalidate-remote' on the Secondary of a Primary, exit 1.
#  2. 'invalidate-remote' on alice: the same full copy toward bob.
#  3. 'invalidate --bitmap' on bob after a verify on alice marked the 4
#     corrupted blocks: only those move (16 KiB), then identical.
#  4. 'invalidate-remote --bitmap' on alice, likewise with 3 blocks.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
bt_init 150

M=$((1024 * 1024))
B=4096

pair_setup C $((64 * M))
openssl enc -aes-128-ctr -nosalt -K "$(printf '%032x' 11)" -iv 0 </dev/zero 2>/dev/null |
	dd of="$(pair_img alice)" bs=1M count=63 iflag=fullblock conv=notrunc status=none
[ "${PIPESTATUS[1]}" = 0 ] || bt_fail "could not fill alice's image"
pair_start alice
pair_start bob
pair_wait_connected 20
pair_promote_first alice 60
SIZE=$(pair_get alice size_bytes)

num() { # NODE PATH: a numeric status field
	local v
	v=$(pair_get "$1" "$2")
	case "$v" in '' | *[!0-9.]*) bt_fail "$1: status $2 is not a number: '$v'" ;; esac
	echo "$v"
}
# moved NODE: resync block data plus ranges sent as zeroes, from NODE.
moved() {
	pair_ctl "$1" status --json | /usr/bin/python3 -c '
import json, sys
p = json.load(sys.stdin)["peer"]
print(p["resync_sent_bytes"] + p["resync_zero_bytes"], p["resync_sent_bytes"])'
}

# events_start / events_stop / events_states NODE: record both nodes'
# event streams; the distinct "replication/disk" pairs seen, in order.
EV_N=0
events_start() {
	local n end=$((SECONDS + 10))
	EV_N=$((EV_N + 1))
	for n in alice bob; do
		"$BLOCKCTL" -c "$PAIR_CONF" -n "$n" events >"$BT_TMP/ev-$n.$EV_N" 2>&1 &
		bt_on_exit "kill $! 2>/dev/null"
		eval "EV_PID_$n=$!"
	done
	for n in alice bob; do
		until [ -s "$BT_TMP/ev-$n.$EV_N" ]; do
			[ "$SECONDS" -ge "$end" ] && bt_fail "no events from $n"
			sleep 0.05
		done
	done
}
events_stop() { kill "$EV_PID_alice" "$EV_PID_bob" 2>/dev/null; wait "$EV_PID_alice" "$EV_PID_bob" 2>/dev/null; }
events_states() {
	/usr/bin/python3 -c '
import json, sys
out = []
for line in open(sys.argv[1]):
    try:
        s = json.loads(line)
        r = s["peer"]["replication"] + "/" + s["disk"]
    except (ValueError, KeyError, TypeError):
        continue
    if not out or out[-1] != r:
        out.append(r)
print(" ".join(out))' "$BT_TMP/ev-$1.$EV_N"
}
expect_states() { # NODE PATTERN WHAT: the event states match the glob
	local got
	got=$(events_states "$1")
	# shellcheck disable=SC2053
	[[ " $got " == $2 ]] || bt_fail "$3: $1 went through '$got'"
}

# corrupt_bob BLOCK...: stop bob, overwrite those blocks, start him again.
corrupt_bob() {
	bt_daemon_stop bob
	pair_corrupt bob "$1" "$@"
	pair_start bob
	pair_wait_synced alice 20
	bt_expect_eq "$(pair_diff_blocks "$SIZE")" "$*" "blocks differing on disk after corrupting bob"
}

# run_resync WHAT EXPECT_MOVED NODE ARGS...: run blockctl ARGS on NODE and
# wait until alice has moved EXPECT_MOVED more bytes and the pair is
# synced again. Sets MOVED and SENT (block data only).
run_resync() {
	local what=$1 want=$2 node=$3 m0 s0 m s
	shift 3
	read -r m0 s0 < <(moved alice)
	events_start
	pair_ok "$node" "$@"
	pair_wait alice 60 "$what: alice moved $want bytes" \
		"p['resync_sent_bytes'] + p['resync_zero_bytes'] >= $((m0 + want)) and p['replication'] == 'Established'"
	pair_wait_synced alice 30
	events_stop
	read -r m s < <(moved alice)
	MOVED=$((m - m0))
	SENT=$((s - s0))
	bt_log "$what: moved $MOVED bytes ($SENT as data)"
}

# ---- refusals ---------------------------------------------------------------
pair_refused alice 1 'Primary cannot discard its data' invalidate
pair_refused alice 1 'Primary cannot discard its data' invalidate --bitmap
pair_refused bob 1 'peer is Primary' invalidate-remote
pair_refused bob 1 'peer is Primary' invalidate-remote --bitmap

# ---- 1: invalidate on bob ---------------------------------------------------
corrupt_bob 5 4000 16000
run_resync "invalidate on bob" "$SIZE" bob invalidate
bt_expect_eq "$MOVED" "$SIZE" "invalidate: bytes alice moved (resync_sent_bytes + resync_zero_bytes)"
[ "$SENT" -ge $((63 * M)) ] || bt_fail "invalidate: alice sent $SENT bytes of block data, expected >= 63 MiB"
got=$(num bob peer.resync_received_bytes)
bt_expect_eq "$got" "$SENT" "invalidate: bob's resync_received_bytes (since his restart)"
expect_states alice "* SyncSource/UpToDate *Established/UpToDate " "invalidate"
expect_states bob "* SyncTarget/Inconsistent *Established/UpToDate " "invalidate"
bt_expect_eq "$(pair_diff_blocks "$SIZE")" "" "blocks differing on disk after invalidate"

# ---- 2: invalidate-remote on alice -------------------------------------------
corrupt_bob 6 4001 16001
rcv0=$(num bob peer.resync_received_bytes)
run_resync "invalidate-remote on alice" "$SIZE" alice invalidate-remote
bt_expect_eq "$MOVED" "$SIZE" "invalidate-remote: bytes alice moved"
[ "$SENT" -ge $((63 * M)) ] || bt_fail "invalidate-remote: alice sent $SENT bytes of block data, expected >= 63 MiB"
bt_expect_eq "$(num bob peer.resync_received_bytes)" "$SENT" "invalidate-remote: bob's resync_received_bytes (since his restart)"
expect_states alice "* SyncSource/UpToDate *Established/UpToDate " "invalidate-remote"
expect_states bob "* SyncTarget/Inconsistent *Established/UpToDate " "invalidate-remote"
bt_expect_eq "$(pair_diff_blocks "$SIZE")" "" "blocks differing on disk after invalidate-remote"

# mark_by_verify N: verify on alice must mark exactly N blocks.
mark_by_verify() {
	pair_ok alice verify
	pair_wait alice 30 "verify finished" \
		'p["replication"] == "Established" and p["verify"]["done_pct"] == 100'
	bt_expect_eq "$(num alice peer.verify.out_of_sync_blocks)" "$1" "blocks the verify found"
	bt_expect_eq "$(num alice peer.out_of_sync_bytes)" $(($1 * B)) "alice's out_of_sync_bytes after the verify"
}

# ---- 3: invalidate --bitmap on bob --------------------------------------------
corrupt_bob 7 2222 9999 16300
mark_by_verify 4
run_resync "invalidate --bitmap on bob" $((4 * B)) bob invalidate --bitmap
bt_expect_eq "$MOVED" $((4 * B)) "invalidate --bitmap: bytes alice moved"
expect_states bob "* SyncTarget/*Established/UpToDate " "invalidate --bitmap"
bt_expect_eq "$(pair_diff_blocks "$SIZE")" "" "blocks differing on disk after invalidate --bitmap"

# ---- 4: invalidate-remote --bitmap on alice -------------------------------------
corrupt_bob 8 3333 12000
mark_by_verify 3
run_resync "invalidate-remote --bitmap on alice" $((3 * B)) alice invalidate-remote --bitmap
bt_expect_eq "$MOVED" $((3 * B)) "invalidate-remote --bitmap: bytes alice moved"
expect_states alice "* SyncSource/UpToDate *Established/UpToDate " "invalidate-remote --bitmap"
bt_expect_eq "$(pair_diff_blocks "$SIZE")" "" "blocks differing on disk after invalidate-remote --bitmap"

bt_daemon_stop alice
bt_daemon_stop bob
bt_pass "full invalidate and invalidate-remote moved $SIZE bytes each; --bitmap variants moved 4 and 3 blocks; data identical after each"
