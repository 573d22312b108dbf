#!/bin/bash
# blockd --check-config -c FILE -n NODE: a valid two-node file exits 0 and
# says "... is valid", for -n alice while bob's disk is absent (it is on
# bob's machine) and for -n bob, without creating a control socket; each
# broken variant exits 2 with "FILE:LINE: reason" on stderr, LINE being
# the line of the offending key in the file as written (for a clash
# between two keys either one's line counts):
#   unknown key ([resource] and [node]), unknown section (with a key, and
#   empty), bad values (protocol = D, io-mode = fast, read-only = maybe,
#   ping-interval-ms = abc, poll-us = 5000), this node's disk missing, both nodes with the
#   same peer address, same control socket, an nbd tcp address equal to
#   this node's or the peer's link address or a wildcard on the same port,
#   fencing resource-and-stonith with protocol A, a hook that is not an
#   executable file (mode 0644, missing, a directory).
# blockctl against a node with no daemon (no socket, or a stale socket
# left by a crash) exits 3 and says no blockd is running for this node.
# Every case is checked; the failures are reported together.
. "$(dirname "$0")/lib.sh"
bt_init 60

BLOCKCTL=${BLOCKCTL:-$(dirname "$BLOCKD")/blockctl}
D=$BT_TMP
PA=$(bt_free_port)
PB=$(bt_free_port)
while [ "$PB" = "$PA" ]; do PB=$(bt_free_port); done
truncate -s 16M "$D/alice.img"
printf '#!/bin/sh\nexit 0\n' >"$D/hook-ok.sh"
chmod 755 "$D/hook-ok.sh"
printf '#!/bin/sh\nexit 0\n' >"$D/hook-noexec.sh"
chmod 644 "$D/hook-noexec.sh"
mkdir "$D/hookdir"

# base: a valid two-node configuration (bob's disk does not exist here).
base() {
	cat <<EOF
; a comment
[resource]
name = r0
protocol = C
secret = s3cret
fencing = resource-only
fence-peer = $D/hook-ok.sh
out-of-sync = $D/hook-ok.sh

[node alice]
address = 127.0.0.1:$PA
disk = $D/alice.img
nbd = unix:$D/alice.nbd
control = $D/alice.ctl
[node bob]
address = 127.0.0.1:$PB
disk = $D/bob.img
nbd = unix:$D/bob.nbd
control = $D/bob.ctl
EOF
}

FAILS=()
fail_case() { FAILS+=("$1: $2"); bt_log "FAILED $1: $2"; }
N=0

# variant NAME SED_SCRIPT: write base with the sed script applied to
# $D/NAME.conf; prints the path.
variant() {
	base | sed -e "$2" >"$D/$1.conf" || bt_fail "sed for $1"
	echo "$D/$1.conf"
}

# lineof FILE TEXT: the number of the line that is exactly TEXT (one).
lineof() {
	local l
	l=$(grep -n -x -F -- "$2" "$1" | cut -d: -f1)
	[ "$(echo "$l" | grep -c .)" = 1 ] || bt_fail "'$2' is not exactly once in $1"
	echo "$l"
}

# expect_bad NAME NODE FILE "LINE[ LINE2]" REASON_ERE
expect_bad() {
	local name=$1 node=$2 file=$3 lines=$4 ere=$5 out err rc l ok=0
	N=$((N + 1))
	out=$("$BLOCKD" --check-config -c "$file" -n "$node" 2>"$D/err") && rc=0 || rc=$?
	err=$(head -c 400 "$D/err")
	if [ "$rc" != 2 ]; then
		fail_case "$name" "exit $rc, expected 2 (stdout '$out', stderr '$err')"
		return
	fi
	for l in $lines; do
		grep -Eq -- "^$file:$l: " "$D/err" && ok=1
	done
	[ "$ok" = 1 ] || { fail_case "$name" "stderr '$err' does not start with $file:<${lines// /|}>: "; return; }
	grep -Eq -- "$ere" "$D/err" || fail_case "$name" "reason '$err' does not match /$ere/"
}

