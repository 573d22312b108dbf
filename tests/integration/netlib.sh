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
# was lost, block by block), and the checker of ackcheck.py behind the
# net_ck_* helpers: writers of any block size, depth and FLUSH rate whose
# every submission and acknowledgement is logged in order, and a check of
# a node after a failover (protocol C: no acknowledged write lost; A and
# B: the node holds a prefix of the epoch order).
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

# net_unstall NODE: deliver what NODE's stalled veth end holds, in order,
# at full speed (the token bucket's rate raised in place: nothing queued
# is dropped, so TCP needs no retransmission timeout to recover, unlike
# net_heal, which removes the queue). net_heal still restores the link.
net_unstall() {
	ip netns exec "$(net_ns_of "$1")" tc qdisc change dev "$NET_IF" root \
		tbf rate 10gbit burst 1mb limit 16000000 ||
		bt_fail "could not unstall $1's link"
}

# net_slow NODE RATE: NODE's outgoing packets leave at RATE (a tc rate
# such as 40mbit; token bucket, at most 200 ms queued): a slow link that
# still delivers. net_heal restores full speed. 1 if tc cannot.
net_slow() {
	ip -n "$(net_ns_of "$1")" link show "$NET_IF" >/dev/null 2>&1 || return 1
	ip netns exec "$(net_ns_of "$1")" tc qdisc replace dev "$NET_IF" root \
		tbf rate "$2" burst 64k latency 200ms 2>/dev/null || return 1
	NET_STALLED="${NET_STALLED:-} $1"
}

# net_wait_backlog NODE BYTES DEADLINE_S: poll until NODE's stalled or
# slowed veth end holds at least BYTES queued (tc's backlog): proof that
# frames are in flight before a cut drops them.
net_wait_backlog() {
	local end=$((SECONDS + $3)) q
	while :; do
		# tc prints the backlog as 1234b, 45Kb or 3Mb.
		q=$(ip netns exec "$(net_ns_of "$1")" tc -s qdisc show dev "$NET_IF" 2>/dev/null |
			sed -nE 's/.*backlog ([0-9]+)([KMG]?)b .*/\1 \2/p' | head -n 1 |
			awk '{ m = $2 == "K" ? 1024 : $2 == "M" ? 1048576 : $2 == "G" ? 1073741824 : 1; print $1 * m }')
		[ "${q:-0}" -ge "$2" ] && return 0
		[ "$SECONDS" -ge "$end" ] &&
			bt_fail "$1: no $2 bytes queued on its link within ${3}s (backlog ${q:-none})"
		sleep 0.02
	done
}

# net_inflight_cut NODE OUT: 16 writes of 64 KiB (0xa5, the first MiB)
# through NODE's export, in flight while NODE's link stalls, then the
# link is cut: frames of every write were queued and are dropped. The
# writer (libnbd, in the background; OUT gets its output, a line once all
# are acknowledged) is NET_INFLIGHT_PID. Skips where tc cannot stall.
# NET_AIO_WRITES: python3 -c "$NET_AIO_WRITES" URI COUNT BYTES writes
# COUNT blocks of BYTES of 0xa5, one every 64 KiB from 0, all in flight
# at once (libnbd), and prints a line once all are acknowledged.
NET_AIO_WRITES='
import nbd, sys
uri, count, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
h = nbd.NBD()
h.connect_uri(uri)
left = {h.aio_pwrite(bytes([0xa5]) * size, i * 65536) for i in range(count)}
while left:
    h.poll(-1)
    left = {c for c in left if not h.aio_command_completed(c)}
print(f"{count} writes of {size} bytes acknowledged")
'

net_inflight_cut() {
	net_stall "$1" || bt_skip "tc cannot shape the veth here"
	timeout 60 /usr/bin/python3 -c "$NET_AIO_WRITES" "$(pair_uri "$1")" 16 65536 >"$2" 2>&1 &
	NET_INFLIGHT_PID=$!
	bt_on_exit "bt_kill_pid $NET_INFLIGHT_PID"
	net_wait_backlog "$1" 16384 10
	net_cut
}

