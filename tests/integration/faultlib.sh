# Block devices with real faults, for a node's `disk` or `meta`. Source it
# after lib.sh (and pairlib.sh) and bt_init, then call fault_require:
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/faultlib.sh"
#   bt_init 120
#   fault_require                      # skips (77) when the machine cannot
#   fault_dev_error m0 $((1 * M))     # prints /dev/loopN, also in $FAULT_DEV
#   fault_error_on m0 write            # pwrite requests fail with EIO
#   fault_error_off m0
#   fault_dev_writeback w0 $((1 * M))  # writes held until a flush
#   fault_power_cut w0                 # nbdkit killed: unflushed writes gone
#   fault_power_restore w0             # the device again, from what was flushed
#
# What it owns: one directory per device, $BT_TMP/fault-NAME, holding the
# backing file (back.img), the nbdkit server on a unix socket, an nbdfuse
# mount (mnt/, the export shown as the file mnt/dev), the loop device
# attached to that file with --direct-io=on, the error switch files, the
# logs and a symlink `link` to the current loop device. nbdfuse and the
# loop device are set up and taken down by stacklib.sh. Call the functions
# that start servers directly, never inside $(...): nbdkit started from a
# command substitution shuts down once that subshell is gone. nbdkit's PID
# is recorded in nbdkit.pid there, nbdfuse's by stacklib, and fault_cleanup
# (registered by fault_require with bt_on_exit) ends the test's daemons
# (the devices' users), then undoes every device: loop detach, FUSE
# unmount, nbdfuse, nbdkit, by PID.
#
# The stack: nbdkit file plugin (+ the error or the cache filter) --unix->
# nbdfuse --FUSE--> mnt/dev --loop--> /dev/loopN. What nbdkit 1.32 does,
# checked on this machine:
# - error filter: error-<op>-rate=100% with error-<op>-file=PATH fails
#   every request of that op with EIO while PATH exists. The ops are
#   pread, pwrite, trim and zero; a FLUSH cannot be failed (no knob). A
#   write with RWF_DSYNC on the loop device reports EIO.
# - cache filter, cache=writeback: writes stay in nbdkit's own temporary
#   file until a FLUSH (an fsync, fdatasync or RWF_DSYNC write on the loop
#   device); killing nbdkit with SIGKILL loses them ("power loss"). The
#   kernel's page cache of /dev/loopN is not nbdkit's: what a process
#   wrote without a sync reaches nbdkit (unflushed) when the device is
#   closed, so the power is cut after the user of the device died.
# Invariants: nothing outside $BT_TMP is touched except the loop devices
# attached here; a test may use several devices and run beside others.

. "$(dirname "${BASH_SOURCE[0]}")/stacklib.sh"

FAULT_OPS="read write trim zero"
FAULT_DEV=

# fault_require: skip unless root, FUSE, loop devices, nbdkit (with the
# error and cache filters) and nbdfuse are here; registers the cleanup.
fault_require() {
	local filterdir f
	stack_require
	command -v nbdkit >/dev/null || bt_skip "nbdkit not installed"
	filterdir=$(nbdkit --dump-config 2>/dev/null | sed -n 's/^filterdir=//p')
	for f in error cache; do
		[ -e "$filterdir/nbdkit-$f-filter.so" ] ||
			bt_skip "nbdkit has no $f filter (in '$filterdir')"
	done
	bt_on_exit fault_cleanup
}

fault_dir() { echo "$BT_TMP/fault-$1"; }

# fault_dev_error NAME SIZE: a SIZE-byte device whose requests fail on
# demand (fault_error_on); prints its /dev/loopN and sets FAULT_DEV.
fault_dev_error() {
	local d
	d=$(fault_dir "$1")
	mkdir -p "$d"
	echo error >"$d/mode"
	[ -e "$d/back.img" ] || truncate -s "$2" "$d/back.img"
	fault_attach "$1"
}

# fault_dev_writeback NAME SIZE: a SIZE-byte device with a volatile write
# cache (fault_power_cut loses what was not flushed); prints /dev/loopN
# and sets FAULT_DEV.
fault_dev_writeback() {
	local d
	d=$(fault_dir "$1")
	mkdir -p "$d"
	echo writeback >"$d/mode"
	[ -e "$d/back.img" ] || truncate -s "$2" "$d/back.img"
	fault_attach "$1"
}

