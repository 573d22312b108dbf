# Shared helpers for two-node (alice/bob) integration tests. Source it after
# lib.sh and bt_init:
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/pairlib.sh"
#   bt_init 120
#   pair_setup C $((64 * 1024 * 1024))     # config, images, create-md
#   pair_start alice; pair_start bob
#   pair_wait_connected 20
#   pair_promote_first alice 30           # primary --force, full sync
#
# What it owns: the pair's config file, its two backing images, their peer
# ports and sockets (all inside $BT_TMP), and the status polling helpers.
# Daemons are started through bt_daemon_start, so lib.sh's EXIT trap ends
# them by PID; a restarted node appends to the same log ($BT_TMP/NODE.log).
# Invariants: every wait polls `blockctl status --json` against a deadline
# and fails fast when the daemon being polled has died.

BLOCKCTL=${BLOCKCTL:-$(dirname "$BLOCKD")/blockctl}
# Status polls (pair_wait, pair_get and the libraries' own waits) may use
# another blockctl: make check points BLOCKCTL_POLL at the release build's
# while the daemons under test are the sanitizer build's (a sanitizer
# build's blockctl costs 25-70 ms a run against 7). The commands a test
# gives always use $BLOCKCTL.
BLOCKCTL_POLL=${BLOCKCTL_POLL:-$BLOCKCTL}
PAIR_CONF=
PAIR_SIZE=0

# pair_setup PROTO SIZE_BYTES [SECRET_ALICE [SECRET_BOB]]: write the config
# (one per node when the secrets differ) and create both images (sparse).
pair_setup() {
	local proto=$1 size=$2 sa=${3:-s3cret} sb=${4:-${3:-s3cret}} n
	[ -d "$BT_TMP" ] || bt_fail "pair_setup called before bt_init"
	[ -x "$BLOCKCTL" ] || bt_fail "blockctl not found or not executable: $BLOCKCTL"
	PAIR_SIZE=$size
	PAIR_PORT_alice=$(bt_free_port)
	PAIR_PORT_bob=$(bt_free_port)
	while [ "$PAIR_PORT_bob" = "$PAIR_PORT_alice" ]; do PAIR_PORT_bob=$(bt_free_port); done
	for n in alice bob; do
		rm -f "$BT_TMP/$n.img" "$BT_TMP/$n.nbd" "$BT_TMP/$n.ctl"
		truncate -s "$size" "$BT_TMP/$n.img"
	done
	PAIR_CONF=$BT_TMP/pair.conf
	pair_write_conf "$PAIR_CONF" "$proto" "$sa"
	if [ "$sa" != "$sb" ]; then
		pair_write_conf "$BT_TMP/pair-bob.conf" "$proto" "$sb"
		PAIR_CONF_bob=$BT_TMP/pair-bob.conf
	else
		PAIR_CONF_bob=$PAIR_CONF
	fi
	PAIR_CONF_alice=$PAIR_CONF
	# Two-node resources need metadata (internal: at the end of each image,
	# so the export is a little smaller than the image).
	for n in alice bob; do
		"$BLOCKCTL" -c "$(pair_conf_of "$n")" -n "$n" create-md >/dev/null ||
			bt_fail "create-md for $n failed"
	done
}

pair_write_conf() { # FILE PROTO SECRET
	local n
	{
		printf '[resource]\nname = r0\nprotocol = %s\nsecret = %s\n' "$2" "$3"
		printf 'ping-interval-ms = 200\nping-timeout-ms = 1000\n'
		printf 'connect-retry-max-ms = 300\n'
		for n in alice bob; do
			local port_var=PAIR_PORT_$n
			printf '[node %s]\naddress = 127.0.0.1:%s\n' "$n" "${!port_var}"
			printf 'disk = %s/%s.img\nnbd = unix:%s/%s.nbd\ncontrol = %s/%s.ctl\n' \
				"$BT_TMP" "$n" "$BT_TMP" "$n" "$BT_TMP" "$n"
		done
	} >"$1"
}

pair_conf_of() { local v=PAIR_CONF_$1; echo "${!v}"; }
pair_img() { echo "$BT_TMP/$1.img"; }
pair_sock() { echo "$BT_TMP/$1.nbd"; }
pair_ctlsock() { echo "$BT_TMP/$1.ctl"; }
pair_uri() { bt_unix_uri "$BT_TMP/$1.nbd"; }
pair_peer_of() { if [ "$1" = alice ]; then echo bob; else echo alice; fi; }

