# A backing disk that a test can stall and release, or slow down: the
# node's image served by nbdkit (file plugin, pause filter, optionally the
# delay filter) through nbdfuse, so the daemon sees a regular file
# (O_DIRECT works) whose requests hang while paused. The same for a
# node's external metadata file alone (pd_attach_meta), to stall its
# metadata writes while its data disk goes on. Source it after lib.sh and
# pairlib.sh (or netlib.sh), then bt_init:
#
#   pair_setup C $((64 * M))          # images and metadata made as usual
#   pd_attach bob                     # before bob starts
#   pair_start alice; pair_start bob
#   pd_pause bob                      # bob's disk I/O hangs from now on
#   ...
#   pd_resume bob                     # and completes
#
#   pd_meta_external                  # after pair_setup: meta = FILE
#   pd_attach_meta alice              # before alice starts
#   ...
#   pd_pause alice.meta               # only her metadata writes hang
#   pd_resume alice.meta
#
# A pausable file has an ID: NODE for NODE's disk, NODE.meta for its
# metadata file. What it owns: per ID, $BT_TMP/pd-ID (the FUSE mount with
# the file "disk" or "meta"), the pause control socket $BT_TMP/pd-ID.sock,
# the nbdfuse process (which runs nbdkit by socket activation), and the
# node's `disk =` (or `meta =`) line in the pair's config files.
# Invariants: the node's image (or metadata file) keeps its bytes (nbdkit
# serves the very file), so pair_img and the data-area comparisons still
# apply; at exit the file is resumed first, then the node's daemon is
# ended by PID (it cannot finish I/O on a paused file), then the mount is
# taken down and nbdfuse (and with it nbdkit) exits.
# Writes to one file through FUSE are serialised by the kernel (the inode
# lock), so while paused they also queue in the order they were issued.

. "$(dirname "${BASH_SOURCE[0]}")/stacklib.sh"

declare -A PD_FUSE_PID=() PD_NODE=()

# pd_attach NODE [WRITE_DELAY]: serve NODE's image through a pausable disk
# and point NODE's config at it; with WRITE_DELAY (nbdkit's syntax, e.g.
# 5ms) every write also takes that long: a slow disk. Call before NODE
# starts.
pd_attach() { pd_serve "$1" "$1" disk "$(pair_img "$1")" "${2:-}"; }

# pd_attach_meta NODE: serve NODE's external metadata file (its `meta =`
# line, as pd_meta_external writes it) pausable, as ID NODE.meta. Call
# before NODE starts.
pd_attach_meta() {
	local f
	f=$(sed -n "/^\[node $1\]/,/^\[/ s|^meta = ||p" "$(pair_conf_of "$1")")
	case "$f" in
	'' | internal) bt_fail "$1 has no external metadata file to pause (pd_meta_external first)" ;;
	esac
	pd_serve "$1.meta" "$1" meta "$f"
}

# pd_serve ID NODE KEY FILE [WRITE_DELAY]: serve FILE as $BT_TMP/pd-ID/KEY
# through the pause filter and point NODE's KEY line (disk, meta) at it.
# With PD_LOG=1 every request is also logged, as it arrives (before the
# pause filter holds it), to $BT_TMP/pd-ID.requests (pd_count).
pd_serve() {
	local id=$1 n=$2 key=$3 img=$4 dir=$BT_TMP/pd-$1 f end log=() filt=() arg=()
	command -v nbdkit >/dev/null || bt_skip "nbdkit not installed"
	stack_require_fuse
	[ "${PD_LOG:-0}" = 1 ] && log=(--filter=log) && arg=(logfile="$BT_TMP/pd-$id.requests")
	[ -n "${5:-}" ] && filt=(--filter=delay) && arg+=(delay-write="$5")
	PD_NODE[$id]=$n
	bt_on_exit "pd_detach $id"
	if ! stack_fuse_start "$dir" "$key" "$BT_TMP/pd-$id.log" --socket-activation \
		nbdkit "${log[@]}" --filter=pause "${filt[@]}" file "$img" \
		pause-control="$BT_TMP/pd-$id.sock" "${arg[@]}"; then
		# nbdkit refusing the filter ends nbdfuse: this machine cannot.
		bt_pid_running "$STACK_PID" || bt_skip "$id's $key: $STACK_ERR"
		bt_fail "the pausable $key of $n: $STACK_ERR"
	fi
	PD_FUSE_PID[$id]=$STACK_PID
	end=$((SECONDS + 20))
	until [ -S "$BT_TMP/pd-$id.sock" ]; do
		[ "$SECONDS" -ge "$end" ] && bt_fail "no pause control socket for $id within 20s"
		sleep 0.05
	done
	pd_unthrottle "$dir"
	for f in $(printf '%s\n' "$PAIR_CONF" "$(pair_conf_of alice)" "$(pair_conf_of bob)" | sort -u); do
		# Only the KEY line inside [node NODE].
		sed -i "/^\[node $n\]/,/^\[/ s|^$key = .*|$key = $dir/$key|" "$f" ||
			bt_fail "could not point $n's $key at $dir/$key in $f"
	done
	bt_log "$n: $key $img served pausable at $dir/$key (pd $id)${5:+, writes delayed $5}"
}

