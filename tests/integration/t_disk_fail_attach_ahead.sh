#!/bin/bash
# A disk attached again that holds writes its peer lacks is not synced
# over. alice is Primary (protocol C, fencing resource-only); bob dies and
# alice's fence-peer answers 7, so she writes on alone (a new generation).
# Then her disk fails (an nbdkit error device through nbdfuse and a loop
# device) and she goes Diskless; she is demoted, bob comes back (older
# data) and connects to her. The disk works again and is attached while
# connected. Asserts:
#  1. bob does not sync alice's disk from his older one: his log says its
#     generations are newer, replication stays Established, alice stays
#     Inconsistent and a plain `primary` on bob is refused (before: bob
#     synced his older data over the only copy of alice's writes and a
#     plain `primary` then served it: sim seed 451 --strict);
#  2. the operator vouches for alice's disk with `primary --force`: bob is
#     resynced from her and the block she wrote alone reads back from
#     both.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/netlib.sh"
. "$(dirname "$0")/faultlib.sh"
bt_init 180

fault_require
SIZE=$((16 * M))
net_hook_install
fault_pair_up alice error C "$SIZE" 'fencing = resource-only' "fence-peer = $NET_HOOK"



fault_block_put "$(pair_uri alice)" 0 65	# 'A' on both disks
net_hook_set fence-peer rc 7 alice
bt_daemon_kill9 bob
net_hook_wait end fence-peer 1 20 alice
pair_wait alice 10 "bob recorded fenced" 's["peer_outdated"] is True'
fault_block_put "$(pair_uri alice)" 0 66	# 'B': alice's alone

fault_error_on alicedisk
fault_block_poke "$(pair_uri alice)"
pair_wait alice 20 "alice's disk detached" 's["disk"] == "Diskless"'
pair_ok alice secondary
net_start bob
pair_wait bob 20 "bob connected to Diskless alice" 'p["connection"] == "Connected" and p["disk"] == "Diskless"'
fault_error_off alicedisk

# 1. Attached while connected: not synced over from bob's older disk.
pair_ok alice attach
net_wait_log bob 'the peer attached a disk, not syncing it: its generations are newer' 10
bt_expect_eq "$(pair_get bob peer.replication)" Established "bob's replication state"
bt_expect_eq "$(pair_get alice disk)" Inconsistent "alice's disk state"
pair_refused bob 1 '' primary

# 2. The operator keeps alice's disk.
pair_ok alice primary --force
pair_wait alice 60 "bob resynced from alice" \
	's["disk"] == "UpToDate" and p["disk"] == "UpToDate" and p["replication"] == "Established" and p["out_of_sync_bytes"] == 0'
bt_expect_eq "$(fault_block_get "$(pair_uri alice)" 0)" B "alice's block 0"
size=$(pair_get alice size_bytes)
sa=$(head -c "$size" "$(fault_link alicedisk)" | sha256sum | cut -d' ' -f1)
sb=$(head -c "$size" "$(pair_img bob)" | sha256sum | cut -d' ' -f1)
bt_expect_eq "$sa" "$sb" "the data areas after bob's resync from alice"
bt_pass "a disk attached again with newer generations was not synced over; forced, it synced bob and kept the write made alone"
