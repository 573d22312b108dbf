#!/bin/bash
# Two operators promote both nodes of a connected pair at the same moment
# (protocol C, loopback). Each node, alone, sees a Secondary peer, so each
# would promote itself: two Primaries, a split brain made by the pair
# itself. A promotion of a connected node asks its peer first (DRBD's
# cluster-wide state change): exactly one of the two commands succeeds,
# the other is refused with the reason, and the pair stays connected and
# in sync. Both daemons are stopped while the two requests are queued on
# their control sockets and resumed together, so neither has seen the
# other's promotion when it handles its own. Several rounds, so the
# loser is sometimes alice and sometimes bob.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
bt_init 180

M=$((1024 * 1024))
ROUNDS=6

pair_setup C $((16 * M))
pair_start alice
pair_start bob
pair_wait_connected 20
pair_promote_first alice 60
pair_ok alice secondary
pair_wait bob 10 "alice Secondary" 'p["role"] == "Secondary" and p["replication"] == "Established"'

# promote_both: one JSON request on each control socket while both
# daemons are stopped, then both resumed; prints "alice:ok|error bob:..."
promote_both() {
	/usr/bin/python3 - "$(pair_ctlsock alice)" "$(pair_ctlsock bob)" \
		"${BT_PIDS[alice]}" "${BT_PIDS[bob]}" <<'EOF'
import json, os, signal, socket, sys
ctl = sys.argv[1:3]
pids = [int(p) for p in sys.argv[3:5]]
socks = []
for p in pids:
    os.kill(p, signal.SIGSTOP)
try:
    for path in ctl:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(20)
        s.connect(path)
        s.sendall(b'{"cmd": "primary"}\n')
        socks.append(s)
finally:
    for p in pids:
        os.kill(p, signal.SIGCONT)
out = []
for name, s in zip(("alice", "bob"), socks):
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        buf += chunk
    r = json.loads(buf)
    out.append(f"{name}:" + ("ok" if "error" not in r else "error:" + r["error"]))
print("|".join(out))
EOF
}

winners=""
for round in $(seq 1 $ROUNDS); do
	res=$(promote_both) || bt_fail "round $round: the promotion requests failed: $res"
	bt_log "round $round: $res"
	a=$(pair_get alice role)
	b=$(pair_get bob role)
	case "$a/$b" in
	Primary/Secondary) win=alice lose=bob ;;
	Secondary/Primary) win=bob lose=alice ;;
	*) bt_fail "round $round: roles after two concurrent promotions: alice $a, bob $b ($res); log: $(grep -E 'split brain|promot' "$BT_TMP"/*.log | tail -4 | tr '\n' '|')" ;;
	esac
	case "$res" in
	*"$win:ok"*"$lose:error:"* | *"$lose:error:"*"$win:ok"*) ;;
	*) bt_fail "round $round: $win became Primary but the answers were: $res" ;;
	esac
	printf '%s\n' "$res" | grep -q "$lose:error:.*Primary" ||
		bt_fail "round $round: the refusal does not say why: $res"
	pair_wait_synced "$win" 20
	# The pair still replicates: a write on the winner reaches the loser.
	nbdsh -u "$(pair_uri "$win")" -c "h.pwrite(bytes([$round]) * 4096, $round * 4096); h.flush()" ||
		bt_fail "round $round: writing through $win failed"
	pair_ok "$win" secondary
	pair_wait "$lose" 10 "$win Secondary" 'p["role"] == "Secondary" and p["replication"] == "Established" and s["disk"] == "UpToDate"'
	winners="$winners $win"
done
diff=$(pair_diff_blocks "$(pair_get alice size_bytes)")
[ -z "$diff" ] || bt_fail "data areas differ after the rounds: $(echo $diff | cut -c1-120)"
! grep -q 'split brain' "$BT_TMP/alice.log" "$BT_TMP/bob.log" ||
	bt_fail "a split brain was logged: $(grep -h 'split brain' "$BT_TMP"/*.log | head -2)"
bt_pass "$ROUNDS rounds of concurrent promotions: one Primary each time (winners:$winners), no split brain"
