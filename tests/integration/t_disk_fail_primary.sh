#!/bin/bash
# A Primary whose disk fails keeps serving through its UpToDate peer
# (protocol C, loopback; alice's disk, metadata included, is an nbdkit
# error device through nbdfuse and a loop device). While a client writes
# to alice, every read and write of her disk starts failing. Asserts:
#  - alice's disk goes Failed, then Diskless; she stays Primary, her
#    local-io-error hook runs once, bob shows the peer disk Diskless;
#  - the client's writes go on being acknowledged (through bob) and every
#    acknowledged write reads back from alice's export (reads through bob);
#  - `secondary`/`primary` are not needed to replace the disk: errors off,
#    `create-md --force` on it and `blockctl attach` make alice a Primary
#    SyncTarget that is resynced in full from bob while the client writes;
#  - at the end alice is UpToDate, every acknowledged write reads back,
#    and the two data areas are byte-identical.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/netlib.sh"
. "$(dirname "$0")/faultlib.sh"
bt_init 180

fault_require
SIZE=$((64 * M))
net_hook_install
fault_pair_up alice error C "$SIZE" "local-io-error = $NET_HOOK" 'resync-rate-max-mib = 40'

LOG=$BT_TMP/acked.log
net_acked_writer "$(pair_uri alice)" 0 $((16 * M)) "$LOG" pri
net_wait_written alice $((2 * M)) "$NET_WRITER_PID" 30
fault_error_on alicedisk
pair_wait alice 20 "alice's disk detached" 's["disk"] == "Diskless" and s["role"] == "Primary"'
pair_wait bob 20 "bob sees alice Diskless" 'p["disk"] == "Diskless"'
net_hook_wait end local-io-error 1 10 alice
[ "$(net_hook_count start local-io-error alice)" = 1 ] ||
	bt_fail "local-io-error ran $(net_hook_count start local-io-error alice) times on alice"

# Writes go on through bob; reads of what was acknowledged come from bob.
w=$(pair_get bob written_bytes)
net_wait_written bob $((w + 2 * M)) "$NET_WRITER_PID" 30
net_acked_check "$(pair_uri alice)" "$LOG" pri "while alice is Diskless"
diskless_checked=$NET_ACKED

fault_error_off alicedisk
"$BLOCKCTL" -c "$PAIR_CONF" -n alice create-md --force >/dev/null ||
	bt_fail "create-md --force on alice's replaced disk failed"
pair_ok alice attach
pair_wait alice 60 "alice resynced into her new disk" \
	's["disk"] == "UpToDate" and s["role"] == "Primary" and p["disk"] == "UpToDate" and p["replication"] == "Established" and p["out_of_sync_bytes"] == 0'
bt_kill_pid "$NET_WRITER_PID"
net_acked_check "$(pair_uri alice)" "$LOG" pri "after alice's disk was replaced"
size=$(pair_get alice size_bytes)
sa=$(head -c "$size" "$(fault_link alicedisk)" | sha256sum | cut -d' ' -f1)
sb=$(head -c "$size" "$(pair_img bob)" | sha256sum | cut -d' ' -f1)
bt_expect_eq "$sa" "$sb" "alice's data area after the full resync"
bt_pass "alice served through bob while Diskless ($diskless_checked acknowledged writes read back), resynced after attach; $NET_ACKED checked at the end"
