#!/bin/bash
# The activity log costs a metadata write only when a write lands in an
# extent it does not hold: a write to a hot extent adds no synchronous
# metadata write at all. A synced protocol C pair, al-extents = 7 (the
# smallest), 4 MiB extents; alice Primary. Rounds of 4 KiB writes through
# alice's export, each followed by status --json's metadata_writes:
#  1. one write into each of extents 0..6 (the log's capacity): at least
#     one and at most 7 activity-log writes;
#  2. 700 writes spread over the same 7 extents, FLUSH included: no
#     activity-log, bitmap or superblock write;
#  3. one write into extent 7, then one into 8 (each evicts the coldest):
#     each costs activity-log writes, while the peer is connected no bitmap
#     page (nothing is out of sync), and the data read back is what was
#     written;
#  4. 1000 writes cycling over extents 2..8 (all held again): none;
#  5. one write into extent 8 (none: it is held; it makes 8 the most
#     recently used extent, so the cold writes below evict 2..7, not 8).
#     Then, with alice's metadata file paused (pauselib), six writes into
#     cold extents 9..14 and one into hot extent 8, all sent at once.
#     While the metadata hangs: the write into 8 completes (libnbd;
#     protocol C, so bob has it too) and reads back, none of the six has
#     completed, and exactly 1 activity-log write was issued (the first
#     cold write's transaction, hanging). Once resumed: all seven
#     complete and read back, and the round cost exactly 2 activity-log
#     writes (that transaction, then one shared by the other five cold
#     writes). An engine where no write passes one waiting for a
#     transaction fails here: the hot write waits behind the cold ones
#     (and each cold one costs a transaction: 6).
# Metadata is external (pd_meta_external, blank synced disks) so that
# pausing it stalls the activity log and nothing else: the first
# transaction hangs until all seven writes are surely in the daemon (one
# connection, parsed in order, the hot write sent last), however loaded
# the machine.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/resynclib.sh"
. "$(dirname "$0")/pauselib.sh"
bt_init 90

SIZE=$((128 * M))
EXTENT=$((4 * M))

# writes [--at-once] SEED EXTENT...: a 4 KiB write (seeded pattern) into
# a seeded block of each EXTENT, one after the other and a FLUSH at the
# end, or (--at-once) all in flight together (libnbd's asynchronous
# calls); then reads each block back and compares.
writes() {
	local mode=serial
	[ "$1" = --at-once ] && { mode=at-once; shift; }
	/usr/bin/python3 - "$(pair_uri alice)" "$EXTENT" "$mode" "$@" <<'EOF' || bt_fail "writes ($mode) into extents ${*:2} failed"
import random, sys
import nbd
uri, extent, mode, seed = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
h = nbd.NBD()
h.connect_uri(uri)
r = random.Random(seed)
last, cookies = {}, []
for e in sys.argv[5:]:
    off = int(e) * extent + r.randrange(1024) * 4096
    last[off] = r.randbytes(4096)
    if mode == "at-once":
        buf = nbd.Buffer.from_bytearray(bytearray(last[off]))
        cookies.append((buf, h.aio_pwrite(buf, off)))
    else:
        h.pwrite(last[off], off)
while h.aio_in_flight() > 0:
    h.poll(-1)
for _, c in cookies:
    h.aio_command_completed(c)    # raises the write's error, if any
if mode == "serial":
    h.flush()
for off, buf in last.items():
    if h.pread(4096, off) != buf:
        sys.exit(f"block at {off} reads back other data")
h.shutdown()
EOF
}

md() { # FIELD: metadata_writes.FIELD of alice
	rl_num alice "metadata_writes.$1"
}

snapshot() { AL=$(md activity_log); BM=$(md bitmap); SB=$(md superblock); }

pair_setup C "$SIZE"
rl_conf_set al-extents 7
pd_meta_external
pd_attach_meta alice
pair_start alice
pair_start bob
pd_pair_blank_synced alice

snapshot
AL0=$AL
writes 1 0 1 2 3 4 5 6
al1=$(md activity_log)
rl_in_range $((al1 - AL)) 1 7 ||
	bt_fail "7 cold extents cost $((al1 - AL)) activity-log writes, expected 1..7"

snapshot
hot=()
for i in $(seq 0 699); do hot+=($((i % 7))); done
writes 2 "${hot[@]}"
bt_expect_eq "$(md activity_log)" "$AL" "activity-log writes after 700 writes to hot extents"
bt_expect_eq "$(md bitmap)" "$BM" "bitmap page writes after 700 writes to hot extents"
bt_expect_eq "$(md superblock)" "$SB" "superblock writes after 700 writes to hot extents"

