#!/bin/bash
# What a FLUSH acknowledged survives a power loss of both nodes, in each
# protocol. Both nodes' disks (data and internal metadata) are devices
# with a volatile write cache (faultlib: nbdkit's cache filter in
# writeback mode, through nbdfuse and a loop device); a power cut kills
# nbdkit, and what it had not flushed is gone. For protocols C, B and A
# in turn, alice (Primary) takes 4 KiB writes at depth 16 with a FLUSH
# after every 8 (ackcheck writer) and, beside them, 512-byte writes at
# unaligned offsets (the buffered path), each followed by a FLUSH; then
# both daemons are killed and both devices lose power. Restarted over
# what survived, the pair must connect and resync, and then:
#  - in C and B, before the restart: every write acknowledged before a
#    completed FLUSH, and every flushed unaligned write, is on bob's disk
#    alone (what the Secondary's flushing barriers promised);
#  - every write acknowledged before a FLUSH that completed is on alice
#    (ackcheck --flushed: no flushed write lost, nothing foreign);
#  - every flushed unaligned write reads back;
#  - the two data areas are byte-identical.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/netlib.sh"
. "$(dirname "$0")/faultlib.sh"
bt_init 240

fault_require
SIZE=$((32 * M))
REGION=$((16 * M))		# the ackcheck writer's blocks
UOFF=$((20 * M))		# the unaligned writes, after them
NET_LOOPBACK=1
net_init
net_pair_setup C "$SIZE"
for n in alice bob; do
	fault_pair_disk "$n" writeback "$SIZE"
done
net_start alice
net_start bob
pair_wait_connected 20
pair_promote_first alice 60
net_ck_init 0 "$REGION"

# unaligned_writes ROUND COUNT: 512-byte writes at unaligned offsets, a
# FLUSH after each; every one whose FLUSH completed is logged.
unaligned_writes() {
	timeout 60 /usr/bin/python3 - "$(pair_uri alice)" "$UOFF" "$1" "$2" \
		>>"$BT_TMP/unaligned.log" <<'EOF'
import nbd, sys
uri, base, rnd, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
h = nbd.NBD()
h.connect_uri(uri)
for j in range(count):
    off = base + (rnd * count + j) * 4096 + 512 * (j % 7 + 1)
    byte = (rnd * 31 + j) % 250 + 1
    h.pwrite(bytes([byte]) * 512, off)
    h.flush()
    print(off, byte, flush=True)
h.shutdown()
EOF
}

# unaligned_check SOURCE: every logged unaligned write reads back from
# SOURCE (an NBD URI or a device); prints the first that does not.
unaligned_check() {
	/usr/bin/python3 - "$1" "$BT_TMP/unaligned.log" <<'EOF'
import sys
src, log = sys.argv[1], sys.argv[2]
if src.startswith("nbd"):
    import nbd
    h = nbd.NBD()
    h.connect_uri(src)
    read = h.pread
else:
    f = open(src, "rb")
    read = lambda n, off: (f.seek(off), f.read(n))[1]
for line in open(log):
    off, byte = map(int, line.split())
    if read(512, off) != bytes([byte]) * 512:
        print(f"offset {off}: flushed byte {byte} lost")
        break
EOF
}

# power_loss PROTO: both daemons killed, both devices lose their caches.
# In C and B bob's disk alone must then hold every flushed write (the
# Secondary's flushing barriers made them durable there; in A a FLUSH
# promises only the Primary's disk). Then both come back over what
# survived and resync.
power_loss() {
	local bad
	bt_daemon_kill9 alice
	bt_daemon_kill9 bob
	net_ck_stop 0
	fault_power_cut alicedisk
	fault_power_cut bobdisk
	fault_power_restore alicedisk >/dev/null
	fault_power_restore bobdisk >/dev/null
	if [ "$1" != A ]; then
		/usr/bin/python3 "$BT_DIR/ackcheck.py" check --dir "$NET_CK_DIR" \
			--proto "$1" --offset 0 --length "$REGION" --flushed \
			--what "protocol $1: bob's disk after the power loss" \
			--image "$(fault_link bobdisk)" >"$BT_TMP/bobcheck.out" 2>&1 ||
			bt_fail "$(head -n 6 "$BT_TMP/bobcheck.out" | tr '\n' '|')"
		bt_log "$(head -n 1 "$BT_TMP/bobcheck.out")"
		bad=$(unaligned_check "$(fault_link bobdisk)") ||
			bt_fail "protocol $1: reading bob's unaligned writes back failed"
		[ -z "$bad" ] || bt_fail "protocol $1: bob lost a flushed unaligned write: $bad"
	fi
	net_start alice
	net_start bob
	pair_wait alice 60 "connected and in sync after the power loss" \
		's["disk"] == "UpToDate" and p["disk"] == "UpToDate" and p["replication"] == "Established" and p["out_of_sync_bytes"] == 0'
	pair_ok alice primary
}

round=0
# ROUNDS (default 3): how many of the protocols C, B, A, in that order.
ROUNDS=${ROUNDS:-3}
protos=$(echo C B A | cut -d' ' -f1-"$ROUNDS")
for proto in $protos; do
	round=$((round + 1))
	pair_ok alice protocol "$proto"
	pair_wait bob 10 "protocol $proto on bob" "s['protocol'] == '$proto'"
	net_ck_writer alice 4096 16 8 "$round" 20
	unaligned_writes "$round" 40 || bt_fail "protocol $proto: an unaligned write or its FLUSH failed"
	net_ck_wait_acks 400 30
	power_loss "$proto"
	net_ck_check alice "$proto" "protocol $proto: alice after a power loss of both" --flushed --commit
	bad=$(unaligned_check "$(pair_uri alice)") ||
		bt_fail "protocol $proto: reading the unaligned writes back failed"
	[ -z "$bad" ] || bt_fail "protocol $proto: an unaligned write lost after its FLUSH: $bad"
	size=$(pair_get alice size_bytes)
	sa=$(head -c "$size" "$(fault_link alicedisk)" | sha256sum | cut -d' ' -f1)
	sb=$(head -c "$size" "$(fault_link bobdisk)" | sha256sum | cut -d' ' -f1)
	bt_expect_eq "$sb" "$sa" "protocol $proto: bob's data area after the resync"
	summary="${summary:+$summary; }$proto: $(grep -c '^A ' "$NET_CK_DIR/s$round.log") acked, $(grep -c '^FA ' "$NET_CK_DIR/s$round.log") flushes"
done
bt_pass "every flushed write survived a power loss of both nodes and the data areas matched ($summary; $(wc -l <"$BT_TMP/unaligned.log") unaligned)"
