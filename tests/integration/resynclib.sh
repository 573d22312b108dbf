# Helpers for the resync and split-brain tests. Source it after lib.sh,
# pairlib.sh and bt_init:
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/pairlib.sh"
#   . "$(dirname "$0")/resynclib.sh"
#   bt_init 120
#   pair_setup C $((256 * M))
#   rl_conf_set resync-checksum yes
#
# What it owns: [resource] keys in the pair's config files, seeded block
# writes (through NBD or straight into a stopped node's image), seeded
# image fills, data-area comparison, numeric status fields, polls that
# do not fail the test, a restart of both nodes mid-resync, and log
# searches limited to the lines written since a mark.
# Invariants: every write helper is deterministic for a given seed, so a
# plan can be written identically twice (through a Primary's export and
# into the peer's image); comparisons cover the data area (status
# size_bytes), never the metadata at the end of an image.

M=$((1024 * 1024))
declare -A RL_MARK=()

# rl_conf_set KEY VALUE: set KEY in the [resource] section of every config
# file of the pair (replacing an earlier value). Takes effect when a daemon
# (re)starts.
rl_conf_set() {
	local f
	for f in $(printf '%s\n' "$PAIR_CONF" "$(pair_conf_of alice)" "$(pair_conf_of bob)" | sort -u); do
		sed -i -e "/^$1 *=/d" -e "/^\[resource\]/a $1 = $2" "$f" ||
			bt_fail "could not set $1 in $f"
	done
}

# rl_num NODE PATH: a numeric status field (pair_get) or fail.
rl_num() {
	local v
	v=$(pair_get "$1" "$2")
	case "$v" in
	'' | *[!0-9.]*) bt_fail "$1: status field $2 is not a number: '$v'" ;;
	esac
	echo "$v"
}

# rl_in_range VALUE LO HI: LO <= VALUE <= HI (integers).
rl_in_range() { [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }

# rl_size NODE: the data area size in bytes.
rl_size() { rl_num "$1" size_bytes; }

# rl_log_mark NODE: later rl_log_* calls on NODE see only newer lines.
rl_log_mark() {
	RL_MARK[$1]=0
	[ -f "$BT_TMP/$1.log" ] && RL_MARK[$1]=$(wc -l <"$BT_TMP/$1.log")
	return 0
}

# rl_log_since NODE: NODE's log lines since its mark.
rl_log_since() { tail -n +"$((${RL_MARK[$1]:-0} + 1))" "$BT_TMP/$1.log"; }

# rl_log_has NODE ERE: NODE logged a line matching ERE since its mark.
# (Not grep -q: under pipefail, tail dying of SIGPIPE after an early
# match would turn the match into a failure.)
rl_log_has() { rl_log_since "$1" | grep -E -- "$2" >/dev/null; }

# rl_expect_log NODE ERE WHAT: fail unless rl_log_has; shows the decision
# and split-brain lines that were logged instead.
rl_expect_log() {
	rl_log_has "$1" "$2" && return 0
	bt_fail "$1: $3: no log line matching /$2/; got: $(rl_log_since "$1" |
		grep -E 'sync decision|split brain|bitmaps exchanged|resync' | tail -n 6 | tr '\n' '|')"
}

# rl_wait_secondaries_synced DEADLINE_S: both Secondary and UpToDate,
# Connected and Established, nothing out of sync on either side.
rl_wait_secondaries_synced() {
	local n
	for n in alice bob; do
		pair_wait "$n" "$1" "synced with both Secondary" \
			's["role"] == "Secondary" and s["disk"] == "UpToDate" and p["connection"] == "Connected" and p["role"] == "Secondary" and p["disk"] == "UpToDate" and p["replication"] == "Established" and p["out_of_sync_bytes"] == 0'
	done
}

# rl_fill FILE BYTES SEED: BYTES (whole MiB) of seeded pseudo-random data
# (AES-CTR of zeroes, the key made from the number SEED) at the start of
# FILE, without truncating it (the metadata at its end stays).
rl_fill() {
	local key
	key=$(printf '%032x' "$3")
	# openssl dies of SIGPIPE when dd has enough: only dd's status counts.
	openssl enc -aes-128-ctr -nosalt -K "$key" -iv 0 </dev/zero 2>/dev/null |
		dd of="$1" bs=1M count=$(($2 / M)) iflag=fullblock conv=notrunc status=none
	[ "${PIPESTATUS[1]}" = 0 ] || bt_fail "could not fill $1"
}

