#!/bin/bash
# Online verify runs from the Primary (or between two Secondaries): its
# source reads first and orders the Primary's writes around what it
# reads. A Secondary running verify whose peer was then promoted sent
# its read requests to a Primary, which dropped the connection (a
# Primary under fencing then runs fence-peer). A synced protocol C pair, 64 MiB, resync-rate-max-mib = 16
# (a verify runs about four seconds):
#  1. alice Primary: 'verify' on bob is refused (exit 1, naming the
#     Primary), the connection stays up, and verify on alice finds 0
#     blocks;
#  2. both Secondary, verify started on bob; alice is promoted while it
#     runs: bob stops it ("verify stopped", Established), the connection
#     stays up, a write through alice reads back on alice, and a verify
#     on alice then finds 0 blocks.
# "The connection stays up": neither log has a line of a connection
# lost or closed, or a "disconnected:" event, after the mark.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
bt_init 90

M=$((1024 * 1024))
pair_setup C $((64 * M))
sed -i -e "/^\[resource\]/a resync-rate-max-mib = 16" "$PAIR_CONF" ||
	bt_fail "could not set resync-rate-max-mib"
pair_start alice
pair_start bob
pair_wait_connected 20
pair_promote_first alice 60

mark_alice=$(grep -c '' "$BT_TMP/alice.log")
mark_bob=$(grep -c '' "$BT_TMP/bob.log")
# still_connected WHEN: no connection closed on either node since the mark.
still_connected() {
	local n m
	for n in alice bob; do
		m=mark_$n
		if tail -n +"$((${!m} + 1))" "$BT_TMP/$n.log" | grep -E 'connection lost|connection [0-9]+ closed|disconnected:'; then
			bt_fail "$n's connection closed $1"
		fi
	done
}
# verify_clean NODE: a verify on NODE runs to the end and finds nothing.
verify_clean() {
	pair_ok "$1" verify
	pair_wait "$1" 30 "verify on $1 done" \
		'p["replication"] == "Established" and p["verify"]["done_pct"] == 100'
	bt_expect_eq "$(pair_get "$1" peer.verify.out_of_sync_blocks)" 0 "blocks a verify on $1 found"
}

# 1. The Secondary of a Primary.
pair_refused bob 1 'Primary' verify
pair_wait bob 5 "connected after the refusal" 'p["connection"] == "Connected" and p["replication"] == "Established"'
still_connected "after verify was asked of bob (alice Primary)"
verify_clean alice
still_connected "during verify on alice"

# 2. Two Secondaries, and the peer promoted during the verify.
pair_ok alice secondary
pair_wait alice 10 "alice Secondary" 's["role"] == "Secondary"'
pair_ok bob verify
pair_wait bob 10 "bob VerifyS" 'p["replication"] == "VerifyS"'
pair_ok alice primary
pair_wait bob 10 "bob's verify stopped" 'p["replication"] == "Established" and p["role"] == "Primary"'
still_connected "when alice was promoted during bob's verify"
grep -q 'verify stopped' "$BT_TMP/bob.log" || bt_fail "bob's log does not say why the verify stopped"
/usr/bin/python3 - "$(pair_uri alice)" <<'EOF' || bt_fail "a write through alice after the promotion failed"
import sys
import nbd
h = nbd.NBD()
h.connect_uri(sys.argv[1])
buf = bytes(range(256)) * 16
h.pwrite(buf, 8 * 1024 * 1024)
h.flush()
assert h.pread(4096, 8 * 1024 * 1024) == buf, "the block reads back other data"
h.shutdown()
EOF
verify_clean alice
still_connected "during the second verify on alice"
bt_pass "verify on a Primary's Secondary refused; a verify stopped by the peer's promotion; the connection stayed up throughout"