# net_hold_writes NODE OUT: NODE's fence-peer will exit 1, then
# net_inflight_cut NODE OUT; returns once NODE is frozen and its
# fence-peer has ended: the 16 writes are held (not failed, not answered).
net_hold_writes() {
	net_hook_set fence-peer rc 1 "$1"
	net_inflight_cut "$1" "$2"
	pair_wait "$1" 10 "$1 frozen" 's["io_frozen"] is True'
	net_hook_wait end fence-peer 1 10 "$1"
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

# net_pair_up PROTO SIZE_BYTES [RESOURCE_LINE...]: net_pair_setup, both
# daemons started and connected, alice promoted and bob fully synced.
net_pair_up() {
	net_pair_setup "$@"
	net_start alice
	net_start bob
	pair_wait_connected 20
	pair_promote_first alice 60
}

# net_write_conf FILE PROTO [RESOURCE_LINE...]: a RESOURCE_LINE that sets
# ping-timeout-ms replaces the default (tests that stall the link on
# purpose must not have it declared dead meanwhile).
net_write_conf() {
	local f=$1 proto=$2 n l
	shift 2
	{
		printf '[resource]\nname = r0\nprotocol = %s\nsecret = s3cret\n' "$proto"
		printf 'ping-interval-ms = 200\n'
		case " $* " in *"ping-timeout-ms ="*) ;; *) printf 'ping-timeout-ms = 1000\n' ;; esac
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
#   NAME.wait     a path: exit only once it exists (after the sleep), so
#                 a test decides when a hook answers (net_hook_release)
# A NODE.NAME.* file (e.g. alice.fence-peer.rc) wins over NAME.*, and a
# file for the Nth call of NAME on that node (NODE.NAME.N.*, then
# NAME.N.*: net_hook_set_call) wins over both; the start line records the
# call number as call=N. Per-call settings are read when the call starts,
# so a test can steer two overlapping runs apart.
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
node=\${BLOCKD_NODE-UNSET}
# The call number and the start line under one lock: two runs of the same
# hook that start together still get distinct numbers.
exec 9>>"\$d/lock"
flock 9
call=\$((\$(grep -c "^start \$name argc=[0-9]* node=\$node " "\$d/calls.log") + 1))
printf 'start %s argc=%s node=%s peer=%s peer_address=%s role=%s resource=%s t=%s call=%s\n' \\
	"\$name" "\$#" "\$node" "\${BLOCKD_PEER-UNSET}" \\
	"\${BLOCKD_PEER_ADDRESS-UNSET}" "\${BLOCKD_ROLE-UNSET}" \\
	"\${BLOCKD_RESOURCE-UNSET}" "\$(date +%s.%N)" "\$call" >>"\$d/calls.log"
# Per-call settings are copied now, so a later net_hook_set_call for the
# next call cannot change this one.
for k in rc sleep stonith wait; do
	for f in "\$d/\$node.\$name.\$call.\$k" "\$d/\$name.\$call.\$k"; do
		[ -f "\$f" ] && { cp "\$f" "\$d/.call.\$\$.\$k"; break; }
	done
done
flock -u 9
exec 9>&-
pick() { # SUFFIX DEFAULT
	if [ -f "\$d/.call.\$\$.\$1" ]; then cat "\$d/.call.\$\$.\$1"
	elif [ -f "\$d/\$node.\$name.\$1" ]; then cat "\$d/\$node.\$name.\$1"
	elif [ -f "\$d/\$name.\$1" ]; then cat "\$d/\$name.\$1"
	else echo "\$2"; fi
}
s=\$(pick sleep 0)
if [ "\$s" != 0 ]; then
	# The sleep's output does not hold the daemon's pipe open, and its PID
	# is recorded so the test can end it.
	sleep "\$s" </dev/null >/dev/null 2>&1 &
	echo \$! >>"\$d/pids"
	wait \$!
fi
w=\$(pick wait '')
if [ -n "\$w" ]; then
	while [ ! -e "\$w" ]; do sleep 0.05; done
fi
v=\$(pick stonith '')
[ -n "\$v" ] && kill -KILL "\$v"
rc=\$(pick rc 0)
rm -f "\$d/.call.\$\$."*
echo "hook \$name on \$BLOCKD_NODE: exit \$rc"
printf 'end %s node=%s rc=%s t=%s\n' "\$name" "\${BLOCKD_NODE-UNSET}" "\$rc" "\$(date +%s.%N)" >>"\$d/calls.log"
exit "\$rc"
EOF
	chmod +x "$NET_HOOK"
}

