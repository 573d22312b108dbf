#!/bin/bash
# Every refusal a user can run into, with its exit status and its reason:
#   primary on an Inconsistent disk without --force       -> 1, "Inconsistent"
#   primary (and primary --force) while the peer is Primary -> 1, "peer ... is Primary"
#   secondary while an NBD client is connected            -> 1, "NBD client"
#   NBD GO on a Secondary                                 -> error naming "Secondary"
#   blockctl against a socket nobody listens on           -> 3
#   protocol X (bogus)                                    -> non-zero, protocol unchanged
# and what must work: protocol B switched live (status shows B, writes still
# replicate), secondary once the client is gone, both exports refused then.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
bt_init 90

M=$((1024 * 1024))
HOLD_PID=

# nbd_go_refused NODE: a libnbd client must fail to connect, and the
# server's error message (which libnbd passes on only to its debug log)
# must name the Secondary role.
nbd_go_refused() {
	local out
	out=$(/usr/bin/python3 - "$(pair_uri "$1")" 2>/dev/null <<'EOF'
import sys
import nbd
msgs = []
h = nbd.NBD()
h.set_debug(True)
h.set_debug_callback(lambda ctx, msg: msgs.append(msg))
try:
    h.connect_uri(sys.argv[1])
except nbd.Error as e:
    server = [m for m in msgs if "server error message" in m]
    print(f"refused: {e}; {server[-1] if server else 'no server message'}")
    sys.exit(0 if server and "Secondary" in server[-1] else 3)
sys.exit(print("connected") or 2)
EOF
)
	case $? in
	0) bt_log "$1 NBD: $out" ;;
	2) bt_fail "an NBD client connected to $1 while it is Secondary" ;;
	*) bt_fail "NBD GO on $1 (Secondary) failed without naming the role: $out" ;;
	esac
}

pair_setup C $((32 * M))
pair_start alice
pair_start bob
pair_wait_connected 20
bt_expect_eq "$(pair_get alice disk)" Inconsistent "alice's disk on a fresh pair"

# Both Secondary: neither serves NBD.
nbd_go_refused alice
nbd_go_refused bob

# 1. Inconsistent without --force.
pair_refused alice 1 '^blockctl: primary: .*Inconsistent' primary
bt_expect_eq "$(pair_get alice role)" Secondary "alice's role after the refused promote"

# 2. The peer is Primary, with and without --force.
pair_promote_first alice 30
pair_refused bob 1 '^blockctl: primary: .*peer.*alice.* is Primary' primary
pair_refused bob 1 '^blockctl: primary: .*peer.*alice.* is Primary' primary --force
bt_expect_eq "$(pair_get bob role)" Secondary "bob's role after the refused promotes"
nbd_go_refused bob

# 3. secondary while a client holds an NBD connection to alice.
mkfifo "$BT_TMP/hold"
/usr/bin/python3 - "$(pair_uri alice)" "$BT_TMP/hold" >"$BT_TMP/hold.out" 2>&1 <<'EOF' &
import sys
import nbd
h = nbd.NBD()
h.connect_uri(sys.argv[1])
h.pwrite(b"held" * 1024, 0)
print("connected", flush=True)
open(sys.argv[2]).read()      # until the test closes its end
h.shutdown()
EOF
HOLD_PID=$!
bt_on_exit 'exec 9>&-; [ -n "$HOLD_PID" ] && bt_kill_pid "$HOLD_PID"'
exec 9<>"$BT_TMP/hold"	# read-write: never blocks, even if the client failed
pair_wait alice 10 "one NBD client" 's["nbd_connections"] == 1'
pair_refused alice 1 '^blockctl: secondary: .*NBD client' secondary
bt_expect_eq "$(pair_get alice role)" Primary "alice's role after the refused demote"
exec 9>&-
bt_wait_exit "$HOLD_PID" 10 || bt_fail "the holding NBD client did not end"
wait "$HOLD_PID" || bt_fail "the holding NBD client failed: $(cat "$BT_TMP/hold.out")"
HOLD_PID=

# 4. A bogus protocol is refused and changes nothing; B works live.
rc=0
err=$(pair_ctl alice protocol X 2>&1 >/dev/null) || rc=$?
[ "$rc" != 0 ] || bt_fail "blockctl protocol X exited 0"
bt_log "protocol X: exit $rc: $err"
bt_expect_eq "$(pair_get alice protocol)" C "protocol after the bogus switch"
pair_ok alice protocol B
bt_expect_eq "$(pair_get alice protocol)" B "alice's protocol after 'protocol B'"
bt_log "bob's protocol after alice switched to B: $(pair_get bob protocol)"
sent=$(pair_get alice peer.data_sent_bytes)
nbdsh -u "$(pair_uri alice)" -c 'h.pwrite(b"\x42" * 65536, 1048576); h.flush()' ||
	bt_fail "write under protocol B failed"
pair_wait alice 10 "pending writes drained under B" "p['pending_writes'] == 0 and p['data_sent_bytes'] == $sent + 65536"
pair_wait bob 10 "write received under B" "p['data_received_bytes'] >= $sent + 65536"

# Demote now that nobody is connected; then nobody serves NBD.
pair_wait alice 10 "no NBD clients" 's["nbd_connections"] == 0'
pair_ok alice secondary
bt_expect_eq "$(pair_get alice role)" Secondary "alice's role after secondary"
nbd_go_refused alice

# 5. No daemon behind the socket.
rc=0
err=$(timeout 10 "$BLOCKCTL" --control "$BT_TMP/nobody-here.ctl" status --json 2>&1 >/dev/null) || rc=$?
bt_expect_eq "$rc" 3 "blockctl exit status without a daemon ($err)"
rc=0
bt_daemon_stop bob
err=$(pair_ctl bob status 2>&1 >/dev/null) || rc=$?
bt_expect_eq "$rc" 3 "blockctl -c -n bob after bob stopped ($err)"
bt_daemon_stop alice
bt_pass
