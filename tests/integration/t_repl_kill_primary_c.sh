#!/bin/bash
# Protocol C keeps every acknowledged write when the Primary dies: 5 rounds (ROUNDS)
# of fio 4 KiB random writes (crc32c verify headers, queue depth 32, a new
# seed each round) against the Primary's export; once the Primary has
# written a few MiB it is killed with SIGKILL mid-run, the Secondary is
# promoted without --force and `fio --verify_only` with the verify state
# fio saved checks every write fio saw acknowledged on the new Primary. The
# dead node is restarted, must come back Secondary and be resynced from the
# new Primary (the data areas of both backing files identical afterwards);
# the roles alternate.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
bt_init 170

fio --enghelp 2>&1 | grep -qw nbd || bt_skip "fio has no nbd engine"

M=$((1024 * 1024))
SIZE=$((64 * M))
REGION=$((60 * M))	# fio's region: inside the export (metadata follows it)
ROUNDS=${ROUNDS:-5}	# make check; ROUNDS=100 for a soak
KILL_DELTA=$((6 * M))	# bytes the Primary writes in a round before the kill

# jobfile FILE URI SEED EXTRA: the one fio job, shared by both phases.
# randrepeat=0 makes randseed choose the offsets too (with fio's default
# randrepeat=1 every round would rewrite the same blocks in the same order,
# so a lost write could hide behind the previous round's identical block).
jobfile() {
	cat >"$1" <<EOF
[global]
ioengine=nbd
uri=$2
rw=randwrite
bs=4k
iodepth=32
size=$REGION
randrepeat=0
randseed=$3
verify=crc32c
verify_fatal=1
$4
[kp]
EOF
}

# kill_when_written NODE: SIGKILL NODE once its written_bytes counter
# reaches KILL_AFTER while fio is still running; prints the counter it saw.
kill_when_written() {
	local n=$1 pid=${BT_PIDS[$1]}
	/usr/bin/python3 - "$BLOCKCTL" "$(pair_conf_of "$n")" "$n" "$pid" "$KILL_AFTER" "$FIO_PID" <<'EOF' ||
import json, os, signal, subprocess, sys, time
ctl, conf, node, pid, want, fio_pid = sys.argv[1:]
end = time.monotonic() + 20
while True:
    r = subprocess.run([ctl, "-c", conf, "-n", node, "status", "--json"],
                       capture_output=True, text=True, timeout=5)
    w = json.loads(r.stdout)["written_bytes"] if r.returncode == 0 else -1
    if w >= int(want):
        os.kill(int(pid), signal.SIGKILL)
        print(w)
        sys.exit(0)
    try:
        with open(f"/proc/{fio_pid}/stat") as f:
            fio_alive = f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        fio_alive = False
    if not fio_alive or time.monotonic() > end:
        sys.exit(f"{node} wrote only {w} bytes before fio ended or the deadline passed")
    time.sleep(0.005)
EOF
		bt_fail "round $ROUND: could not kill $n mid-run"
}

pair_setup C "$SIZE"
pair_start alice
pair_start bob
pair_wait_connected 20
pair_promote_first alice 30

PRI=alice
total_verified=0
t_start=$SECONDS
for ROUND in $(seq 1 "$ROUNDS"); do
	SEC=$(pair_peer_of "$PRI")
	rd=$BT_TMP/round$ROUND
	mkdir -p "$rd"
	seed=$((7000 + ROUND))
	jobfile "$rd/write.fio" "$(pair_uri "$PRI")" "$seed" $'verify_state_save=1\ndo_verify=0'
	# The verify pass runs at depth 1: fio decides whether a block of the
	# last iodepth writes was acknowledged from the count of reads completed
	# so far, so a deeper verify queue reads past the saved state and flags
	# writes that were still in flight at the kill.
	jobfile "$rd/verify.fio" "$(pair_uri "$SEC")" "$seed" $'verify_only=1\ndo_verify=1\nverify_state_load=1\nverify_state_save=0\niodepth=1'

	written0=$(pair_get "$PRI" written_bytes)
	KILL_AFTER=$((written0 + KILL_DELTA))
	(cd "$rd" && exec fio --output-format=json --output=write.json write.fio >write.out 2>&1) &
	FIO_PID=$!
	bt_on_exit "bt_kill_pid $FIO_PID"
	killed_at=$(kill_when_written "$PRI")
	pid=${BT_PIDS[$PRI]}
	wait "$pid" 2>/dev/null
	unset "BT_PIDS[$PRI]"
	# fio sees its connection die and ends with an error; it saves the
	# verify state (what was acknowledged, what was in flight) on the way.
	bt_wait_exit "$FIO_PID" 30 || bt_fail "round $ROUND: fio did not end after $PRI was killed"
	wait "$FIO_PID" && bt_fail "round $ROUND: fio wrote its whole region before $PRI was killed"
	[ -s "$rd/local-kp-0-verify.state" ] ||
		bt_fail "round $ROUND: fio saved no verify state ($(ls "$rd"))"

	pair_wait "$SEC" 10 "peer loss noticed" 'p["connection"] != "Connected"'
	bt_expect_eq "$(pair_get "$SEC" disk)" UpToDate "round $ROUND: $SEC disk after $PRI died"
	pair_ok "$SEC" primary
	pair_wait "$SEC" 5 "Primary" 's["role"] == "Primary"'

	(cd "$rd" && fio --output-format=json --output=verify.json verify.fio >verify.out 2>&1) ||
		bt_fail "round $ROUND: fio --verify_only on $SEC failed: $(grep -Eim3 'verify|error|bad' "$rd/verify.out" "$rd/verify.json" | tr '\n' ' ')"
	verified=$(/usr/bin/python3 -c '
import json, sys
raw = open(sys.argv[1]).read()
j = json.loads(raw[raw.index("{"):])
print(j["jobs"][0]["read"]["io_bytes"] if j["jobs"][0]["error"] == 0 else -1)' "$rd/verify.json") ||
		bt_fail "round $ROUND: unreadable fio verify output"
	# Everything written before the kill was acknowledged except at most
	# the 32 requests in flight; the verify pass must have read that much.
	[ "$verified" -ge $((killed_at - written0 - 32 * 4096)) ] ||
		bt_fail "round $ROUND: verify read $verified bytes, but $PRI had written $((killed_at - written0)) before the kill"
	total_verified=$((total_verified + verified))

	# The dead node comes back Secondary and takes a resync.
	pair_start "$PRI"
	pair_wait "$PRI" 10 "back as Secondary" 's["role"] == "Secondary"'
	pair_wait_synced "$SEC" 30
	bt_expect_eq "$(pair_sha_data "$PRI")" "$(pair_sha_data "$SEC")" \
		"round $ROUND: sha256 of $PRI's data after the resync vs $SEC's"
	bt_log "round $ROUND: killed $PRI after $((killed_at - written0)) bytes, verified $verified on $SEC, resynced"
	rm -rf "$rd"
	PRI=$SEC
done
bt_daemon_stop alice
bt_daemon_stop bob
bt_pass "$ROUNDS rounds, $((total_verified / M)) MiB verified in $((SECONDS - t_start))s"
