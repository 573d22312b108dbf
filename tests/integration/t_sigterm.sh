#!/bin/bash
# Shutdown and restart: SIGTERM with writes in flight and an idle client
# connected exits 0 in time, and every write that was acknowledged is there
# after a restart on the same socket path; the same after SIGKILL for
# flushed writes (stale socket file left behind); a buffered-mode daemon
# writes back on SIGTERM.
. "$(dirname "$0")/lib.sh"
bt_init 120

M=$((1024 * 1024))
SIZE=$((128 * M))
img=$BT_TMP/disk.img
sock=$BT_TMP/nbd.sock
uri=$(bt_unix_uri "$sock")
truncate -s "$SIZE" "$img"

py() { /usr/bin/python3 - "$@"; }

# --- 1. data from qemu-io, then SIGTERM with writes in flight ---------------
bt_daemon_start d1 --name r0 --disk "$img" --nbd "unix:$sock"
bt_wait_ready d1 "$uri"
qemu-io -f raw "$uri" -c 'write -P 0xa1 0 4M' -c 'write -f -P 0xa2 4M 1M' -c 'write -P 0xa3 5M 3' \
	>"$BT_TMP/qio1.out" 2>&1 || bt_fail "qemu-io writes failed: $(tail -2 "$BT_TMP/qio1.out")"

# The client queues 64 x 1 MiB writes, sends SIGTERM once the first one is
# acknowledged, and records which writes were acknowledged. An idle second
# connection stays open throughout: it must not hold up the exit.
py "$BT_DIR" "$sock" "${BT_PIDS[d1]}" "$BT_TMP/acked" <<'EOF' || bt_fail "in-flight SIGTERM client failed"
import os, signal, sys, time
sys.path.insert(0, sys.argv[1])
import nbd, bt
sock, pid, out = sys.argv[2], int(sys.argv[3]), sys.argv[4]
idle = bt.connect(unix=sock)
h = bt.connect(unix=sock)
bufs = [nbd.Buffer.from_bytearray(bytearray(bt.pattern(i, bt.MiB))) for i in range(64)]
cookies = [h.aio_pwrite(b, 8 * bt.MiB + i * bt.MiB) for i, b in enumerate(bufs)]
acked, failed = set(), set()
def sweep():
    # aio_command_completed retires a command: ask once per finished cookie.
    for i, c in enumerate(cookies):
        if i in acked or i in failed:
            continue
        try:
            if h.aio_command_completed(c):
                acked.add(i)
        except nbd.Error:
            failed.add(i)
end = time.monotonic() + 20
while not acked:
    if time.monotonic() > end:
        sys.exit("no write acknowledged within 20s")
    h.poll(1)
    sweep()
os.kill(pid, signal.SIGTERM)
try:
    while h.aio_in_flight() > 0 and time.monotonic() < end:
        h.poll(1)
except nbd.Error:
    pass
sweep()
acked = sorted(acked)
open(out, "w").write(" ".join(map(str, acked)))
print(f"{len(acked)}/64 writes acknowledged around SIGTERM", file=sys.stderr)
EOF
bt_daemon_reap d1 15 0
[ -s "$BT_TMP/acked" ] || bt_fail "no write acknowledged before SIGTERM"

# --- 2. restart on the same socket path: everything acknowledged is there ---
bt_daemon_start d2 --name r0 --disk "$img" --nbd "unix:$sock"
bt_wait_ready d2 "$uri"
qemu-io -f raw "$uri" -c 'read -P 0xa1 0 4M' -c 'read -P 0xa2 4M 1M' -c 'read -P 0xa3 5M 3' \
	>"$BT_TMP/qio2.out" 2>&1
grep -q 'verification failed\|failed' "$BT_TMP/qio2.out" &&
	bt_fail "data written before SIGTERM is gone after restart: $(grep -m1 failed "$BT_TMP/qio2.out")"
py "$BT_DIR" "$sock" "$BT_TMP/acked" <<'EOF' || bt_fail "acknowledged in-flight writes missing after restart: $(cat "$BT_TMP/why")"
import sys, os
sys.path.insert(0, sys.argv[1])
import bt
h = bt.connect(unix=sys.argv[2])
acked = [int(x) for x in open(sys.argv[3]).read().split()]
bad = [i for i in acked if h.pread(bt.MiB, 8 * bt.MiB + i * bt.MiB) != bt.pattern(i, bt.MiB)]
open(os.path.join(os.path.dirname(sys.argv[3]), "why"), "w").write(f"writes {bad} of {acked}")
sys.exit(1 if bad else 0)
EOF

