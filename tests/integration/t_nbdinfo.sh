#!/bin/bash
# What nbdinfo sees: size, export name, block sizes, every advertised
# transmission flag, read-only, export listing, base:allocation map after a
# write, the unix and tcp listeners, and the INI config form of the command.
. "$(dirname "$0")/lib.sh"
bt_init 90

SIZE=$((64 * 1024 * 1024))
img=$BT_TMP/disk.img
sock=$BT_TMP/nbd.sock
port=$(bt_free_port)
truncate -s "$SIZE" "$img"
uri=$(bt_unix_uri "$sock")
tcp_uri="nbd://127.0.0.1:$port/r0"

bt_daemon_start rw --name r0 --disk "$img" --nbd "unix:$sock,tcp:127.0.0.1:$port"
bt_wait_ready rw "$uri"
bt_wait_ready rw "$tcp_uri"

# --- nbdinfo --json: every field a client negotiates on --------------------
nbdinfo --json "$uri" >"$BT_TMP/info.json" || bt_fail "nbdinfo --json failed"
/usr/bin/python3 - "$BT_TMP/info.json" "$SIZE" <<'EOF' || bt_fail "nbdinfo --json: $(cat "$BT_TMP/why")"
import json, sys, os
why = open(os.path.join(os.path.dirname(sys.argv[1]), "why"), "w")
j = json.load(open(sys.argv[1]))
e = j["exports"]
bad = []
def want(what, got, exp):
    if got != exp:
        bad.append(f"{what}: expected {exp!r}, got {got!r}")
want("protocol", j.get("protocol"), "newstyle-fixed")
want("structured", j.get("structured"), True)
want("number of exports", len(e), 1)
x = e[0]
want("export-name", x.get("export-name"), "r0")
want("export-size", x.get("export-size"), int(sys.argv[2]))
want("block_size_minimum", x.get("block_size_minimum"), 1)
want("block_size_preferred", x.get("block_size_preferred"), 4096)
want("block_size_maximum", x.get("block_size_maximum"), 33554432)
want("base:allocation in contexts", "base:allocation" in x.get("contexts", []), True)
want("is_read_only", x.get("is_read_only"), False)
want("is_rotational", x.get("is_rotational"), False)
for f in ("can_cache", "can_df", "can_fast_zero", "can_flush", "can_fua",
          "can_multi_conn", "can_trim", "can_zero"):
    want(f, x.get(f), True)
why.write("; ".join(bad))
sys.exit(1 if bad else 0)
EOF

# --- nbdinfo --can / --is: exit 0 = true, 2 = false ------------------------
for c in connect read write flush fua trim zero fast-zero cache multi-conn df structured-reply; do
	nbdinfo --can "$c" "$uri"
	bt_expect_eq "$?" 0 "nbdinfo --can $c (exit status)"
done
nbdinfo --is read-only "$uri"
bt_expect_eq "$?" 2 "nbdinfo --is read-only on a read-write export (exit status)"
nbdinfo --is rotational "$uri"
bt_expect_eq "$?" 2 "nbdinfo --is rotational (exit status)"

# --- size over tcp, over the empty export name; unknown name refused --------
bt_expect_eq "$(nbdinfo --size "$tcp_uri")" "$SIZE" "nbdinfo --size over tcp"
bt_expect_eq "$(nbdinfo --size "$(bt_unix_uri "$sock" "")")" "$SIZE" "nbdinfo --size with the empty export name"
if nbdinfo --size "$(bt_unix_uri "$sock" nosuch)" >/dev/null 2>"$BT_TMP/unknown.err"; then
	bt_fail "nbdinfo on unknown export name 'nosuch' succeeded"
fi

# --- export listing --------------------------------------------------------
nbdinfo --list --json "$(bt_unix_uri "$sock" "")" >"$BT_TMP/list.json" ||
	bt_fail "nbdinfo --list failed"
