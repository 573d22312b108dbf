#!/bin/bash
# Writes held under a freeze are released, when the peer comes back to
# sync from here, with a new generation, durable before they reply
# (t_fence_held_generation). If the peer's disk went away (detached)
# while that superblock was being written, its loss asked for one more
# generation (a rotation at the next lone write), and the released
# writes then completed with that rotation pending: the engine's
# assertion on lone writes ended the daemon (sim seed 504 --down-power).
# fencing = resource-and-stonith, protocol C, two namespaces; alice's
# metadata is an external file served pausable (pauselib).
#  - 16 writes are in flight on a stalled link, the link is cut, alice
#    freezes and fence-peer exits 1: the writes are held;
#  - alice's metadata is paused and the link heals: alice logs the new
#    generation for the held writes (its superblock hangs), and bob, her
#    SyncTarget now, detaches his disk;
#  - alice's metadata resumes: the held writes are answered without an
#    error, alice's daemon is alive, her current generation is a new one,
#    and a write through alice afterwards succeeds and reads back.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/netlib.sh"
. "$(dirname "$0")/pauselib.sh"
bt_init 120

SIZE=$((16 * M))
net_init
net_hook_install
net_pair_setup C "$SIZE" 'fencing = resource-and-stonith' \
	"fence-peer = $NET_HOOK" 'hook-timeout-ms = 20000'
pd_meta_external
pd_attach_meta alice
net_start alice
net_start bob
pd_pair_blank_synced alice

before=$(pair_get alice uuids.0)
net_hold_writes alice "$BT_TMP/writes.out"
writer=$NET_INFLIGHT_PID
mark=$(net_log_lines alice)
pd_pause alice.meta
net_heal
net_wait_log alice 'held writes are released before the peer has them' 20 "$mark"
pair_wait bob 10 "bob SyncTarget of alice" 'p["replication"] == "SyncTarget" or s["disk"] == "Inconsistent"'
pair_ok bob detach
pair_wait alice 10 "alice sees bob Diskless" 'p["disk"] == "Diskless"'
pd_resume alice.meta
bt_wait_exit "$writer" 20 || bt_fail "the held writes were not answered within 20s of resuming alice's metadata"
wait "$writer" || bt_fail "the held writes failed: $(cat "$BT_TMP/writes.out")"
bt_daemon_alive alice
after=$(pair_get alice uuids.0)
[ "$after" != "$before" ] ||
	bt_fail "alice released writes bob lacks without a new generation (current still $before)"
/usr/bin/python3 - "$(pair_uri alice)" <<'PY' || bt_fail "a write through alice after the release failed"
import sys
import nbd
h = nbd.NBD()
h.connect_uri(sys.argv[1])
buf = bytes([0x5a]) * 4096
h.pwrite(buf, 2 * 1024 * 1024)
h.flush()
assert h.pread(4096, 2 * 1024 * 1024) == buf, "the block reads back other data"
h.shutdown()
PY
bt_pass "16 held writes released with generation $after while bob detached; alice alive and writing"
