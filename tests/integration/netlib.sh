# Partitions and recording hooks for two-node (alice/bob) integration tests.
# Source it after lib.sh and pairlib.sh, then bt_init:
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/pairlib.sh"
#   . "$(dirname "$0")/netlib.sh"
#   bt_init 120
#   net_init                                   # namespaces + veth, or skip
#   net_hook_install                           # $NET_HOOK records its calls
#   net_pair_setup C $((64 * M)) 'fencing = resource-and-stonith' \
#       "fence-peer = $NET_HOOK"
#   net_start alice; net_start bob
#   pair_wait_connected 20
#   pair_promote_first alice 30
#   net_cut; ...; net_heal
#
# What it owns: two network namespaces (bd-PID-a for alice, bd-PID-b for
# bob) joined by one veth pair (169.254.77.1/24 and .2/24, link-local,
# reachable only inside those namespaces), the pair's config (written like
# pairlib's, but with the peer-link addresses inside the namespaces and
# extra [resource] lines), daemons started inside their node's namespace,
# a hook program that appends each call (argv[1], the BLOCKD_*
# environment) to $NET_HOOK_LOG and exits with a code the test chooses,
# and a writer that logs every write the server acknowledged
# (net_acked_writer / net_acked_check: proof that no acknowledged write
# was lost, block by block).
# Invariants: a cut takes both veth ends down, so no packet crosses and no
# reset is sent: an established connection only sees silence, as on a real
# link failure (new connection attempts fail at once: no route). net_stall
# before a cut holds a node's packets first, so the frames then in flight
# are lost with the link. Control and NBD sockets are unix sockets in
# $BT_TMP: filesystem objects, usable from the root namespace. The daemons
# in the namespaces are ended by PID, then the namespaces are deleted.
#
# NET_LOOPBACK=1 before net_init: no namespaces, both nodes on 127.0.0.1
# (free ports); for tests that need the config helpers but no partition.

M=${M:-$((1024 * 1024))}
NET_NS_alice=
NET_NS_bob=
NET_IF=bd0
NET_CUT=0
NET_STALLED=
NET_HOOK=
NET_HOOK_LOG=
NET_HOOK_DIR=

# net_init: create the namespaces and the link between them, or skip the
# test (exit 77) when this machine cannot (not root, no ip netns).
net_init() {
	if [ "${NET_LOOPBACK:-0}" = 1 ]; then
		NET_ADDR_alice=127.0.0.1:$(bt_free_port)
		NET_ADDR_bob=127.0.0.1:$(bt_free_port)
		while [ "$NET_ADDR_bob" = "$NET_ADDR_alice" ]; do
			NET_ADDR_bob=127.0.0.1:$(bt_free_port)
		done
		return 0
	fi
	command -v ip >/dev/null 2>&1 || bt_skip "no ip(8): cannot make network namespaces"
	NET_NS_alice=bd-$$-a
	NET_NS_bob=bd-$$-b
	# Registered first, so it runs after the daemons' own cleanups.
	bt_on_exit net_fini
	ip netns add "$NET_NS_alice" 2>"$BT_TMP/netns.err" ||
		bt_skip "cannot create a network namespace: $(head -1 "$BT_TMP/netns.err")"
	ip netns add "$NET_NS_bob" 2>"$BT_TMP/netns.err" ||
		bt_skip "cannot create a network namespace: $(head -1 "$BT_TMP/netns.err")"
	ip link add "$NET_IF" netns "$NET_NS_alice" type veth \
		peer name "$NET_IF" netns "$NET_NS_bob" 2>"$BT_TMP/netns.err" ||
		bt_skip "cannot create a veth pair: $(head -1 "$BT_TMP/netns.err")"
	ip -n "$NET_NS_alice" addr add 169.254.77.1/24 dev "$NET_IF" &&
		ip -n "$NET_NS_bob" addr add 169.254.77.2/24 dev "$NET_IF" &&
		ip -n "$NET_NS_alice" link set lo up &&
		ip -n "$NET_NS_bob" link set lo up ||
		bt_fail "could not configure the namespaces"
	NET_ADDR_alice=169.254.77.1:7788
	NET_ADDR_bob=169.254.77.2:7789
	net_heal
	bt_log "namespaces $NET_NS_alice ($NET_ADDR_alice) and $NET_NS_bob ($NET_ADDR_bob)"
}

# net_fini: end the daemons (SIGTERM first, by PID), then whatever is
# left in our namespaces (hooks and their children: this test made them),
# then delete the namespaces (the veth goes with them).
net_fini() {
	local ns pid id
	for id in "${!BT_PIDS[@]}"; do
		bt_kill_pid "${BT_PIDS[$id]}"
		unset "BT_PIDS[$id]"
	done
	for ns in "$NET_NS_alice" "$NET_NS_bob"; do
		[ -n "$ns" ] || continue
		for pid in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null
		done
		ip netns del "$ns" 2>/dev/null
	done
	net_hook_reap
}

