#!/bin/bash
# fencing = resource-and-stonith, protocol C, with a real link failure (the
# veth between two network namespaces goes down) under a running fio
# randwrite job on the Primary (alice). Asserts what a user sees:
#  - alice's status shows io_frozen true within the ping timeout plus a
#    margin, and no write completes for a second (written_bytes constant)
#    while fio, whose requests are held, keeps waiting without an error;
#  - fence-peer ran exactly once, on alice, as `HOOK fence-peer` with
#    BLOCKD_NODE=alice, BLOCKD_PEER=bob, BLOCKD_ROLE=Primary,
#    BLOCKD_RESOURCE=r0 and BLOCKD_PEER_ADDRESS = bob's address;
#  - its exit 7 (peer STONITHed) resumes I/O (io_frozen false) and records
#    the peer Outdated (peer_outdated true); fio goes on and finishes its
#    whole region without an error;
#  - after the link heals bob is SyncTarget, then UpToDate; unfence-peer
#    runs exactly once, only after that;
#  - fio --verify_only over alice's export passes and both nodes' data
#    areas are identical.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/netlib.sh"
bt_init 120

fio --enghelp 2>&1 | grep -qw nbd || bt_skip "fio has no nbd engine"

SIZE=$((64 * M))
REGION=$((48 * M))

net_init
net_hook_install
net_pair_setup C "$SIZE" 'fencing = resource-and-stonith' \
	"fence-peer = $NET_HOOK" "unfence-peer = $NET_HOOK" \
	'resync-rate-max-mib = 16'
net_start alice
net_start bob
pair_wait_connected 20
pair_promote_first alice 30
bt_expect_eq "$(pair_get alice io_frozen)" false "io_frozen before the cut"
bt_expect_eq "$(pair_get alice peer_outdated)" false "peer_outdated before the cut"

# The hook answers only when the test lets it (after the checks of the
# frozen state), so those checks never race its answer.
net_hook_set fence-peer wait "$NET_HOOK_DIR/release"
net_hook_set fence-peer rc 7

jobfile() { # FILE EXTRA
	cat >"$1" <<EOF
[global]
ioengine=nbd
uri=$(pair_uri alice)
rw=randwrite
bs=4k
iodepth=16
size=$REGION
randrepeat=0
randseed=4242
verify=crc32c
verify_fatal=1
$2
[st]
EOF
}
jobfile "$BT_TMP/write.fio" $'do_verify=0\nverify_state_save=1'
jobfile "$BT_TMP/verify.fio" $'verify_only=1\ndo_verify=1\nverify_state_load=1\nverify_state_save=0'

written0=$(pair_get alice written_bytes)
(cd "$BT_TMP" && exec fio --output-format=json --output=write.json write.fio >write.out 2>&1) &
FIO_PID=$!
bt_on_exit "bt_kill_pid $FIO_PID"
net_wait_written alice $((written0 + 4 * M)) "$FIO_PID" 30

net_cut
cut_s=$(date +%s.%N)
# Loss is noticed after ping-timeout-ms (1 s); 2 s of margin.
pair_wait alice 3 "io_frozen after the cut" 's["io_frozen"] is True'
frozen_after=$(/usr/bin/python3 -c "import time; print(round(time.time() - $cut_s, 2))")
bt_log "frozen ${frozen_after}s after the cut"
reason=$(pair_get alice io_frozen_reason)
[ -n "$reason" ] && [ "$reason" != None ] || bt_fail "io_frozen true but no io_frozen_reason"

# Held, not failed: nothing completes for a second, fio is still waiting.
w1=$(pair_get alice written_bytes)
sleep 1
w2=$(pair_get alice written_bytes)
bt_expect_eq "$(pair_get alice io_frozen)" true "io_frozen while fence-peer runs"
bt_expect_eq "$w2" "$w1" "alice's written_bytes over 1s while frozen"
bt_pid_running "$FIO_PID" || bt_fail "fio ended while I/O was frozen: $(tail -3 "$BT_TMP/write.out")"
bt_expect_eq "$(net_hook_count start fence-peer)" 1 "fence-peer calls while frozen"

