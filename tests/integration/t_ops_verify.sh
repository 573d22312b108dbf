#!/bin/bash
# Online verify on a synced protocol C pair (64 MiB, the first 32 MiB of
# random data; resync-rate-max-mib = 32 so a verify runs about two
# seconds and can be watched):
#  1. identical copies: verify on alice reports 0 differing blocks and the
#     out-of-sync hook is not run; events show alice VerifyS and bob
#     VerifyT, then Established.
#  2. bob is stopped and 5 chosen 4 KiB blocks of his data area (two
#     adjacent, one the last block) are overwritten in bob.img; bob comes
#     back. Verify finds exactly those 5 blocks: status peer.verify and
#     out_of_sync_bytes, the log line "verify finished: 5 blocks ... (first
#     at byte offsets ...)" with those offsets, one out-of-sync hook call
#     (argv[1] out-of-sync). Nothing repairs by itself; 'resync' moves only
#     those blocks (SyncSource on alice, SyncTarget on bob), the data
#     areas end byte-identical and a second verify finds nothing.
#  3. 4 more corrupted blocks, verified while fio writes elsewhere through
#     alice: the result is still exactly 4 blocks, and every write fio
#     got acknowledged (protocol C) is on bob's disk.
#  4. with verify-auto-resync = yes (both restarted), 3 corrupted blocks
#     are found and repaired without a 'resync' command.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
bt_init 150

M=$((1024 * 1024))
B=4096

fio --enghelp 2>&1 | grep -qw nbd || bt_skip "fio has no nbd engine"

pair_setup C $((64 * M))
HOOK_LOG=$BT_TMP/hook.calls
cat >"$BT_TMP/hook.sh" <<EOF
#!/bin/sh
echo "\$1 \$BLOCKD_RESOURCE \$BLOCKD_NODE" >>"$HOOK_LOG"
EOF
chmod +x "$BT_TMP/hook.sh"

# conf_set KEY VALUE: set KEY in [resource] (read at the next start).
conf_set() {
	sed -i -e "/^$1 *=/d" -e "/^\[resource\]/a $1 = $2" "$PAIR_CONF" ||
		bt_fail "could not set $1 in $PAIR_CONF"
}
conf_set out-of-sync "$BT_TMP/hook.sh"
conf_set resync-rate-max-mib 32

# Random data in the first 32 MiB of alice (the full sync copies it).
openssl enc -aes-128-ctr -nosalt -K "$(printf '%032x' 7)" -iv 0 </dev/zero 2>/dev/null |
	dd of="$(pair_img alice)" bs=1M count=32 iflag=fullblock conv=notrunc status=none
[ "${PIPESTATUS[1]}" = 0 ] || bt_fail "could not fill alice's image"

pair_start alice
pair_start bob
pair_wait_connected 20
pair_promote_first alice 30
SIZE=$(pair_get alice size_bytes)
NBLK=$((SIZE / B))

num() { # NODE PATH: a numeric status field
	local v
	v=$(pair_get "$1" "$2")
	case "$v" in '' | *[!0-9.]*) bt_fail "$1: status $2 is not a number: '$v'" ;; esac
	echo "$v"
}
hook_calls() { if [ -f "$HOOK_LOG" ]; then wc -l <"$HOOK_LOG"; else echo 0; fi; }
log_mark() { MARK_alice=$(wc -l <"$BT_TMP/alice.log"); MARK_bob=$(wc -l <"$BT_TMP/bob.log"); }
log_since() { local m=MARK_$1; tail -n +"$((${!m} + 1))" "$BT_TMP/$1.log"; }

