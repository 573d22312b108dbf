#!/usr/bin/python3
"""Where a server's requests wait: its NBD socket's queues, sampled cheaply.

Owns: sampling, every INTERVAL seconds until SIGTERM or SIGINT, the receive
queue of the server's end of a connected AF_UNIX stream socket bound to
SOCK (requests the client sent that the server has not read), the receive
queue of the client's end (replies not read yet), and the reads and writes
in flight at a block device (its sysfs `inflight` file). One line per
sample to OUT: "srv_bytes cli_bytes reads writes" (0 0 while no connection
is up). Uses the standard library only.

    qsample.py SOCK OUT INFLIGHT_FILE [INTERVAL]

The queues come from the kernel's socket diagnostics (NETLINK_SOCK_DIAG,
unix_diag: the figures `ss -x` prints), asked from this one process. A
shell loop running `ss -xn | awk` every 50 ms cost about 0.4 of a CPU on
a 2-vCPU machine (three processes started per sample), which the server
and fio being measured then lacked.
"""

import signal
import socket
import struct
import sys
import time

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3
UDIAG_SHOW_NAME = 0x1
UDIAG_SHOW_PEER = 0x4
UDIAG_SHOW_RQLEN = 0x10
UNIX_DIAG_NAME = 0
UNIX_DIAG_PEER = 2
UNIX_DIAG_RQLEN = 4
TCP_ESTABLISHED = 1

NLMSG_HDR = struct.Struct("=IHHII")
UNIX_DIAG_REQ = struct.Struct("=BBHIIIII")
UNIX_DIAG_MSG = struct.Struct("=BBBBII")  # family type state pad ino cookie[0]
RTA_HDR = struct.Struct("=HH")


def align4(n):
    return (n + 3) & ~3


def dump(nl, seq):
    """{ino: (state, name, peer_ino, rqueue)} of every AF_UNIX socket."""
    req = UNIX_DIAG_REQ.pack(socket.AF_UNIX, 0, 0, 0xFFFFFFFF, 0,
                             UDIAG_SHOW_NAME | UDIAG_SHOW_PEER | UDIAG_SHOW_RQLEN,
                             0xFFFFFFFF, 0xFFFFFFFF)
    nl.send(NLMSG_HDR.pack(NLMSG_HDR.size + len(req), SOCK_DIAG_BY_FAMILY,
                           NLM_F_REQUEST | NLM_F_DUMP, seq, 0) + req)
    socks = {}
    while True:
        data = nl.recv(1 << 20)
        off = 0
        while off + NLMSG_HDR.size <= len(data):
            length, kind, _, _, _ = NLMSG_HDR.unpack_from(data, off)
            if length < NLMSG_HDR.size:
                return socks
            if kind == NLMSG_DONE:
                return socks
            if kind == NLMSG_ERROR:
                raise OSError("sock_diag dump refused")
            body = off + NLMSG_HDR.size
            _, _, state, _, ino, _ = UNIX_DIAG_MSG.unpack_from(data, body)
            name, peer, rq = None, 0, 0
            a = body + UNIX_DIAG_MSG.size + 4  # cookie[1]
            while a + RTA_HDR.size <= off + length:
                alen, atype = RTA_HDR.unpack_from(data, a)
                if alen < RTA_HDR.size:
                    break
                val = data[a + RTA_HDR.size:a + alen]
                if atype == UNIX_DIAG_NAME:
                    name = val.split(b"\0", 1)[0].decode(errors="replace")
                elif atype == UNIX_DIAG_PEER:
                    peer = struct.unpack_from("=I", val)[0]
                elif atype == UNIX_DIAG_RQLEN:
                    rq = struct.unpack_from("=I", val)[0]
                a += align4(alen)
            socks[ino] = (state, name, peer, rq)
            off += align4(length)


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit("usage: qsample.py SOCK OUT INFLIGHT_FILE [INTERVAL]")
    path, out, inflight = sys.argv[1:4]
    interval = float(sys.argv[4]) if len(sys.argv) == 5 else 0.05
    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(1))
    nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_SOCK_DIAG)
    seq = 0
    with open(out, "w") as f:
        while not stop:
            seq += 1
            socks = dump(nl, seq)
            srv = cli = 0
            for state, name, peer, rq in socks.values():
                if name == path and state == TCP_ESTABLISHED:
                    srv = rq
                    cli = socks.get(peer, (0, None, 0, 0))[3]
            try:
                with open(inflight) as d:
                    r, w = d.read().split()[:2]
            except (OSError, ValueError):
                r, w = 0, 0
            f.write("%d %d %s %s\n" % (srv, cli, r, w))
            f.flush()
            time.sleep(interval)
    return 0


if __name__ == "__main__":
    sys.exit(main())
