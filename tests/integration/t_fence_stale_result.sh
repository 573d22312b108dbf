#!/bin/bash
# A fence-peer result belongs to the loss that started it (issue 9, item
# 2). Protocol C, resource-and-stonith, alice Primary with a client
# writing (every acknowledgement logged). The link is cut: fence-peer
# run A starts on alice and is held by the test (it will exit 7, "peer
# STONITHed"). The link heals while A still runs: the peer is back and
# alice writes on. The link is cut again: run B starts (held for good,
# exit 1) and alice freezes. Only now does the test let A exit 7. That
# answer is about the first loss, which the reconnect already settled: it
# must not unfreeze the second one. Asserted: alice logs that she handled
# A's result, then io_frozen stays true and not one more write is
# acknowledged to the client for a second (the writes stay held).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/netlib.sh"
bt_init 90

SIZE=$((64 * M))

net_init
net_hook_install
net_pair_setup C "$SIZE" 'fencing = resource-and-stonith' "fence-peer = $NET_HOOK"
net_hook_set_call fence-peer 1 wait "$NET_HOOK_DIR/release-A" alice
net_hook_set_call fence-peer 1 rc 7 alice
net_hook_set_call fence-peer 2 wait "$NET_HOOK_DIR/release-B" alice
net_hook_set_call fence-peer 2 rc 1 alice
net_start alice
net_start bob
pair_wait_connected 20
pair_promote_first alice 30

net_ck_init 0 $((32 * M))
net_ck_writer alice 4096 16 0
net_ck_wait_acks 200 20

# First loss: run A starts and is held.
net_cut
net_hook_wait start fence-peer 1 10 alice
pair_wait alice 5 "frozen after the first loss" 's["io_frozen"] is True'

# The peer comes back while A still runs; alice writes on.
net_heal
pair_wait alice 20 "peer back and in sync" \
	's["io_frozen"] is False and p["connection"] == "Connected" and p["replication"] == "Established"'
acks=$(net_ck_acks)
net_ck_wait_acks $((acks + 100)) 20
bt_expect_eq "$(net_hook_count end fence-peer alice)" 0 "fence-peer runs ended before the second loss"

# Second loss: run B starts and is held; alice is frozen.
net_cut
net_hook_wait start fence-peer 2 10 alice
pair_wait alice 5 "frozen after the second loss" 's["io_frozen"] is True'
acks_frozen=$(net_ck_acks)
written_frozen=$(pair_get alice written_bytes)

# Now A answers (exit 7) for the first loss.
mark=$(net_log_lines alice)
net_hook_release release-A
net_hook_wait end fence-peer 1 10 alice
net_wait_log alice 'fence-peer( result 7 ignored|: peer STONITHed)' 10 "$mark"
stale=$(tail -n +"$((mark + 1))" "$BT_TMP/alice.log" | grep -E 'fence-peer|I/O (frozen|resumed)' | tr '\n' '|')

# A second to show that nothing moves: still frozen, nothing acknowledged.
sleep 1
bt_expect_eq "$(pair_get alice io_frozen)" true \
	"alice's io_frozen after the first run's late exit 7 (log: $stale)"
bt_expect_eq "$(net_ck_acks)" "$acks_frozen" \
	"writes acknowledged to the client after the second loss froze I/O (log: $stale)"
bt_expect_eq "$(pair_get alice written_bytes)" "$written_frozen" \
	"alice's written_bytes while frozen"
bt_expect_eq "$(net_hook_count end fence-peer alice)" 1 "fence-peer runs ended"
bt_pass "the first run's late exit 7 left the second loss frozen, $acks_frozen writes acknowledged before it"