# Exit 7: the peer is STONITHed, writes resume and the peer is Outdated.
net_hook_release release
net_hook_wait end fence-peer 1 10
pair_wait alice 5 "I/O resumed after fence-peer exit 7" \
	's["io_frozen"] is False and s["peer_outdated"] is True'
line=$(net_hook_line start fence-peer 1)
for kv in argc=1 node=alice peer=bob "peer_address=$(net_addr_of bob)" role=Primary resource=r0; do
	case " $line " in *" $kv "*) ;; *) bt_fail "fence-peer call lacks $kv: $line" ;; esac
done
grep -q '^start fence-peer .*node=bob' "$NET_HOOK_LOG" && bt_fail "bob ran fence-peer as a Secondary"

if bt_pid_running "$FIO_PID"; then
	w3=$(pair_get alice written_bytes)
	end=$((SECONDS + 10))
	while bt_pid_running "$FIO_PID" && [ "$(pair_get alice written_bytes)" = "$w3" ]; do
		[ "$SECONDS" -ge "$end" ] && bt_fail "no write completed within 10s of the resume"
		sleep 0.05
	done
fi
bt_wait_exit "$FIO_PID" 60 || bt_fail "fio did not finish within 60s of the resume"
wait "$FIO_PID" || bt_fail "fio failed: $(grep -Eim3 'error|verify|bad' "$BT_TMP/write.out" "$BT_TMP/write.json" | tr '\n' ' ')"
/usr/bin/python3 - "$BT_TMP/write.json" "$REGION" <<'EOF' || bt_fail "fio write job: $(cat "$BT_TMP/why")"
import json, sys
raw = open(sys.argv[1]).read()
j = json.loads(raw[raw.index("{"):])["jobs"][0]
why = []
if j["error"] != 0:
    why.append(f"error {j['error']}")
if j["write"]["io_bytes"] != int(sys.argv[2]):
    why.append(f"wrote {j['write']['io_bytes']} bytes, expected {sys.argv[2]}")
open(sys.argv[1].rsplit("/", 1)[0] + "/why", "w").write("; ".join(why))
sys.exit(1 if why else 0)
EOF
bt_expect_eq "$(net_hook_count start fence-peer)" 1 "fence-peer calls after fio finished"
bt_expect_eq "$(net_hook_count start unfence-peer)" 0 "unfence-peer calls before the heal"

# Heal: bob comes back Outdated, is resynced from alice, and only then is
# unfenced.
net_heal
pair_wait bob 15 "SyncTarget after the heal" 'p["connection"] == "Connected" and p["replication"] == "SyncTarget"'
bt_expect_eq "$(net_hook_count start unfence-peer)" 0 "unfence-peer calls while bob is SyncTarget"
pair_wait_synced alice 60
net_hook_wait end unfence-peer 1 10
sleep 1
bt_expect_eq "$(net_hook_count start unfence-peer)" 1 "unfence-peer calls after the resync"
line=$(net_hook_line start unfence-peer 1)
for kv in argc=1 node=alice peer=bob "peer_address=$(net_addr_of bob)" role=Primary; do
	case " $line " in *" $kv "*) ;; *) bt_fail "unfence-peer call lacks $kv: $line" ;; esac
done
bt_expect_eq "$(pair_get alice peer_outdated)" false "peer_outdated after bob's resync"
bt_expect_eq "$(net_hook_count start fence-peer)" 1 "fence-peer calls at the end"

(cd "$BT_TMP" && fio --output-format=json --output=verify.json verify.fio >verify.out 2>&1) ||
	bt_fail "fio --verify_only over alice failed: $(grep -Eim3 'verify|error|bad' "$BT_TMP/verify.out" "$BT_TMP/verify.json" | tr '\n' ' ')"
bt_expect_eq "$(pair_sha_data alice)" "$(pair_sha_data bob)" "sha256 of alice's data area vs bob's"
for n in alice bob; do
	net_log_has "$n" '[Ss]plit[- ][Bb]rain' && bt_fail "$n logged a split brain"
done

bt_daemon_stop alice
bt_daemon_stop bob
bt_pass "frozen ${frozen_after}s after the cut, fence-peer once, resumed on exit 7, resynced, unfenced once"