# events_start: record both nodes' event streams into ev-NODE.N.
EV_N=0
events_start() {
	local n
	EV_N=$((EV_N + 1))
	for n in alice bob; do
		"$BLOCKCTL" -c "$PAIR_CONF" -n "$n" events >"$BT_TMP/ev-$n.$EV_N" 2>&1 &
		bt_on_exit "kill $! 2>/dev/null"
		eval "EV_PID_$n=$!"
	done
	# The first line (current state) shows the stream is attached.
	local end=$((SECONDS + 10))
	for n in alice bob; do
		until [ -s "$BT_TMP/ev-$n.$EV_N" ]; do
			[ "$SECONDS" -ge "$end" ] && bt_fail "no events from $n"
			sleep 0.05
		done
	done
}
events_stop() { kill "$EV_PID_alice" "$EV_PID_bob" 2>/dev/null; wait "$EV_PID_alice" "$EV_PID_bob" 2>/dev/null; }
# events_repl NODE: the distinct replication states in the stream, in order.
events_repl() {
	/usr/bin/python3 -c '
import json, sys
out = []
for line in open(sys.argv[1]):
    try:
        r = json.loads(line)["peer"]["replication"]
    except (ValueError, KeyError, TypeError):
        continue
    if not out or out[-1] != r:
        out.append(r)
print(" ".join(out))' "$BT_TMP/ev-$1.$EV_N"
}

# run_verify: verify on alice, wait for the result; sets VBLOCKS, VLINE.
run_verify() {
	log_mark
	pair_ok alice verify
	pair_wait alice 30 "verify finished" \
		'p["replication"] != "VerifyS" and p["verify"]["done_pct"] == 100'
	local end=$((SECONDS + 5))
	until VLINE=$(log_since alice | grep -E 'verify finished: ' | tail -n 1) && [ -n "$VLINE" ]; do
		[ "$SECONDS" -ge "$end" ] && bt_fail "alice logged no 'verify finished' line"
		sleep 0.05
	done
	VBLOCKS=$(num alice peer.verify.out_of_sync_blocks)
}

# ---- 1: identical copies ------------------------------------------------
bt_expect_eq "$(pair_diff_blocks "$SIZE")" "" "data areas after the initial sync"
events_start
run_verify
events_stop
bt_expect_eq "$VBLOCKS" 0 "verify of identical copies: peer.verify.out_of_sync_blocks"
echo "$VLINE" | grep -Eq 'verify finished: 0 blocks of 4 KiB differ$' ||
	bt_fail "verify of identical copies logged: $VLINE"
bt_expect_eq "$(num alice peer.out_of_sync_bytes)" 0 "out_of_sync_bytes after a clean verify"
pair_wait bob 5 "Established after verify" 'p["replication"] == "Established"'
bt_expect_eq "$(events_repl alice)" "Established VerifyS Established" "alice's replication states (events)"
bt_expect_eq "$(events_repl bob)" "Established VerifyT Established" "bob's replication states (events)"
sleep 0.3
bt_expect_eq "$(hook_calls)" 0 "out-of-sync hook calls after a clean verify"

# ---- 2: five corrupted blocks on bob --------------------------------------
BAD="3 4 1000 9000 $((NBLK - 1))"
bt_daemon_stop bob
pair_corrupt bob 42 $BAD
pair_start bob
pair_wait_synced alice 20
bt_expect_eq "$(pair_diff_blocks "$SIZE")" "$BAD" "blocks differing on disk before verify"

events_start
run_verify
events_stop

expect_offsets=$(for b in $BAD; do echo $((b * B)); done | paste -sd, | sed 's/,/, /g')
bt_expect_eq "$VBLOCKS" 5 "verify with 5 corrupted blocks: peer.verify.out_of_sync_blocks"
bt_expect_eq "$VLINE" "${VLINE%%verify finished*}verify finished: 5 blocks of 4 KiB differ (first at byte offsets $expect_offsets)" \
	"verify log line"
bt_expect_eq "$(num alice peer.out_of_sync_bytes)" $((5 * B)) "alice's out_of_sync_bytes after the verify"
bt_expect_eq "$(events_repl alice)" "Established VerifyS Established" "alice's replication states (events), 2nd verify"
bt_expect_eq "$(events_repl bob)" "Established VerifyT Established" "bob's replication states (events), 2nd verify"
end=$((SECONDS + 10))
until [ "$(hook_calls)" -ge 1 ]; do
	[ "$SECONDS" -ge "$end" ] && bt_fail "the out-of-sync hook was not run after verify found 5 blocks"
	sleep 0.05
