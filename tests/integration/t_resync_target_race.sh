#!/bin/bash
# Resync data never lands over a newer write on a Primary SyncTarget,
# under random load (t_resync_target_dup is the staged case). A 64 MiB
# pair, alice holding 48 MiB of seeded data; bob's disk is slow (every
# write takes 2 ms more: pauselib) and his copy of 16..48 MiB is zeroed
# behind blockd's back. With his disk paused, bob invalidates his disk
# (full resync from alice at resync-rate-max-mib = 8: at most a window
# of 16 MiB leaves and sticks) and pauses the sync; his disk resumes, he
# is promoted, and a client on bob mixes random 4 KiB writes (each
# acknowledged one logged) and random reads of up to 64 KiB over 12..48
# MiB for 3 seconds, 32 requests in flight, while the sync resumes: the
# 48 MiB or more left take longer than that, so blocks are asked for out
# of order (RS_PRIO) while the scan runs. Once the resync has finished,
# every acknowledged write must read back from bob's export and from
# alice's disk, and both data areas must be identical. Twice: plain
# resync, then checksum resync (resync-checksum = yes, both restarted).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
. "$(dirname "$0")/resynclib.sh"
. "$(dirname "$0")/pauselib.sh"
bt_init 120

SIZE=$((64 * M))
pair_setup C "$SIZE"
rl_conf_set resync-rate-max-mib 8
rl_fill "$(pair_img alice)" $((48 * M)) 17
# A slow disk under bob keeps each resync chunk in flight for a while.
pd_attach bob 2ms
pair_start alice
pair_start bob
pair_wait_connected 20
pair_ok alice primary --force
pair_wait_synced alice 60
pair_ok alice secondary
pair_wait bob 10 "alice Secondary" 'p["role"] == "Secondary"'

# round CHECKSUM: one resync into a Primary bob under the mixed client.
round() {
	local log=$BT_TMP/acked-$1.log tag=r$1 out n
	bt_daemon_stop bob
	bt_daemon_stop alice
	rl_conf_set resync-checksum "$1"
	dd if=/dev/zero of="$(pair_img bob)" bs=1M seek=16 count=32 conv=notrunc status=none ||
		bt_fail "could not damage bob's image"
	pair_start alice
	pair_start bob
	pair_wait_connected 20
	rl_wait_secondaries_synced 20
	pd_pause bob
	pair_ok bob invalidate
	pair_wait bob 10 "bob SyncTarget" 'p["replication"] == "SyncTarget"'
	pair_ok bob pause-sync
	pair_wait alice 10 "alice PausedSyncS" 'p["replication"] == "PausedSyncS"'
	pd_resume bob
	pair_wait bob 10 "bob PausedSyncT with 32 MiB or more to come" \
		'p["replication"] == "PausedSyncT" and p["out_of_sync_bytes"] >= 32 * 1048576'
	pair_ok bob primary
	pair_wait bob 5 "bob Primary while SyncTarget" 's["role"] == "Primary"'
	/usr/bin/python3 "$BT_DIR/ackmix.py" mix "$(pair_uri bob)" $((12 * M)) $((48 * M)) 3 \
		"$log" "$tag" >"$log.out" 2>&1 &
	client=$!
	bt_on_exit "bt_kill_pid $client"
	pair_ok bob resume-sync
	wait "$client" || bt_fail "checksum $1: the client on bob failed: $(cat "$log.out")"
	bt_log "checksum $1: $(cat "$log.out")"
	pair_wait bob 60 "resync finished (checksum $1)" \
		's["disk"] == "UpToDate" and p["replication"] == "Established"'
	n=$(/usr/bin/python3 "$BT_DIR/ackmix.py" check "$(pair_uri bob)" "$log" "$tag") ||
		bt_fail "checksum $1: on bob (Primary, was SyncTarget): $n"
	n=$(/usr/bin/python3 "$BT_DIR/ackmix.py" check "$(pair_img alice)" "$log" "$tag") ||
		bt_fail "checksum $1: on alice (SyncSource): $n"
	rl_expect_identical "checksum $1: after the resync into a Primary under writes"
	pair_ok bob secondary
	bt_log "checksum $1: $n acknowledged blocks on both nodes"
}

round no
round yes
# A clean stop: exit status 0 and no sanitizer report.
bt_daemon_stop bob
bt_daemon_stop alice
bt_pass "no acknowledged write overwritten by resync data, plain and checksum"
