#!/bin/bash
# A node promoted while it still applies the old Primary's writes never
# lets those land over its own new writes. Protocol A (alice's writes
# complete before bob has written them); bob's disk is paused (pauselib).
# alice writes block X twice (the second waits on bob behind the first,
# which cannot finish), alice demotes, bob is promoted (alice is
# Secondary and he is UpToDate) and a client on bob writes X a third
# time; then bob's disk resumes. bob's write came last, so X must read
# back as bob's write on bob and on alice's disk, and the data areas must
# be identical.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/resynclib.sh"
. "$(dirname "$0")/pauselib.sh"
bt_init 60

X=$((5 * M))
pd_promote_bob_while_applying "$X"

# bob's write, then a request the server refuses at once: its reply
# proves the write reached the resource (one connection's requests are
# taken in order) before the disk resumes.
/usr/bin/python3 - "$(pair_uri bob)" "$X" "$BT_TMP/client" <<'PY' >"$BT_TMP/client.out" 2>&1 &
import nbd, sys
h = nbd.NBD()
h.connect_uri(sys.argv[1])
w = h.aio_pwrite(b"3" * 4096, int(sys.argv[2]))
try:
    h.pread(4096, h.get_size())
    sys.exit("a read past the end succeeded")
except nbd.Error:
    pass
open(sys.argv[3] + ".submitted", "w").close()
while not h.aio_command_completed(w):
    h.poll(-1)
h.flush()
h.shutdown()
PY
client=$!
bt_on_exit "bt_kill_pid $client"
pd_wait_file "$client" "$BT_TMP/client.submitted" "bob's write" "$BT_TMP/client.out"
pd_resume bob
wait "$client" || bt_fail "the write on bob failed: $(cat "$BT_TMP/client.out")"
pair_wait bob 20 "bob's write on alice" 'p["pending_writes"] == 0 and p["replication"] == "Established"'

got=$(/usr/bin/python3 - "$(pair_uri bob)" "$(pair_img alice)" "$X" <<'PY'
import nbd, sys
uri, img, x = sys.argv[1], sys.argv[2], int(sys.argv[3])
h = nbd.NBD()
h.connect_uri(uri)
b = h.pread(4096, x)
with open(img, "rb") as f:
    f.seek(x)
    a = f.read(4096)
print(f"bob reads {chr(b[0])}{'' if b == b[:1] * 4096 else '?'}, "
      f"alice's disk holds {chr(a[0])}{'' if a == a[:1] * 4096 else '?'}")
PY
)
[ "$got" = "bob reads 3, alice's disk holds 3" ] ||
	bt_fail "block X after the new Primary's write: $got (want bob's write, 3, on both)"
rl_expect_identical "after the promotion"
# A clean stop: exit status 0 and no sanitizer report.
bt_daemon_stop bob
bt_daemon_stop alice
bt_pass "the new Primary's write stayed over the old Primary's"
