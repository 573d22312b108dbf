#!/bin/bash
# PostgreSQL on a protocol C pair keeps every committed transaction across an
# unplanned failover and a planned switchover.
#
# ext4 on alice's export (nbdfuse + loop device), a PostgreSQL cluster on it
# (fsync, full_page_writes and synchronous_commit on), pgbench's TPC-B tables.
# Load: pgbench's TPC-B transactions plus connections inserting rows with
# unique ids, each id logged by the test only once the server has reported
# its commit on the wire.
#  1. Failover: alice's daemon is killed with SIGKILL mid-load, then its
#     postgres (SIGKILL) and the dead block stack. bob is promoted without
#     --force, its ext4 mounted (journal replay), postgres started on it:
#     the cluster must have been left "in production" and go through crash
#     recovery; every logged id is there (and no id that was never sent),
#     the TPC-B sums agree, pgbench_history holds at least the transactions
#     pgbench saw complete, and amcheck finds the indexes sound.
#  2. Switchover: alice restarts, resyncs from bob; the load runs on bob and
#     is stopped cleanly, postgres shut down, the stack detached, bob demoted
#     and alice promoted (no --force). Both data areas are identical, the
#     cluster on alice is "shut down" and starts without recovery, and the
#     table holds exactly the ids committed in that run, pgbench_history
#     exactly the transactions pgbench reported.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/dblib.sh"
bt_init 170
db_require

M=$((1024 * 1024))
SIZE=$((384 * M))
WORKERS=4
KILL_AFTER_IDS=3000	# logged commits before the failover (a CHECKPOINT at half)
KILL_AFTER_TPCB=1000	# pgbench transactions before the failover
T0=$SECONDS

# wait_query SQL MIN DEADLINE_S WHAT: poll until the query's value >= MIN.
wait_query() {
	local end=$((SECONDS + $3)) v
	while :; do
		v=$(db_psql -c "$1" "$PG_DB" 2>/dev/null)
		[ -n "$v" ] && [ "$v" -ge "$2" ] && return 0
		[ "$SECONDS" -ge "$end" ] && bt_fail "$4: $1 gave '$v', wanted >= $2 within $3s"
		sleep 0.1
	done
}

pair_setup C "$SIZE"
pair_start alice
pair_start bob
pair_wait_connected 20
pair_promote_first alice 60
bt_log "pair synced after $((SECONDS - T0))s"

# ---- the database on alice
db_attach alice
mkfs.ext4 -q -F "${DB_LOOP[alice]}" >"$BT_TMP/mkfs.out" 2>&1 || bt_fail "mkfs.ext4 failed: $(tail -2 "$BT_TMP/mkfs.out")"
db_mount alice
db_initdb "$BT_TMP/fs-alice/pgdata"
db_pg_start "$BT_TMP/fs-alice/pgdata" pg-alice
db_psql -c "CREATE DATABASE $PG_DB" postgres >/dev/null || bt_fail "CREATE DATABASE failed"
db_pgbench -i -s 2 -q >"$BT_TMP/pgbench-init.out" 2>&1 || bt_fail "pgbench -i failed: $(tail -3 "$BT_TMP/pgbench-init.out")"
db_q "CREATE TABLE acked (id bigint PRIMARY KEY, worker int NOT NULL, payload text NOT NULL)"
bt_log "database ready after $((SECONDS - T0))s"

# ---- unplanned failover under load
L1=$BT_TMP/load1
db_load_start "$L1" 1 "$WORKERS"
db_pgbench -n -c 4 -j 2 -T 100 >"$BT_TMP/pgbench1.out" 2>&1 &
DB_PGBENCH_PID=$!
# A checkpoint in the middle of the load: the pages written after it start
# with full-page images in the WAL, which recovery on bob must replay.
db_wait_lines "$L1/committed" $((KILL_AFTER_IDS / 2)) 60 "logged commits before the checkpoint"
db_q "CHECKPOINT"
db_wait_lines "$L1/committed" "$KILL_AFTER_IDS" 60 "logged commits before the failover"
wait_query "SELECT count(*) FROM pgbench_history" "$KILL_AFTER_TPCB" 60 "pgbench transactions before the failover"
bt_pid_running "$DB_PGBENCH_PID" || bt_fail "pgbench ended before the failover: $(tail -3 "$BT_TMP/pgbench1.out")"
bt_pid_running "$DB_LOAD_PID" || bt_fail "the load generator ended before the failover"
bt_daemon_kill9 alice
bt_log "alice killed at $(wc -l <"$L1/committed") logged commits, $((SECONDS - T0))s in"
db_pg_kill9
bt_wait_exit "$DB_PGBENCH_PID" 30 || bt_fail "pgbench did not end after the server died"
wait "$DB_PGBENCH_PID" && bt_fail "pgbench ended cleanly although its server was killed"
DB_PGBENCH_PID=
tpcb1=$(db_pgbench_processed "$BT_TMP/pgbench1.out")
[ -n "$tpcb1" ] || bt_fail "no transaction count in pgbench's output: $(tail -5 "$BT_TMP/pgbench1.out" | tr '\n' ' ')"
db_load_reap 30 && bt_fail "the load generator ended cleanly although its server was killed"
committed1=$(wc -l <"$L1/committed")
db_teardown alice

