#!/bin/bash
# The Secondary's side of a partition under fencing = resource-only: the
# link between the namespaces is cut while alice is Primary.
#  - alice runs fence-peer once and, resource-only, keeps serving writes
#    (io_frozen false, a write completes while the hook runs); the hook's
#    exit 4 records the peer Outdated (peer_outdated true);
#  - on bob, `blockctl outdate` (what an outdate-peer hook runs there)
#    exits 0 and status shows disk Outdated;
#  - `blockctl primary` on bob exits 1 with a message naming Outdated;
#  - bob restarted (SIGTERM, start again, link still cut) is still
#    Outdated and still refuses `primary`;
#  - `primary --force` promotes it: role Primary, and its export takes a
#    write and reads it back.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/netlib.sh"
bt_init 90

SIZE=$((16 * M))

net_init
net_hook_install
net_pair_setup C "$SIZE" 'fencing = resource-only' "fence-peer = $NET_HOOK"
net_start alice
net_start bob
pair_wait_connected 20
pair_promote_first alice 30
bt_expect_eq "$(pair_get bob disk)" UpToDate "bob's disk before the cut"

# Held until the write below has completed: it is done while the hook
# runs, whatever the machine's speed.
net_hook_set fence-peer wait "$NET_HOOK_DIR/release"
net_hook_set fence-peer rc 4
net_cut
pair_wait bob 5 "peer lost" 'p["connection"] != "Connected"'
net_hook_wait start fence-peer 1 5 alice
bt_expect_eq "$(pair_get alice io_frozen)" false "alice io_frozen under resource-only"
timeout 5 /usr/bin/python3 -m nbd -u "$(pair_uri alice)" \
	-c 'h.pwrite(b"\x5a" * 4096, 8192); h.flush()' ||
	bt_fail "a write on alice did not complete while fence-peer ran (resource-only)"
bt_expect_eq "$(net_hook_count end fence-peer alice)" 0 "fence-peer runs ended before the write completed"
net_hook_release release
net_hook_wait end fence-peer 1 10 alice
pair_wait alice 5 "peer recorded Outdated after exit 4" 's["peer_outdated"] is True'

pair_ok bob outdate
bt_expect_eq "$(pair_get bob disk)" Outdated "bob's disk after outdate"
pair_refused bob 1 'Outdated' primary
bt_expect_eq "$(pair_get bob role)" Secondary "bob's role after the refused promotion"

bt_daemon_stop bob
net_start bob
bt_expect_eq "$(pair_get bob disk)" Outdated "bob's disk after a restart"
pair_refused bob 1 'Outdated' primary
bt_expect_eq "$(pair_get bob role)" Secondary "bob's role after the refused promotion (restarted)"

pair_ok bob primary --force
pair_wait bob 5 "Primary after --force" 's["role"] == "Primary"'
timeout 10 /usr/bin/python3 -m nbd -u "$(pair_uri bob)" -c '
h.pwrite(b"\xa5" * 4096, 0)
h.flush()
assert h.pread(4096, 0) == b"\xa5" * 4096' ||
	bt_fail "bob's export after primary --force did not take a write and read it back"
bt_expect_eq "$(net_hook_count start fence-peer)" 1 "fence-peer calls"

# Both are Primary now on two sides of a cut: end them without a heal.
bt_daemon_stop alice
bt_daemon_stop bob
bt_pass "bob Outdated across a restart, promotion refused until --force"
