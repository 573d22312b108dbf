#!/bin/bash
# A hook that leaves a background process behind (an ssh ControlPersist
# master, a `nohup ... &`) which keeps the hook's output open: blockd
# reads the hook's output until end of file, which that process holds
# off for as long as it lives. The hook's answer must count once the
# hook itself has exited, and the daemon must not wait for its leftovers.
#
# fencing = resource-only; alice is Secondary, bob is killed (so he may be
# Primary for all alice knows); `primary` on alice runs fence-peer, which
# starts `sleep 120` in the background (holding its stdout and stderr),
# prints a line and exits 4 (peer outdated). Then:
#  - `primary` answers 0 within 10 s and alice is Primary with the peer
#    recorded outdated;
#  - the hook's line is in alice's log, as is its exit code and a note
#    that something it started still holds its output;
#  - the leftover sleep is still running (blockd does not kill what the
#    hook started on purpose), and alice stops with status 0.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
bt_init 90

SIZE=$((16 * 1024 * 1024))
HOOK=$BT_TMP/fence-peer.sh
cat >"$HOOK" <<HOOKEOF
#!/bin/bash
echo \$\$ >>"$BT_TMP/hook.started"
sleep 120 &
echo \$! >"$BT_TMP/leftover.pid"
echo "peer \$BLOCKD_PEER outdated by the test's hook"
exit 4
HOOKEOF
chmod +x "$HOOK"

pair_setup C "$SIZE"
sed -i "s|^\[resource\]\$|[resource]\nfencing = resource-only\nfence-peer = $HOOK\nhook-timeout-ms = 60000|" "$PAIR_CONF"
pair_start alice
pair_start bob
pair_wait_connected 20
pair_promote_first alice 60
pair_ok alice secondary
bt_daemon_kill9 bob
pair_wait alice 10 "peer lost" 'p["connection"] != "Connected"'

t0=$SECONDS
out=$(pair_ctl alice primary 2>&1)
rc=$?
bt_expect_eq "$rc" 0 "exit status of 'primary' (fence-peer exited 4 at once; output: $out)"
[ $((SECONDS - t0)) -le 10 ] || bt_fail "'primary' took $((SECONDS - t0)) s"
[ -s "$BT_TMP/hook.started" ] || bt_fail "fence-peer never ran"
bt_expect_eq "$(pair_get alice role)" Primary "alice's role"
bt_expect_eq "$(pair_get alice peer_outdated)" true "alice records bob outdated"
grep -q "outdated by the test's hook" "$BT_TMP/alice.log" ||
	bt_fail "the hook's output line is not in alice's log"
grep -q "hook fence-peer finished: exit code 4" "$BT_TMP/alice.log" ||
	bt_fail "alice's log does not give the hook's exit code"
grep -q "still holds its output" "$BT_TMP/alice.log" ||
	bt_fail "alice's log does not say the hook left something holding its output"
leftover=$(cat "$BT_TMP/leftover.pid")
bt_pid_running "$leftover" || bt_fail "the hook's background process was killed"
kill "$leftover" 2>/dev/null
bt_daemon_stop alice
bt_pass "fence-peer exited 4 leaving a process that holds its output; 'primary' answered in $((SECONDS - t0)) s"
