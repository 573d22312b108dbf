#!/bin/bash
# `blockctl events` streams state changes as JSON lines: the first line is
# the current state (no "event"), every later line a whole status object
# with an "event" field. Watched on both nodes of a fresh pair: promoting
# alice yields an event with role Primary on alice and one with the peer
# Primary on bob, the resync ends with bob UpToDate; demoting alice, a
# protocol switch and bob's death show up too. A stream ends when its
# daemon exits.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
bt_init 60

declare -A EV_PID=() EV_MARK=([alice]=1 [bob]=1)

# events_start NODE: blockctl events in the background into NODE.events.
events_start() {
	timeout 50 "$BLOCKCTL" -c "$(pair_conf_of "$1")" -n "$1" events >"$BT_TMP/$1.events" 2>"$BT_TMP/$1.events.err" &
	EV_PID[$1]=$!
	bt_on_exit "bt_kill_pid ${EV_PID[$1]}"
}

# events_mark: later waits look only at lines that arrive from now on.
events_mark() {
	local n
	for n in alice bob; do
		EV_MARK[$n]=$(grep -c '' "$BT_TMP/$n.events")
	done
}

# events_wait NODE WHAT EXPR: a line of NODE's stream after the last mark
# for which the Python expression EXPR holds (e = the event object, p = its
# peer) appears within 10s. Every line so far must be JSON, and every line
# after the first must carry an "event" string.
events_wait() {
	local out
	out=$(/usr/bin/python3 - "$BT_TMP/$1.events" "$3" "${EV_MARK[$1]}" <<'EOF'
import json, sys, time
path, expr, mark = sys.argv[1:]
end = time.monotonic() + 10
while True:
    lines = open(path).read().split("\n")
    complete = lines[:-1]          # the last piece may be half-written
    for i, line in enumerate(complete):
        try:
            e = json.loads(line)
        except ValueError:
            sys.exit(print(f"line {i + 1} is not JSON: {line[:200]!r}") or 2)
        if i == 0:
            if "event" in e:
                sys.exit(print(f"first line carries an event: {line[:200]!r}") or 2)
            continue
        if not isinstance(e.get("event"), str):
            sys.exit(print(f"line {i + 1} has no \"event\": {line[:200]!r}") or 2)
        if i >= int(mark) and eval(expr, {"e": e, "p": e.get("peer") or {}}):
            print(e["event"])
            sys.exit(0)
    if time.monotonic() > end:
        evs = [json.loads(l).get("event", "(state)") for l in complete[int(mark):]]
        sys.exit(print(f"seen: {', '.join(evs) or 'no lines'}") or 1)
    time.sleep(0.05)
EOF
) || bt_fail "$1 events: $2: $out"
	bt_log "$1 events: $2: event '$out'"
}

pair_setup C $((32 * 1024 * 1024))
pair_start alice
pair_start bob
pair_wait_connected 20
events_start alice
events_start bob

# The first line is the current state.
end=$((SECONDS + 10))
until [ -s "$BT_TMP/alice.events" ] && [ -s "$BT_TMP/bob.events" ]; do
	bt_pid_running "${EV_PID[alice]}" || bt_fail "blockctl events on alice exited: $(cat "$BT_TMP/alice.events.err")"
	bt_pid_running "${EV_PID[bob]}" || bt_fail "blockctl events on bob exited: $(cat "$BT_TMP/bob.events.err")"
	[ "$SECONDS" -ge "$end" ] && bt_fail "no first line from blockctl events within 10s"
	sleep 0.05
done
first=$(head -n 1 "$BT_TMP/alice.events" | /usr/bin/python3 -c '
import json, sys
e = json.load(sys.stdin)
print(e["node"], e["role"], e["disk"], e["peer"]["connection"])') || bt_fail "first events line is not a status object"
bt_expect_eq "$first" "alice Secondary Inconsistent Connected" "first events line (node role disk peer.connection)"

events_mark
pair_ok alice primary --force
events_wait alice "promotion" 'e["role"] == "Primary" and e["node"] == "alice"'
events_wait bob "peer promoted" 'p["role"] == "Primary"'
events_wait bob "resync done" 'e["disk"] == "UpToDate" and p["replication"] == "Established"'
events_wait alice "peer UpToDate" 'p["disk"] == "UpToDate" and p["replication"] == "Established"'

events_mark
pair_ok alice protocol A
events_wait alice "protocol switch" 'e["protocol"] == "A"'

events_mark
pair_ok alice secondary
events_wait alice "demotion" 'e["role"] == "Secondary" and "role" in e["event"]'
events_wait bob "peer demoted" 'p["role"] == "Secondary"'

events_mark
bt_daemon_kill9 bob
events_wait alice "peer lost" 'p["connection"] != "Connected"'

# The stream ends with its daemon.
bt_daemon_stop alice
bt_wait_exit "${EV_PID[alice]}" 10 || bt_fail "blockctl events on alice still running after alice exited"
bt_wait_exit "${EV_PID[bob]}" 10 || bt_fail "blockctl events on bob still running after bob was killed"
bt_pass "$(wc -l <"$BT_TMP/alice.events") lines on alice, $(wc -l <"$BT_TMP/bob.events") on bob"
