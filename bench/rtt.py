#!/usr/bin/python3
"""Loopback TCP round trip: the yardstick for protocol C's QD1 latency.

Owns: one measurement of the time a request/reply exchange takes between two
processes over TCP on 127.0.0.1, the path a pair's peer link takes on one
machine. Uses the standard library only.

    rtt.py [--count N] [--warmup N] [--request BYTES] [--reply BYTES]

A forked child accepts one connection and echoes: it reads REQUEST bytes and
writes REPLY bytes back. The parent times COUNT exchanges (after WARMUP
unmeasured ones), each as one sendall() plus reads until the whole reply is
in, with TCP_NODELAY on both ends, both processes blocking (each exchange
includes two wakeups, as a replicated write and its ack do). Prints one JSON
object: median, p10, p90 and min in microseconds, and the sizes.

Python adds a few microseconds of interpreter time per exchange on both
sides, so this is slightly above what two C processes would see: it errs
towards a larger allowance, and the results file says which number was used.
"""

import argparse
import json
import os
import signal
import socket
import statistics
import sys
import time


def recv_exact(sock, view):
    got = 0
    while got < len(view):
        n = sock.recv_into(view[got:])
        if n == 0:
            return False
        got += n
    return True


def echo(listener, request, reply):
    conn, _ = listener.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = memoryview(bytearray(request))
    out = bytes(reply)
    while recv_exact(conn, buf):
        conn.sendall(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--request", type=int, default=64)
    ap.add_argument("--reply", type=int, default=64)
    args = ap.parse_args()

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    addr = listener.getsockname()
    pid = os.fork()
    if pid == 0:
        try:
            # Never outlive a parent that failed before connecting.
            listener.settimeout(10)
            echo(listener, args.request, args.reply)
        finally:
            os._exit(0)
    listener.close()

    samples = []
    try:
        with socket.create_connection(addr) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            req = os.urandom(args.request)
            buf = memoryview(bytearray(args.reply))
            clock = time.perf_counter_ns
            for i in range(args.warmup + args.count):
                t0 = clock()
                sock.sendall(req)
                if not recv_exact(sock, buf):
                    print("rtt.py: the echo process closed the connection",
                          file=sys.stderr)
                    return 1
                if i >= args.warmup:
                    samples.append((clock() - t0) / 1000)
    finally:
        # The child exits at EOF on its connection; reap it either way.
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        os.waitpid(pid, 0)

    samples.sort()
    q = statistics.quantiles(samples, n=10)
    print(json.dumps({
        "count": args.count,
        "request_bytes": args.request,
        "reply_bytes": args.reply,
        "median_us": round(statistics.median(samples), 1),
        "p10_us": round(q[0], 1),
        "p90_us": round(q[-1], 1),
        "min_us": round(samples[0], 1),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