# fault_dev_flush NAME SIZE: a SIZE-byte device whose FLUSH (and FUA
# writes) fail on demand (fault_error_on NAME flush); needs nbdkit's python
# plugin (fault_require_flush). Prints /dev/loopN and sets FAULT_DEV.
fault_dev_flush() {
	local d
	d=$(fault_dir "$1")
	mkdir -p "$d"
	echo flush >"$d/mode"
	[ -e "$d/back.img" ] || truncate -s "$2" "$d/back.img"
	fault_attach "$1"
}

# fault_pair_disk NODE KIND SIZE: NODE of the pair (PAIR_CONF) gets a
# KIND (error, writeback or flush) device of SIZE bytes as its disk, named
# NODEdisk, with fresh metadata on it.
fault_pair_disk() {
	local n=$1 name=$1disk
	"fault_dev_$2" "$name" "$3" >/dev/null
	sed -i "s|^disk = $BT_TMP/$n.img\$|disk = $(fault_link "$name")|" "$PAIR_CONF"
	grep -q "^disk = $(fault_link "$name")\$" "$PAIR_CONF" ||
		bt_fail "could not point $n at the fault device"
	"$BLOCKCTL" -c "$PAIR_CONF" -n "$n" create-md >/dev/null ||
		bt_fail "create-md on $n's $2 device failed"
}

# fault_pair_up NODE KIND PROTO SIZE [RESOURCE_LINE...]: a pair on
# loopback (net_pair_setup with the lines) whose NODE has a KIND device
# as its disk (fault_pair_disk), both daemons started and connected,
# alice promoted and bob synced.
fault_pair_up() {
	local node=$1 kind=$2 proto=$3 size=$4
	shift 4
	NET_LOOPBACK=1
	net_init
	net_pair_setup "$proto" "$size" "$@"
	fault_pair_disk "$node" "$kind" "$size"
	net_start alice
	net_start bob
	pair_wait_connected 20
	pair_promote_first alice 60
}

# fault_require_flush: fault_require, and nbdkit's python plugin.
fault_require_flush() {
	local plugindir
	fault_require
	plugindir=$(nbdkit --dump-config 2>/dev/null | sed -n 's/^plugindir=//p')
	[ -e "$plugindir/nbdkit-python-plugin.so" ] ||
		bt_skip "nbdkit has no python plugin (package nbdkit-plugin-python)"
}

# fault_error_on NAME [OP...]: requests of those ops (read, write, trim,
# zero; default all of them; flush on a fault_dev_flush device) fail with
# EIO from now on.
fault_error_on() {
	local d op
	d=$(fault_dir "$1")
	shift
	for op in ${*:-$FAULT_OPS}; do
		case " $FAULT_OPS flush " in *" $op "*) ;; *) bt_fail "fault_error_on: unknown op '$op'" ;; esac
		: >"$d/err-$op"
	done
}

# fault_error_off NAME [OP...]: those ops (default all) succeed again.
fault_error_off() {
	local d op
	d=$(fault_dir "$1")
	shift
	for op in ${*:-$FAULT_OPS flush}; do rm -f "$d/err-$op"; done
}

# fault_dev NAME: the current loop device; fault_link NAME: a symlink that
# always points at it (stable across fault_power_restore, for configs).
fault_dev() { cat "$(fault_dir "$1")/loop"; }
fault_link() { echo "$(fault_dir "$1")/link"; }

# fault_backing NAME: the backing file (what survives a power cut).
fault_backing() { echo "$(fault_dir "$1")/back.img"; }

# fault_power_cut NAME: kill nbdkit hard: writes not yet flushed are gone.
# Kill the device's user first (see the header).
fault_power_cut() {
	local d pid
	d=$(fault_dir "$1")
	pid=$(cat "$d/nbdkit.pid" 2>/dev/null)
	[ -n "$pid" ] || bt_fail "fault_power_cut $1: no nbdkit running"
	kill -KILL "$pid" 2>/dev/null
	bt_wait_exit "$pid" 10 || bt_fail "fault_power_cut $1: nbdkit (pid $pid) survived SIGKILL"
	wait "$pid" 2>/dev/null	# reaped here: no "Killed" job report
	rm -f "$d/nbdkit.pid"
	bt_log "power cut on $1 (nbdkit pid $pid killed)"
}

