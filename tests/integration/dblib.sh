# Helpers for database-on-blockd integration tests: the block stack on a
# node's export (nbdfuse + loop device + ext4 mount, built and torn down by
# stacklib.sh), a PostgreSQL server on it, and a load generator whose every
# committed row is logged by the test. Source it after lib.sh, pairlib.sh
# and bt_init:
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/pairlib.sh"
#   . "$(dirname "$0")/dblib.sh"
#   bt_init 150
#   db_require            # skips (77) without root, FUSE, loop, PostgreSQL
#
# What it owns: $BT_TMP/fuse-NODE (nbdfuse mount), $BT_TMP/fs-NODE (ext4
# mount), the loop device of each node, $BT_TMP/pgsock (the server's unix
# socket; it never listens on TCP), the postmaster and load generator it
# starts (ended by PID: a crash is SIGSTOP of the postmaster, then SIGKILL of
# it and of its children). db_cleanup is registered with bt_on_exit and
# undoes all of it, even with a daemon dead underneath.
# Invariants: readiness is polled against a deadline; PostgreSQL runs as the
# postgres user with fsync, full_page_writes and synchronous_commit on.

. "$(dirname "${BASH_SOURCE[0]}")/stacklib.sh"

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
PG_USER=${PG_USER:-postgres}
PG_DB=bench
declare -A DB_FUSE_PID=() DB_LOOP=()
DB_PM_PID=
DB_PM_LOG=
DB_LOAD_PID=
DB_PGBENCH_PID=

# db_require: skip unless everything the stack and the server need is here.
db_require() {
	local c
	stack_require
	for c in mkfs.ext4 setpriv; do
		command -v "$c" >/dev/null || bt_skip "$c not installed"
	done
	[ -n "$PG_BIN" ] || bt_skip "PostgreSQL binaries not installed (/usr/lib/postgresql/*/bin)"
	for c in initdb postgres pgbench psql pg_controldata; do
		[ -x "$PG_BIN/$c" ] || bt_skip "PostgreSQL binary $PG_BIN/$c missing"
	done
	id -u "$PG_USER" >/dev/null 2>&1 || bt_skip "no $PG_USER user"
	# The server runs as $PG_USER and must reach its data dir and socket.
	chmod 711 "$BT_TMP"
	mkdir -p "$BT_TMP/pgsock"
	chown "$PG_USER:" "$BT_TMP/pgsock"
	bt_on_exit db_cleanup
}

db_as_pg() { (cd "$BT_TMP" && setpriv --reuid="$PG_USER" --regid="$PG_USER" --init-groups -- "$@"); }

# db_attach NODE: nbdfuse of NODE's export on $BT_TMP/fuse-NODE, a loop
# device on the file it shows; sets DB_LOOP[NODE].
db_attach() {
	local n=$1 dir=$BT_TMP/fuse-$1
	stack_fuse_start "$dir" nbd "$BT_TMP/nbdfuse-$n.log" "$(pair_uri "$n")" ||
		bt_fail "$n's export: $STACK_ERR"
	DB_FUSE_PID[$n]=$STACK_PID
	stack_loop_attach "$dir/nbd" --direct-io=off || bt_fail "$n's export: $STACK_ERR"
	DB_LOOP[$n]=$STACK_DEV
	bt_log "$n: loop device ${DB_LOOP[$n]}"
}

# db_mount NODE: mount the ext4 on NODE's loop device at $BT_TMP/fs-NODE
# (after a crash this replays the journal).
db_mount() {
	stack_fs_mount "${DB_LOOP[$1]}" "$BT_TMP/fs-$1" -t ext4 ||
		bt_fail "mounting ext4 on $1's export failed: $STACK_ERR"
}

# db_detach NODE: clean unmount, detach, nbdfuse exited; any failure fails
# the test, naming what still holds the device or the mount.
db_detach() {
	local n=$1
	stack_fs_umount "$BT_TMP/fs-$n" || bt_fail "$n's ext4: $STACK_ERR"
	if [ -n "${DB_LOOP[$n]:-}" ]; then
		stack_loop_detach "${DB_LOOP[$n]}" 20 || bt_fail "$STACK_ERR"
		DB_LOOP[$n]=
	fi
	stack_fuse_stop "$BT_TMP/fuse-$n" 30 || bt_fail "$n's export: $STACK_ERR"
	DB_FUSE_PID[$n]=
}

# db_teardown NODE: unmount and detach whatever is left of NODE's stack,
# even with its daemon dead (lazy unmounts, nbdfuse ended by PID).
db_teardown() {
	local n=$1
	stack_teardown_fs "$BT_TMP/fs-$n"
	[ -n "${DB_LOOP[$n]:-}" ] && stack_teardown_loop "${DB_LOOP[$n]}"
	DB_LOOP[$n]=
	stack_teardown_fuse "$BT_TMP/fuse-$n"
	DB_FUSE_PID[$n]=
	return 0
}

