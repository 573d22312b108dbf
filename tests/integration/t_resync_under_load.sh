#!/bin/bash
# A full sync and application writes at the same time: alice's data area
# holds 511 MiB of seeded random data (so the sync has real blocks to
# read and send), `primary --force` starts the full sync to bob
# (resync-rate-max-mib = 96, a few seconds) and at once fio writes
# 128 MiB of 4 KiB random blocks spread over the whole export
# (crc32c headers, queue depth 16) and then reads them back and verifies
# them (do_verify=1). fio must write while the sync is running (a status
# with SyncSource and fio's first 2 MiB both seen: a few hundred writes,
# far less than the sync's 5 s even when both run slowly; 16 MiB could
# outlast the sync on a slow run), fio must pass, the sync
# must finish, and both data areas must be byte-identical: no resync
# write overwrote a newer application write on bob, and every
# application write reached bob.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/resynclib.sh"
bt_init 120

fio --enghelp 2>&1 | grep -qw nbd || bt_skip "fio has no nbd engine"

SIZE=$((512 * M))

pair_setup C "$SIZE"
rl_conf_set resync-rate-max-mib 96
rl_fill "$(pair_img alice)" $((SIZE - M)) 4
pair_start alice
pair_start bob
pair_wait_connected 20
data=$(rl_size alice)

printf '%s\n' '[global]' ioengine=nbd "uri=$(pair_uri alice)" rw=randwrite \
	bs=4k iodepth=16 offset=0 "size=$((data / M))m" io_size=128m \
	randrepeat=0 randseed=1717 verify=crc32c verify_fatal=1 do_verify=1 \
	'[load]' >"$BT_TMP/load.fio"

pair_ok alice primary --force
fio --output-format=json --output="$BT_TMP/fio.json" "$BT_TMP/load.fio" >"$BT_TMP/fio.out" 2>&1 &
FIO_PID=$!
bt_on_exit "bt_kill_pid $FIO_PID"
pair_wait alice 30 "fio writing while the full sync runs" \
	's["written_bytes"] >= 2 * 1048576 and p["replication"] == "SyncSource" and p["out_of_sync_bytes"] > 0'
bt_wait_exit "$FIO_PID" 90 || bt_fail "fio did not finish within 90s"
wait "$FIO_PID" ||
	bt_fail "fio failed during the sync: $(grep -Eim3 'verify|error|bad' "$BT_TMP/fio.out" "$BT_TMP/fio.json" | tr '\n' ' ')"
read -r written verified < <(/usr/bin/python3 -c '
import json, sys
raw = open(sys.argv[1]).read()
j = json.loads(raw[raw.index("{"):])["jobs"][0]
print(j["write"]["io_bytes"], j["read"]["io_bytes"])' "$BT_TMP/fio.json") ||
	bt_fail "unreadable fio output"
bt_expect_eq "$written" $((128 * M)) "bytes fio wrote"
bt_expect_eq "$verified" $((128 * M)) "bytes fio read back and verified"

pair_wait_synced alice 60
sent=$(rl_num alice peer.resync_sent_bytes)
[ "$sent" -gt $((256 * M)) ] ||
	bt_fail "the full sync sent only $sent bytes of data; alice held 511 MiB of it"
rl_expect_identical "after the full sync under load"
bt_pass "fio wrote and verified 128 MiB during a full sync that sent $((sent / M)) MiB"
