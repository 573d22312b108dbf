#!/bin/bash
# Fencing keeps a partition from turning into a split brain: 3 rounds (ROUNDS) of
# resource-and-stonith, protocol C, a fio randwrite job (crc32c verify
# headers, verify state saved, a new seed each round) and a writer that
# logs each acknowledged write by name, both on the Primary; then the
# Primary's packets stall (the frames of the writes in flight never arrive)
# and the link between the two network namespaces is cut. Two STONITH
# outcomes alternate:
#  odd rounds, the Primary fences the Secondary: its fence-peer hook kills
#    the Secondary's daemon (SIGKILL) and exits 7; the Primary resumes
#    (io_frozen false, peer_outdated true), fio finishes its whole region
#    without an error, and the killed node, restarted after the heal,
#    comes back Secondary and is resynced (SyncTarget) from the Primary;
#  even rounds, the Secondary's side wins: the Primary's fence-peer fails
#    (exit 1), so it stays frozen until it is killed (SIGKILL, the STONITH
#    of the Primary); the Secondary, still UpToDate, is promoted with a
#    plain `primary`, which first runs its own fence-peer (the peer is
#    away, not known outdated: the hook answers 7, the node is gone) and
#    records the old Primary fenced; it must hold every write the old
#    Primary acknowledged (protocol C: those stalled writes must have been
#    held, not acknowledged, while fencing was undecided); the link heals,
#    the old Primary restarts and must become SyncTarget of the new one;
# in every round: fence-peer ran exactly once on the Primary (and once on
# the promoted Secondary in even rounds), no log has a
# split-brain line, `fio --verify_only` over the (new) Primary finds every
# write fio saw acknowledged (all but its last iodepth, which fio's verify
# state cannot tell apart), so do the logged writes, and the two data areas
# end identical.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/netlib.sh"
bt_init 170

fio --enghelp 2>&1 | grep -qw nbd || bt_skip "fio has no nbd engine"

SIZE=$((32 * M))
REGION=$((24 * M))
WOFF=$((25 * M))	# the acknowledged-writes logger's area, after fio's
WLEN=$((6 * M))
ROUNDS=${ROUNDS:-3}	# make check; ROUNDS=50 for a soak

net_init
net_hook_install
net_pair_setup C "$SIZE" 'fencing = resource-and-stonith' "fence-peer = $NET_HOOK"
net_start alice
net_start bob
pair_wait_connected 20
pair_promote_first alice 30

# jobfile FILE URI SEED EXTRA: randrepeat=0, so the seed picks the offsets
# and every round writes new data in a new order.
jobfile() {
	cat >"$1" <<EOF
[global]
ioengine=nbd
uri=$2
rw=randwrite
bs=4k
iodepth=16
size=$REGION
randrepeat=0
randseed=$3
verify=crc32c
verify_fatal=1
$4
[sb]
EOF
}

# no_split_brain ROUND: neither log mentions a split brain.
no_split_brain() {
	local n
	for n in alice bob; do
		net_log_has "$n" '[Ss]plit[- ]?[Bb]rain' &&
			bt_fail "round $1: $n logged a split brain: $(grep -Em2 '[Ss]plit[- ]?[Bb]rain' "$BT_TMP/$n.log" | tr '\n' ' ')"
	done
	return 0
}

# restart_as_target NODE OTHER ROUND: start NODE again (link healed); it
# must come back Secondary and be resynced as SyncTarget of OTHER. The
# first sync decision either side logs after the restart tells.
restart_as_target() {
	local n=$1 other=$2 from_n from_o dec end=$((SECONDS + 15))
	from_n=$(grep -c '' "$BT_TMP/$n.log")
	from_o=$(grep -c '' "$BT_TMP/$other.log")
	net_start "$n"
	pair_wait "$n" 10 "back as Secondary" 's["role"] == "Secondary"'
	while :; do
		dec=$({
			tail -n +"$((from_n + 1))" "$BT_TMP/$n.log" | grep 'sync decision' | sed "s/^/$n: /"
			tail -n +"$((from_o + 1))" "$BT_TMP/$other.log" | grep 'sync decision' | sed "s/^/$other: /"
		} | sed 's/ [0-9.]* r0\/[a-z]* info: / /')
		case "$dec" in
		*split-brain* | *unrelated*)
			bt_fail "round $3: restarted $n must become SyncTarget of $other, got: $(echo "$dec" | tr '\n' ';')" ;;
		*"$n: sync decision: target-"*) break ;;
		esac
		[ "$SECONDS" -ge "$end" ] &&
			bt_fail "round $3: restarted $n did not decide to be SyncTarget within 15s: $(echo "$dec" | tr '\n' ';')"
		sleep 0.05
	done
	pair_wait_synced "$other" 30
}

