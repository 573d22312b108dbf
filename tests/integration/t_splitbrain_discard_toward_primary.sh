#!/bin/bash
# A Primary that wrote nothing while apart meets a Secondary that was
# Primary meanwhile and wrote (protocol C, loopback). The generations
# make the Primary the target of the Secondary's data, which it refuses
# ("this Primary would have to discard its data"), telling the operator
# to connect the node whose changes are to be dropped with
# --discard-my-data. Done on the Secondary, that must make it the target
# of the Primary: before, the flag was ignored there (no split brain in
# the generations), the Secondary stayed the source and the pair never
# connected whatever the operator did short of demoting the Primary
# (found by the simulator's heal, seed 963 --stop --relapse --direct).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
bt_init 120

M=$((1024 * 1024))

pair_up C $((32 * M))
nbdsh -u "$(pair_uri alice)" -c 'h.pwrite(b"\x11" * 65536, 0); h.flush()' ||
	bt_fail "writing through alice failed"
pair_wait bob 10 "bob in sync" 's["disk"] == "UpToDate" and p["replication"] == "Established"'

# Apart: bob is Primary for a while and writes; alice writes nothing.
pair_ok alice disconnect
pair_wait bob 10 "alice gone" 'p["connection"] != "Connected"'
pair_ok bob primary
nbdsh -u "$(pair_uri bob)" -c 'h.pwrite(b"\x22" * 65536, 1 << 20); h.flush()' ||
	bt_fail "bob's write while apart failed"
pair_ok bob secondary

# alice, still Primary, refuses bob's newer data.
pair_ok alice connect
pair_wait alice 20 "alice refused bob as her source" 'p["connection"] == "StandAlone"'
grep -q 'this Primary would have to discard its data' "$BT_TMP/alice.log" ||
	bt_fail "alice's refusal: $(grep -E 'sync decision|split brain' "$BT_TMP/alice.log" | tail -2 | tr '\n' '|')"

# As her log says: bob's changes are dropped.
pair_ok bob disconnect
pair_ok bob connect --discard-my-data
pair_ok alice connect
pair_wait bob 30 "bob resynced from alice" \
	's["disk"] == "UpToDate" and s["role"] == "Secondary" and p["role"] == "Primary" and p["replication"] == "Established"'
grep -q 'sync decision: target-bitmap (rule discard-my-data' "$BT_TMP/bob.log" ||
	bt_fail "bob's decision: $(grep -E 'sync decision|split brain' "$BT_TMP/bob.log" | tail -2 | tr '\n' '|')"
diff=$(pair_diff_blocks "$(pair_get alice size_bytes)")
[ -z "$diff" ] || bt_fail "data areas differ after bob's changes were dropped: $(echo "$diff" | cut -c1-120)"
got=$(nbdsh -u "$(pair_uri alice)" -c 'print(h.pread(1, 1 << 20) == b"\x22", h.pread(1, 0) == b"\x11")')
[ "$got" = "False True" ] || bt_fail "alice reads (bob's write, her write) = ($got), expected (False True)"
bt_pass "connect --discard-my-data on the Secondary made it the target of the Primary that refused its data"
