#!/bin/bash
# Partition torture: randomized rounds of failures under the acknowledged-
# write checker (ackcheck.py), alice and bob in network namespaces, a
# small activity log (al-extents = 7 against a 48 MiB write region),
# fencing resource-and-stonith (resource-only in protocol A, which refuses
# stonith). Each round starts from a connected, synced pair, starts a new
# writer session on the Primary (block size, depth, FLUSH rate and span
# drawn from the seed: the whole region, which keeps the activity log
# evicting and throttles the writes, or 16 MiB of it, which fits in the
# log and lets 256 KiB x 32 fill the peer socket), sometimes slows the
# Primary's link (tc tbf), then does one of:
#   cut-stonith-peer  [stall+]cut; the Primary's fence-peer kills the
#                     Secondary and exits 7; the Primary writes on; heal,
#                     restart the Secondary, resync
#   cut-fail          [stall+]cut; fence-peer exits 1 (the Primary stays
#                     frozen); the Primary is killed (-9), the Secondary
#                     promoted as an operator would and written to; heal,
#                     old Primary restarted and resynced (resource-only:
#                     it wrote alone after the cut, a split brain the
#                     operator resolves with connect --discard-my-data)
#   kill-primary      kill -9 the Primary; promote the Secondary, write;
#                     restart the old one
#   kill-secondary    kill -9 the Secondary; fence-peer exits 7; restart
#   cut-heal          [stall+]cut; fence-peer is held; the link heals, the
#                     peer is back, then the held run exits 1 (ignored)
#   switchover        stop the client, demote, promote the other node
#   restart-primary   kill -9 the Primary, restart it, promote either node
#   crash-both        kill -9 both, restart both, promote either node
# After every failover the checker reads the new Primary (protocol C: no
# acknowledged write lost; A and B: a prefix of the epoch order); after
# every resync that reports success both data areas must be identical and
# the Primary is checked again (a dead write must not come back). A node
# that served the writes itself is held to the C rule in every protocol.
#
# One seed drives every choice and is printed: TORTURE_SEED=S reproduces
# the same sequence of actions (TORTURE_PLAN_ONLY=1 prints it without
# running). Environment: ROUNDS (default 6: the bounded run of make
# check), TORTURE_SEED (default 367: its first 6 rounds use 6 of the 8
# actions, both spans, slow links, and open with 256 KiB x 32 writes over
# a slow link stalled and cut), TORTURE_PROTO (A, B or C; default C),
# TORTURE_KEEP_GOING=1 (count violations and go on instead of failing at
# the first one: the long run, make torture), TORTURE_ACTIONS (a subset of
# the actions to draw from).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/netlib.sh"
. "$(dirname "$0")/resynclib.sh"

ROUNDS=${ROUNDS:-6}
SEED=${TORTURE_SEED:-367}
PROTO=${TORTURE_PROTO:-C}
KEEP_GOING=${TORTURE_KEEP_GOING:-0}
case "$PROTO" in A | B | C) ;; *) echo "TORTURE_PROTO must be A, B or C" >&2; exit 2 ;; esac
case "$SEED$ROUNDS" in *[!0-9]*) echo "TORTURE_SEED and ROUNDS are numbers" >&2; exit 2 ;; esac

SIZE=$((64 * M))
REGION=$((48 * M))
FENCING=resource-and-stonith
[ "$PROTO" = A ] && FENCING=resource-only
ACTIONS=(cut-stonith-peer cut-stonith-peer cut-fail cut-fail cut-fail kill-primary
	kill-primary kill-secondary kill-secondary cut-heal cut-heal switchover
	restart-primary crash-both)
# TORTURE_ACTIONS="a b ...": draw from these actions only (to dwell on
# one failure; the seed then gives another, equally fixed, sequence).
if [ -n "${TORTURE_ACTIONS:-}" ]; then
	for a in $TORTURE_ACTIONS; do
		case " ${ACTIONS[*]} " in *" $a "*) ;; *) echo "TORTURE_ACTIONS: no action '$a'" >&2; exit 2 ;; esac
	done
	read -r -a ACTIONS <<<"$TORTURE_ACTIONS"
