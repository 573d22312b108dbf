#!/bin/bash
# An NBD request that found the buffer pool empty completes once another
# part of the daemon frees buffers. alice runs with the smallest pool
# (buffer-mib = 4, so the largest request is 3 MiB: the pool less the
# 1 MiB kept for resync data) and is
# the source of a rate-limited full sync (20 MiB/s) of 192 MiB of seeded
# data. bob is stopped (SIGSTOP; ping-timeout-ms is long, so the link
# stays up) before alice is promoted, so its socket never grew a large
# receive buffer: the connection takes a few MiB, while the resync keeps
# up to 16 MiB of chunks in flight, so chunks sit in alice's send queue,
# each holding its buffer, and the pool runs dry. A client reads the whole
# largest request (3 MiB) from alice: retried until one read is still
# waiting after a second, i.e. it found no buffer. Then bob continues:
# the resync's chunks reach the socket and their buffers are freed. The
# read must complete (within 30 s) with the right data, though nothing on
# its own connection completed meanwhile; the sync must then finish and
# both data areas be identical.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/resynclib.sh"
bt_init 120

SIZE=$((256 * M))
FILL=$((192 * M))

pair_setup C "$SIZE"
rl_conf_set buffer-mib 4
rl_conf_set resync-rate-max-mib 20
rl_conf_set ping-timeout-ms 60000
rl_fill "$(pair_img alice)" "$FILL" 11
pair_start alice
pair_start bob
pair_wait_connected 20

bob_pid=${BT_PIDS[bob]}
kill -STOP "$bob_pid" || bt_fail "could not stop bob"
bt_on_exit "kill -CONT $bob_pid"
pair_ok alice primary --force
pair_wait alice 20 "full sync under way" \
	"p['replication'] == 'SyncSource' and p['out_of_sync_bytes'] > 0"

# The client: 3 MiB reads until one is still pending after a second
# (then "stalled" goes to the marker file), then wait for that read.
/usr/bin/python3 - "$(pair_sock alice)" "$(pair_img alice)" "$BT_TMP/stalled" \
	>"$BT_TMP/client.out" 2>&1 <<'EOF' &
import os, sys, time
import nbd
sock, img, marker = sys.argv[1:]
N = 3 << 20
with open(img, "rb") as f:
    want = f.read(N)
h = nbd.NBD()
h.connect_unix(sock)
end = time.monotonic() + 30
def completes_within(cookie, secs):
    # aio_command_completed retires the command: True only once.
    until = time.monotonic() + secs
    while time.monotonic() < until:
        if h.aio_command_completed(cookie):
            return True
        h.poll(100)
    return False
while True:
    buf = nbd.Buffer(N)
    cookie = h.aio_pread(buf, 0)
    if not completes_within(cookie, 1):
        break
    if time.monotonic() > end:
        sys.exit("every 3 MiB read completed at once for 30 s: the pool never ran dry")
open(marker, "w").write("stalled\n")
if not completes_within(cookie, 30):
    sys.exit("a 3 MiB read that found no buffer was still waiting 30 s "
             "after the resync went on freeing buffers")
if buf.to_bytearray() != want:
    sys.exit("the read that waited for a buffer returned wrong data")
h.shutdown()
print("read completed after waiting for a buffer")
EOF
client=$!
bt_on_exit "bt_kill_pid $client"

end=$((SECONDS + 40))
until [ -f "$BT_TMP/stalled" ]; do
	bt_pid_running "$client" || break
	[ "$SECONDS" -lt "$end" ] || bt_fail "the client never saw a read wait for a buffer"
	sleep 0.05
done
[ -f "$BT_TMP/stalled" ] || { wait "$client"; bt_fail "client: $(tail -n 3 "$BT_TMP/client.out")"; }
kill -CONT "$bob_pid" || bt_fail "could not continue bob"
bt_wait_exit "$client" 40 || bt_fail "the client did not finish within 40s"
wait "$client" || bt_fail "client: $(tail -n 3 "$BT_TMP/client.out")"

pair_wait_synced alice 60
rl_expect_identical "after the full sync"
bt_pass "a 3 MiB read waited for the resync's buffers and completed"
