#!/bin/bash
# Promoting a node whose peer is away, under a fencing policy: the peer may
# still be Primary on the other side of a partition, so `primary` first
# runs fence-peer (as DRBD outdates the peer before it promotes) and answers
# only once the hook has. fencing = resource-and-stonith, protocol C; the
# link between the namespaces is cut while alice is Primary (her own
# fence-peer run is held until the end: she stays frozen).
#  1. bob's hook exits 1 (the peer could not be outdated): `primary` waits
#     for it (still running while the hook is held, bob still Secondary,
#     status answering meanwhile), then exits 1 naming fence-peer; bob
#     stays Secondary, two Primaries never exist.
#  2. bob's hook STONITHs alice and exits 7: plain `primary` succeeds, bob
#     records the peer fenced (peer_outdated true) and its export takes a
#     write.
#  3. `primary` on bob restarted alone with the peer recorded fenced runs
#     no hook; with fencing resource-only and no fence-peer hook at all,
#     `primary` is refused naming the missing hook, and `--force` promotes
#     without running one.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/netlib.sh"
bt_init 120

SIZE=$((16 * M))

net_init
net_hook_install
net_pair_up C "$SIZE" 'fencing = resource-and-stonith' "fence-peer = $NET_HOOK"

net_hook_set fence-peer wait "$NET_HOOK_DIR/release-alice" alice
net_hook_set fence-peer rc 1 alice
net_cut
pair_wait bob 10 "peer lost" 'p["connection"] != "Connected"'
net_hook_wait start fence-peer 1 10 alice
pair_wait alice 5 "alice frozen" 's["io_frozen"] is True'

# 1. bob's fence-peer cannot outdate alice.
net_hook_set fence-peer wait "$NET_HOOK_DIR/release-bob" bob
net_hook_set fence-peer rc 1 bob
pair_ctl bob primary >"$BT_TMP/p1.out" 2>&1 &
p1=$!
net_hook_wait start fence-peer 1 10 bob
bt_pid_running "$p1" || bt_fail "case 1: 'primary' on bob answered before its fence-peer did: $(cat "$BT_TMP/p1.out")"
bt_expect_eq "$(pair_get bob role)" Secondary "case 1: bob's role while fence-peer runs"
net_hook_release release-bob
wait "$p1"
rc=$?
bt_expect_eq "$rc" 1 "case 1: exit status of 'primary' after fence-peer exit 1 ($(cat "$BT_TMP/p1.out"))"
grep -q 'fence-peer' "$BT_TMP/p1.out" ||
	bt_fail "case 1: the refusal does not name fence-peer: $(cat "$BT_TMP/p1.out")"
bt_expect_eq "$(pair_get bob role)" Secondary "case 1: bob's role after the refusal"
bt_expect_eq "$(pair_get alice role)" Primary "case 1: alice's role"
bt_expect_eq "$(net_hook_count end fence-peer bob)" 1 "case 1: fence-peer runs on bob"

# 2. bob's fence-peer STONITHs alice.
net_hook_set fence-peer wait - bob
net_hook_set fence-peer rc 7 bob
net_hook_set fence-peer stonith "${BT_PIDS[alice]}" bob
pair_ok bob primary
bt_wait_exit "${BT_PIDS[alice]}" 10 || bt_fail "case 2: bob's fence-peer did not kill alice"
wait "${BT_PIDS[alice]}" 2>/dev/null
unset "BT_PIDS[alice]"
bt_expect_eq "$(pair_get bob role)" Primary "case 2: bob's role after fence-peer exit 7"
bt_expect_eq "$(pair_get bob peer_outdated)" true "case 2: bob records alice fenced"
bt_expect_eq "$(net_hook_count end fence-peer bob)" 2 "case 2: fence-peer runs on bob"
timeout 10 /usr/bin/python3 -m nbd -u "$(pair_uri bob)" -c '
h.pwrite(b"\xa5" * 4096, 0)
h.flush()
assert h.pread(4096, 0) == b"\xa5" * 4096' ||
	bt_fail "case 2: bob's export did not take a write and read it back"

# 3. Restarted alone with alice recorded fenced: no hook needed.
pair_ok bob secondary
bt_daemon_stop bob
net_hook_set fence-peer rc 1 bob
net_hook_set fence-peer stonith - bob
net_start bob
bt_expect_eq "$(pair_get bob disk)" UpToDate "case 3: bob's disk, restarted with alice fenced"
pair_ok bob primary
bt_expect_eq "$(net_hook_count start fence-peer bob)" 2 "case 3: fence-peer runs on bob (none for this promotion)"
pair_ok bob secondary
bt_daemon_stop bob

# 4. No hook at all, fencing resource-only: bob in sync with alice, then
# alice stops: `primary` is refused naming the missing hook; --force
# promotes without one.
sed -i -e 's/^fencing = .*/fencing = resource-only/' -e '/^fence-peer = /d' "$PAIR_CONF"
net_heal
net_start alice
net_start bob
pair_wait bob 60 "in sync with alice" \
	's["disk"] == "UpToDate" and p["disk"] == "UpToDate" and p["replication"] == "Established"'
bt_expect_eq "$(pair_get bob peer_outdated)" false "case 4: alice no longer recorded fenced once in sync"
bt_daemon_stop alice
pair_wait bob 10 "peer lost" 'p["connection"] != "Connected"'
pair_refused bob 1 'fence-peer' primary
bt_expect_eq "$(pair_get bob role)" Secondary "case 4: bob's role after the refusal"
pair_ok bob primary --force
bt_expect_eq "$(pair_get bob role)" Primary "case 4: bob's role after --force"
bt_expect_eq "$(net_hook_count start fence-peer bob)" 2 "case 4: fence-peer runs on bob"
bt_daemon_stop bob
bt_pass "primary with the peer away runs fence-peer first and answers after it"