names=$(/usr/bin/python3 -c 'import json,sys
print(",".join(x["export-name"] for x in json.load(open(sys.argv[1]))["exports"]))' "$BT_TMP/list.json")
bt_expect_eq "$names" "r0" "export names in nbdinfo --list"

# --- base:allocation: a fresh sparse disk is one hole; a write makes data ---
# map_check URI SPEC: SPEC is "start:end:type,..." in bytes, adjacent extents
# of the same type in nbdinfo's output are merged before comparing.
map_check() {
	nbdinfo --map --json "$1" >"$BT_TMP/map.json" || bt_fail "nbdinfo --map failed"
	local got
	got=$(/usr/bin/python3 -c 'import json,sys
m = json.load(open(sys.argv[1]))
out = []
for x in m:
    s, l, t = x["offset"], x["length"], x["type"]
    if out and out[-1][2] == t and out[-1][1] == s:
        out[-1][1] = s + l
    else:
        out.append([s, s + l, t])
print(",".join("%d:%d:%d" % tuple(o) for o in out))' "$BT_TMP/map.json")
	bt_expect_eq "$got" "$2" "nbdinfo --map extents (start:end:type)"
}
map_check "$uri" "0:$SIZE:3"
M=$((1024 * 1024))
nbdsh -u "$uri" -c "h.pwrite(b'\\xab' * $M, $((4 * M)))" -c 'h.flush()' ||
	bt_fail "nbdsh write of 1 MiB at 4 MiB failed"
map_check "$uri" "0:$((4 * M)):3,$((4 * M)):$((5 * M)):0,$((5 * M)):$SIZE:3"
nbdinfo --map "$uri" | grep -q 'hole,zero' || bt_fail "nbdinfo --map text output has no 'hole,zero' line"
nbdinfo --map "$uri" | grep -Eq '^ *4194304 +1048576 +0 +data' ||
	bt_fail "nbdinfo --map text output has no data extent at 4194304+1048576"

# --- read-only export ------------------------------------------------------
ro_img=$BT_TMP/ro.img
ro_sock=$BT_TMP/ro.sock
truncate -s "$SIZE" "$ro_img"
ro_uri=$(bt_unix_uri "$ro_sock")
bt_daemon_start ro --name r0 --disk "$ro_img" --nbd "unix:$ro_sock" --read-only yes
bt_wait_ready ro "$ro_uri"
nbdinfo --is read-only "$ro_uri"
bt_expect_eq "$?" 0 "nbdinfo --is read-only with --read-only yes (exit status)"
nbdinfo --can write "$ro_uri"
bt_expect_eq "$?" 2 "nbdinfo --can write with --read-only yes (exit status)"
nbdinfo --can read "$ro_uri"
bt_expect_eq "$?" 0 "nbdinfo --can read with --read-only yes (exit status)"
bt_expect_eq "$(nbdinfo --size "$ro_uri")" "$SIZE" "nbdinfo --size of the read-only export"
bt_daemon_stop ro

# --- the same server from an INI config, resource name taken from it --------
cfg_img=$BT_TMP/cfg.img
cfg_sock=$BT_TMP/cfg.sock
cfg_port=$(bt_free_port)
truncate -s $((32 * M)) "$cfg_img"
cat >"$BT_TMP/r1.conf" <<EOF
[resource]
name = r1

[node alice]
disk = $cfg_img
nbd = unix:$cfg_sock,tcp:127.0.0.1:$cfg_port
control = $BT_TMP/cfg.ctl
EOF
bt_daemon_start cfg -c "$BT_TMP/r1.conf" -n alice
cfg_uri=$(bt_unix_uri "$cfg_sock" r1)
bt_wait_ready cfg "$cfg_uri"
bt_wait_ready cfg "nbd://127.0.0.1:$cfg_port/r1"
bt_expect_eq "$(nbdinfo --size "$cfg_uri")" $((32 * M)) "nbdinfo --size of config-file export r1"
bt_expect_eq "$(nbdinfo --json "$cfg_uri" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["exports"][0]["export-name"])')" \
	r1 "export name from the config file"
if nbdinfo --size "$(bt_unix_uri "$cfg_sock" r0)" >/dev/null 2>&1; then
	bt_fail "config-file server for resource r1 accepted export name r0"
fi
bt_daemon_stop cfg

bt_daemon_alive rw
bt_daemon_stop rw
bt_pass
