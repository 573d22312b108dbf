#!/bin/sh
# outdate-peer-ssh.sh - a fence-peer hook that outdates the peer's disk
# through its blockctl, over ssh.
#
# Use:  fence-peer = /usr/lib/blockd/hooks/outdate-peer-ssh.sh
#       (and unfence-peer, which this script answers with exit 0)
#
# blockd runs it as:  outdate-peer-ssh.sh HOOK-NAME  with BLOCKD_RESOURCE,
# BLOCKD_NODE, BLOCKD_PEER, BLOCKD_PEER_ADDRESS and BLOCKD_ROLE set.
#
# Settings (environment, or /etc/blockd/outdate-peer-ssh.conf, shell syntax):
#   PEER_SSH        ssh destination, default: $BLOCKD_PEER (a host name)
#   PEER_CONFIG     the config path on the peer, default /etc/blockd/$BLOCKD_RESOURCE.conf
#   SSH_OPTS        extra ssh options, default "-o BatchMode=yes -o ConnectTimeout=5"
#   BLOCKCTL        blockctl on the peer, default blockctl
#   OUTDATE_RETRY_S how long to keep asking a peer that refuses because it
#                   is still connected (it has not noticed the loss yet),
#                   default 10
#
# Exit codes (the fence-peer contract):
#   3  the peer's disk is Inconsistent (nothing to outdate)
#   4  the peer is Outdated now (or was already)
#   5  the peer could not be reached: nothing is known, I/O stays frozen
#   6  the peer is Primary: this node must outdate itself
#   1  anything else (a usage or configuration error)
set -u

[ -r /etc/blockd/outdate-peer-ssh.conf ] && . /etc/blockd/outdate-peer-ssh.conf

hook=${1:-}
case "$hook" in
fence-peer) ;;
unfence-peer) exit 0 ;;
*) echo "outdate-peer-ssh: called as '$hook'; only fence-peer and unfence-peer are handled" >&2; exit 1 ;;
esac

: "${BLOCKD_RESOURCE:?BLOCKD_RESOURCE is not set}"
: "${BLOCKD_PEER:?BLOCKD_PEER is not set}"
PEER_SSH=${PEER_SSH:-$BLOCKD_PEER}
PEER_CONFIG=${PEER_CONFIG:-/etc/blockd/$BLOCKD_RESOURCE.conf}
SSH_OPTS=${SSH_OPTS:--o BatchMode=yes -o ConnectTimeout=5}
BLOCKCTL=${BLOCKCTL:-blockctl}

OUTDATE_RETRY_S=${OUTDATE_RETRY_S:-10}

# A peer that has not noticed the loss yet (its ping timeout runs) refuses
# to be outdated while connected: ask again until it has, or give up
# saying nothing is known. Never read that refusal as "Outdated".
end=$(($(date +%s) + OUTDATE_RETRY_S))
while :; do
	# shellcheck disable=SC2086
	out=$(ssh $SSH_OPTS "$PEER_SSH" "$BLOCKCTL -c '$PEER_CONFIG' -n '$BLOCKD_PEER' outdate" 2>&1)
	rc=$?
	echo "outdate-peer-ssh: ssh $PEER_SSH blockctl outdate: exit $rc: $out"
	case "$out" in
	*"while connected"*) ;;
	*) break ;;
	esac
	[ "$(date +%s)" -lt "$end" ] || exit 5
	sleep 1
done
case $rc in
0) exit 4 ;;
255) exit 5 ;;	# ssh itself failed: the peer is unreachable
esac
case "$out" in
*"Primary cannot be outdated"*) exit 6 ;;
*"no blockd is running"*) exit 4 ;;	# daemon down: its disk cannot be promoted behind our back without --force
*"Inconsistent: nothing to outdate"*) exit 3 ;;	# the peer holds no whole image
esac
exit 5