fi
BSS=(4096 65536 262144 262144)
QDS=(8 16 32)
FLUSHES=(0 8 32)
RATES=(20mbit 100mbit)

# rng N: RNG_V = the next number in [0, N) from the seed (an LCG in
# shell arithmetic: the same seed gives the same numbers everywhere; never
# called in a subshell, whose draws would be lost).
RNG=$((SEED % 2147483648))
rng() {
	RNG=$(((RNG * 1103515245 + 12345) % 2147483648))
	RNG_V=$(((RNG >> 8) % $1))
}

# plan_round: draw this round's action and parameters; only the seed and
# the rounds before decide them.
plan_round() {
	rng ${#ACTIONS[@]}; ACT=${ACTIONS[$RNG_V]}
	rng ${#BSS[@]}; BS=${BSS[$RNG_V]}
	rng ${#QDS[@]}; QD=${QDS[$RNG_V]}
	rng ${#FLUSHES[@]}; FL=${FLUSHES[$RNG_V]}
	rng 10; SLOW=
	[ "$RNG_V" -lt 3 ] && { rng ${#RATES[@]}; SLOW=${RATES[$RNG_V]}; }
	rng 2; STALL=$RNG_V
	rng 10; HOOK_S=0.$((RNG_V + 1))
	rng 2; NEWPRI=$PRI
	[ "$RNG_V" = 1 ] && NEWPRI=$SEC
	rng 2; SPAN_OFF=0 SPAN_LEN=$REGION
	if [ "$RNG_V" = 1 ]; then
		SPAN_LEN=$((16 * M))
		rng $(((REGION - SPAN_LEN) / (4 * M) + 1)); SPAN_OFF=$((RNG_V * 4 * M))
	fi
	PLAN="$ACT on $PRI/$SEC, writer ${BS}B x$QD flush/$FL over $((SPAN_LEN / M))M@$((SPAN_OFF / M))M${SLOW:+, link $SLOW}"
	case "$ACT" in cut-*) [ "$STALL" = 1 ] && PLAN="$PLAN, stall first" ;; esac
	case "$ACT" in restart-primary | crash-both) PLAN="$PLAN, then $NEWPRI promoted" ;; esac
}

# plan_next: the Primary after the round (actions always end this way
# when they succeed).
plan_next() {
	case "$ACT" in
	cut-fail | kill-primary | switchover) PRI=$SEC ;;
	restart-primary | crash-both) PRI=$NEWPRI ;;
	esac
	SEC=$(pair_peer_of "$PRI")
}

if [ "${TORTURE_PLAN_ONLY:-0}" = 1 ]; then
	PRI=alice SEC=bob
	echo "seed $SEED, protocol $PROTO, $ROUNDS rounds"
	for ROUND in $(seq 1 "$ROUNDS"); do
		plan_round
		echo "round $ROUND: $PLAN"
		plan_next
	done
	exit 0
fi

bt_init $((90 + ROUNDS * 50))

VIOL=0 LOST=0 CHECKS=0 FORCED=0 DIVERGED=0 STALLS=0 SPLITS=0
declare -A ACT_COUNT=()
REPRO="TORTURE_SEED=$SEED TORTURE_PROTO=$PROTO ROUNDS=\$ROUND tests/integration/t_torture_partition.sh"

# violation MSG: the first one fails the run (seed and round named),
# unless TORTURE_KEEP_GOING.
violation() {
	VIOL=$((VIOL + 1))
	echo "VIOLATION seed $SEED round $ROUND ($PLAN): $*"
	[ "$KEEP_GOING" = 1 ] && return 0
	bt_fail "seed $SEED, protocol $PROTO, round $ROUND of $ROUNDS ($PLAN): $* (reproduce: ${REPRO/\$ROUND/$ROUND})"
}

# check NODE PROTO WHAT: the checker on NODE's export; commits its view.
check() {
	CHECKS=$((CHECKS + 1))
	if net_ck_verify "$1" "$2" "round $ROUND: $3" --commit; then
		bt_log "$NET_CK_SUMMARY"
		return
	fi
	case "${NET_CK_LOST:-0}" in *[!0-9]*) ;; *) LOST=$((LOST + NET_CK_LOST)) ;; esac
	violation "$(printf '%s\n' "$NET_CK_REPORT" | head -n 5 | tr '\n' '|')"
}

