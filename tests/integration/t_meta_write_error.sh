#!/bin/bash
# A metadata write that fails never lets the writes waiting for it be
# acknowledged. alice (Primary of a synced 256 MiB pair, protocol C) keeps
# her metadata on a device that fails writes on demand (faultlib: nbdkit
# error filter), bob in a file. With the device failing writes, a client
# write into an extent outside the activity log (it needs an activity log
# transaction first) must get an error reply, as must a second one into
# another new extent (not hang); the local-io-error hook must run; alice
# must keep answering status and NBD reads, and stop cleanly on SIGTERM.
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
case "$r1" in
error:*) ;;
*) bt_fail "a write needing an activity log transaction on a failing metadata device was acknowledged: $r1" ;;
esac
r2=$(write_one $((100 * M))) || bt_fail "the second write got no reply within 20s"
case "$r2" in
error:*) ;;
*) bt_fail "a second write into a new extent after the metadata failed was acknowledged: $r2" ;;
esac
bt_daemon_alive alice
net_hook_wait start local-io-error 1 10 alice
pair_wait alice 10 "status answering" 's["role"] == "Primary"'
timeout 20 /usr/bin/python3 -c '
import nbd, sys
h = nbd.NBD(); h.connect_uri(sys.argv[1]); h.pread(4096, 0); h.shutdown()' "$(pair_uri alice)" ||
	bt_fail "alice no longer serves reads after her metadata failed"
bt_daemon_stop alice
bt_pass "writes failed, not acknowledged ($r1); hook ran; clean stop"
