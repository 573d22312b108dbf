#!/bin/bash
# An Inconsistent Primary never becomes SyncSource (issue 9, third
# scenario of the introduction, item 3). alice and bob (network
# namespaces, protocol C, fencing dont-care) start with the same 64 MiB of
# seeded data and no sync (new-current-uuid --clear-bitmap); then bob's
# copy is zeroed behind blockd's back and bob invalidates it: a full
# resync from alice, rate-limited (resync-rate-max-mib = 4). bob is
# promoted while SyncTarget (allowed: alice is UpToDate) and a client
# writes 4 KiB blocks all over the 64 MiB through him, every
# acknowledgement logged. The link is cut mid-resync, the client goes on
# writing for a moment, then stops; the link heals and the pair is given
# time to settle. The recovery path is not asserted (refusing, failing
# the writes bob cannot serve, ...); these are:
#  - bob, Inconsistent, never decides to be SyncSource (no "sync decision:
#    source-..." line from him after the heal) and neither node is ever
#    seen SyncSource/PausedSyncS while its own disk is Inconsistent
#    (status sampled all along);
#  - some node ends UpToDate, and on each node that does (images read
#    once both daemons stopped) every block holds alice's original data
#    or a write to it the client issued, and every acknowledged write is
#    there: blocks bob never received never overwrite alice's.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/netlib.sh"
. "$(dirname "$0")/resynclib.sh"
bt_init 100

SIZE=$((128 * M))
DATA=$((64 * M))

net_init
net_pair_setup C "$SIZE" 'resync-rate-max-mib = 4'
for f in alice.img bob.img orig.img; do
	rl_fill "$BT_TMP/$f" "$DATA" 11
done
net_start alice
net_start bob
pair_wait_connected 20
pair_ok alice new-current-uuid --clear-bitmap
pair_wait bob 10 "both UpToDate without a sync" 's["disk"] == "UpToDate" and p["disk"] == "UpToDate"'

# bob's copy goes: he must fetch all of it from alice.
bt_daemon_stop bob
dd if=/dev/zero of="$(pair_img bob)" bs=1M count=$((DATA / M)) conv=notrunc status=none ||
	bt_fail "could not zero bob's image"
net_start bob
pair_wait_connected 20
pair_ok bob invalidate
pair_wait bob 10 "bob SyncTarget" 'p["replication"] in ("SyncTarget", "PausedSyncT")'
pair_ok bob primary
pair_wait bob 5 "bob Primary while SyncTarget" \
	's["role"] == "Primary" and s["disk"] == "Inconsistent" and p["replication"] == "SyncTarget"'

net_ck_init 0 "$DATA"
net_ck_writer bob 4096 16 0
net_ck_wait_acks 200 20
left=$(rl_num bob peer.out_of_sync_bytes)
[ "$left" -gt $((DATA / 2)) ] || bt_fail "the resync went too fast to test (only $left bytes left)"

# Sample both nodes' status from now on: an Inconsistent SyncSource is
# a failure whenever it shows.
/usr/bin/python3 - "$BLOCKCTL" "$PAIR_CONF" "$BT_TMP/sampled" <<'EOF' &
import json, subprocess, sys, time
ctl, conf, out = sys.argv[1:]
with open(out, "a", buffering=1) as f:
    while True:
        for n in ("alice", "bob"):
            r = subprocess.run([ctl, "-c", conf, "-n", n, "status", "--json"],
                               capture_output=True, text=True, timeout=5)
            if r.returncode != 0:
                continue
            s = json.loads(r.stdout)
            p = s.get("peer") or {}
            if s["disk"] == "Inconsistent" and p.get("replication") in ("SyncSource", "PausedSyncS"):
                f.write(f"{n}: {s['role']} Inconsistent and {p['replication']}\n")
        time.sleep(0.1)
EOF
SAMPLER=$!
bt_on_exit "bt_kill_pid $SAMPLER"

net_cut
pair_wait bob 10 "bob noticed the cut" 'p["connection"] != "Connected"'
acks=$(net_ck_acks)
# The client goes on for a moment (whatever bob answers now); 200 more
# acknowledged writes, a failed write ending it, or 5 s.
end=$((SECONDS + 5))
while [ "$(net_ck_acks)" -lt $((acks + 200)) ] && bt_pid_running "$NET_CK_PID" &&
	[ "$SECONDS" -lt "$end" ]; do
	sleep 0.05
done
net_ck_stop 5
bt_log "bob: $acks writes acknowledged before the cut, $(($(net_ck_acks) - acks)) after; writer: $(tail -n 1 "$NET_CK_DIR/writers.out")"

rl_log_mark alice
rl_log_mark bob
net_heal
# Settled: both Established, or either side StandAlone; the pair may also
# keep failing to connect (no deadline failure: the checks below decide).
rl_poll alice 40 'p["connection"] == "StandAlone" or (p["connection"] == "Connected" and p["replication"] == "Established")' >/dev/null
rl_poll bob 10 'p["connection"] == "StandAlone" or (p["connection"] == "Connected" and p["replication"] == "Established")' >/dev/null
bt_kill_pid "$SAMPLER"

why=()
dec=$(rl_log_since bob | grep 'sync decision: source-' | head -n 1 | sed 's/^[0-9.]* //')
[ -z "$dec" ] || why+=("bob, Inconsistent, decided to be SyncSource: '$dec'")
[ -s "$BT_TMP/sampled" ] && why+=("seen in status: $(sort -u "$BT_TMP/sampled" | tr '\n' ';')")
uptodate=()
for n in alice bob; do
	st=$(pair_get "$n" disk)
	bt_log "$n settled: $st, peer $(pair_get "$n" peer.connection) $(pair_get "$n" peer.replication)"
	[ "$st" = UpToDate ] && uptodate+=("$n")
done
for n in bob alice; do
	bt_kill_pid "${BT_PIDS[$n]}"
	unset "BT_PIDS[$n]"
done
[ ${#uptodate[@]} -gt 0 ] || why+=("no node ended UpToDate")
for n in "${uptodate[@]}"; do
	net_ck_verify "image:$n" C "$n (UpToDate at the end)" --initial-image "$BT_TMP/orig.img" ||
		why+=("$(printf '%s\n' "$NET_CK_REPORT" | head -n 4 | tr '\n' ' ')")
	bt_log "$NET_CK_SUMMARY"
done
[ ${#why[@]} = 0 ] || bt_fail "$(printf '%s | ' "${why[@]}")"
bt_pass "UpToDate at the end: ${uptodate[*]}; no Inconsistent SyncSource; $NET_CK_SUMMARY"
