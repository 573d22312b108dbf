#!/bin/bash
# A peer fenced once is recorded UpToDate again durably before it is told
# that it is (protocol C, fencing = resource-only, loopback). alice, the
# Primary, fences bob (fence-peer exit 4: peer_outdated); bob comes back
# and is resynced from her. Her disk takes 1.5 s per write (nbdkit's delay
# filter), so the superblock that drops the record is still on its way
# when the resync ends: at that moment her disk loses power (nbdkit killed
# with the write in its delay) and alice is killed. Restarted alone over
# the same image, alice counts bob fenced (peer_outdated): then bob must
# not be UpToDate, or alice would promote alone while an UpToDate bob may
# be promoted too. Before, RS_DONE left with the superblock still on its
# way: bob UpToDate, alice's record stale.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/netlib.sh"
. "$(dirname "$0")/pauselib.sh"
bt_init 120

SIZE=$((16 * M))

NET_LOOPBACK=1
net_init
net_hook_install
net_pair_setup C "$SIZE" 'fencing = resource-only' "fence-peer = $NET_HOOK"
pd_attach alice 1500ms
net_start alice
net_start bob
pair_wait_connected 30
pair_promote_first alice 90

net_hook_set fence-peer rc 4
pair_ok bob disconnect
net_hook_wait end fence-peer 1 20 alice
pair_wait alice 20 "bob recorded Outdated" 's["peer_outdated"] is True'
timeout 20 /usr/bin/python3 -m nbd -u "$(pair_uri alice)" \
	-c 'h.pwrite(b"\x5a" * 4096, 8192); h.flush()' ||
	bt_fail "a write on alice failed"

done_before=$(grep -c "resync finished: the peer is UpToDate" "$BT_TMP/alice.log")
pair_ok bob connect
# The resync ends; cut alice's disk at once (its superblock write waits
# 1.5 s in nbdkit), then alice.
end=$((SECONDS + 60))
until [ "$(grep -c "resync finished: the peer is UpToDate" "$BT_TMP/alice.log")" -gt "$done_before" ]; do
	[ "$SECONDS" -ge "$end" ] && bt_fail "alice's resync of bob did not finish within 60s"
	sleep 0.01
done
pkill -KILL -f "pause-control=$BT_TMP/pd-alice.sock" || bt_fail "could not kill alice's disk"
bt_daemon_kill9 alice
pair_wait bob 10 "alice gone" 'p["connection"] != "Connected"'
bob_disk=$(pair_get bob disk)
pair_ok bob disconnect

# alice again, over the image itself, alone.
for f in $(printf '%s\n' "$PAIR_CONF" "$(pair_conf_of alice)" | sort -u); do
	sed -i "/^\[node alice\]/,/^\[/ s|^disk = .*|disk = $(pair_img alice)|" "$f"
done
net_start alice
recorded=$(pair_get alice peer_outdated)
bt_log "after the power loss: alice peer_outdated $recorded, bob $bob_disk"
if [ "$recorded" = true ] && [ "$bob_disk" = UpToDate ]; then
	bt_fail "alice restarted counting bob fenced (peer_outdated) while bob is UpToDate"
fi
bt_pass "alice's record (peer_outdated $recorded) agrees with bob's disk ($bob_disk) after her power loss at the end of the resync"
