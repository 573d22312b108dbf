#!/bin/bash
# A verify between two Secondaries stops when the peer is promoted (see
# t_ops_verify_secondary), but the read requests it already sent are
# still answered. The new Primary reads those blocks after its own first
# writes, so its answers count blocks its writes changed (and the
# Secondary applied too) as different: the stopped verify marked them out
# of sync, and the status reported data out of sync that is not.
# Promotion asks the peer first, and bob's answer queues behind his
# verify requests, so those are answered before alice is Primary; the
# requests bob sends after his answer, until alice's new role reaches
# him, are the ones answered by a Primary that may have written there.
# Two namespaces, protocol A (ping-timeout-ms 30000: the stalled link is
# not found dead meanwhile), 64 MiB, both UpToDate and Secondary:
#  1. bob's outgoing link stalls (it trickles at 1 KB/s); 'verify' on
#     bob: its first 16 read requests (chunks of 256 KiB) queue;
#  2. alice is promoted: bob's yes goes out behind those 16, whose
#     answers free his slots for more (queued behind the yes); alice's
#     new role stops the verify on bob (that way is not stalled); alice
#     writes 512 bytes (0x5a) at the start of each chunk bob took after
#     the first 16 (the verify's stopping point says how many; small
#     writes, so that their frames fit the window bob's stalled
#     acknowledgements leave);
#  3. bob's queue is delivered; once bob has the writes, alice is demoted and a
#     second verify on bob runs to the end (it can end only once the
#     first one's requests are answered: they hold its slots).
# Asserts: bob reports 0 bytes out of sync and 0 blocks found different,
# alice 0 bytes out of sync, and the writes read back (alice Primary).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/netlib.sh"
bt_init 120

CHUNK=$((256 * 1024))
SIZE=$((64 * M))
net_init
net_pair_up A "$SIZE" 'ping-timeout-ms = 30000'
pair_ok alice secondary
pair_wait bob 10 "bob sees a Secondary peer, both UpToDate" \
	'p["role"] == "Secondary" and p["disk"] == "UpToDate" and s["disk"] == "UpToDate" and p["replication"] == "Established"'

# 1. bob's verify requests held on the way.
net_stall bob || bt_skip "tc cannot shape the veth here"
pair_ok bob verify
net_wait_backlog bob 1024 10

# 2. alice promoted; bob stops; alice writes into the chunks in flight.
pair_ok alice primary
pair_wait bob 10 "bob's verify stopped" 'p["replication"] == "Established" and p["role"] == "Primary"'
grep -q 'verify stopped' "$BT_TMP/bob.log" || bt_fail "bob's log does not say why the verify stopped"
taken=$(pair_get bob peer.verify.done_pct | awk -v size="$SIZE" -v c="$CHUNK" \
	'{ printf "%d", $1 / 100 * size / c + 0.5 }')
[ "$taken" -gt 16 ] ||
	bt_fail "bob's verify took $taken chunks: none was sent after his answer to the promotion"
bt_log "bob's verify took $taken chunks; alice writes into chunks 16..$((taken - 1))"
# write_or_count URI CHUNK TAKEN write|count
write_or_count() {
	/usr/bin/python3 - "$@" <<'EOF'
import sys
import nbd
uri, chunk, taken, what = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
h = nbd.NBD()
h.connect_uri(uri)
block = bytes([0x5a]) * 512
if what == "write":
    for i in range(16, taken):
        h.pwrite(block, i * chunk)
else:
    print(sum(h.pread(512, i * chunk) == block for i in range(16, taken)))
h.shutdown()
EOF
}
write_or_count "$(pair_uri alice)" "$CHUNK" "$taken" write || bt_fail "alice's writes failed"

# 3. The answers arrive; a second verify ends only after them.
net_unstall bob
pair_wait alice 30 "bob has alice's writes" \
	'p["connection"] == "Connected" and p["pending_writes"] == 0'
pair_ok alice secondary
pair_wait bob 10 "alice Secondary for bob" 'p["role"] == "Secondary" and p["replication"] == "Established"'
pair_ok bob verify
pair_wait bob 60 "bob's second verify done" \
	'p["replication"] == "Established" and p["verify"]["done_pct"] == 100'
bt_expect_eq "$(pair_get bob peer.verify.out_of_sync_blocks)" 0 "blocks bob's second verify found"
bt_expect_eq "$(pair_get bob peer.out_of_sync_bytes)" 0 "bytes bob reports out of sync"
bt_expect_eq "$(pair_get alice peer.out_of_sync_bytes)" 0 "bytes alice reports out of sync"

pair_ok alice primary
got=$(write_or_count "$(pair_uri alice)" "$CHUNK" "$taken" count)
bt_expect_eq "$got" $((taken - 16)) "writes read back through alice"
bt_pass "the answers to a verify stopped by the peer's promotion ($((taken - 16)) chunks written meanwhile) marked nothing out of sync; a second verify found 0 blocks"