done
sleep 0.3
bt_expect_eq "$(hook_calls)" 1 "out-of-sync hook calls"
bt_expect_eq "$(head -1 "$HOOK_LOG")" "out-of-sync r0 alice" "out-of-sync hook argv[1], BLOCKD_RESOURCE, BLOCKD_NODE"
# Nothing repairs by itself without verify-auto-resync.
sleep 0.5
pair_wait alice 1 "still Established and out of sync" \
	'p["replication"] == "Established" and p["out_of_sync_bytes"] == 5 * 4096'

# moved: block data sent plus ranges sent as zeroes (two blocks are holes).
moved() { echo $(($(num alice peer.resync_sent_bytes) + $(num alice peer.resync_zero_bytes))); }
sent0=$(moved)
events_start
pair_ok alice resync
pair_wait_synced alice 30
events_stop
sent=$(($(moved) - sent0))
case " $(events_repl alice) " in *" SyncSource "*) ;; *) bt_fail "alice never showed SyncSource during 'resync': $(events_repl alice)" ;; esac
case " $(events_repl bob) " in *" SyncTarget "*) ;; *) bt_fail "bob never showed SyncTarget during 'resync': $(events_repl bob)" ;; esac
[ "$sent" -ge $((5 * B)) ] && [ "$sent" -le $((64 * 1024)) ] ||
	bt_fail "resync of 5 blocks moved $sent bytes (resync_sent_bytes + resync_zero_bytes; expected 20480..65536)"
bt_expect_eq "$(pair_diff_blocks "$SIZE")" "" "blocks differing on disk after 'resync'"
run_verify
bt_expect_eq "$VBLOCKS" 0 "verify after the repair"
bt_expect_eq "$(hook_calls)" 1 "out-of-sync hook calls after a clean verify"

# ---- 3: verify while fio writes elsewhere through alice --------------------
# 4 more corrupted blocks; fio writes 4 KiB blocks at random in 16..32 MiB
# (blocks 4096..8191) during the whole verify. Protocol C: every write fio
# had acknowledged must be on bob too, and the verify must still report
# just the 4 corrupted blocks. Failures here are collected, the pair is
# repaired, and the test goes on to the auto-resync part.
LOAD_FAIL=()
soft() { LOAD_FAIL+=("$*"); bt_log "under load: $*"; }
BAD3="100 2000 9999 15000"
bt_daemon_stop bob
pair_corrupt bob 42 $BAD3
pair_start bob
pair_wait_synced alice 20
bt_expect_eq "$(pair_diff_blocks "$SIZE")" "$BAD3" "blocks differing on disk before the verify under load"
cat >"$BT_TMP/load.fio" <<EOF
[load]
ioengine=nbd
uri=$(pair_uri alice)
rw=randwrite
bs=4k
iodepth=4
offset=16m
size=16m
rate=4m
time_based=1
runtime=30
EOF
# Counters taken while idle: a write in flight counts in one, not the other.
wr0=$(num alice written_bytes)
tx0=$(num alice peer.lag.sent_bytes)
(cd "$BT_TMP" && exec fio --output="$BT_TMP/load.out" load.fio >/dev/null 2>&1) &
FIO_PID=$!
bt_on_exit "kill $FIO_PID 2>/dev/null"
pair_wait alice 10 "fio connected" 's["nbd_connections"] >= 1'
sleep 0.5
run_verify
sleep 0.5
kill "$FIO_PID" 2>/dev/null
wait "$FIO_PID"
pair_wait alice 10 "fio gone, nothing pending" 's["nbd_connections"] == 0 and p["pending_writes"] == 0'
wr=$(($(num alice written_bytes) - wr0))
tx=$(($(num alice peer.lag.sent_bytes) - tx0))
[ "$wr" -gt 0 ] || bt_fail "fio wrote nothing through alice during the verify"
[ "$tx" = "$wr" ] ||
	soft "alice wrote $wr bytes for fio (before, during and after the verify) but sent only $tx to bob (peer.lag.sent_bytes)"
