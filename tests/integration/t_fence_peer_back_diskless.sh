#!/bin/bash
# Fenced I/O resumes when the peer comes back without a disk (sim seed 79:
# a write stayed unanswered for good). fencing = resource-and-stonith,
# protocol C. bob disconnects while alice is Primary: alice freezes I/O and
# runs fence-peer, which exits 1 (outcome unknown), so she stays frozen and
# a write issued now is held. bob then detaches his disk and connects
# again, Diskless: he holds no data and cannot be promoted without one, so
# every held write is safe on alice alone. Asserts:
#  - before bob is back, the held write has neither completed nor failed;
#  - once the pair is connected (alice UpToDate, bob Diskless), alice's
#    io_frozen goes false and the held write completes without an error;
#  - a new write completes and reads back.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/netlib.sh"
bt_init 90

SIZE=$((16 * M))
URI=$(pair_uri alice)

net_init
net_hook_install
net_pair_up C "$SIZE" 'fencing = resource-and-stonith' \
	"fence-peer = $NET_HOOK" 'hook-timeout-ms = 20000'

# writer NAME OFFSET BYTE: a 4 KiB NBD write in the background; its exit
# status lands in $BT_TMP/NAME.rc.
writer() {
	rm -f "$BT_TMP/$1.rc"
	(
		nbdsh -u "$URI" -c "h.pwrite(bytes([$3]) * 4096, $2)" >"$BT_TMP/$1.out" 2>&1
		# Whole or not at all: writer_done polls for the file.
		echo $? >"$BT_TMP/$1.rc.tmp" && mv "$BT_TMP/$1.rc.tmp" "$BT_TMP/$1.rc"
	) &
	bt_on_exit "bt_kill_pid $!"
}

# writer_done NAME DEADLINE_S: the write completed successfully.
writer_done() {
	local end=$((SECONDS + $2))
	until [ -f "$BT_TMP/$1.rc" ]; do
		[ "$SECONDS" -ge "$end" ] &&
			bt_fail "$1: the write was not answered within ${2}s (io_frozen $(pair_get alice io_frozen): $(pair_get alice io_frozen_reason))"
		sleep 0.05
	done
	bt_expect_eq "$(cat "$BT_TMP/$1.rc")" 0 "$1: status of the write ($(head -3 "$BT_TMP/$1.out"))"
}

net_hook_set fence-peer rc 1 alice
pair_ok bob disconnect
pair_wait alice 5 "alice frozen" 's["io_frozen"] is True'
net_hook_wait end fence-peer 1 10 alice
pair_wait alice 2 "still frozen after fence-peer exit 1" 's["io_frozen"] is True'

writer held $((1 * M)) 171
pair_ok bob detach
pair_wait bob 10 "bob Diskless" 's["disk"] == "Diskless"'
[ -f "$BT_TMP/held.rc" ] &&
	bt_fail "the write issued while frozen ended before the peer was back (status $(cat "$BT_TMP/held.rc"))"

pair_ok bob connect
pair_wait alice 10 "connected to a Diskless bob" \
	'p["connection"] == "Connected" and p["disk"] == "Diskless" and s["disk"] == "UpToDate"'
pair_wait alice 5 "I/O resumed" 's["io_frozen"] is False'
writer_done held 10

writer after $((2 * M)) 172
writer_done after 10
timeout 20 /usr/bin/python3 -c '
import nbd, sys
h = nbd.NBD(); h.connect_uri(sys.argv[1])
for off, b in ((1 << 20, 171), (2 << 20, 172)):
    assert h.pread(4096, off) == bytes([b]) * 4096, off' "$URI" ||
	bt_fail "a completed write does not read back"
bt_pass "fenced I/O resumed when the peer came back Diskless; the held write completed"
