#!/bin/bash
# A block is never in two resync chunks at once, so resync data cannot
# land over a write the Primary SyncTarget made after it got the block.
# Staged with bob's disk paused at chosen moments (pauselib): alice writes
# 0..16 MiB and 104..105 MiB while disconnected, demotes and restarts.
# bob's disk is paused, they reconnect (bitmap resync alice -> bob): a
# window of 16 chunks leaves and sticks in flight, so the area at 104 MiB
# is not sent yet; bob pauses the sync, his disk resumes until what was
# in flight has landed, pauses again, and he is promoted. A client on bob
# reads 4 KiB at 104.5 MiB and writes 16 blocks from 104.6 MiB on (all
# wait: bob lacks them, so he asks alice for them first: RS_PRIO). bob
# resumes the sync: alice serves the read's range first, then her scan
# reaches the area at 104 MiB, part of which is already on its way (a
# scan that went round again would send it once more). Three seconds
# later bob's disk resumes. Once the resync finished, bob's writes must
# read back from bob and from alice's disk, and the data areas must be
# identical.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/resynclib.sh"
. "$(dirname "$0")/pauselib.sh"
bt_init 60

SIZE=$((128 * M))
RD=$((104 * M + 512 * 1024))
WR=$((104 * M + 600 * 1024))	# and 15 more blocks, 16 KiB apart
pd_pair_bob_pausable C "$SIZE"

pair_ok alice disconnect
pair_wait alice 10 "StandAlone" 'p["connection"] == "StandAlone"'
timeout 20 /usr/bin/python3 - "$(pair_uri alice)" <<'PY' || bt_fail "writes through alice failed"
import nbd, random, sys
M = 1 << 20
h = nbd.NBD()
h.connect_uri(sys.argv[1])
rnd = random.Random(4)
for area in list(range(16)) + [104]:
    h.pwrite(rnd.randbytes(M), area * M)
h.flush()
h.shutdown()
PY
pair_ok alice secondary
# A fresh start: no write of hers counts as recent application load, so
# her resync window is the full 16 chunks.
bt_daemon_stop alice
pd_pause bob
pair_start alice
pair_wait bob 20 "bob SyncTarget" 'p["replication"] == "SyncTarget"'
pair_ok bob pause-sync
pair_wait alice 5 "alice PausedSyncS" 'p["replication"] == "PausedSyncS"'
pd_resume bob
pair_wait alice 10 "the first 16 MiB acknowledged, the area at 104 MiB left" \
	'p["replication"] == "PausedSyncS" and p["out_of_sync_bytes"] == 1048576'
pd_pause bob
pair_wait bob 5 "bob PausedSyncT" 'p["replication"] == "PausedSyncT"'
pair_ok bob primary
pair_wait bob 5 "bob Primary while SyncTarget" 's["role"] == "Primary"'

# The client: the read and the write, then a request the server refuses at
# once: its reply proves the two before it reached the resource (one
# connection's requests are taken in order).
/usr/bin/python3 - "$(pair_uri bob)" "$RD" "$WR" "$BT_TMP/client" <<'PY' >"$BT_TMP/client.out" 2>&1 &
import nbd, sys
uri, rd, wr, state = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
h = nbd.NBD()
h.connect_uri(uri)
rbuf = nbd.Buffer(4096)
r = h.aio_pread(rbuf, rd)
ws = [h.aio_pwrite(b"W" * 4096, wr + i * 16384) for i in range(16)]
try:
    h.pread(4096, h.get_size())
    sys.exit("a read past the end succeeded")
except nbd.Error:
    pass
open(state + ".submitted", "w").close()
pending = {r, *ws}
while pending:
    h.poll(-1)
    pending = {c for c in pending if not h.aio_command_completed(c)}
open(state + ".done", "w").close()
h.shutdown()
PY
client=$!
bt_on_exit "bt_kill_pid $client"
end=$((SECONDS + 10))
until [ -e "$BT_TMP/client.submitted" ]; do
	bt_pid_running "$client" || bt_fail "the client on bob ended early: $(cat "$BT_TMP/client.out")"
	[ "$SECONDS" -ge "$end" ] && bt_fail "the client's requests did not reach bob within 10s"
	sleep 0.05
done
pair_ok bob resume-sync
pair_wait alice 10 "SyncSource" 'p["replication"] == "SyncSource"'
# What alice sends now stays in flight (bob's disk is paused). Time for a
# scan that goes round again to send it again (it would, every tick).
resumed_at=$SECONDS
while [ $((SECONDS - resumed_at)) -lt 3 ]; do sleep 0.1; done
pd_resume bob
pair_wait bob 30 "resync finished" 's["disk"] == "UpToDate" and p["replication"] == "Established"'
wait "$client" || bt_fail "the client on bob failed: $(cat "$BT_TMP/client.out")"

/usr/bin/python3 - "$(pair_uri bob)" "$(pair_img alice)" "$WR" <<'PY' || bt_fail "bob's acknowledged write was overwritten"
import nbd, sys
uri, img, wr = sys.argv[1], sys.argv[2], int(sys.argv[3])
h = nbd.NBD()
h.connect_uri(uri)
for off in (wr + i * 16384 for i in range(16)):
    got = h.pread(4096, off)
    with open(img, "rb") as f:
        f.seek(off)
        disk = f.read(4096)
    bad = [who for who, d in (("bob", got), ("alice's disk", disk)) if d != b"W" * 4096]
    if bad:
        sys.exit(f"the write at {off} is not on {' and '.join(bad)} (bob reads "
                 f"{got[:8]!r}, alice's disk holds {disk[:8]!r})")
PY
rl_expect_identical "after the resync into a Primary"
# A clean stop: exit status 0 and no sanitizer report.
bt_daemon_stop bob
bt_daemon_stop alice
bt_pass "the block written on the Primary SyncTarget was not resynced over"