# net_hook_release NAME: create the file a hook set to wait for NAME
# (net_hook_set[_call] ... wait $NET_HOOK_DIR/NAME) is waiting for.
net_hook_release() { : >"$NET_HOOK_DIR/$1"; }

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

# net_hook_set_call NAME N KEY VALUE [NODE]: like net_hook_set, for the
# Nth call of NAME only (on NODE only, if given).
net_hook_set_call() {
	local f=$NET_HOOK_DIR/${5:+$5.}$1.$2.$3
	if [ "$4" = - ]; then rm -f "$f"; else echo "$4" >"$f"; fi
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
	/usr/bin/python3 - "$BLOCKCTL_POLL" "$(pair_conf_of "$1")" "$1" "$2" "$3" "$4" <<'EOF' ||
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

# net_wait_log NODE ERE DEADLINE_S [FROM_LINE]: poll until NODE's log has
# a line matching ERE (after line FROM_LINE, if given).
net_wait_log() {
	local end=$((SECONDS + $3))
	until tail -n +"$((${4:-0} + 1))" "$BT_TMP/$1.log" | grep -E -- "$2" >/dev/null; do
		[ "$SECONDS" -ge "$end" ] &&
			bt_fail "$1 logged no line matching /$2/ within ${3}s"
		sleep 0.05
	done
}

# net_log_lines NODE: the number of lines NODE's log has now (a mark for
# net_wait_log).
net_log_lines() { grep -c '' "$BT_TMP/$1.log" 2>/dev/null || echo 0; }

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

# ---- the acknowledged-write checker (ackcheck.py; its header has the rules)
#
#   net_ck_init OFFSET LENGTH            # the writers' region, state dir
#   net_ck_writer alice 262144 32 16     # session 1: 256 KiB, QD32, FLUSH/16
#   net_ck_wait_acks 200 20              # 200 acknowledged in this session
#   ...failover...
#   net_ck_check bob C "bob after the failover" --commit
#
# Sessions follow one another: net_ck_writer refuses to start while the
# previous writer runs (net_ck_stop, or the node it wrote to died).
NET_CK_DIR=
NET_CK_SESSION=0
NET_CK_PID=
NET_CK_OFF=0
NET_CK_LEN=0

net_ck_init() { # OFFSET LENGTH
	NET_CK_DIR=$BT_TMP/ck
	NET_CK_OFF=$1
	NET_CK_LEN=$2
	mkdir -p "$NET_CK_DIR"
}

# net_ck_writer NODE [BS [QD [FLUSH_EVERY [SEED [MAX_S [OFF LEN]]]]]]: a
# new writer session on NODE's export, in the background (NET_CK_PID).
# Defaults: 4 KiB, depth 16, no FLUSH, seed = session number, 60 s, the
# whole region (OFF LEN: a part of it; checks still cover all of it).
net_ck_writer() {
	[ -n "$NET_CK_DIR" ] || bt_fail "net_ck_writer called before net_ck_init"
	if [ -n "$NET_CK_PID" ] && bt_pid_running "$NET_CK_PID"; then
		bt_fail "net_ck_writer: session $NET_CK_SESSION (pid $NET_CK_PID) still runs"
	fi
	NET_CK_SESSION=$((NET_CK_SESSION + 1))
	/usr/bin/python3 "$BT_DIR/ackcheck.py" write --uri "$(pair_uri "$1")" \
		--dir "$NET_CK_DIR" --session "$NET_CK_SESSION" \
		--offset "${7:-$NET_CK_OFF}" --length "${8:-$NET_CK_LEN}" --bs "${2:-4096}" \
		--qd "${3:-16}" --flush-every "${4:-0}" --seed "${5:-$NET_CK_SESSION}" \
		--max-s "${6:-60}" >>"$NET_CK_DIR/writers.out" 2>&1 &
	NET_CK_PID=$!
	bt_on_exit "bt_kill_pid $NET_CK_PID"
	bt_log "writer session $NET_CK_SESSION on $1 (pid $NET_CK_PID): bs ${2:-4096} qd ${3:-16} flush every ${4:-0}"
}

# net_ck_acks [SESSION]: acknowledged writes logged in SESSION (default:
# the current one).
net_ck_acks() {
	local f=$NET_CK_DIR/s${1:-$NET_CK_SESSION}.log
	[ -f "$f" ] || { echo 0; return; }
	grep -c '^A ' "$f"
}

# net_ck_wait_acks COUNT DEADLINE_S: poll until the current session has
# COUNT acknowledged writes; fails if its writer ends first.
net_ck_wait_acks() {
	local end=$((SECONDS + $2))
	while [ "$(net_ck_acks)" -lt "$1" ]; do
		bt_pid_running "$NET_CK_PID" ||
			bt_fail "writer session $NET_CK_SESSION ended with $(net_ck_acks) of $1 writes acknowledged: $(tail -n 2 "$NET_CK_DIR/writers.out" | tr '\n' ' ')"
		[ "$SECONDS" -ge "$end" ] &&
			bt_fail "writer session $NET_CK_SESSION: $(net_ck_acks) of $1 writes acknowledged within ${2}s"
		sleep 0.05
	done
}

# net_ck_stop [DRAIN_S]: end the writer: SIGTERM, it stops submitting
# and waits up to DRAIN_S (default 5) for the writes in flight; killed if
# it has not ended 5 s after that.
net_ck_stop() {
	[ -n "$NET_CK_PID" ] || return 0
	if bt_pid_running "$NET_CK_PID"; then
		kill -TERM "$NET_CK_PID" 2>/dev/null
		bt_wait_exit "$NET_CK_PID" $((${1:-5} + 5)) || kill -KILL "$NET_CK_PID" 2>/dev/null
	fi
	wait "$NET_CK_PID" 2>/dev/null
	NET_CK_PID=
}

# net_ck_verify TARGET PROTO WHAT [ackcheck check options]: check what
# TARGET holds against every session logged: TARGET is a node (read through
# its export: it must be Primary) or image:NODE (its backing file: stop it
# first, or let it be idle). Returns ackcheck's status (0 held, 1 rules
# broken, 2 could not check); NET_CK_SUMMARY is its summary line,
# NET_CK_REPORT the whole report, NET_CK_LOST the acknowledged writes lost.
net_ck_verify() {
	local target=$1 proto=$2 what=$3 rc src
	shift 3
	rm -f "$NET_CK_DIR/last.json"
	case "$target" in
	image:*) src=(--image "$(pair_img "${target#image:}")") ;;
	*) src=(--uri "$(pair_uri "$target")") ;;
	esac
	NET_CK_REPORT=$(/usr/bin/python3 "$BT_DIR/ackcheck.py" check --dir "$NET_CK_DIR" \
		--proto "$proto" --offset "$NET_CK_OFF" --length "$NET_CK_LEN" \
		--what "$what" "${src[@]}" "$@" 2>&1)
	rc=$?
	NET_CK_SUMMARY=$(printf '%s\n' "$NET_CK_REPORT" | head -n 1)
	NET_CK_LOST=$(/usr/bin/python3 -c 'import json, sys
print(json.load(open(sys.argv[1]))["lost_writes"])' "$NET_CK_DIR/last.json" 2>/dev/null)
	[ "$rc" = 0 ] || NET_CK_LOST=${NET_CK_LOST:-?}
	printf '%s\n' "$NET_CK_REPORT" >>"$NET_CK_DIR/checks.out"
	return "$rc"
}

# net_ck_check TARGET PROTO WHAT [options]: net_ck_verify or fail the test
# with the report.
net_ck_check() {
	net_ck_verify "$@" ||
		bt_fail "$(printf '%s\n' "$NET_CK_REPORT" | head -n 6 | tr '\n' '|')"
	bt_log "$NET_CK_SUMMARY"
}