snapshot
writes 3 7
al7=$(md activity_log)
writes 4 8
al8=$(md activity_log)
[ "$al7" -gt "$AL" ] || bt_fail "a write into a cold extent (7) with a full log cost no activity-log write"
[ "$al8" -gt "$al7" ] || bt_fail "a write into a cold extent (8) with a full log cost no activity-log write"
bt_expect_eq "$(md bitmap)" "$BM" "bitmap page writes for evictions while in sync"

snapshot
cyc=()
for i in $(seq 0 999); do cyc+=($((2 + i % 7))); done
writes 5 "${cyc[@]}"
bt_expect_eq "$(md activity_log)" "$AL" "activity-log writes after 1000 writes cycling over the 7 held extents"
bt_expect_eq "$(md superblock)" "$SB" "superblock writes after 1000 writes to hot extents"
# Round 4 ended on extent 7 and wrote 8 six writes before: 8 is the least
# recently used extent, the one the first cold write would evict. One
# more write makes it the most recently used, so the cold writes evict
# 2..7 and 8 stays in the log: hot.
snapshot
writes 6 8
bt_expect_eq "$(md activity_log)" "$AL" "activity-log writes for a write into held extent 8"
pd_pause alice.meta
# The client prints "hot N" once the write into 8 completed and read back
# (N: cold writes completed by then); it exits 0 once all seven did.
/usr/bin/python3 - "$(pair_uri alice)" "$EXTENT" 7 9 10 11 12 13 14 8 >"$BT_TMP/batch.out" 2>&1 <<'EOF' &
import random, sys
import nbd
uri, extent, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
h = nbd.NBD()
h.connect_uri(uri)
r = random.Random(seed)
todo = []
for e in sys.argv[4:]:    # the cold ones first, the hot one last
    off = int(e) * extent + r.randrange(1024) * 4096
    buf = nbd.Buffer.from_bytearray(bytearray(r.randbytes(4096)))
    todo.append((off, buf, h.aio_pwrite(buf, off)))
hot_off, hot_buf, hot = todo[-1]
while not h.aio_command_completed(hot):    # raises the write's error, if any
    h.poll(-1)
if h.pread(4096, hot_off) != bytes(hot_buf.to_bytearray()):
    sys.exit(f"hot block at {hot_off} reads back other data")
cold = [c for _, _, c in todo[:-1] if not h.aio_command_completed(c)]
print(f"hot {6 - len(cold)}", flush=True)
while h.aio_in_flight() > 0:
    h.poll(-1)
for c in cold:
    h.aio_command_completed(c)
for off, buf, _ in todo:
    if h.pread(4096, off) != bytes(buf.to_bytearray()):
        sys.exit(f"block at {off} reads back other data")
h.shutdown()
EOF
client=$!
bt_on_exit "bt_kill_pid $client"
end=$((SECONDS + 15))
until grep -q '^hot ' "$BT_TMP/batch.out"; do
	bt_pid_running "$client" || bt_fail "the seven writes failed: $(tr '\n' ' ' <"$BT_TMP/batch.out")"
	[ "$SECONDS" -ge "$end" ] &&
		bt_fail "the write into hot extent 8 did not complete within 15s while alice's metadata was paused (it waits for the cold writes' transactions)"
	sleep 0.05
done
bt_expect_eq "$(sed -n 's/^hot //p' "$BT_TMP/batch.out")" 0 "cold writes completed while alice's metadata was paused"
bt_expect_eq "$(($(md activity_log) - AL))" 1 "activity-log transactions issued while alice's metadata was paused"
pd_resume alice.meta
bt_wait_exit "$client" 20 || bt_fail "the seven writes did not complete within 20s of resuming alice's metadata"
wait "$client" || bt_fail "the seven writes failed: $(tr '\n' ' ' <"$BT_TMP/batch.out")"
al_batch=$(($(md activity_log) - AL))
bt_expect_eq "$al_batch" 2 "activity-log transactions for six cold writes and a hot one sent at once"
pair_wait_synced alice 20
bt_pass "7 cold extents: $((al1 - AL0)) log writes; two evictions: $((al8 - al1)); 1700 writes to hot extents: none; 6 cold and 1 hot at once, metadata paused: $al_batch"