db_cleanup() {
	[ -n "$DB_LOAD_PID" ] && kill -KILL "$DB_LOAD_PID" 2>/dev/null
	[ -n "$DB_PGBENCH_PID" ] && kill -KILL "$DB_PGBENCH_PID" 2>/dev/null
	db_pg_kill9
	db_teardown alice
	db_teardown bob
}

# db_initdb DATADIR: a new cluster (trust auth for local connections). It is
# made durable with syncfs rather than initdb's own file-by-file sync.
db_initdb() {
	mkdir -p "$1"
	chown "$PG_USER:" "$1"
	chmod 700 "$1"
	db_as_pg "$PG_BIN/initdb" --no-sync -A trust -U "$PG_USER" -D "$1" >"$BT_TMP/initdb.out" 2>&1 ||
		bt_fail "initdb failed: $(tail -3 "$BT_TMP/initdb.out")"
	sync -f "$1" || bt_fail "syncfs after initdb failed"
}

# db_cluster_state DATADIR: "Database cluster state" from pg_controldata.
db_cluster_state() {
	"$PG_BIN/pg_controldata" "$1" 2>/dev/null | sed -n 's/^Database cluster state: *//p'
}

# db_pg_start DATADIR LOGNAME: start the postmaster (its PID in DB_PM_PID),
# log in $BT_TMP/LOGNAME.log (a new name each start), and wait until it
# accepts queries.
db_pg_start() {
	local end=$((SECONDS + 60))
	DB_PM_LOG=$BT_TMP/$2.log
	[ ! -e "$DB_PM_LOG" ] || bt_fail "postgres log $DB_PM_LOG already exists"
	(cd "$BT_TMP" && exec setpriv --reuid="$PG_USER" --regid="$PG_USER" --init-groups -- \
		"$PG_BIN/postgres" -D "$1" -c listen_addresses= \
		-c unix_socket_directories="$BT_TMP/pgsock" \
		-c fsync=on -c full_page_writes=on -c synchronous_commit=on \
		-c wal_sync_method=fdatasync -c max_wal_size=96MB -c min_wal_size=32MB \
		-c shared_buffers=32MB -c max_connections=30) >>"$DB_PM_LOG" 2>&1 &
	DB_PM_PID=$!
	bt_log "started postgres (pid $DB_PM_PID) on $1"
	until grep -q 'database system is ready to accept connections' "$DB_PM_LOG"; do
		bt_pid_running "$DB_PM_PID" || bt_fail "postgres exited during start-up: $(tail -5 "$DB_PM_LOG" | tr '\n' ' ')"
		[ "$SECONDS" -ge "$end" ] && bt_fail "postgres did not accept connections within 60s"
		sleep 0.05
	done
	db_psql -c 'SELECT 1' postgres >/dev/null || bt_fail "postgres logged ready but refuses queries"
}

# db_pg_stop: fast shutdown (SIGINT: a shutdown checkpoint, then exit 0).
db_pg_stop() {
	kill -INT "$DB_PM_PID" || bt_fail "postgres (pid $DB_PM_PID) is not running"
	bt_wait_exit "$DB_PM_PID" 60 || bt_fail "postgres did not shut down within 60s"
	wait "$DB_PM_PID"
	local rc=$?
	DB_PM_PID=
	[ "$rc" = 0 ] || bt_fail "postgres exited with status $rc on fast shutdown"
	grep -q 'database system is shut down' "$DB_PM_LOG" || bt_fail "postgres logged no clean shutdown"
}

# db_pg_kill9: crash the server: freeze the postmaster (so it forks no
# more), SIGKILL it and each of its children by PID.
db_pg_kill9() {
	local pm=$DB_PM_PID kids p
	[ -n "$pm" ] || return 0
	DB_PM_PID=
	disown "$pm" 2>/dev/null	# no "Killed" job report from bash
	if bt_pid_running "$pm"; then
		kill -STOP "$pm" 2>/dev/null
		kids=$(ps -o pid= --ppid "$pm" 2>/dev/null)
		kill -KILL "$pm" 2>/dev/null
		for p in $kids; do kill -KILL "$p" 2>/dev/null; done
		for p in $kids; do bt_wait_exit "$p" 10; done
	fi
	bt_wait_exit "$pm" 10
	return 0
}

# db_psql [psql args...]: psql as $PG_USER on the test's socket, unaligned,
# tuples only, stopping at the first error; database $PG_DB unless the last
# argument names another.
db_psql() {
	"$PG_BIN/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$BT_TMP/pgsock" -U "$PG_USER" "$@"
}