got=$(pair_diff_blocks "$SIZE")
[ "$got" = "$BAD3" ] ||
	soft "after fio stopped $(echo "$got" | wc -w) blocks differ on disk, not just the 4 corrupted ones ($(echo "$got" | cut -c1-80)...): acknowledged protocol C writes are missing on bob"
[ "$VBLOCKS" = 4 ] ||
	soft "verify under load reported $VBLOCKS differing blocks, expected 4"
oos=$(num alice peer.out_of_sync_bytes)
[ "$oos" = $((4 * B)) ] || soft "alice's out_of_sync_bytes after the verify under load: $oos, expected $((4 * B))"
end=$((SECONDS + 10))
until [ "$(hook_calls)" -ge 2 ]; do
	[ "$SECONDS" -ge "$end" ] && bt_fail "no out-of-sync hook call for the verify under load"
	sleep 0.05
done
# Repair whatever is marked; then the copies must be equal again.
pair_ok alice resync
pair_wait_synced alice 30
bt_expect_eq "$(pair_diff_blocks "$SIZE")" "" "blocks differing on disk after the resync that followed the verify under load"

# ---- 4: verify-auto-resync = yes ------------------------------------------
BAD2="77 5000 12345"
conf_set verify-auto-resync yes
# A FLUSH first: the extents alice wrote since bob's last flush would be
# resynced when he comes back (his disk cache could have lost them), and
# repair a corrupted block before the verify sees it.
timeout 20 /usr/bin/python3 -c '
import nbd, sys
h = nbd.NBD(); h.connect_uri(sys.argv[1]); h.flush(); h.shutdown()' "$(pair_uri alice)" ||
	bt_fail "a FLUSH through alice before stopping bob failed"
bt_daemon_stop bob
pair_corrupt bob 42 $BAD2
bt_daemon_stop alice
pair_start alice
pair_start bob
pair_wait_connected 20
pair_ok alice primary
pair_wait_synced alice 20
bt_expect_eq "$(pair_diff_blocks "$SIZE")" "$BAD2" "blocks differing on disk before the auto-resync verify"
events_start
log_mark
pair_ok alice verify
end=$((SECONDS + 30))
until log_since alice | grep -q 'verify finished: '; do
	[ "$SECONDS" -ge "$end" ] && bt_fail "verify with auto-resync did not finish"
	sleep 0.1
done
pair_wait_synced alice 30
events_stop
log_since alice | grep -Eq 'verify finished: 3 blocks of 4 KiB differ \(first at byte offsets 315392, 20480000, 50565120\)' ||
	bt_fail "auto-resync verify log: $(log_since alice | grep 'verify finished')"
case " $(events_repl alice) " in *" VerifyS "*" SyncSource "*) ;;
*) bt_fail "alice's states with auto-resync: $(events_repl alice) (expected VerifyS then SyncSource)" ;; esac
bt_expect_eq "$(pair_diff_blocks "$SIZE")" "" "blocks differing on disk after the automatic resync"
end=$((SECONDS + 10))
until [ "$(hook_calls)" -ge 3 ]; do
	[ "$SECONDS" -ge "$end" ] && bt_fail "no out-of-sync hook call for the auto-resync verify"
	sleep 0.05
done
bt_expect_eq "$(hook_calls)" 3 "out-of-sync hook calls in total"
bt_daemon_stop alice
bt_daemon_stop bob
[ ${#LOAD_FAIL[@]} = 0 ] || bt_fail "verify under concurrent writes: $(printf '%s; ' "${LOAD_FAIL[@]}")"
bt_pass "clean verify 0; 5 corrupted blocks found, hook once, resync moved $sent bytes; 4 found under fio load; auto-resync repaired 3"