# pd_unthrottle MOUNT: FUSE lets only max_background (12) asynchronous
# requests wait at once and blocks whoever submits the next one, here the
# daemon's loop thread inside io_uring_enter: a paused disk would freeze
# the whole daemon, which no real disk does. Raise the limit through the
# FUSE control filesystem (mounted here if the system has not).
pd_unthrottle() {
	local ctl=/sys/fs/fuse/connections c
	mountpoint -q "$ctl" || mount -t fusectl fusectl "$ctl" 2>/dev/null ||
		bt_skip "cannot mount the FUSE control filesystem on $ctl"
	c=$ctl/$(stat -c %d "$1")
	[ -d "$c" ] || bt_fail "no FUSE control directory $c for $1"
	echo 65535 >"$c/max_background" && echo 65535 >"$c/congestion_threshold" ||
		bt_fail "could not raise the FUSE request limits in $c"
}

# pd_count ID REQUEST: how many REQUESTs (Flush, Write, ...) ID's disk has
# received so far (PD_LOG=1).
pd_count() {
	local n
	n=$(grep -c " $2 id=" "$BT_TMP/pd-$1.requests" 2>/dev/null) || true
	echo "${n:-0}"
}

# pd_send ID CHAR: send a command to the pause filter and wait for its
# answer (the upper-case letter; 'P' only once the requests the filter
# already took have completed). 1 on failure.
pd_send() {
	/usr/bin/python3 - "$BT_TMP/pd-$1.sock" "$2" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(30)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode())
got = s.recv(1)
sys.exit(0 if got == sys.argv[2].upper().encode() else f"answer {got!r}")
EOF
}

# pd_pause ID, pd_resume ID: ID is NODE (its disk) or NODE.meta.
pd_pause() { pd_send "$1" p || bt_fail "could not pause $1"; bt_log "$1: paused"; }
pd_resume() { pd_send "$1" r || bt_fail "could not resume $1"; bt_log "$1: resumed"; }

# pd_detach ID: resume, end the node's daemon, unmount (exit cleanup).
pd_detach() {
	local id=$1 n=${PD_NODE[$1]} dir=$BT_TMP/pd-$1
	[ -S "$BT_TMP/pd-$id.sock" ] && pd_send "$id" r 2>/dev/null
	[ -n "${BT_PIDS[$n]:-}" ] && bt_kill_pid "${BT_PIDS[$n]}"
	stack_teardown_fuse "$dir"
	PD_FUSE_PID[$id]=
}

# pd_meta_external: give both nodes external metadata files (so a paused
# data disk holds no metadata writes back) over blank images; call after
# pair_setup, before pd_attach. The pair starts as two blank, identical
# disks: pd_pair_blank_synced makes them one generation without a sync.
pd_meta_external() {
	local n out size=$PAIR_SIZE
	for n in alice bob; do
		sed -i "/^\[node $n\]/a meta = $BT_TMP/$n.meta" "$PAIR_CONF"
		truncate -s 0 "$(pair_img "$n")" && truncate -s "$size" "$(pair_img "$n")"
		out=$("$BLOCKCTL" -c "$PAIR_CONF" -n "$n" create-md --force 2>&1) ||
			bt_fail "create-md for $n with external metadata failed: $out"
	done
}

# pd_pair_blank_synced PRIMARY: both nodes running and connected, fresh
# from pd_meta_external: one new generation on both (no initial sync),
# PRIMARY promoted, both UpToDate and Established.
pd_pair_blank_synced() {
	pair_wait_connected 20
	pair_ok "$1" new-current-uuid --clear-bitmap
	pair_wait alice 10 "UpToDate without a sync" 's["disk"] == "UpToDate" and p["disk"] == "UpToDate"'
	pair_wait bob 10 "UpToDate without a sync" 's["disk"] == "UpToDate" and p["disk"] == "UpToDate"'
	pair_ok "$1" primary
	pair_wait_synced "$1" 20
}

# pd_pair_bob_pausable PROTOCOL SIZE: a pair on blank images of SIZE with
# external metadata, bob's disk pausable (pd_attach), both running, one
# new generation on both (pd_pair_blank_synced), alice Primary.
pd_pair_bob_pausable() {
	pair_setup "$1" "$2"
	pd_meta_external
	pd_attach bob
	pair_start alice
	pair_start bob
	pd_pair_blank_synced alice
}

# pd_promote_bob_while_applying X: a protocol A pair on blank synced
# disks, alice Primary; bob's disk paused, alice writes "1" then "2" over
# the 4 KiB block at X (both acknowledged: protocol A), bob receives both
# but writes neither, alice demotes and bob is promoted with alice's two
# writes still to apply. bob's disk stays paused (pd_resume bob).
pd_promote_bob_while_applying() {
	pd_pair_bob_pausable A "$((64 * M))"
	pd_pause bob
	timeout 20 /usr/bin/python3 - "$(pair_uri alice)" "$1" <<'PY' || bt_fail "writes through alice failed"
import nbd, sys
h = nbd.NBD()
h.connect_uri(sys.argv[1])
h.pwrite(b"1" * 4096, int(sys.argv[2]))
h.pwrite(b"2" * 4096, int(sys.argv[2]))
h.shutdown()
PY
	pair_wait bob 10 "both of alice's writes received" 'p["data_received_bytes"] >= 2 * 4096'
	pair_ok alice secondary
	pair_wait bob 10 "alice Secondary" 'p["role"] == "Secondary"'
	pair_ok bob primary
}

# pd_wait_file PID FILE WHAT OUT: wait up to 10 s for FILE, which the
# client PID (its output in OUT) creates once WHAT reached the daemon;
# fail if PID ends first.
pd_wait_file() {
	local end=$((SECONDS + 10))
	until [ -e "$2" ]; do
		bt_pid_running "$1" || bt_fail "the client ended early: $(cat "$4")"
		[ "$SECONDS" -ge "$end" ] && bt_fail "$3 did not reach the daemon within 10s"
		sleep 0.05
	done
}