# --- 3. SIGKILL after a flush; restart with the stale socket file -----------
nbdsh -u "$uri" -c "h.pwrite(b'\\xb1' * 65536, $((100 * M)))" \
	-c "h.pwrite(b'\\xb2' * 4096, $((101 * M)), nbd.CMD_FLAG_FUA)" -c 'h.flush()' ||
	bt_fail "nbdsh writes before SIGKILL failed"
bt_daemon_kill9 d2
bt_daemon_start d3 --name r0 --disk "$img" --nbd "unix:$sock"
bt_wait_ready d3 "$uri"
qemu-io -f raw "$uri" -c "read -P 0xb1 $((100 * M)) 64k" -c "read -P 0xb2 $((101 * M)) 4k" \
	-c 'read -P 0xa1 0 4M' >"$BT_TMP/qio3.out" 2>&1
grep -q 'failed' "$BT_TMP/qio3.out" &&
	bt_fail "flushed data lost after SIGKILL and restart: $(grep -m1 failed "$BT_TMP/qio3.out")"
bt_daemon_stop d3

# --- 4. buffered mode: unflushed writes reach the file by the clean exit ----
bt_daemon_start d4 --name r0 --disk "$img" --nbd "unix:$sock" --io-mode buffered
bt_wait_ready d4 "$uri"
qemu-io -f raw "$uri" -c "write -P 0xc1 $((110 * M)) 2M" >"$BT_TMP/qio4.out" 2>&1 ||
	bt_fail "buffered-mode write failed"
bt_daemon_stop d4
py "$img" $((110 * M)) <<'EOF' || bt_fail "buffered-mode write not in the backing file after SIGTERM"
import sys
f = open(sys.argv[1], "rb")
f.seek(int(sys.argv[2]))
sys.exit(0 if f.read(2 << 20) == b"\xc1" * (2 << 20) else 1)
EOF

# --- 5. SIGHUP (the terminal went away) shuts down as cleanly as SIGTERM,
# and SIGTERM works even if the daemon was started with it ignored ----------
# buffered_stop ID SIGNAL ignored|"" N: a buffered-mode daemon (started
# with SIGNAL ignored if asked) takes a write of bytes 0xdN and SIGNAL,
# exits 0, and the write is in the file.
buffered_stop() {
	local id=$1 sig=$2 off=$((112 * M))
	if [ "$3" = ignored ]; then
		(trap '' "$sig"; exec "$BLOCKD" --name r0 --disk "$img" --nbd "unix:$sock" \
			--io-mode buffered --control "$BT_TMP/$id.ctl") >>"$BT_TMP/$id.log" 2>&1 &
		BT_PIDS[$id]=$!
	else
		bt_daemon_start "$id" --name r0 --disk "$img" --nbd "unix:$sock" --io-mode buffered
	fi
	bt_wait_ready "$id" "$uri"
	qemu-io -f raw "$uri" -c "write -P 0xd$4 $off 1M" >"$BT_TMP/qio-$id.out" 2>&1 ||
		bt_fail "$id: write failed"
	kill "-$sig" "${BT_PIDS[$id]}"
	bt_daemon_reap "$id" "$BT_STOP_S" 0
	grep -q "signal .*: finishing in-flight I/O" "$BT_TMP/$id.log" ||
		bt_fail "$id: SIG$sig did not start a clean shutdown (log: $(tail -1 "$BT_TMP/$id.log"))"
	py "$img" "$off" "$4" <<'EOF' || bt_fail "$id: the write is not in the backing file after SIG$sig"
import sys
f = open(sys.argv[1], "rb")
f.seek(int(sys.argv[2]))
sys.exit(0 if f.read(1 << 20) == bytes([0xd0 + int(sys.argv[3])]) * (1 << 20) else 1)
EOF
}
buffered_stop d5 HUP "" 1
buffered_stop d6 TERM ignored 2

bt_pass "$(wc -w <"$BT_TMP/acked") of 64 in-flight writes acknowledged"
