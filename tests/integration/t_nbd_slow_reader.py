#!/usr/bin/python3
"""An NBD client that stops reading its replies cannot starve the others.

Replies wait in the daemon's buffers until the client takes them, and the
buffers are one pool for every client. Client A (a raw socket with a
4 KiB receive buffer) sends 100 reads of 1 MiB, more than the whole
pool, and reads nothing. Then:
* client B's 1 MiB read completes (deadline 10 s) with the right data,
  and so does a 1 MiB write and its read-back: A holds at most its share
  of the pool;
* A then reads its 100 replies: each one is there, in full, with the
  data of its block (nothing of A's was dropped to make room);
* the daemon stops with status 0.
"""

import socket
import time

import bt
from bt import MiB, check, check_eq, pattern
import nbd

SIZE = 256 * MiB
READS = 100


def main(t):
    img = t.image("disk.img", SIZE)
    with open(img, "r+b") as f:
        for i in range(READS):
            f.seek(i * MiB)
            f.write(pattern(i, 4096))
    sock = t.path("nbd.sock")
    d = t.start_daemon("d", "--name", "r0", "--disk", img, "--nbd", f"unix:{sock}")
    d.wait_ready(unix=sock)

    a = bt.Raw(unix=sock)
    a.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    a.handshake()
    a.go()
    for i in range(READS):
        a.request(0, offset=i * MiB, length=MiB, cookie=i + 1)

    b = bt.connect(unix=sock)
    buf = nbd.Buffer(MiB)
    c = b.aio_pread(buf, 200 * MiB)
    end = time.monotonic() + 10
    while not b.aio_command_completed(c):
        d.check_alive()
        check(time.monotonic() < end, "B's 1 MiB read still waiting after 10 s "
              "while A leaves its replies unread")
        b.poll(1)
    check_eq(buf.to_bytearray(), bytearray(MiB), "B's read of a zero block")
    b.pwrite(pattern(500, MiB), 201 * MiB)
    check(b.pread(MiB, 201 * MiB) == pattern(500, MiB), "B's write read back")
    b.shutdown()

    # A reads everything now: every reply, whole, with its block's data.
    a.s.settimeout(20)
    seen = set()
    for _ in range(READS):
        err, cookie = a.simple_reply()
        check_eq(err, 0, f"A's read {cookie}: error")
        data = a.recv_exact(MiB)
        i = cookie - 1
        check(0 <= i < READS and i not in seen, f"A: unexpected cookie {cookie}")
        seen.add(i)
        check(data[:4096] == pattern(i, 4096) and data[4096:] == bytes(MiB - 4096),
              f"A's read {cookie}: wrong data")
    a.close()
    d.stop(0)
    return f"B served while A held {READS} unread 1 MiB replies; A got all {READS}"


if __name__ == "__main__":
    bt.run(main, timeout_s=120)