pair_wait bob 10 "peer loss noticed" 'p["connection"] != "Connected"'
bt_expect_eq "$(pair_get bob disk)" UpToDate "bob's disk after alice died"
pair_ok bob primary
pair_wait bob 5 "Primary" 's["role"] == "Primary" and not s["io_frozen"]'
db_attach bob
db_mount bob
bt_expect_eq "$(db_cluster_state "$BT_TMP/fs-bob/pgdata")" "in production" \
	"cluster state on bob after the failover (pg_controldata)"
db_pg_start "$BT_TMP/fs-bob/pgdata" pg-bob
grep -q 'automatic recovery in progress' "$DB_PM_LOG" || bt_fail "postgres on bob did not run crash recovery"
grep -q 'redo done' "$DB_PM_LOG" || bt_fail "postgres on bob did not finish redo"
db_check_ids "$L1" 0
n1=$DB_COMMITTED p1=$DB_PRESENT
db_check_tpcb
hist1=$DB_HISTORY
[ "$hist1" -ge "$tpcb1" ] || bt_fail "pgbench_history has $hist1 rows after the failover, pgbench saw $tpcb1 transactions complete"
db_amcheck
bt_log "failover: $n1 logged commits all present ($p1 rows), $hist1 TPC-B rows (pgbench saw $tpcb1), $((SECONDS - T0))s in"

# ---- alice comes back and resyncs from bob
pair_start alice
pair_wait alice 10 "back as Secondary" 's["role"] == "Secondary"'
pair_wait_synced bob 60
rs=$(pair_get alice peer.resync_received_bytes)
[ "$rs" -gt 0 ] || bt_fail "alice received no resync data from bob (resync_received_bytes $rs)"
bt_log "alice resynced $((rs / 1024)) KiB from bob"

# ---- planned switchover under load
L2=$BT_TMP/load2
db_load_start "$L2" 2 "$WORKERS"
db_pgbench -n -c 4 -j 2 -T 6 >"$BT_TMP/pgbench2.out" 2>&1 &
DB_PGBENCH_PID=$!
bt_wait_exit "$DB_PGBENCH_PID" 40 || bt_fail "pgbench -T 6 on bob did not end within 40s"
wait "$DB_PGBENCH_PID" || bt_fail "pgbench on bob failed: $(tail -5 "$BT_TMP/pgbench2.out" | tr '\n' ' ')"
DB_PGBENCH_PID=
tpcb2=$(db_pgbench_processed "$BT_TMP/pgbench2.out")
[ -n "$tpcb2" ] && [ "$tpcb2" -gt 0 ] || bt_fail "pgbench on bob processed no transactions: $(tail -5 "$BT_TMP/pgbench2.out" | tr '\n' ' ')"
bt_pid_running "$DB_LOAD_PID" || bt_fail "the load generator on bob stopped early: $(cat "$L2/errors" 2>/dev/null)"
touch "$L2/stop"
db_load_reap 30 || bt_fail "the load generator on bob failed: $(cat "$L2/errors" "$L2/load.out" 2>/dev/null | head -5 | tr '\n' ' ')"
committed2=$(wc -l <"$L2/committed")
[ "$committed2" -gt 0 ] || bt_fail "no logged commits on bob"
db_pg_stop
db_detach bob
pair_wait bob 10 "NBD clients gone" 's["nbd_connections"] == 0'
pair_ok bob secondary
pair_wait alice 10 "peer Secondary" 'p["role"] == "Secondary"'
pair_ok alice primary
pair_wait_synced alice 20
bt_expect_eq "$(pair_sha_data alice)" "$(pair_sha_data bob)" "sha256 of alice's data area vs bob's after the switchover"

db_attach alice
db_mount alice
bt_expect_eq "$(db_cluster_state "$BT_TMP/fs-alice/pgdata")" "shut down" \
	"cluster state on alice after the switchover (pg_controldata)"
db_pg_start "$BT_TMP/fs-alice/pgdata" pg-alice2
grep -q 'automatic recovery in progress' "$DB_PM_LOG" && bt_fail "postgres on alice ran crash recovery after a clean switchover"
db_check_ids "$L1" 0
bt_expect_eq "$DB_PRESENT" "$p1" "rows of the failover run after the switchover"
db_check_ids "$L2" 1
n2=$DB_COMMITTED
db_check_tpcb
hist2=$DB_HISTORY
bt_expect_eq "$hist2" $((hist1 + tpcb2)) "pgbench_history rows after the switchover (before + pgbench's count)"
db_amcheck
db_pg_stop
db_detach alice
bt_daemon_alive alice
bt_daemon_alive bob
bt_daemon_stop alice
bt_daemon_stop bob
bt_pass "failover: $n1 logged commits + $hist1 TPC-B txns survived crash recovery; switchover: $n2 commits + $tpcb2 TPC-B txns; $((SECONDS - T0))s"
