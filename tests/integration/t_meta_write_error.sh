#!/bin/bash
# A metadata write that fails never lets the writes waiting for it be
# acknowledged as written on the failed disk. alice (Primary of a synced
# 256 MiB pair, protocol C) keeps her metadata on a device that fails
# writes on demand (faultlib: nbdkit error filter), bob in a file. With the
# device failing writes, a client write into an extent outside the
# activity log (it needs an activity log transaction first) makes alice
# detach her disk (Diskless); she stays Primary and serves through bob, so
# that write and a second one into another new extent are acknowledged
# once bob has them; they read back through alice, bob's disk holds them,
# the local-io-error hook ran, and both stop cleanly on SIGTERM.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/resynclib.sh"
. "$(dirname "$0")/netlib.sh"
. "$(dirname "$0")/faultlib.sh"
bt_init 90
fault_require
net_hook_install
bt_on_exit net_hook_reap

pair_setup C $((256 * M))
rl_conf_set local-io-error "$NET_HOOK"
fault_dev_error meta $((1 * M)) >/dev/null
sed -i -e "/^\[node alice\]/a meta = $(fault_link meta)" \
	-e "/^\[node bob\]/a meta = $BT_TMP/bob.meta" "$PAIR_CONF"
for n in alice bob; do
	out=$("$BLOCKCTL" -c "$PAIR_CONF" -n "$n" create-md --force 2>&1) ||
		bt_fail "create-md for $n with external metadata failed: $out"
done
pair_start alice
pair_start bob
pair_wait_connected 20
pair_promote_first alice 60

fault_error_on meta write
# write_one OFFSET: one 4 KiB write through alice's export; prints "ok" or
# the error the client got.
write_one() {
	timeout 20 /usr/bin/python3 - "$(pair_uri alice)" "$1" <<'EOF'
import nbd, sys
h = nbd.NBD()
h.connect_uri(sys.argv[1])
try:
    h.pwrite(b"\x6d" * 4096, int(sys.argv[2]))
    print("ok")
except nbd.Error as e:
    print(f"error: {e.string} (errno {e.errno})")
EOF
}
r1=$(write_one $((200 * M))) || bt_fail "the first write got no reply within 20s"
# The metadata failed: alice detaches her disk (Failed, then Diskless) and
# goes on as a Primary served by bob, so the write may be acknowledged only
# once bob has it, never as written on alice's failed disk alone.
pair_wait alice 20 "alice detached after her metadata failed" \
	's["disk"] == "Diskless" and s["role"] == "Primary"'
r2=$(write_one $((100 * M))) || bt_fail "the second write got no reply within 20s"
bt_expect_eq "$r1" ok "the first write, once served through bob"
bt_expect_eq "$r2" ok "a second write into another extent, through bob"
bt_daemon_alive alice
net_hook_wait start local-io-error 1 10 alice
timeout 20 /usr/bin/python3 -c '
import nbd, sys
h = nbd.NBD(); h.connect_uri(sys.argv[1])
for off in (200 << 20, 100 << 20):
    assert h.pread(4096, off) == b"\x6d" * 4096, off
h.shutdown()' "$(pair_uri alice)" ||
	bt_fail "alice does not read back the two writes (through bob)"
bt_daemon_stop alice
bt_daemon_stop bob
/usr/bin/python3 - "$(pair_img bob)" <<'EOF' || bt_fail "bob's disk does not hold the two acknowledged writes"
import sys
with open(sys.argv[1], "rb") as f:
    for off in (200 << 20, 100 << 20):
        f.seek(off)
        assert f.read(4096) == b"\x6d" * 4096, off
EOF
bt_pass "alice detached when her metadata failed; both writes acknowledged only through bob and on bob's disk; hook ran; clean stop"
