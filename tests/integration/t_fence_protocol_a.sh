#!/bin/bash
# fencing = resource-and-stonith is never combined with protocol A (an
# acknowledged write could be lost when the Secondary is STONITHed):
#  - blockd refuses to start with it, from the config file and from a
#    --protocol A flag over a config that says C: non-zero exit within a few
#    seconds, a message naming resource-and-stonith, nothing listening;
#  - on a running resource-and-stonith pair, `blockctl protocol A` exits 1
#    with a message naming resource-and-stonith, on the Primary and on the
#    Secondary, and the protocol stays as it was; `protocol B` is accepted
#    (the command works), and A is refused from B too.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
NET_LOOPBACK=1
. "$(dirname "$0")/netlib.sh"
bt_init 60

SIZE=$((8 * M))
net_init
net_pair_setup C "$SIZE" 'fencing = resource-and-stonith'

# refused_start ID ARGS...: blockd ARGS must exit non-zero within 10 s and
# say why, naming the fencing policy.
refused_start() {
	local id=$1 rc
	shift
	bt_daemon_start "$id" "$@"
	bt_wait_exit "${BT_PIDS[$id]}" 10 || bt_fail "$id: blockd still running 10s after start ($*)"
	wait "${BT_PIDS[$id]}"
	rc=$?
	unset "BT_PIDS[$id]"
	[ "$rc" != 0 ] || bt_fail "$id: blockd exited 0 with resource-and-stonith and protocol A"
	grep -q 'resource-and-stonith' "$BT_TMP/$id.log" ||
		bt_fail "$id: exit $rc without a message naming resource-and-stonith: $(tail -3 "$BT_TMP/$id.log")"
	[ -e "$(pair_sock alice)" ] && bt_fail "$id: the refused daemon left an NBD socket"
	bt_log "$id: refused with exit $rc: $(grep -m1 'resource-and-stonith' "$BT_TMP/$id.log")"
}

sed 's/^protocol = C/protocol = A/' "$PAIR_CONF" >"$BT_TMP/proto-a.conf"
grep -q '^protocol = A' "$BT_TMP/proto-a.conf" || bt_fail "could not write the protocol A config"
refused_start start-conf -c "$BT_TMP/proto-a.conf" -n alice
refused_start start-flag -c "$PAIR_CONF" -n alice --protocol A

# The same config with protocol C runs; A is refused at run time.
net_start alice
net_start bob
pair_wait_connected 20
pair_promote_first alice 30
for n in alice bob; do
	pair_refused "$n" 1 'resource-and-stonith' protocol A
	bt_expect_eq "$(pair_get "$n" protocol)" C "$n: protocol after the refused change"
done
pair_ok alice protocol B
bt_expect_eq "$(pair_get alice protocol)" B "alice: protocol after 'protocol B'"
pair_refused alice 1 'resource-and-stonith' protocol A
bt_expect_eq "$(pair_get alice protocol)" B "alice: protocol after the refused change from B"
# Still replicating in B: a write on alice reaches bob.
timeout 10 /usr/bin/python3 -m nbd -u "$(pair_uri alice)" -c 'h.pwrite(b"\x77" * 4096, 0); h.flush()' ||
	bt_fail "a write on alice in protocol B failed"
pair_wait_synced alice 10

bt_daemon_stop alice
bt_daemon_stop bob
bt_pass "protocol A refused with resource-and-stonith at start and at run time"
