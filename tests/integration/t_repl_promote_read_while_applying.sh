#!/bin/bash
# A node promoted while it still applies the old Primary's writes answers
# a read of those blocks only once they are applied. Protocol A (alice's
# writes complete before bob has written them); bob's disk is paused
# (pauselib). alice writes block X twice, demotes, bob is promoted and a
# client on bob reads X; then bob's disk resumes. alice acknowledged both
# writes, so the read must return the second one ("2"), never the block
# as it was before them or the first one.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/resynclib.sh"
. "$(dirname "$0")/pauselib.sh"
bt_init 60

X=$((5 * M))
pd_promote_bob_while_applying "$X"

# bob's read, then a request the server refuses at once: its reply
# proves the read reached the resource (one connection's requests are
# taken in order) before the disk resumes.
/usr/bin/python3 - "$(pair_uri bob)" "$X" "$BT_TMP/client" <<'PY' >"$BT_TMP/client.out" 2>&1 &
import nbd, sys
h = nbd.NBD()
h.connect_uri(sys.argv[1])
buf = nbd.Buffer(4096)
r = h.aio_pread(buf, int(sys.argv[2]))
try:
    h.pread(4096, h.get_size())
    sys.exit("a read past the end succeeded")
except nbd.Error:
    pass
open(sys.argv[3] + ".submitted", "w").close()
while not h.aio_command_completed(r):
    h.poll(-1)
b = buf.to_bytearray()
print(f"read {chr(b[0])}{'' if b == b[:1] * 4096 else '?'}")
h.shutdown()
PY
client=$!
bt_on_exit "bt_kill_pid $client"
pd_wait_file "$client" "$BT_TMP/client.submitted" "bob's read" "$BT_TMP/client.out"
pd_resume bob
wait "$client" || bt_fail "the read on bob failed: $(cat "$BT_TMP/client.out")"
got=$(cat "$BT_TMP/client.out")
[ "$got" = "read 2" ] || bt_fail "bob's read of X while applying alice's writes: $got (want 2)"
bt_daemon_stop bob
bt_daemon_stop alice
bt_pass "the new Primary's read waited for the old Primary's writes"
