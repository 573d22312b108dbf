#!/bin/bash
# Which disk state a node restarted without its peer comes back in
# (protocol C, loopback):
#  1. a clean stop of both: each, restarted alone, is Consistent and
#     refuses a plain `primary`; started together they connect, both become
#     UpToDate with nothing to resync, and `primary` works again;
#  2. a Primary whose fence-peer hook answered 7 (peer STONITHed) recorded
#     its peer Outdated: restarted alone it is UpToDate and promotable;
#  3. a Consistent node meeting an Outdated peer becomes UpToDate and is
#     the sync source (rule equal-current-peer-outdated); the Outdated peer
#     ends UpToDate and the data areas are identical.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/netlib.sh"
bt_init 150

SIZE=$((32 * M))
NET_LOOPBACK=1
net_init
net_hook_install
net_pair_setup C "$SIZE" 'fencing = resource-and-stonith' "fence-peer = $NET_HOOK"
net_start alice
net_start bob
pair_wait_connected 20
pair_promote_first alice 30
nbdsh -u "$(pair_uri alice)" -c 'h.pwrite(b"\x5a" * (1 << 20), 4 << 20); h.flush()' ||
	bt_fail "writing through alice failed"

# 1. clean stop of both
bt_daemon_stop alice
bt_daemon_stop bob
for n in alice bob; do
	net_start "$n"
	bt_expect_eq "$(pair_get "$n" disk)" Consistent "$n's disk, restarted alone after a clean stop"
	pair_refused "$n" 1 'Consistent' primary
	bt_daemon_stop "$n"
done
net_start alice
net_start bob
pair_wait_connected 20
for n in alice bob; do
	pair_wait "$n" 20 "$n UpToDate after the handshake" \
		's["disk"] == "UpToDate" and p["disk"] == "UpToDate" and p["replication"] == "Established" and p["out_of_sync_bytes"] == 0'
done
pair_ok alice primary

# 2. fence-peer exit 7 is recorded: alice may restart alone UpToDate
net_hook_set fence-peer rc 7
bt_daemon_kill9 bob
pair_wait alice 20 "bob fenced" 's["peer_outdated"] is True and s["io_frozen"] is False'
bt_daemon_stop alice
net_start alice
bt_expect_eq "$(pair_get alice disk)" UpToDate "alice's disk, restarted alone after fencing bob"
pair_ok alice primary
pair_ok alice secondary
bt_daemon_stop alice

# 3. Consistent (alice, restarted alone without the peer-outdated flag:
# connect bob first so the flag is cleared) against an Outdated bob.
net_start alice
net_start bob
pair_wait_connected 20
pair_wait alice 30 "alice and bob in sync" \
	's["disk"] == "UpToDate" and p["disk"] == "UpToDate" and p["replication"] == "Established" and p["out_of_sync_bytes"] == 0 and s["peer_outdated"] is False'
bt_daemon_stop alice
# A disk is not outdated while connected (DRBD refuses it too).
pair_wait bob 10 "bob saw alice go" 'p["connection"] != "Connected"'
pair_ok bob outdate
bt_expect_eq "$(pair_get bob disk)" Outdated "bob after outdate"
bt_daemon_stop bob
net_start alice
bt_expect_eq "$(pair_get alice disk)" Consistent "alice's disk before meeting Outdated bob"
net_start bob
pair_wait alice 30 "alice UpToDate as the source of Outdated bob" \
	's["disk"] == "UpToDate" and p["disk"] == "UpToDate" and p["replication"] == "Established"'
pair_wait bob 30 "bob UpToDate" 's["disk"] == "UpToDate"'
net_log_has alice 'sync decision: source-bitmap \(rule equal-current-peer-outdated' ||
	bt_fail "alice's decision: $(grep 'sync decision' "$BT_TMP/alice.log" | tail -1)"
diff=$(pair_diff_blocks "$(pair_get alice size_bytes)")
[ -z "$diff" ] || bt_fail "data areas differ: $(echo $diff | cut -c1-200)"
bt_pass "clean stop: Consistent alone, UpToDate together; fenced peer recorded; Consistent over Outdated"