# ---- valid -----------------------------------------------------------------
good=$D/good.conf
base >"$good"
for node in alice bob; do
	# Each node checks only its own disk: bob's exists only for -n bob.
	[ "$node" = bob ] && truncate -s 16M "$D/bob.img"
	N=$((N + 1))
	out=$("$BLOCKD" --check-config -c "$good" -n "$node" 2>"$D/err") && rc=0 || rc=$?
	if [ "$rc" != 0 ]; then
		fail_case "valid config, -n $node" "exit $rc: $(head -c 300 "$D/err")"
	elif ! printf '%s\n' "$out" | grep -q 'is valid'; then
		fail_case "valid config, -n $node" "stdout '$out' does not say 'is valid'"
	fi
done
rm -f "$D/bob.img"
[ ! -e "$D/alice.ctl" ] || fail_case "valid config" "--check-config created the control socket"

# ---- syntax and values -------------------------------------------------------
f=$(variant unknown-res-key '/^protocol = C$/a frobnicate = 1')
expect_bad "unknown key in [resource]" alice "$f" "$(lineof "$f" 'frobnicate = 1')" "frobnicate"

f=$(variant unknown-node-key '/^disk = .*bob.img$/a sizzle = yes')
expect_bad "unknown key in [node bob]" alice "$f" "$(lineof "$f" 'sizzle = yes')" "sizzle"

f=$(variant unknown-section '/^fencing = /i [resourse]')
expect_bad "unknown section with keys" alice "$f" \
	"$(lineof "$f" '[resourse]') $(lineof "$f" 'fencing = resource-only')" "resourse"

f=$(variant empty-unknown-section '/^\[node alice\]$/i [bogus]')
expect_bad "unknown empty section" alice "$f" "$(lineof "$f" '[bogus]')" "bogus"

f=$(variant protocol-d 's/^protocol = C$/protocol = D/')
expect_bad "protocol = D" alice "$f" "$(lineof "$f" 'protocol = D')" "protocol"

f=$(variant io-mode-fast '/^secret = /a io-mode = fast')
expect_bad "io-mode = fast" alice "$f" "$(lineof "$f" 'io-mode = fast')" "io-mode"

f=$(variant read-only-maybe '/^secret = /a read-only = maybe')
expect_bad "read-only = maybe" alice "$f" "$(lineof "$f" 'read-only = maybe')" "read-only"

f=$(variant ping-abc '/^secret = /a ping-interval-ms = abc')
expect_bad "ping-interval-ms = abc" alice "$f" "$(lineof "$f" 'ping-interval-ms = abc')" "ping-interval-ms"

f=$(variant poll-us-big '/^secret = /a poll-us = 5000')
expect_bad "poll-us = 5000" alice "$f" "$(lineof "$f" 'poll-us = 5000')" "poll-us must be 0\.\.1000"

# ---- checks against this machine and across nodes ----------------------------
f=$(variant missing-disk "s#^disk = $D/alice.img\$#disk = $D/missing.img#")
expect_bad "this node's disk missing" alice "$f" "$(lineof "$f" "disk = $D/missing.img")" "missing\.img"

f=$(variant same-address "s#^address = 127.0.0.1:$PB\$#address = 127.0.0.1:$PA#")
l=$(grep -n -x -F "address = 127.0.0.1:$PA" "$f" | cut -d: -f1 | paste -sd' ')
expect_bad "same peer address" alice "$f" "$l" "127\.0\.0\.1:$PA"

f=$(variant same-control "s#^control = $D/bob.ctl\$#control = $D/alice.ctl#")
l=$(grep -n -x -F "control = $D/alice.ctl" "$f" | cut -d: -f1 | paste -sd' ')
expect_bad "same control socket" alice "$f" "$l" "alice\.ctl"

