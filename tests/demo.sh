#!/usr/bin/env bash
# make demo: a two-node pair on loopback, end to end.
#   1. two sparse backing files, two daemons (alice, bob), one config
#   2. alice is promoted (first time: --force) and syncs bob
#   3. fio writes through alice's NBD export, with checksums
#   4. alice is killed with SIGKILL; bob is promoted
#   5. fio verifies through bob that every acknowledged block is there
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BLOCKD=$BUILD/blockd
BLOCKCTL=$BUILD/blockctl
DIR=$(mktemp -d /tmp/blockd-demo.XXXXXX)
SIZE=${DEMO_SIZE:-1G}
WRITE=${DEMO_WRITE:-256M}
pids=()

cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$DIR"
}
trap cleanup EXIT

free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
status_field() { # node, python expression over the status dict s
	"$BLOCKCTL" -c "$DIR/r0.conf" -n "$1" status --json 2>/dev/null |
		/usr/bin/python3 -c "import json,sys; s=json.load(sys.stdin); print($2)" 2>/dev/null || true
}
wait_for() { # node, expression, expected, what
	local deadline=$((SECONDS + 60))
	until [ "$(status_field "$1" "$2")" = "$3" ]; do
		[ $SECONDS -lt $deadline ] || { echo "timed out waiting for $4" >&2; exit 1; }
		sleep 0.1
	done
}

say "two nodes on loopback in $DIR"
truncate -s "$SIZE" "$DIR/alice.img" "$DIR/bob.img"
cat > "$DIR/r0.conf" <<CONF
[resource]
name = r0
protocol = C
secret = demo-secret
[node alice]
address = 127.0.0.1:$(free_port)
disk = $DIR/alice.img
nbd = unix:$DIR/alice.nbd
control = $DIR/alice.ctl
[node bob]
address = 127.0.0.1:$(free_port)
disk = $DIR/bob.img
nbd = unix:$DIR/bob.nbd
control = $DIR/bob.ctl
CONF
cat "$DIR/r0.conf"
"$BLOCKCTL" -c "$DIR/r0.conf" -n alice create-md
"$BLOCKCTL" -c "$DIR/r0.conf" -n bob create-md
"$BLOCKD" -c "$DIR/r0.conf" -n alice 2>"$DIR/alice.log" & pids+=($!)
alice=$!
"$BLOCKD" -c "$DIR/r0.conf" -n bob 2>"$DIR/bob.log" & pids+=($!)
wait_for alice "s['peer']['connection']" Connected "the nodes to connect"

say "both start Secondary: promote alice (first time, so --force) and sync bob"
"$BLOCKCTL" -c "$DIR/r0.conf" -n alice primary --force
wait_for alice "s['peer']['disk']" UpToDate "the initial sync"
"$BLOCKCTL" -c "$DIR/r0.conf" -n alice status
"$BLOCKCTL" -c "$DIR/r0.conf" -n bob status

say "fio writes $WRITE through alice's NBD export (protocol C, crc32c checksums)"
(cd "$DIR" && fio --name=demo --ioengine=nbd --uri="nbd+unix:///r0?socket=$DIR/alice.nbd" \
	--rw=randwrite --bs=4k --iodepth=32 --size="$WRITE" --verify=crc32c \
	--do_verify=0 --verify_state_save=1 \
	--group_reporting 2>&1 | grep -E 'IOPS|lat \(usec\): min|err=')
"$BLOCKCTL" -c "$DIR/r0.conf" -n alice status
"$BLOCKCTL" -c "$DIR/r0.conf" -n bob status

say "kill -9 alice, the Primary"
kill -9 "$alice"
wait "$alice" 2>/dev/null || true
wait_for bob "s['peer']['connection']" Connecting "bob to notice"
"$BLOCKCTL" -c "$DIR/r0.conf" -n bob status

say "promote bob (its disk is UpToDate: no --force needed)"
"$BLOCKCTL" -c "$DIR/r0.conf" -n bob primary
"$BLOCKCTL" -c "$DIR/r0.conf" -n bob status

say "fio verifies every block written through alice, reading from bob"
(cd "$DIR" && fio --name=demo --ioengine=nbd --uri="nbd+unix:///r0?socket=$DIR/bob.nbd" \
	--rw=randwrite --bs=4k --iodepth=32 --size="$WRITE" --verify=crc32c \
	--verify_only --verify_state_load=1 \
	--group_reporting 2>&1 | grep -E 'READ:|err=|verify')
echo
echo "every block is there: the demo passed"