# identical: after a resync that reported success, both data areas match;
# if not (and going on), the Secondary is recopied so later rounds judge
# their own writes.
identical() {
	local diff
	diff=$(pair_diff_blocks "$(pair_get "$PRI" size_bytes)")
	[ -z "$diff" ] && return 0
	DIVERGED=$((DIVERGED + 1))
	violation "data areas differ after a resync that reported success: $(echo "$diff" | wc -w) blocks of 4 KiB, first $(echo "$diff" | cut -d' ' -f1-5)"
	pair_ok "$SEC" invalidate
	if [ "$(pair_get "$PRI" role)" = Primary ]; then
		pair_wait_synced "$PRI" 90
	else
		rl_wait_secondaries_synced 90
	fi
}

SYNCED_P='s["role"] == "Primary" and s["disk"] == "UpToDate" and p["connection"] == "Connected" and p["role"] == "Secondary" and p["disk"] == "UpToDate" and p["replication"] == "Established" and p["out_of_sync_bytes"] == 0'
SYNCED_S='s["role"] == "Secondary" and s["disk"] == "UpToDate" and p["connection"] == "Connected" and p["disk"] == "UpToDate" and p["replication"] == "Established" and p["out_of_sync_bytes"] == 0'

# wait_synced NODE|- DEADLINE_S: NODE Primary and the other Secondary
# (with -: both Secondary), connected, nothing out of sync. A resync that
# does not finish in time is a violation (a stall); going on, the
# Secondary is restarted to get the pair moving again.
wait_synced() {
	local a b ea eb out
	if [ "$1" = - ]; then
		a=alice b=bob ea=$SYNCED_S eb=$SYNCED_S
	else
		a=$1 b=$(pair_peer_of "$1") ea=$SYNCED_P eb=$SYNCED_S
	fi
	out=$(rl_poll "$a" "$2" "$ea") && out=$(rl_poll "$b" 10 "$eb") && return 0
	STALLS=$((STALLS + 1))
	if [ -n "$NET_CK_PID" ] && bt_pid_running "$NET_CK_PID"; then
		out="$out; writer s$NET_CK_SESSION still running, $(net_ck_acks) acknowledged"
	else
		out="$out; $(tail -n 1 "$NET_CK_DIR/writers.out")"
	fi
	violation "not in sync within ${2}s (last: $out)"
	# Going on: the client stops (its writes in flight stay unknown) and
	# the Secondary restarts; if the Primary is wedged (writes that never
	# complete keep the resync off their blocks), it restarts too and is
	# promoted again.
	net_ck_stop 2
	kill_node "$b"
	net_start "$b"
	if [ "$1" = - ]; then
		rl_wait_secondaries_synced 90
		return
	fi
	out=$(rl_poll "$a" 60 "$ea") && out=$(rl_poll "$b" 10 "$eb") && return 0
	bt_log "round $ROUND: still not in sync after restarting $b ($out); restarting $a too"
	kill_node "$a"
	net_start "$a"
	rl_wait_secondaries_synced 90
	promote "$a"
	check "$a" "$PROTO" "$a promoted again after its resync hung"
	pair_wait_synced "$a" 30
}