# fault_power_restore NAME: tear down what is left of the stack and attach
# the device again over the backing file; prints the new /dev/loopN and
# sets FAULT_DEV.
fault_power_restore() {
	fault_detach "$1"
	fault_attach "$1"
}

# fault_attach NAME: nbdkit, nbdfuse and the loop device over back.img.
fault_attach() {
	local n=$1 d mode end dev
	d=$(fault_dir "$n")
	mode=$(cat "$d/mode")
	mkdir -p "$d/mnt"
	rm -f "$d/sock" "$d/nbdkit.pid" "$d/loop"
	local filter=(--filter=error file "$d/back.img")
	local op
	if [ "$mode" = error ]; then
		for op in $FAULT_OPS; do
			local kop=$op
			[ "$op" = read ] && kop=pread
			[ "$op" = write ] && kop=pwrite
			filter+=("error-$kop-rate=100%" "error-$kop-file=$d/err-$op")
		done
	elif [ "$mode" = flush ]; then
		filter=(python "$BT_DIR/nbdkit-flushfail.py" "file=$d/back.img"
			"flush-fail-file=$d/err-flush")
	else
		filter=(--filter=cache file "$d/back.img" cache=writeback)
	fi
	# The cache filter keeps its (unlinked) cache file in TMPDIR.
	TMPDIR=$d nbdkit -f -U "$d/sock" "${filter[@]}" \
		>>"$d/nbdkit.log" 2>&1 </dev/null &
	echo $! >"$d/nbdkit.pid"
	end=$((SECONDS + 20))
	until [ -S "$d/sock" ]; do
		bt_pid_running "$(cat "$d/nbdkit.pid")" ||
			bt_fail "nbdkit for $n exited: $(tail -2 "$d/nbdkit.log")"
		[ "$SECONDS" -ge "$end" ] && bt_fail "nbdkit for $n: no socket within 20s"
		sleep 0.05
	done
	stack_fuse_start "$d/mnt" dev "$d/fuse.log" "nbd+unix:///?socket=$d/sock" ||
		bt_fail "fault device $n: $STACK_ERR"
	stack_loop_attach "$d/mnt/dev" --direct-io=on || bt_fail "fault device $n: $STACK_ERR"
	dev=$STACK_DEV
	# No readahead: the device's page cache then holds 4 KiB folios, so
	# writing one block back (a ranged fsync, as RWF_DSYNC does) never
	# carries its neighbours along: what reaches the device is what was
	# written and synced, block by block, as on a disk with its own cache.
	echo 0 >"/sys/block/${dev#/dev/}/queue/read_ahead_kb" ||
		bt_fail "could not turn readahead off on $dev"
	echo "$dev" >"$d/loop"
	ln -sfn "$dev" "$d/link"
	FAULT_DEV=$dev
	bt_log "fault device $n ($mode): $dev"
	echo "$dev"
}

# fault_detach NAME: loop device, FUSE mount, nbdfuse and nbdkit, by PID;
# never fails (a half-dead stack is what a power cut leaves).
fault_detach() {
	local d dev pid
	d=$(fault_dir "$1")
	dev=$(cat "$d/loop" 2>/dev/null)
	[ -n "$dev" ] && stack_teardown_loop "$dev" 5
	rm -f "$d/loop"
	stack_teardown_fuse "$d/mnt"
	pid=$(cat "$d/nbdkit.pid" 2>/dev/null)
	[ -n "$pid" ] && bt_kill_pid "$pid"
	rm -f "$d/nbdkit.pid"
	return 0
}

fault_cleanup() {
	local d id
	# The devices' users are the test's daemons: end them first (by PID,
	# as the exit trap would next), or each loop device stays attached
	# until the wait runs out.
	for id in "${!BT_PIDS[@]}"; do
		bt_kill_pid "${BT_PIDS[$id]}"
		unset "BT_PIDS[$id]"
	done
	for d in "$BT_TMP"/fault-*; do
		[ -d "$d" ] && fault_detach "${d##*/fault-}"
	done
	return 0
}

