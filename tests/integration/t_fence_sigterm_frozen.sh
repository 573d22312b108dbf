#!/bin/bash
# SIGTERM ends a Primary whose I/O is frozen by fencing: resource-and-stonith,
# the link between the namespaces is cut, fence-peer fails (exit 1), so
# alice is frozen (io_frozen true) with nothing in flight and no NBD client.
# SIGTERM must still end it cleanly: exit status 0 within 10 s and the
# "flushed; exiting" line, as for any SIGTERM with no request outstanding.
# Restarted without its peer, alice comes back with its data, Consistent:
# the fence never confirmed the peer outdated, so it cannot know it holds
# the newest generation.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/netlib.sh"
bt_init 60

net_init
net_hook_install
net_pair_setup C $((8 * M)) 'fencing = resource-and-stonith' "fence-peer = $NET_HOOK"
net_start alice
net_start bob
pair_wait_connected 20
pair_promote_first alice 30
timeout 10 /usr/bin/python3 -m nbd -u "$(pair_uri alice)" -c 'h.pwrite(b"\x3c" * 4096, 0); h.flush()' ||
	bt_fail "a write on alice failed before the cut"

net_hook_set fence-peer rc 1
net_cut
pair_wait alice 5 "io_frozen after the cut" 's["io_frozen"] is True'
net_hook_wait end fence-peer 1 5
bt_expect_eq "$(pair_get alice nbd_connections)" 0 "NBD clients on alice while frozen"

kill -TERM "${BT_PIDS[alice]}"
if ! bt_wait_exit "${BT_PIDS[alice]}" 10; then
	bt_fail "alice (frozen, nothing in flight) still running 10s after SIGTERM; its last lines: $(tail -n 4 "$BT_TMP/alice.log" | sed 's/^[0-9.]* //' | tr '\n' '|')"
fi
bt_daemon_reap alice 1 0
grep -q 'flushed; exiting' "$BT_TMP/alice.log" || bt_fail "alice did not log its final flush"

net_start alice
bt_expect_eq "$(pair_get alice disk)" Consistent "alice's disk after the restart"
bt_daemon_stop alice
bt_daemon_stop bob
bt_pass "a frozen Primary exits on SIGTERM"