# promote NODE: as an operator would: plain `primary`, --force only if
# that is refused (counted and logged). With the peer away, `primary` runs
# fence-peer first: the peer is down (killed), so the hook answers 7, as
# a STONITH hook that finds it powered off does.
promote() {
	local out
	hook_for "$1" 7 0
	if ! out=$(pair_ctl "$1" primary 2>&1); then
		FORCED=$((FORCED + 1))
		bt_log "round $ROUND: 'primary' on $1 refused ($out); using --force"
		pair_ok "$1" primary --force
	fi
	pair_wait "$1" 10 "$1 Primary" 's["role"] == "Primary"'
}

hook_for() { # NODE RC SLEEP STONITH_PID WAIT_FILE
	net_hook_set fence-peer rc "$2" "$1"
	net_hook_set fence-peer sleep "$3" "$1"
	net_hook_set fence-peer stonith "${4:--}" "$1"
	net_hook_set fence-peer wait "${5:--}" "$1"
}

stall_and_cut() {
	local q
	if [ "$STALL" = 1 ]; then
		net_stall "$PRI" || bt_fail "tc tbf on $PRI's veth end failed"
		# Frames held on the link before the cut drops them: at least
		# one write's worth (16 KiB for the larger ones: TCP's window
		# caps what can queue behind a stalled link - a sanitizer run
		# once stopped at 31308 bytes of a 32 KiB wait).
		q=$BS
		[ "$q" -gt $((16 * 1024)) ] && q=$((16 * 1024))
		net_wait_backlog "$PRI" "$q" 10
	fi
	net_cut
}

# more_writes: the writer goes on (K more acknowledged), unless a stall
# recovery (wait_synced) stopped it.
more_writes() {
	[ -n "$NET_CK_PID" ] || return 0
	net_ck_wait_acks $(($(net_ck_acks) + WARM)) 30
}

kill_node() { # NODE
	bt_daemon_kill9 "$1"
	bt_log "round $ROUND: $1 killed (-9)"
}

writer_gone() { # the writer's node died: it ends by itself
	bt_wait_exit "$NET_CK_PID" 30 || bt_fail "round $ROUND: the writer did not end after its node died"
	net_ck_stop
}

fence_end_wait() { # NODE COUNT_BEFORE
	[ "$FENCING" = dont-care ] && return 0
	net_hook_wait end fence-peer $(($2 + 1)) 30 "$1"
}

# finish_no_failover: the node that served the writes stays Primary: stop
# the writer, wait for the pair to be in sync, compare, check (C rule:
# it is the node the client wrote to).
finish_no_failover() {
	net_ck_stop
	wait_synced "$PRI" 30
	identical
	check "$PRI" C "$PRI, still Primary after $ACT"
}

# split_brain_by_design OLD NEW: under resource-only a cut does not
# freeze the old Primary: it went on writing alone while NEW was promoted
# and written to, which is a split brain, refused on reconnect. The
# operator drops OLD's changes (README: `connect --discard-my-data`
# there, `connect` on the survivor). Under resource-and-stonith this must
# not happen: the run waits for the resync and fails if it never comes.
split_brain_by_design() {
	[ "$FENCING" = resource-only ] || return 0
	rl_poll "$2" 20 'p["connection"] == "StandAlone" or (p["connection"] == "Connected" and p["replication"] != "Off")' >/dev/null ||
		return 0
	[ "$(pair_get "$2" peer.connection)" = StandAlone ] || return 0
	SPLITS=$((SPLITS + 1))
	bt_log "round $ROUND: split brain after a resource-only cut, as designed: $1's changes discarded"
	pair_ok "$1" connect --discard-my-data
	pair_ok "$2" connect
}

# write_on_new NODE: the application goes on on the new Primary before
# the old one returns (a new writer session, stopped again).
write_on_new() {
	net_ck_writer "$1" "$BS" "$QD" "$FL" $((SEED * 1000 + ROUND + 500)) 600 "$SPAN_OFF" "$SPAN_LEN"
	net_ck_wait_acks "$WARM" 30
	net_ck_stop
}

