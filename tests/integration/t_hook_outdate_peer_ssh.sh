#!/bin/bash
# The shipped fence-peer hook fence/hooks/outdate-peer-ssh.sh, with ssh
# replaced by a local stand-in that runs the command (the peer's blockctl
# against the pair's config): it must say what the peer's blockctl said.
#  - bob still connected (he has not noticed a loss yet): bob refuses to
#    be outdated, so the hook, after retrying for OUTDATE_RETRY_S, must
#    not claim exit 4 (peer outdated): it exits 5 and bob stays UpToDate;
#  - bob disconnected: exit 4, and bob's disk is Outdated;
#  - bob Primary (alice demoted, both apart): exit 6.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/pairlib.sh"
bt_init 60

pair_setup C $((16 * 1048576))
pair_start alice
pair_start bob
pair_wait_connected 20
pair_promote_first alice 30

mkdir -p "$BT_TMP/bin"
cat >"$BT_TMP/bin/ssh" <<'SSH'
#!/bin/sh
# ssh [-o OPTION]... DEST COMMAND: run COMMAND here.
while [ "$1" = -o ]; do shift 2; done
shift
exec sh -c "$*"
SSH
chmod +x "$BT_TMP/bin/ssh"
HOOK=$BT_DIR/../../fence/hooks/outdate-peer-ssh.sh
[ -x "$HOOK" ] || bt_fail "no hook at $HOOK"
hook() {
	PATH=$BT_TMP/bin:$PATH PEER_CONFIG=$PAIR_CONF BLOCKCTL=$BLOCKCTL \
		BLOCKD_RESOURCE=r0 BLOCKD_NODE=alice BLOCKD_PEER=bob \
		BLOCKD_PEER_ADDRESS=127.0.0.1 BLOCKD_ROLE=Primary OUTDATE_RETRY_S=2 \
		timeout 30 "$HOOK" fence-peer >"$BT_TMP/hook.out" 2>&1
}

hook
bt_expect_eq "$?" 5 "hook exit with bob still connected ($(tr '\n' ' ' <"$BT_TMP/hook.out"))"
bt_expect_eq "$(pair_get bob disk)" UpToDate "bob's disk after the refused outdate"

pair_ok bob disconnect
pair_wait bob 10 "bob StandAlone" 'p["connection"] == "StandAlone"'
hook
bt_expect_eq "$?" 4 "hook exit with bob disconnected ($(tr '\n' ' ' <"$BT_TMP/hook.out"))"
bt_expect_eq "$(pair_get bob disk)" Outdated "bob's disk after the hook"

pair_ok alice disconnect
pair_ok alice secondary
pair_ok bob primary --force
hook
bt_expect_eq "$?" 6 "hook exit with bob Primary ($(tr '\n' ' ' <"$BT_TMP/hook.out"))"
bt_pass "outdate-peer-ssh.sh: 5 while the peer is connected, 4 once it is not, 6 for a Primary"