net_ns_of() { local v=NET_NS_$1; echo "${!v}"; }
net_addr_of() { local v=NET_ADDR_$1; echo "${!v}"; }

# net_exec NODE CMD...: CMD inside NODE's namespace (plain on loopback).
net_exec() {
	local ns
	ns=$(net_ns_of "$1")
	shift
	if [ -n "$ns" ]; then
		ip netns exec "$ns" "$@"
	else
		"$@"
	fi
}

# net_cut: partition the nodes (both ends down: a link failure).
net_cut() {
	[ -n "$NET_NS_alice" ] || bt_fail "net_cut needs namespaces (not NET_LOOPBACK)"
	ip -n "$NET_NS_alice" link set "$NET_IF" down &&
		ip -n "$NET_NS_bob" link set "$NET_IF" down ||
		bt_fail "could not take the link down"
	NET_CUT=1
	bt_log "link cut"
}

# net_stall NODE: from now on NODE's outgoing packets queue up on its veth
# end (a token bucket at 8 kbit/s) instead of being delivered: what a
# congested link holds when it fails. A cut then drops the queue, so the
# writes whose frames sat in it never reach the peer. 1 if tc cannot.
net_stall() {
	ip -n "$(net_ns_of "$1")" link show "$NET_IF" >/dev/null 2>&1 || return 1
	ip netns exec "$(net_ns_of "$1")" tc qdisc replace dev "$NET_IF" root \
		tbf rate 8kbit burst 1600 limit 16000000 2>/dev/null || return 1
	NET_STALLED="${NET_STALLED:-} $1"
}

# net_heal: join them again (and deliver normally again after net_stall).
net_heal() {
	local n
	[ -n "$NET_NS_alice" ] || bt_fail "net_heal needs namespaces (not NET_LOOPBACK)"
	for n in ${NET_STALLED:-}; do
		ip netns exec "$(net_ns_of "$n")" tc qdisc del dev "$NET_IF" root 2>/dev/null
	done
	NET_STALLED=
	ip -n "$NET_NS_alice" link set "$NET_IF" up &&
		ip -n "$NET_NS_bob" link set "$NET_IF" up ||
		bt_fail "could not bring the link up"
	NET_CUT=0
	bt_log "link healed"
}

# net_pair_setup PROTO SIZE_BYTES [RESOURCE_LINE...]: like pair_setup
# (same variables, so pairlib's helpers work), with the addresses from
# net_init and the extra lines in [resource]. Images and metadata are made.
net_pair_setup() {
	local proto=$1 size=$2 n
	shift 2
	[ -n "${NET_ADDR_alice:-}" ] || bt_fail "net_pair_setup called before net_init"
	[ -x "$BLOCKCTL" ] || bt_fail "blockctl not found or not executable: $BLOCKCTL"
	PAIR_SIZE=$size
	for n in alice bob; do
		rm -f "$BT_TMP/$n.img" "$BT_TMP/$n.nbd" "$BT_TMP/$n.ctl"
		truncate -s "$size" "$BT_TMP/$n.img"
	done
	PAIR_CONF=$BT_TMP/pair.conf
	PAIR_CONF_alice=$PAIR_CONF
	PAIR_CONF_bob=$PAIR_CONF
	net_write_conf "$PAIR_CONF" "$proto" "$@"
	for n in alice bob; do
		"$BLOCKCTL" -c "$PAIR_CONF" -n "$n" create-md >/dev/null ||
			bt_fail "create-md for $n failed"
	done
}

# net_write_conf FILE PROTO [RESOURCE_LINE...]
net_write_conf() {
	local f=$1 proto=$2 n l
	shift 2
	{
		printf '[resource]\nname = r0\nprotocol = %s\nsecret = s3cret\n' "$proto"
		printf 'ping-interval-ms = 200\nping-timeout-ms = 1000\n'
		printf 'connect-retry-max-ms = 300\n'
		for l in "$@"; do printf '%s\n' "$l"; done
		for n in alice bob; do
			printf '[node %s]\naddress = %s\n' "$n" "$(net_addr_of "$n")"
			printf 'disk = %s/%s.img\nnbd = unix:%s/%s.nbd\ncontrol = %s/%s.ctl\n' \
				"$BT_TMP" "$n" "$BT_TMP" "$n" "$BT_TMP" "$n"
		done
	} >"$f"
}