# after_failover OLD: the new Primary ($SEC) was checked and written to;
# OLD is back: wait for the resync, compare, check the Primary again (C
# rule: the writes since the failover check were its own).
after_failover() {
	split_brain_by_design "$1" "$SEC"
	wait_synced "$SEC" 45
	identical_as "$SEC"
	check "$SEC" C "$SEC after $1 was resynced from it"
}

identical_as() { local PRI=$1 SEC; SEC=$(pair_peer_of "$1"); identical; }

act_cut_stonith_peer() {
	local f0
	f0=$(net_hook_count end fence-peer "$PRI")
	hook_for "$PRI" 7 "$HOOK_S" "${BT_PIDS[$SEC]}"
	stall_and_cut
	fence_end_wait "$PRI" "$f0"
	bt_wait_exit "${BT_PIDS[$SEC]}" 10 || bt_fail "round $ROUND: fence-peer did not kill $SEC"
	wait "${BT_PIDS[$SEC]}" 2>/dev/null
	unset "BT_PIDS[$SEC]"
	pair_wait "$PRI" 10 "I/O resumed after fence-peer exit 7" 's["io_frozen"] is False'
	more_writes
	net_heal
	net_start "$SEC"
	finish_no_failover
}

act_cut_fail() {
	local f0
	f0=$(net_hook_count end fence-peer "$PRI")
	hook_for "$PRI" 1 "$HOOK_S"
	stall_and_cut
	fence_end_wait "$PRI" "$f0"
	if [ "$FENCING" = resource-and-stonith ] && [ "$(pair_get "$PRI" io_frozen)" != true ]; then
		violation "$PRI not frozen after fence-peer exit 1"
	fi
	kill_node "$PRI"
	writer_gone
	pair_wait "$SEC" 10 "peer loss noticed" 'p["connection"] != "Connected"'
	promote "$SEC"
	check "$SEC" "$PROTO" "$SEC promoted after $PRI was STONITHed"
	write_on_new "$SEC"
	net_heal
	net_start "$PRI"
	after_failover "$PRI"
}

act_kill_primary() {
	kill_node "$PRI"
	writer_gone
	pair_wait "$SEC" 10 "peer loss noticed" 'p["connection"] != "Connected"'
	promote "$SEC"
	check "$SEC" "$PROTO" "$SEC promoted after $PRI died"
	write_on_new "$SEC"
	net_start "$PRI"
	after_failover "$PRI"
}

act_kill_secondary() {
	local f0
	f0=$(net_hook_count end fence-peer "$PRI")
	hook_for "$PRI" 7 "$HOOK_S"
	kill_node "$SEC"
	fence_end_wait "$PRI" "$f0"
	pair_wait "$PRI" 10 "I/O resumed after fence-peer exit 7" 's["io_frozen"] is False'
	more_writes
	net_start "$SEC"
	finish_no_failover
}

act_cut_heal() {
	local s0 e0 stalls0=$STALLS
	s0=$(net_hook_count start fence-peer "$PRI")
	e0=$(net_hook_count end fence-peer "$PRI")
	hook_for "$PRI" 1 0 "" "$NET_HOOK_DIR/release-$ROUND"
	stall_and_cut
	net_hook_wait start fence-peer $((s0 + 1)) 20 "$PRI"
	[ "$FENCING" = resource-and-stonith ] &&
		pair_wait "$PRI" 10 "frozen while fence-peer runs" 's["io_frozen"] is True'
	net_heal
	wait_synced "$PRI" 30
	net_hook_release "release-$ROUND"
	# After a hung resync's recovery the held run may have been killed at
	# hook-timeout-ms: it records no end then.
	[ "$STALLS" != "$stalls0" ] || net_hook_wait end fence-peer $((e0 + 1)) 10 "$PRI"
	more_writes
	pair_wait "$PRI" 5 "not frozen: the peer is back" 's["io_frozen"] is False'
	finish_no_failover
}