# fault_block_put URI OFFSET BYTE: one 4 KiB block of BYTE at OFFSET, then
# a FLUSH (fails the test if either fails).
fault_block_put() {
	timeout 20 /usr/bin/python3 - "$@" <<'PY' || bt_fail "write of the block at $2 failed"
import nbd, sys
h = nbd.NBD()
h.connect_uri(sys.argv[1])
h.pwrite(bytes([int(sys.argv[3])]) * 4096, int(sys.argv[2]))
h.flush()
PY
}

# fault_block_get URI OFFSET: the first byte of the 4 KiB block at OFFSET
# as a character, or EIO / "errno N" when the read fails.
fault_block_get() {
	timeout 20 /usr/bin/python3 - "$@" <<'PY'
import nbd, sys
h = nbd.NBD()
h.connect_uri(sys.argv[1])
try:
    print(chr(h.pread(4096, int(sys.argv[2]))[0]))
except nbd.Error as e:
    print("EIO" if e.errnum == 5 else "errno %s" % e.errnum)
PY
}

# fault_block_poke URI: a write that meets a failing disk (its error is
# expected and ignored), so the node notices the failure now.
fault_block_poke() {
	timeout 20 /usr/bin/python3 - "$1" <<'PY' >/dev/null 2>&1
import nbd, sys
h = nbd.NBD()
h.connect_uri(sys.argv[1])
try:
    h.pwrite(b"C" * 4096, 8192)
except nbd.Error:
    pass
PY
}

# fault_data NODE FAULTY: NODE's data area (its fault device when NODE is
# FAULTY, the node whose disk is one, else its image file).
fault_data() {
	if [ "$1" = "$2" ]; then fault_link "$1disk"; else pair_img "$1"; fi
}

# fault_check_both FAULTY CK_DIR REGION SIZE WHAT: both daemons stopped,
# FAULTY's disk a fault device: every write the ackcheck writer (CK_DIR)
# had acknowledged in protocol C is on alice's and bob's data areas (the
# first REGION bytes), and the two areas (SIZE bytes) are identical.
# Leaves each node's report in $BT_TMP/NODE.check.
fault_check_both() {
	local faulty=$1 dir=$2 region=$3 size=$4 what=$5 n sa sb
	for n in alice bob; do
		/usr/bin/python3 "$BT_DIR/ackcheck.py" check --dir "$dir" --proto C \
			--offset 0 --length "$region" --what "$n $what" \
			--image "$(fault_data "$n" "$faulty")" >"$BT_TMP/$n.check" 2>&1 ||
			bt_fail "$(head -n 6 "$BT_TMP/$n.check" | tr '\n' '|')"
	done
	sa=$(head -c "$size" "$(fault_data alice "$faulty")" | sha256sum | cut -d' ' -f1)
	sb=$(head -c "$size" "$(fault_data bob "$faulty")" | sha256sum | cut -d' ' -f1)
	bt_expect_eq "$sa" "$sb" "alice's data area $what vs bob's"
}

# fault_primary_writeback [CONFIG...]: a protocol C pair (net_pair_setup,
# SIZE bytes, CONFIG lines for both) whose alice has a writeback-cache
# disk (fault_pair_disk), both started and connected, alice Primary.
fault_primary_writeback() {
	net_pair_setup C "$SIZE" "$@"
	fault_pair_disk alice writeback "$SIZE"
	net_start alice
	net_start bob
	pair_wait_connected 20
	pair_promote_first alice 60
}

# fault_resynced_check FAULTY CK_DIR REGION WHAT: alice is back after her
# power loss: once both report the pair in sync, both stop and
# fault_check_both checks their data areas.
fault_resynced_check() {
	local faulty=$1 dir=$2 region=$3 what=$4 size
	pair_wait bob 60 "in sync again" \
		's["disk"] == "UpToDate" and p["disk"] == "UpToDate" and p["replication"] == "Established" and p["out_of_sync_bytes"] == 0'
	pair_wait alice 10 "in sync again" \
		's["disk"] == "UpToDate" and p["disk"] == "UpToDate" and p["replication"] == "Established"'
	size=$(pair_get alice size_bytes)
	bt_daemon_stop alice
	bt_daemon_stop bob
	fault_check_both "$faulty" "$dir" "$region" "$size" "$what"
}