# rl_write_blocks TARGET NBLOCKS SEED LO HI [OFFSETS_FILE]: write NBLOCKS
# distinct 4 KiB blocks chosen with SEED in [LO, HI), each holding random
# data seeded with SEED too (or, for SEED given as S/D, offsets from S and
# data from D), to TARGET: an nbd URI (64 requests in flight, then a
# flush) or an image file path (pwrite + fsync). The same arguments write
# the same bytes to the same offsets. OFFSETS_FILE gets the offsets, one
# a line.
rl_write_blocks() {
	/usr/bin/python3 - "$@" <<'EOF' || bt_fail "writing $2 blocks (seed $3) to $1 failed"
import collections, os, random, sys
target, nblocks, lo, hi = sys.argv[1], int(sys.argv[2]), int(sys.argv[4]), int(sys.argv[5])
seed, _, dseed = sys.argv[3].partition("/")
seed, dseed = int(seed), int(dseed or seed)
out = sys.argv[6] if len(sys.argv) > 6 else None
B = 4096
blocks = random.Random(seed).sample(range(lo // B, hi // B), nblocks)
data = random.Random(dseed + 1_000_003)
if target.startswith("nbd"):
    import nbd
    h = nbd.NBD()
    h.connect_uri(target)
    pending = collections.deque()
    for b in blocks:
        buf = nbd.Buffer.from_bytearray(bytearray(data.randbytes(B)))
        pending.append((h.aio_pwrite(buf, b * B), buf))
        while len(pending) >= 64:
            if h.aio_command_completed(pending[0][0]):
                pending.popleft()
            else:
                h.poll(-1)
    while pending:
        if h.aio_command_completed(pending[0][0]):
            pending.popleft()
        else:
            h.poll(-1)
    h.flush()
    h.shutdown()
else:
    fd = os.open(target, os.O_WRONLY)
    for b in blocks:
        if os.pwrite(fd, data.randbytes(B), b * B) != B:
            sys.exit("short write")
    os.fsync(fd)
    os.close(fd)
if out:
    with open(out, "w") as f:
        f.write("".join(f"{b * B}\n" for b in blocks))
EOF
}

# rl_union_bytes FILE...: bytes covered by the union of the 4 KiB blocks
# listed (offsets, one a line) in the files.
rl_union_bytes() {
	cat "$@" | sort -u | grep -c . | awk '{ print $1 * 4096 }'
}

# rl_cmp FILE_A FILE_B BYTES: the first BYTES of both files are identical;
# otherwise prints the first differing 4 KiB block and how many differ,
# and returns 1.
rl_cmp() {
	cmp -s -n "$3" "$1" "$2" && return 0
	/usr/bin/python3 - "$@" <<'EOF'
import sys
a, b, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
step = 4 << 20
first, count = None, 0
with open(a, "rb") as fa, open(b, "rb") as fb:
    off = 0
    while off < n:
        want = min(step, n - off)
        da, db = fa.read(want), fb.read(want)
        if len(da) != want or len(db) != want:
            sys.exit(print(f"short read at {off}") or 1)
        if da != db:
            for i in range(0, want, 4096):
                if da[i:i + 4096] != db[i:i + 4096]:
                    count += 1
                    if first is None:
                        first = off + i
        off += want
if first is not None:
    sys.exit(print(f"{count} differing 4 KiB blocks, first at offset {first}") or 1)
sys.exit(print("cmp saw a difference that a second read did not") or 1)
EOF
}

# rl_expect_identical WHAT: alice's and bob's data areas are byte-identical.
rl_expect_identical() {
	local size diff
	size=$(rl_size alice)
	diff=$(rl_cmp "$(pair_img alice)" "$(pair_img bob)" "$size") ||
		bt_fail "$1: data areas differ ($diff)"
}

# rl_sha FILE BYTES: sha256 of the first BYTES of FILE.
rl_sha() { head -c "$2" "$1" | sha256sum | cut -d' ' -f1; }

# rl_restart_mid_sync SOURCE TARGET LO_PCT HI_PCT: wait until SOURCE's
# resync done_pct is in [LO_PCT, HI_PCT], note SOURCE's out_of_sync_bytes
# (RL_OOS_STOP) and then TARGET's (RL_OOS_STOP_TGT), SIGTERM SOURCE then
# TARGET (both must exit 0), drop the rate limit (resync-rate-max-mib = 0)
# and start both again. Sets RL_OOS_START to what SOURCE's metadata held
# at its start (from its log).
rl_restart_mid_sync() {
	local src=$1 tgt=$2 n
	pair_wait "$src" 60 "resync at $3..$4%" \
		"p['replication'] == 'SyncSource' and $3 <= p['resync']['done_pct'] <= $4"
	RL_OOS_STOP=$(rl_num "$src" peer.out_of_sync_bytes)
	RL_OOS_STOP_TGT=$(rl_num "$tgt" peer.out_of_sync_bytes)
	bt_log "stopping both at $(pair_get "$src" peer.resync.done_pct)%, $RL_OOS_STOP bytes out of sync ($tgt: $RL_OOS_STOP_TGT)"
	bt_daemon_stop "$src"
	bt_daemon_stop "$tgt"
	rl_conf_set resync-rate-max-mib 0
	for n in "$src" "$tgt"; do
		rl_log_mark "$n"
		pair_start "$n"
	done
	RL_OOS_START=$(rl_log_since "$src" | sed -nE 's/.*metadata: .* ([0-9]+) bytes out of sync.*/\1/p' | tail -n 1)
	[ -n "$RL_OOS_START" ] || bt_fail "$src logged no 'metadata: ... bytes out of sync' line at start"
}

# rl_poll NODE DEADLINE_S EXPR: like pair_wait, but returns 1 (and prints
# the last status seen) instead of failing the test, for checks that are
# collected and reported together.
rl_poll() {
	/usr/bin/python3 - "$BLOCKCTL_POLL" "$(pair_conf_of "$1")" "$1" "$2" "$3" <<'EOF'
import json, subprocess, sys, time
ctl, conf, node, deadline, expr = sys.argv[1:]
end = time.monotonic() + float(deadline)
last = "no status"
while True:
    r = subprocess.run([ctl, "-c", conf, "-n", node, "status", "--json"],
                       capture_output=True, text=True, timeout=5)
    if r.returncode == 0:
        s = json.loads(r.stdout)
        p = s.get("peer") or {}
        if eval(expr, {"s": s, "p": p}):
            sys.exit(0)
        last = (f"role {s['role']} disk {s['disk']}; peer {p.get('connection')} "
                f"{p.get('role')} {p.get('disk')} repl {p.get('replication')}")
    else:
        last = f"blockctl exit {r.returncode}: {r.stderr.strip()}"
    if time.monotonic() > end:
        sys.exit(print(last) or 1)
    time.sleep(0.05)
EOF
}
