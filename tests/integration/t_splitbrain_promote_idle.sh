#!/bin/bash
# A node promoted while its peer is away starts a new generation at once,
# not at its first write (protocol C, loopback). alice (Primary) and bob
# are disconnected; bob is promoted and writes nothing; alice writes on.
# When they meet, both changed since they parted: that is split brain
# (both-changed-since-common-bitmap), which `connect --discard-my-data` on
# alice resolves by rolling her back to bob. Before, bob's unchanged
# generation made alice look like bob's source, bob refused to discard as
# Primary, and no operator step resolved it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
bt_init 120

M=$((1024 * 1024))

pair_up C $((32 * M))
nbdsh -u "$(pair_uri alice)" -c 'h.pwrite(b"\x11" * 65536, 0); h.flush()' ||
	bt_fail "writing through alice failed"
pair_wait bob 10 "bob in sync" 's["disk"] == "UpToDate" and p["replication"] == "Established"'

pair_ok alice disconnect
pair_wait bob 10 "alice gone" 'p["connection"] != "Connected"'
pair_ok bob primary
nbdsh -u "$(pair_uri alice)" -c 'h.pwrite(b"\x22" * 65536, 1 << 20); h.flush()' ||
	bt_fail "alice's write while apart failed"

pair_ok alice secondary
pair_ok alice connect --discard-my-data
pair_wait alice 30 "alice resynced from bob" \
	's["disk"] == "UpToDate" and s["role"] == "Secondary" and p["role"] == "Primary" and p["replication"] == "Established"'
grep -q 'split brain: target-bitmap (rule discard-my-data' "$BT_TMP/alice.log" ||
	bt_fail "alice's decision: $(grep -E 'sync decision|split brain' "$BT_TMP/alice.log" | tail -2 | tr '\n' '|')"
diff=$(pair_diff_blocks "$(pair_get bob size_bytes)")
[ -z "$diff" ] || bt_fail "data areas differ after the split brain was resolved: $(echo $diff | cut -c1-120)"
got=$(nbdsh -u "$(pair_uri bob)" -c 'print(h.pread(1, 1 << 20) == b"\x22")')
[ "$got" = False ] || bt_fail "alice's write while apart survived the discard on bob"
bt_pass "a promotion while apart started a new generation; discard-my-data resolved the split brain"