# pair_corrupt NODE SEED BLOCK...: overwrite those 4 KiB blocks of NODE's
# image (the daemon stopped) with random bytes drawn from SEED.
pair_corrupt() {
	local img
	img=$(pair_img "$1")
	shift
	/usr/bin/python3 - "$img" "$@" <<'EOF' || bt_fail "corrupting $img failed"
import os, random, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
rnd = random.Random(int(sys.argv[2]))
for b in sys.argv[3:]:
    os.pwrite(fd, rnd.randbytes(4096), int(b) * 4096)
os.fsync(fd)
os.close(fd)
EOF
}

# pair_diff_blocks BYTES: the 4 KiB block numbers where the first BYTES of
# alice's and bob's images differ.
pair_diff_blocks() {
	/usr/bin/python3 - "$(pair_img alice)" "$(pair_img bob)" "$1" <<'EOF'
import sys
n, out, off = int(sys.argv[3]), [], 0
with open(sys.argv[1], "rb") as a, open(sys.argv[2], "rb") as b:
    while off < n:
        want = min(4 << 20, n - off)
        da, db = a.read(want), b.read(want)
        if da != db:
            out += [(off + i) // 4096 for i in range(0, want, 4096)
                    if da[i:i + 4096] != db[i:i + 4096]]
        off += want
print(" ".join(map(str, out)))
EOF
}

# pair_start NODE: start the daemon and wait until its control socket
# answers (NBD readiness is not a signal: a Secondary refuses NBD clients).
pair_start() {
	local n=$1
	bt_daemon_start "$n" -c "$(pair_conf_of "$n")" -n "$n"
	pair_wait "$n" "$BT_READY_S" "control socket answering" 'True'
}

# pair_ctl NODE ARGS...: blockctl for that node, output passed through; a
# daemon that does not answer within 10s counts as a failed command (124).
pair_ctl() {
	local n=$1
	shift
	timeout 10 "$BLOCKCTL" -c "$(pair_conf_of "$n")" -n "$n" "$@"
}

# pair_ok NODE ARGS...: blockctl must exit 0.
pair_ok() {
	local n=$1 out
	shift
	out=$(pair_ctl "$n" "$@" 2>&1) || bt_fail "blockctl $* on $n failed ($?): $out"
}

# pair_get NODE PATH: one field of status --json; PATH like role,
# peer.replication or uuids.0 (an array's element). Prints the value
# (JSON scalars as text).
pair_get() {
	timeout 10 "$BLOCKCTL_POLL" -c "$(pair_conf_of "$1")" -n "$1" status --json 2>/dev/null |
		/usr/bin/python3 -c '
import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print(str(v).lower() if isinstance(v, bool) else v)' "$2"
}

# pair_wait NODE DEADLINE_S WHAT EXPR: poll status --json until the Python
# expression EXPR is true (names: s = the status object, p = s["peer"]).
# Fails the test with WHAT and the last status if the deadline passes or
# the daemon dies. One python process does the whole poll.
pair_wait() {
	local n=$1 deadline=$2 what=$3 expr=$4 pid=${BT_PIDS[$1]:-0} out
	out=$(/usr/bin/python3 - "$BLOCKCTL_POLL" "$(pair_conf_of "$n")" "$n" "$deadline" "$expr" "$pid" 2>&1 <<'EOF'
import json, os, subprocess, sys, time
ctl, conf, node, deadline, expr, pid = sys.argv[1:]
end = time.monotonic() + float(deadline)
last = "no status"
# Polls need no leak check at each blockctl's exit (a sanitizer build's
# costs 40 ms each); the test's own blockctl commands keep it.
env = dict(os.environ)
env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":detect_leaks=0"
def alive():
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False
while True:
    try:
        r = subprocess.run([ctl, "-c", conf, "-n", node, "status", "--json"],
                           capture_output=True, text=True, timeout=5, env=env)
    except subprocess.TimeoutExpired:
        r = None
        last = "blockctl status got no answer within 5s"
    if r is None:
        pass
    elif r.returncode == 0:
        s = json.loads(r.stdout)
        p = s.get("peer") or {}
        try:
            if eval(expr, {"s": s, "p": p}):
                sys.exit(0)
            last = (f"role {s.get('role')} disk {s.get('disk')} proto "
                    f"{s.get('protocol')}; peer {p.get('connection')} {p.get('role')} "
                    f"{p.get('disk')} repl {p.get('replication')} oos "
                    f"{p.get('out_of_sync_bytes')} pending {p.get('pending_writes')} "
                    f"done {(p.get('resync') or {}).get('done_pct')}%")
        except (KeyError, TypeError) as e:
            last = f"{type(e).__name__} {e} in {r.stdout.strip()[:600]}"
    else:
        last = f"blockctl exit {r.returncode}: {r.stderr.strip()}"
    if pid != "0" and not alive():
        print(f"daemon (pid {pid}) died; last: {last}")
        sys.exit(2)
    if time.monotonic() > end:
        print(f"last: {last}")
        sys.exit(1)
    time.sleep(0.05)
EOF
) || bt_fail "$n: $what not reached within ${deadline}s ($out)"
}