# verify_on NODE RD: fio --verify_only with the saved state over NODE;
# VERIFIED is the number of bytes it read and checked.
verify_on() {
	(cd "$2" && fio --output-format=json --output=verify.json verify.fio >verify.out 2>&1) ||
		bt_fail "round $ROUND: fio --verify_only over $1 failed: $(grep -Eim3 'verify|error|bad' "$2/verify.out" "$2/verify.json" | tr '\n' ' ')"
	VERIFIED=$(/usr/bin/python3 -c '
import json, sys
raw = open(sys.argv[1]).read()
j = json.loads(raw[raw.index("{"):])["jobs"][0]
print(j["read"]["io_bytes"] if j["error"] == 0 else -1)' "$2/verify.json") ||
		bt_fail "round $ROUND: unreadable fio verify output"
}

PRI=alice
stall=
t_start=$SECONDS
for ROUND in $(seq 1 "$ROUNDS"); do
	SEC=$(pair_peer_of "$PRI")
	rd=$BT_TMP/round$ROUND
	mkdir -p "$rd"
	seed=$((9100 + ROUND))
	jobfile "$rd/write.fio" "$(pair_uri "$PRI")" "$seed" $'do_verify=0\nverify_state_save=1'
	fences0=$(net_hook_count start fence-peer "$PRI")
	# The hook answers when the test has seen the freeze (a 1 s sleep in
	# the hook raced that check on a slow machine).
	net_hook_set fence-peer wait "$NET_HOOK_DIR/release-$ROUND" "$PRI"
	if [ $((ROUND % 2)) = 1 ]; then
		net_hook_set fence-peer rc 7 "$PRI"
		net_hook_set fence-peer stonith "${BT_PIDS[$SEC]}" "$PRI"
	else
		net_hook_set fence-peer rc 1 "$PRI"
		net_hook_set fence-peer stonith - "$PRI"
	fi

	written0=$(pair_get "$PRI" written_bytes)
	(cd "$rd" && exec fio --output-format=json --output=write.json write.fio >write.out 2>&1) &
	FIO_PID=$!
	bt_on_exit "bt_kill_pid $FIO_PID"
	net_wait_written "$PRI" $((written0 + 2 * M)) "$FIO_PID" 20
	# Beside fio, a writer that logs every acknowledged write by name.
	net_acked_writer "$(pair_uri "$PRI")" "$WOFF" "$WLEN" "$rd/acked.log" "r$ROUND"
	WRITER_PID=$NET_WRITER_PID
	net_wait_written "$PRI" $((written0 + 3 * M)) "$FIO_PID" 20
	# The link stalls first: the frames of the writes then in flight never
	# reach the Secondary. Those writes must not be acknowledged before
	# the fence-peer hook answered (held, not completed).
	# A frame queued on the stalled link shows there are frames to lose.
	if net_stall "$PRI"; then
		net_wait_backlog "$PRI" 4096 10
	else
		stall=unavailable
	fi
	net_cut
	net_hook_wait start fence-peer $((fences0 + 1)) 5 "$PRI"
	bt_expect_eq "$(pair_get "$PRI" io_frozen)" true "round $ROUND: $PRI io_frozen while fence-peer runs"
	net_hook_release "release-$ROUND"
	net_hook_wait end fence-peer $((fences0 + 1)) 10 "$PRI"

	if [ $((ROUND % 2)) = 1 ]; then
		# The Primary fenced (killed) the Secondary and goes on.
		bt_wait_exit "${BT_PIDS[$SEC]}" 5 || bt_fail "round $ROUND: fence-peer did not kill $SEC"
		wait "${BT_PIDS[$SEC]}" 2>/dev/null
		unset "BT_PIDS[$SEC]"
		pair_wait "$PRI" 5 "resumed after exit 7" 's["io_frozen"] is False and s["peer_outdated"] is True'
		bt_wait_exit "$FIO_PID" 60 || bt_fail "round $ROUND: fio did not finish after the resume"
		wait "$FIO_PID" || bt_fail "round $ROUND: fio failed on $PRI: $(grep -Eim3 'error|verify|bad' "$rd/write.out" "$rd/write.json" | tr '\n' ' ')"
		bt_kill_pid "$WRITER_PID"
		net_heal
		restart_as_target "$SEC" "$PRI" "$ROUND"
		VER=$PRI
		what="$SEC fenced by $PRI"
	else
		# The Primary could not fence; the other side STONITHs it.
		sleep 0.5
		bt_expect_eq "$(pair_get "$PRI" io_frozen)" true "round $ROUND: $PRI after fence-peer exit 1"
		bt_daemon_kill9 "$PRI"
		bt_wait_exit "$FIO_PID" 30 || bt_fail "round $ROUND: fio did not end after $PRI was killed"
		wait "$FIO_PID" 2>/dev/null
		[ -s "$rd/local-sb-0-verify.state" ] ||
			bt_fail "round $ROUND: fio saved no verify state ($(ls "$rd"))"
		pair_wait "$SEC" 5 "peer loss noticed" 'p["connection"] != "Connected"'
		bt_expect_eq "$(pair_get "$SEC" disk)" UpToDate "round $ROUND: $SEC's disk after the cut"
		sec_fences0=$(net_hook_count end fence-peer "$SEC")
		net_hook_set fence-peer wait - "$SEC"
		net_hook_set fence-peer stonith - "$SEC"
		net_hook_set fence-peer rc 7 "$SEC"
		pair_ok "$SEC" primary
		bt_expect_eq "$(net_hook_count end fence-peer "$SEC")" $((sec_fences0 + 1)) "round $ROUND: fence-peer runs on $SEC for its promotion"
		bt_expect_eq "$(pair_get "$SEC" peer_outdated)" true "round $ROUND: $SEC records $PRI fenced"
		pair_wait "$SEC" 5 "Primary" 's["role"] == "Primary"'
		# Protocol C: every write the old Primary acknowledged is here.
		bt_wait_exit "$WRITER_PID" 10 || bt_fail "round $ROUND: the writer did not end after $PRI was killed"
		net_acked_check "$(pair_uri "$SEC")" "$rd/acked.log" "r$ROUND" \
			"round $ROUND: $SEC promoted after $PRI was STONITHed"
		net_heal
		restart_as_target "$PRI" "$SEC" "$ROUND"
		VER=$SEC
		what="$PRI STONITHed, $SEC promoted"
	fi
	bt_expect_eq "$(net_hook_count start fence-peer "$PRI")" $((fences0 + 1)) "round $ROUND: fence-peer calls on $PRI"
	no_split_brain "$ROUND"

	net_acked_check "$(pair_uri "$VER")" "$rd/acked.log" "r$ROUND" "round $ROUND: $VER after the resync"
	jobfile "$rd/verify.fio" "$(pair_uri "$VER")" "$seed" \
		$'verify_only=1\ndo_verify=1\nverify_state_load=1\nverify_state_save=0\niodepth=1'
	verify_on "$VER" "$rd"
	# fio cannot tell which of its last iodepth (16) writes were
	# acknowledged; everything before them must have been verified.
	fio_acked=$(/usr/bin/python3 -c '
import json, sys
raw = open(sys.argv[1]).read()
print(json.loads(raw[raw.index("{"):])["jobs"][0]["write"]["io_bytes"])' "$rd/write.json") ||
		bt_fail "round $ROUND: unreadable fio write output"
	[ "$fio_acked" -ge "$M" ] ||
		bt_fail "round $ROUND: fio had only $fio_acked bytes acknowledged: the round proves little"
	[ "$VERIFIED" -ge $((fio_acked - 16 * 4096)) ] ||
		bt_fail "round $ROUND: fio verified $VERIFIED bytes over $VER, but $fio_acked were acknowledged"
	bt_expect_eq "$(pair_sha_data alice)" "$(pair_sha_data bob)" \
		"round $ROUND: sha256 of alice's data area vs bob's"
	bt_log "round $ROUND: $what, fio verified $((VERIFIED / 1024)) KiB and $NET_ACKED acknowledged writes found on $VER, resynced"
	rm -rf "$rd"
	PRI=$VER
done
bt_expect_eq "$(net_hook_count start fence-peer)" $((ROUNDS + ROUNDS / 2)) "fence-peer calls in all (one per round, one per promotion in even rounds)"
# The Primary first: the Secondary going away would make it fence again.
bt_daemon_stop "$PRI"
bt_daemon_stop "$(pair_peer_of "$PRI")"
bt_pass "$ROUNDS rounds without a split brain in $((SECONDS - t_start))s${stall:+ (no link stall: tc tbf unavailable)}"