f=$(variant nbd-self "s#^nbd = unix:$D/alice.nbd\$#nbd = unix:$D/alice.nbd,tcp:127.0.0.1:$PA#")
expect_bad "nbd tcp = own link address" alice "$f" \
	"$(lineof "$f" "nbd = unix:$D/alice.nbd,tcp:127.0.0.1:$PA") $(lineof "$f" "address = 127.0.0.1:$PA")" "$PA"

f=$(variant nbd-peer "s#^nbd = unix:$D/alice.nbd\$#nbd = tcp:127.0.0.1:$PB#")
expect_bad "nbd tcp = peer link address" alice "$f" \
	"$(lineof "$f" "nbd = tcp:127.0.0.1:$PB") $(lineof "$f" "address = 127.0.0.1:$PB")" "$PB"

f=$(variant nbd-wildcard "s#^nbd = unix:$D/alice.nbd\$#nbd = tcp:0.0.0.0:$PA#")
expect_bad "nbd tcp 0.0.0.0 on the link port" alice "$f" \
	"$(lineof "$f" "nbd = tcp:0.0.0.0:$PA") $(lineof "$f" "address = 127.0.0.1:$PA")" "$PA"

f=$(variant stonith-a 's/^protocol = C$/protocol = A/; s/^fencing = resource-only$/fencing = resource-and-stonith/')
expect_bad "resource-and-stonith with protocol A" alice "$f" \
	"$(lineof "$f" 'protocol = A') $(lineof "$f" 'fencing = resource-and-stonith')" "protocol"

f=$(variant hook-noexec "s#^fence-peer = .*#fence-peer = $D/hook-noexec.sh#")
expect_bad "fence-peer hook mode 0644" alice "$f" "$(lineof "$f" "fence-peer = $D/hook-noexec.sh")" "hook-noexec"

f=$(variant hook-missing "s#^out-of-sync = .*#out-of-sync = $D/no-such-hook.sh#")
expect_bad "out-of-sync hook missing" alice "$f" "$(lineof "$f" "out-of-sync = $D/no-such-hook.sh")" "no-such-hook"

f=$(variant hook-dir "s#^fence-peer = .*#fence-peer = $D/hookdir#")
expect_bad "fence-peer hook is a directory" alice "$f" "$(lineof "$f" "fence-peer = $D/hookdir")" "hookdir"

# ---- blockctl without a daemon --------------------------------------------------
# expect_nodaemon WHAT ARGS...: exit 3 and the explanation.
expect_nodaemon() {
	local what=$1 rc
	shift
	N=$((N + 1))
	timeout 10 "$BLOCKCTL" "$@" >"$D/out" 2>"$D/err" && rc=0 || rc=$?
	if [ "$rc" != 3 ]; then
		fail_case "$what" "exit $rc, expected 3 ($(head -c 300 "$D/err"))"
	elif ! grep -q 'no blockd is running for this node' "$D/err"; then
		fail_case "$what" "stderr '$(head -c 300 "$D/err")' lacks 'no blockd is running for this node'"
	fi
}
expect_nodaemon "blockctl status, no socket" -c "$good" -n alice status
expect_nodaemon "blockctl status --json, no socket" -c "$good" -n alice status --json
expect_nodaemon "blockctl verify, no socket" -c "$good" -n alice verify
expect_nodaemon "blockctl events, no socket" -c "$good" -n bob events
expect_nodaemon "blockctl --control, no socket" --control "$D/nothing.ctl" status
# A socket file left behind by a daemon that died.
/usr/bin/python3 -c 'import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.close()' "$D/alice.ctl" || bt_fail "could not make a stale socket"
expect_nodaemon "blockctl status, stale socket" -c "$good" -n alice status

if [ ${#FAILS[@]} -gt 0 ]; then
	bt_fail "${#FAILS[@]} of $N cases failed: $(printf '%s; ' "${FAILS[@]}")"
fi
bt_pass "$N cases"