act_switchover() {
	local end=$((SECONDS + 15))
	net_ck_stop
	wait_synced "$PRI" 30
	# The client's disconnect reaches the daemon asynchronously.
	until pair_ctl "$PRI" secondary >/dev/null 2>&1; do
		[ "$SECONDS" -ge "$end" ] && bt_fail "round $ROUND: 'secondary' on $PRI refused for 15s"
		sleep 0.1
	done
	# The operator promotes once the other node shows the demotion.
	pair_wait "$SEC" 10 "peer demoted" 'p["role"] == "Secondary"'
	promote "$SEC"
	wait_synced "$SEC" 30
	identical_as "$SEC"
	check "$SEC" C "$SEC after a switchover"
}

act_restart_primary() {
	kill_node "$PRI"
	writer_gone
	net_start "$PRI"
	wait_synced - 45
	identical
	promote "$NEWPRI"
	check "$NEWPRI" "$PROTO" "$NEWPRI promoted after $PRI restarted"
	wait_synced "$NEWPRI" 30
}

act_crash_both() {
	kill_node "$PRI"
	kill_node "$SEC"
	writer_gone
	net_start "$PRI"
	net_start "$SEC"
	wait_synced - 45
	identical
	promote "$NEWPRI"
	check "$NEWPRI" "$PROTO" "$NEWPRI promoted after both crashed"
	wait_synced "$NEWPRI" 30
}

net_init
net_hook_install
net_pair_setup "$PROTO" "$SIZE" "fencing = $FENCING" "fence-peer = $NET_HOOK" \
	'al-extents = 7' 'ping-timeout-ms = 2000'
net_start alice
net_start bob
pair_wait_connected 20
pair_promote_first alice 60
net_ck_init 0 "$REGION"
PRI=alice SEC=bob
echo "torture: seed $SEED, protocol $PROTO, fencing $FENCING, $ROUNDS rounds"
t0=$SECONDS
for ROUND in $(seq 1 "$ROUNDS"); do
	plan_round
	echo "round $ROUND/$ROUNDS: $PLAN"
	for n in alice bob; do hook_for "$n" 0 0; done
	[ -n "$SLOW" ] && { net_slow "$PRI" "$SLOW" || bt_fail "tc tbf (rate $SLOW) on $PRI failed"; }
	net_ck_writer "$PRI" "$BS" "$QD" "$FL" $((SEED * 1000 + ROUND)) 600 "$SPAN_OFF" "$SPAN_LEN"
	WARM=$((2 * M / BS + 16))
	net_ck_wait_acks "$WARM" 30
	"act_${ACT//-/_}"
	net_heal
	ACT_COUNT[$ACT]=$((${ACT_COUNT[$ACT]:-0} + 1))
	plan_next
	bt_log "round $ROUND done at $((SECONDS - t0))s; Primary now $PRI"
done

hist=$(for a in "${!ACT_COUNT[@]}"; do echo "$a ${ACT_COUNT[$a]}"; done | sort | tr '\n' ',' | sed 's/,$//; s/,/, /g')
summary="seed $SEED, protocol $PROTO, $ROUNDS rounds in $((SECONDS - t0))s ($hist): $CHECKS checks, $LOST acknowledged writes lost, $DIVERGED divergences, $STALLS resyncs that did not finish"
[ "$FORCED" = 0 ] || summary="$summary, $FORCED promotions needed --force"
[ "$SPLITS" = 0 ] || summary="$summary, $SPLITS split brains resolved by hand (resource-only)"
echo "torture: $summary"
[ "$VIOL" = 0 ] || bt_fail "$VIOL violations: $summary"
bt_pass "$summary"