# net_start NODE: start NODE's daemon inside its namespace (ip netns exec
# execs it, so the PID tracked is the daemon's) and wait for its control
# socket.
net_start() {
	local n=$1 ns
	ns=$(net_ns_of "$n")
	if [ -z "$ns" ]; then
		pair_start "$n"
		return
	fi
	ip netns exec "$ns" "$BLOCKD" -c "$(pair_conf_of "$n")" -n "$n" >>"$BT_TMP/$n.log" 2>&1 &
	BT_PIDS[$n]=$!
	bt_log "started $n (pid ${BT_PIDS[$n]}) in $ns"
	pair_wait "$n" "$BT_READY_S" "control socket answering" 'True'
}

# net_hook_install: write $NET_HOOK. Each call appends one line to
# $NET_HOOK_LOG when it starts ("start NAME key=value...") and one when it
# exits ("end NAME rc=N"); it writes its own PID to $NET_HOOK_DIR/pids.
# Per hook name (argv[1]) and node, files in $NET_HOOK_DIR steer it:
#   NAME.rc       exit code (default 0)
#   NAME.sleep    seconds to sleep before exiting (default 0)
#   NAME.stonith  a PID to SIGKILL before exiting (the STONITH action)
# A NODE.NAME.* file (e.g. alice.fence-peer.rc) wins over NAME.*.
net_hook_install() {
	NET_HOOK_DIR=$BT_TMP/hook
	NET_HOOK=$NET_HOOK_DIR/hook.sh
	NET_HOOK_LOG=$NET_HOOK_DIR/calls.log
	mkdir -p "$NET_HOOK_DIR"
	: >"$NET_HOOK_LOG"
	cat >"$NET_HOOK" <<EOF
#!/bin/bash
d=$NET_HOOK_DIR
name=\${1:-none}
echo \$\$ >>"\$d/pids"
pick() { # SUFFIX DEFAULT
	if [ -f "\$d/\$BLOCKD_NODE.\$name.\$1" ]; then cat "\$d/\$BLOCKD_NODE.\$name.\$1"
	elif [ -f "\$d/\$name.\$1" ]; then cat "\$d/\$name.\$1"
	else echo "\$2"; fi
}
printf 'start %s argc=%s node=%s peer=%s peer_address=%s role=%s resource=%s t=%s\n' \\
	"\$name" "\$#" "\${BLOCKD_NODE-UNSET}" "\${BLOCKD_PEER-UNSET}" \\
	"\${BLOCKD_PEER_ADDRESS-UNSET}" "\${BLOCKD_ROLE-UNSET}" \\
	"\${BLOCKD_RESOURCE-UNSET}" "\$(date +%s.%N)" >>"\$d/calls.log"
s=\$(pick sleep 0)
if [ "\$s" != 0 ]; then
	# The sleep's output does not hold the daemon's pipe open, and its PID
	# is recorded so the test can end it.
	sleep "\$s" </dev/null >/dev/null 2>&1 &
	echo \$! >>"\$d/pids"
	wait \$!
fi
v=\$(pick stonith '')
[ -n "\$v" ] && kill -KILL "\$v"
rc=\$(pick rc 0)
echo "hook \$name on \$BLOCKD_NODE: exit \$rc"
printf 'end %s node=%s rc=%s t=%s\n' "\$name" "\${BLOCKD_NODE-UNSET}" "\$rc" "\$(date +%s.%N)" >>"\$d/calls.log"
exit "\$rc"
EOF
	chmod +x "$NET_HOOK"
}

# net_hook_reap: end hook processes (and their sleeps) still running.
net_hook_reap() {
	local pid
	[ -n "$NET_HOOK_DIR" ] && [ -f "$NET_HOOK_DIR/pids" ] || return 0
	for pid in $(cat "$NET_HOOK_DIR/pids"); do
		kill -KILL "$pid" 2>/dev/null
	done
}

# net_hook_set NAME KEY VALUE [NODE]: steer the hook (KEY rc, sleep or
# stonith); VALUE "-" removes the setting.
net_hook_set() {
	local f=$NET_HOOK_DIR/${4:+$4.}$1.$2
	if [ "$3" = - ]; then rm -f "$f"; else echo "$3" >"$f"; fi
}

# net_hook_count EVENT NAME [NODE]: recorded lines "EVENT NAME" (EVENT
# start or end), only NODE's if given.
net_hook_count() {
	grep -E "^$1 $2 " "$NET_HOOK_LOG" | grep -c -- "${3:+node=$3 }"
}

# net_hook_wait EVENT NAME COUNT DEADLINE_S [NODE]: poll until
# net_hook_count reaches COUNT.
net_hook_wait() {
	local end=$((SECONDS + $4))
	while [ "$(net_hook_count "$1" "$2" "${5:-}")" -lt "$3" ]; do
		[ "$SECONDS" -ge "$end" ] &&
			bt_fail "hook $2: $3 '$1' record(s)${5:+ from $5} expected within ${4}s; log: $(tr '\n' '|' <"$NET_HOOK_LOG")"
		sleep 0.05
	done
}