# pair_wait_connected DEADLINE_S: both nodes see the peer Connected.
pair_wait_connected() {
	pair_wait alice "$1" "peer connected" 'p["connection"] == "Connected"'
	pair_wait bob "$1" "peer connected" 'p["connection"] == "Connected"'
}

# pair_wait_synced PRIMARY DEADLINE_S: PRIMARY is Primary/UpToDate, the
# other Secondary/UpToDate, both Connected and Established, nothing out
# of sync, seen from both sides.
pair_wait_synced() {
	local pri=$1 sec
	sec=$(pair_peer_of "$1")
	pair_wait "$pri" "$2" "synced as Primary" \
		's["role"] == "Primary" and s["disk"] == "UpToDate" and p["connection"] == "Connected" and p["role"] == "Secondary" and p["disk"] == "UpToDate" and p["replication"] == "Established" and p["out_of_sync_bytes"] == 0'
	pair_wait "$sec" "$2" "synced as Secondary" \
		's["role"] == "Secondary" and s["disk"] == "UpToDate" and p["connection"] == "Connected" and p["role"] == "Primary" and p["disk"] == "UpToDate" and p["replication"] == "Established"'
}

# pair_promote_first NODE DEADLINE_S: fresh pair: force-promote NODE and
# wait for the full sync of the other node to finish.
pair_promote_first() {
	pair_ok "$1" primary --force
	pair_wait_synced "$1" "$2"
}

# pair_up PROTO SIZE: a fresh pair on loopback, both started and
# connected, alice promoted and bob synced from her (pair_setup's
# arguments).
pair_up() {
	pair_setup "$@"
	pair_start alice
	pair_start bob
	pair_wait_connected 20
	pair_promote_first alice 60
}

# pair_refused NODE WANT_RC PATTERN ARGS...: blockctl ARGS must exit
# WANT_RC with a stderr line matching the extended regex PATTERN.
pair_refused() {
	local n=$1 want=$2 pat=$3 rc err
	shift 3
	err=$(pair_ctl "$n" "$@" 2>&1 >/dev/null)
	rc=$?
	[ "$rc" = "$want" ] || bt_fail "blockctl $* on $n: expected exit $want, got $rc ($err)"
	printf '%s\n' "$err" | grep -Eq -- "$pat" ||
		bt_fail "blockctl $* on $n: message '$err' does not match /$pat/"
}

# pair_copy_export NODE FILE: the whole export, read over NBD, into FILE.
pair_copy_export() {
	rm -f "$2"
	nbdcopy "$(pair_uri "$1")" "$2" 2>"$BT_TMP/nbdcopy.err" ||
		bt_fail "nbdcopy from $1's export failed: $(head -2 "$BT_TMP/nbdcopy.err")"
}

pair_sha_file() { sha256sum <"$1" | cut -d' ' -f1; }

# pair_sha_data NODE: sha256 of the data area of NODE's backing file, the
# first size_bytes (from status) bytes: internal metadata follows it and
# legitimately differs between the nodes. The daemon must be running.
pair_sha_data() {
	local size
	size=$(pair_get "$1" size_bytes) || bt_fail "no status from $1 for its size"
	head -c "$size" "$(pair_img "$1")" | sha256sum | cut -d' ' -f1
}
