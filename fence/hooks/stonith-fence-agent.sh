#!/bin/sh
# stonith-fence-agent.sh - a fence-peer hook that powers the peer off with a
# STONITH agent from Debian's fence-agents package (fence_ipmilan,
# fence_virsh, fence_redfish, ...).
#
# Use:  fence-peer = /usr/lib/blockd/hooks/stonith-fence-agent.sh
#
# blockd runs it as:  stonith-fence-agent.sh HOOK-NAME  with BLOCKD_RESOURCE,
# BLOCKD_NODE, BLOCKD_PEER, BLOCKD_PEER_ADDRESS and BLOCKD_ROLE set.
#
# Settings: /etc/blockd/fence-agent-$BLOCKD_PEER.conf (shell syntax) or the
# environment:
#   FENCE_AGENT     the agent, e.g. fence_ipmilan (required)
#   FENCE_ARGS      its options, e.g. "--ip=10.0.0.12 --username=admin
#                   --password-script=/etc/blockd/ipmi-pass --lanplus"
#   FENCE_ACTION    default "off" (the agent then verifies the power state)
#
# Exit codes (the fence-peer contract):
#   7  the peer was powered off (STONITHed)
#   5  the agent failed: nothing is known, I/O stays frozen
#   1  configuration error
set -u

hook=${1:-}
case "$hook" in
fence-peer) ;;
unfence-peer) exit 0 ;;
*) echo "stonith-fence-agent: called as '$hook'; only fence-peer and unfence-peer are handled" >&2; exit 1 ;;
esac

: "${BLOCKD_PEER:?BLOCKD_PEER is not set}"
conf=/etc/blockd/fence-agent-$BLOCKD_PEER.conf
[ -r "$conf" ] && . "$conf"
if [ -z "${FENCE_AGENT:-}" ]; then
	echo "stonith-fence-agent: no FENCE_AGENT for peer $BLOCKD_PEER (set it in $conf)" >&2
	exit 1
fi
if ! command -v "$FENCE_AGENT" >/dev/null 2>&1; then
	echo "stonith-fence-agent: $FENCE_AGENT not found (apt-get install fence-agents)" >&2
	exit 1
fi
FENCE_ACTION=${FENCE_ACTION:-off}

echo "stonith-fence-agent: $FENCE_AGENT --action=$FENCE_ACTION for peer $BLOCKD_PEER"
# shellcheck disable=SC2086
"$FENCE_AGENT" --action="$FENCE_ACTION" ${FENCE_ARGS:-}
rc=$?
if [ $rc -eq 0 ]; then
	exit 7
fi
echo "stonith-fence-agent: $FENCE_AGENT failed with exit $rc" >&2
exit 5