# db_q SQL: one query on $PG_DB, its output in DB_OUT, or the test fails.
# (Not for use in $(...): bt_fail must run in the test's own shell.)
db_q() {
	DB_OUT=$(db_psql -c "$1" "$PG_DB" 2>&1) || bt_fail "query failed: $1: $DB_OUT"
}

# db_pgbench ARGS...: pgbench on the test's socket and database.
db_pgbench() {
	"$PG_BIN/pgbench" -h "$BT_TMP/pgsock" -U "$PG_USER" "$@" "$PG_DB"
}

# db_load_start DIR PHASE WORKERS: the logged-commit load in the background
# (PID in DB_LOAD_PID). WORKERS connections each insert rows with unique ids
# PHASE*10^9 + worker*10^7 + seq, one autocommit INSERT per statement. A
# row's id goes to DIR/attempted before the statement is sent and to
# DIR/committed only once the server has reported the commit (CommandComplete
# and ReadyForQuery, idle) on the wire. It runs until DIR/stop exists (exit
# 0) or a connection fails (exit 3, reason in DIR/errors).
db_load_start() {
	local dir=$1
	mkdir -p "$dir"
	: >"$dir/attempted"
	: >"$dir/committed"
	rm -f "$dir/stop"
	/usr/bin/python3 - "$BT_TMP/pgsock/.s.PGSQL.5432" "$PG_USER" "$PG_DB" "$dir" "$2" "$3" \
		>"$dir/load.out" 2>&1 <<'EOF' &
import os, socket, struct, sys, threading

sock_path, user, db, out, phase, workers = sys.argv[1:]
phase, workers = int(phase), int(workers)
lock = threading.Lock()
attempted = open(os.path.join(out, "attempted"), "a")
committed = open(os.path.join(out, "committed"), "a")
errors = []

class Conn:
    """The PostgreSQL v3 wire protocol, just enough for trust auth and
    simple queries."""
    def __init__(self):
        self.s = socket.socket(socket.AF_UNIX)
        self.s.settimeout(60)
        self.s.connect(sock_path)
        body = struct.pack("!i", 196608)
        for k, v in (("user", user), ("database", db),
                     ("application_name", f"dbload-{phase}")):
            body += k.encode() + b"\0" + v.encode() + b"\0"
        body += b"\0"
        self.s.sendall(struct.pack("!i", len(body) + 4) + body)
        self.until_ready()

    def recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("server closed the connection")
            buf += chunk
        return buf

    def until_ready(self):
        """Read messages up to ReadyForQuery: (tags seen, status, error)."""
        tags, err = [], None
        while True:
            t = self.recv_exact(1)
            (n,) = struct.unpack("!i", self.recv_exact(4))
            body = self.recv_exact(n - 4)
            if t == b"R" and struct.unpack("!i", body[:4])[0] != 0:
                raise ConnectionError("server asks for a password")
            if t == b"E":
                err = body.replace(b"\0", b" ").decode(errors="replace")
            if t == b"C":
                tags.append(body.rstrip(b"\0").decode())
            if t == b"Z":
                return tags, body, err

    def query(self, sql):
        q = sql.encode() + b"\0"
        self.s.sendall(b"Q" + struct.pack("!i", len(q) + 4) + q)
        return self.until_ready()

def worker(w):
    seq = 0
    try:
        c = Conn()
        while not os.path.exists(os.path.join(out, "stop")):
            seq += 1
            i = phase * 10**9 + w * 10**7 + seq
            with lock:
                attempted.write(f"{i}\n")
                attempted.flush()
            tags, status, err = c.query(
                f"INSERT INTO acked (id, worker, payload) "
                f"VALUES ({i}, {w}, repeat(md5('{i}'), 8))")
            if err or tags != ["INSERT 0 1"] or status != b"I":
                raise RuntimeError(f"id {i}: {err or tags} status {status}")
            with lock:
                committed.write(f"{i}\n")
                committed.flush()
    except Exception as e:
        with lock:
            errors.append(f"worker {w}: {type(e).__name__}: {e}")

threads = [threading.Thread(target=worker, args=(w,)) for w in range(workers)]
for t in threads:
    t.start()
for t in threads:
    t.join()
with open(os.path.join(out, "errors"), "w") as f:
    f.write("".join(e + "\n" for e in errors))
sys.exit(3 if errors else 0)
EOF
	DB_LOAD_PID=$!
}

