#!/bin/bash
# A Primary SyncTarget's own reads and writes never wait forever for
# blocks from its source: not while the resync is paused, and not for
# blocks the source does not count as out of sync. A 32 MiB pair of random
# data (external metadata, no initial sync); bob's copy of 2..22 MiB is
# damaged behind blockd's back and a verify on alice finds those 20 MiB.
# With bob's disk paused (pauselib), 'resync' on alice starts sending
# them: bob is SyncTarget of the whole disk (a resync by request marks
# every block), alice sends only her 20 MiB, and at most a window of 16
# chunks leaves and sticks. bob pauses the sync, his disk resumes, he is
# promoted, and a client on bob reads 64 KiB at 21.5 MiB (not sent yet),
# 64 KiB at 26 MiB (in sync, but bob cannot know) and writes 64 KiB at
# 28 MiB: each must complete within 10 seconds, the reads with alice's
# bytes. Then the sync resumes and finishes, and both data areas are
# identical.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/resynclib.sh"
. "$(dirname "$0")/pauselib.sh"
bt_init 90

SIZE=$((32 * M))
pd_pair_bob_pausable C "$SIZE"
rl_write_blocks "$(pair_uri alice)" 8192 5 0 "$SIZE"
pair_wait alice 10 "writes drained" 'p["pending_writes"] == 0'
pair_ok alice secondary

bt_daemon_stop bob
rl_fill "$BT_TMP/junk" $((20 * M)) 6
dd if="$BT_TMP/junk" of="$(pair_img bob)" bs=1M seek=2 conv=notrunc status=none ||
	bt_fail "could not damage bob's image"
pair_start bob
rl_wait_secondaries_synced 20
pair_ok alice verify
pair_wait alice 30 "verify finished with 20 MiB out of sync" \
	'p["replication"] == "Established" and p["out_of_sync_bytes"] == 20 * 1048576'
pd_pause bob
pair_ok alice resync
pair_wait bob 10 "bob SyncTarget" 'p["replication"] == "SyncTarget"'
pair_ok bob pause-sync
pair_wait alice 5 "alice PausedSyncS with 4 MiB or more left" \
	'p["replication"] == "PausedSyncS" and p["out_of_sync_bytes"] >= 4 * 1048576'
pd_resume bob
pair_wait bob 5 "bob PausedSyncT" 'p["replication"] == "PausedSyncT"'
pair_ok bob primary

out=$(timeout 30 /usr/bin/python3 - "$(pair_uri bob)" "$(pair_img alice)" 2>&1 <<'PY'
import nbd, sys, time
uri, img = sys.argv[1:]
M = 1 << 20
h = nbd.NBD()
h.connect_uri(uri)
ops = {}
for off in (21 * M + M // 2, 26 * M):
    buf = nbd.Buffer(65536)
    ops[h.aio_pread(buf, off)] = ("read", off, buf)
ops[h.aio_pwrite(b"\x77" * 65536, 28 * M)] = ("write", 28 * M, None)
end = time.monotonic() + 10
while ops and time.monotonic() < end:
    h.poll(100)
    for c in [c for c in ops if h.aio_command_completed(c)]:
        kind, off, buf = ops.pop(c)
        if kind == "read":
            with open(img, "rb") as f:
                f.seek(off)
                if buf.to_bytearray() != f.read(65536):
                    sys.exit(f"the read at {off} differs from alice's disk")
if ops:
    sys.exit("did not complete within 10 s: " +
             ", ".join(f"{k} at {o}" for k, o, _ in ops.values()))
PY
) || bt_fail "I/O on the paused Primary SyncTarget: $out"
pair_ok bob resume-sync
pair_wait bob 30 "resync finished" 's["disk"] == "UpToDate" and p["replication"] == "Established"'
rl_expect_identical "after the paused resync into a Primary"
# A clean stop: exit status 0 and no sanitizer report.
bt_daemon_stop bob
bt_daemon_stop alice
bt_pass "reads and writes on a paused Primary SyncTarget completed"
