#!/bin/bash
# 'invalidate' discards this node's data and fetches it from the peer: it
# needs a peer that has the data (protocol C, loopback). alice and bob are
# synced Secondaries; bob detaches his disk (Diskless, still connected,
# replication Established). 'invalidate --bitmap' and 'invalidate' on
# alice must be refused, naming the peer's disk state, and alice's disk
# stay UpToDate: before, 'invalidate --bitmap' made alice the SyncTarget of
# a peer without a disk (alice Inconsistent: the only good copy given up),
# and a plain 'invalidate' answered ok and did nothing. 'invalidate-remote'
# (with and without --bitmap) toward the Diskless bob is refused too: there
# is no disk to write to (before, a resync started whose every chunk bob
# failed). Then bob attaches
# again and is resynced in full from alice; both data areas end identical.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
bt_init 120

M=$((1024 * 1024))

pair_setup C $((16 * M))
pair_start alice
pair_start bob
pair_wait_connected 20
pair_promote_first alice 60
nbdsh -u "$(pair_uri alice)" -c 'h.pwrite(b"\x5a" * (1 << 20), 2 << 20); h.flush()' ||
	bt_fail "writing through alice failed"
pair_ok alice secondary
pair_wait bob 10 "alice Secondary, in sync" \
	'p["role"] == "Secondary" and s["disk"] == "UpToDate" and p["replication"] == "Established"'

pair_ok bob detach
pair_wait alice 20 "alice sees bob Diskless" \
	'p["disk"] == "Diskless" and p["replication"] == "Established"'

pair_refused alice 1 "peer bob .*Diskless" invalidate --bitmap
pair_refused alice 1 "peer bob .*Diskless" invalidate
pair_refused alice 1 "peer bob .*Diskless" invalidate-remote
pair_refused alice 1 "peer bob .*Diskless" invalidate-remote --bitmap
pair_wait alice 5 "alice still UpToDate, not a SyncTarget" \
	's["disk"] == "UpToDate" and p["replication"] == "Established"'

pair_ok bob attach
pair_wait alice 60 "bob resynced from alice" \
	'p["disk"] == "UpToDate" and p["replication"] == "Established" and s["disk"] == "UpToDate"'
diff=$(pair_diff_blocks "$(pair_get alice size_bytes)")
[ -z "$diff" ] || bt_fail "data areas differ after bob's resync: $(echo $diff | cut -c1-120)"
bt_pass "invalidate refused while the peer is Diskless; alice kept her data and resynced bob"