# db_wait_lines FILE COUNT DEADLINE_S WHAT: poll until FILE has COUNT lines,
# failing if the load generator has stopped first.
db_wait_lines() {
	local end=$((SECONDS + $3))
	while [ "$(wc -l <"$1")" -lt "$2" ]; do
		bt_pid_running "$DB_LOAD_PID" || bt_fail "$4: load generator stopped early: $(cat "$(dirname "$1")/errors" "$(dirname "$1")/load.out" 2>/dev/null | head -5 | tr '\n' ' ')"
		[ "$SECONDS" -ge "$end" ] && bt_fail "$4: only $(wc -l <"$1") of $2 within $3s"
		sleep 0.05
	done
}

# db_load_reap DEADLINE_S WANT_RC: wait for the load generator to end.
db_load_reap() {
	local rc
	bt_wait_exit "$DB_LOAD_PID" "$1" || bt_fail "load generator did not end within $1s"
	wait "$DB_LOAD_PID"
	rc=$?
	DB_LOAD_PID=
	return "$rc"
}

# db_check_ids DIR EXACT: the table holds every id in DIR/committed; each
# row's id was attempted; with EXACT=1 (the load was stopped cleanly) the
# phase's rows are exactly the committed ones. Payloads are checked too.
# Sets DB_COMMITTED and DB_PRESENT (that phase's row count).
db_check_ids() {
	local dir=$1 exact=$2 phase
	phase=$(head -n 1 "$dir/committed" | cut -c1)
	[ -n "$phase" ] || bt_fail "no logged commits in $dir"
	db_q "SELECT id FROM acked WHERE id / 1000000000 = $phase"
	printf '%s\n' "$DB_OUT" >"$dir/present"
	db_q "SELECT count(*) FROM acked WHERE payload <> repeat(md5(id::text), 8)"
	bt_expect_eq "$DB_OUT" 0 "rows whose payload is not the one inserted"
	rm -f "$dir/counts"
	/usr/bin/python3 - "$dir" "$exact" >"$dir/counts" 2>"$dir/check.err" <<'EOF'
import sys
d, exact = sys.argv[1], sys.argv[2] == "1"
read = lambda f: [int(x) for x in open(f"{d}/{f}").read().split()]
att, com, pres = read("attempted"), read("committed"), read("present")
sa, sc, sp = set(att), set(com), set(pres)
if len(pres) != len(sp) or len(com) != len(sc):
    sys.exit(print("duplicate ids", file=sys.stderr) or 1)
lost = sorted(sc - sp)
if lost:
    sys.exit(print(f"{len(lost)} of {len(sc)} committed ids missing, e.g. {lost[:5]}",
                   file=sys.stderr) or 1)
phantom = sorted(sp - sa)
if phantom:
    sys.exit(print(f"{len(phantom)} ids present that were never inserted: {phantom[:5]}",
                   file=sys.stderr) or 1)
extra = sorted(sp - sc)
if exact and extra:
    sys.exit(print(f"{len(extra)} ids present but not committed after a clean stop: {extra[:5]}",
                   file=sys.stderr) or 1)
print(len(sc), len(sp))
EOF
	[ $? = 0 ] || bt_fail "rows of $(basename "$dir"): $(cat "$dir/check.err")"
	read -r DB_COMMITTED DB_PRESENT <"$dir/counts"
	[ -n "$DB_PRESENT" ] || bt_fail "rows of $(basename "$dir"): no counts"
}

# db_check_tpcb: the TPC-B invariant of pgbench's tables: every transaction
# adds the same delta to one account, teller and branch and logs it in the
# history, so the four sums are equal. Sets DB_HISTORY (its row count).
db_check_tpcb() {
	db_q "SELECT (SELECT sum(abalance) FROM pgbench_accounts), (SELECT sum(tbalance) FROM pgbench_tellers), (SELECT sum(bbalance) FROM pgbench_branches), (SELECT coalesce(sum(delta), 0) FROM pgbench_history), (SELECT count(*) FROM pgbench_history)"
	/usr/bin/python3 - "$DB_OUT" <<'EOF' || bt_fail "TPC-B invariant broken: sums accounts|tellers|branches|history, rows = $DB_OUT"
import sys
a, t, b, h, n = (int(x) for x in sys.argv[1].split("|"))
sys.exit(not (a == t == b == h))
EOF
	DB_HISTORY=${DB_OUT##*|}
}

# db_amcheck: B-tree and heap-in-index checks of the indexes that matter.
db_amcheck() {
	db_q "CREATE EXTENSION IF NOT EXISTS amcheck"
	db_q "SELECT count(bt_index_check(c.oid, true)) FROM pg_class c WHERE c.relname IN ('acked_pkey', 'pgbench_accounts_pkey', 'pgbench_branches_pkey', 'pgbench_tellers_pkey')"
	bt_expect_eq "$DB_OUT" 4 "indexes checked by amcheck"
}

# db_pgbench_processed FILE: "number of transactions actually processed".
db_pgbench_processed() {
	sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$1"
}