# net_hook_line EVENT NAME N: the Nth recorded "EVENT NAME" line.
net_hook_line() { grep -E "^$1 $2 " "$NET_HOOK_LOG" | sed -n "${3}p"; }

# net_wait_written NODE BYTES PID DEADLINE_S: poll NODE's written_bytes
# until it reaches BYTES; fails if process PID (the writer) ends first.
net_wait_written() {
	/usr/bin/python3 - "$BLOCKCTL" "$(pair_conf_of "$1")" "$1" "$2" "$3" "$4" <<'EOF' ||
import json, subprocess, sys, time
ctl, conf, node, want, pid, deadline = sys.argv[1:]
end = time.monotonic() + float(deadline)
w = -1
while True:
    r = subprocess.run([ctl, "-c", conf, "-n", node, "status", "--json"],
                       capture_output=True, text=True, timeout=5)
    if r.returncode == 0:
        w = json.loads(r.stdout)["written_bytes"]
    if w >= int(want):
        sys.exit(0)
    try:
        with open(f"/proc/{pid}/stat") as f:
            alive = f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        alive = False
    if not alive or time.monotonic() > end:
        sys.exit(f"{node} wrote {w} bytes, wanted {want}, before the writer ended or the deadline")
    time.sleep(0.01)
EOF
		bt_fail "writes on $1 did not reach $2 bytes"
}

# net_log_has NODE ERE: NODE's log has a matching line.
net_log_has() { grep -Eq -- "$2" "$BT_TMP/$1.log"; }

# net_acked_writer URI OFFSET LENGTH LOG TAG: background writer (libnbd, 16
# writes in flight, 4 KiB blocks cycling through [OFFSET, OFFSET+LENGTH)).
# Block content names TAG, its offset and a generation number; every write
# the server acknowledged is appended to LOG ("offset generation") as it
# completes. Ends when the connection dies or after 60 s. NET_WRITER_PID
# is its PID. Pair it with net_acked_check: unlike fio's verify state,
# which cannot tell the last iodepth writes apart, this names every one.
net_acked_writer() {
	/usr/bin/python3 - "$@" <<'EOF2' >"$4.out" 2>&1 &
import nbd, sys, time
uri, off0, length, log, tag = sys.argv[1:]
off0, length = int(off0), int(length)
bs, depth, n = 4096, 16, int(length) // 4096
h = nbd.NBD()
h.connect_uri(uri)
out = open(log, "a", buffering=1)
inflight, i, end = {}, 0, time.monotonic() + 60
def block(off, gen):
    unit = f"{tag} off={off} gen={gen}|".encode()
    return (unit * (bs // len(unit) + 1))[:bs]
try:
    while time.monotonic() < end:
        while len(inflight) < depth:
            off, gen = off0 + (i % n) * bs, i // n
            buf = block(off, gen)
            inflight[h.aio_pwrite(buf, off)] = (off, gen, buf)
            i += 1
        h.poll(-1)
        for c in list(inflight):
            if h.aio_command_completed(c):
                off, gen, _ = inflight.pop(c)
                out.write(f"{off} {gen}\n")
except nbd.Error as e:
    print(f"writer ended: {e}")
EOF2
	NET_WRITER_PID=$!
	bt_on_exit "bt_kill_pid $NET_WRITER_PID"
}

# net_acked_check URI LOG TAG WHAT: every block LOG lists as acknowledged
# holds that generation or a newer one (a later write that was in flight
# may have landed too); fails with WHAT naming the first lost ones.
# NET_ACKED is the number of acknowledged writes checked.
net_acked_check() {
	/usr/bin/python3 - "$1" "$2" "$3" >"$2.count" <<'EOF2' ||
import nbd, re, sys
uri, log, tag = sys.argv[1:]
acked = {}
count = 0
for line in open(log):
    off, gen = map(int, line.split())
    acked[off] = max(acked.get(off, -1), gen)
    count += 1
h = nbd.NBD()
h.connect_uri(uri)
bad = []
for off, gen in sorted(acked.items()):
    data = h.pread(4096, off)
    m = re.match(rb"(\S+) off=(\d+) gen=(\d+)\|", data)
    if not m or m.group(1).decode() != tag or int(m.group(2)) != off or int(m.group(3)) < gen:
        bad.append(f"offset {off}: acked gen {gen}, found {bytes(data[:30])!r}")
open(log + ".why", "w").write(f"{len(bad)} of {len(acked)} acknowledged blocks differ: " + "; ".join(bad[:3]))
print(count)
sys.exit(1 if bad else 0)
EOF2
		bt_fail "$4: acknowledged writes lost: $(cat "$2.why" 2>/dev/null)"
	NET_ACKED=$(cat "$2.count")
}
