#!/usr/bin/python3
"""Several connections to one export, as CAN_MULTI_CONN allows: a write on
one connection and a FLUSH on another, then the data read on the second;
16 clients over the unix and tcp listeners at once, each writing its own
region with requests interleaved on the server, then cross-checked; and all
16 writing different bytes of the same 4 KiB block at the same time; and
far more bytes in flight than the daemon's buffer pool holds (192 MiB of
32 MiB writes, then of 32 MiB reads, from three connections), which must
be back-pressure, never an error."""

import nbd

import bt
from bt import MiB, check, check_eq, pattern

SIZE = 384 * MiB
KiB = 1024
CLIENTS = 16
REGION = 2 * MiB          # per client, from REGIONS_AT
REGIONS_AT = 32 * MiB
SHARED_BLOCK = 100 * MiB  # one 4 KiB block every client writes into
BIG_AT = 128 * MiB        # 6 x 32 MiB for the back-pressure check


def flush_across(a, b):
    check_eq(a.can_multi_conn(), True, "A: can_multi_conn")
    check_eq(b.can_multi_conn(), True, "B: can_multi_conn")
    for i in range(8):
        off = i * MiB
        data = pattern(20 + i, MiB)
        a.pwrite(data, off)             # no FUA
        b.flush()
        check(b.pread(MiB, off) == data, f"B reads A's write {i} after B's flush")
    # And the other way, with FUA on B and a flush on A.
    data = pattern(40, 256 * KiB)
    b.pwrite(data, 9 * MiB, nbd.CMD_FLAG_FUA)
    a.flush()
    check(a.pread(256 * KiB, 9 * MiB) == data, "A reads B's FUA write")
    # A trim and a zero on A are seen by B after B's flush.
    a.trim(MiB, 0)
    a.zero(64 * KiB, MiB)
    b.flush()
    check(b.pread(MiB, 0) == bytes(MiB), "B reads zeros after A's trim")
    check(b.pread(64 * KiB, MiB) == bytes(64 * KiB), "B reads zeros after A's zero")

    # Writes in flight on A while B flushes: every write A saw replied to
    # before B's flush was sent is readable on B afterwards.
    bufs = [nbd.Buffer.from_bytearray(bytearray(pattern(60 + i, 64 * KiB)))
            for i in range(32)]
    cookies = [a.aio_pwrite(buf, 12 * MiB + i * 64 * KiB)
               for i, buf in enumerate(bufs)]
    bt.drain([a])
    bt.wait_completed(a, cookies, "A's pipelined writes")
    fc = b.aio_flush()
    bt.drain([b])
    bt.wait_completed(b, [fc], "B's flush")
    got = b.pread(32 * 64 * KiB, 12 * MiB)
    for i in range(32):
        check(got[i * 64 * KiB:(i + 1) * 64 * KiB] == pattern(60 + i, 64 * KiB),
              f"B reads A's pipelined write {i}")


def many_clients(sock, port):
    hs = []
    for i in range(CLIENTS):
        if i % 2:
            hs.append(bt.connect(tcp=port))
        else:
            hs.append(bt.connect(unix=sock))
    # Every client queues its whole region as 32 x 64 KiB writes (every
    # fourth with FUA) plus 16 x 16-byte writes into the shared block, then
    # all are driven together.
    keep, cookies = [], []
    for i, h in enumerate(hs):
        mine = []
        base = REGIONS_AT + i * REGION
        for j in range(REGION // (64 * KiB)):
            buf = nbd.Buffer.from_bytearray(
                bytearray(pattern(i * 64 + j, 64 * KiB)))
            keep.append(buf)
            mine.append(h.aio_pwrite(buf, base + j * 64 * KiB,
                                     flags=nbd.CMD_FLAG_FUA if j % 4 == 0 else 0))
        for j in range(16):
            buf = nbd.Buffer.from_bytearray(bytearray([i + 1] * 16))
            keep.append(buf)
            mine.append(h.aio_pwrite(buf, SHARED_BLOCK + i * 256 + j * 16))
        cookies.append(mine)
    bt.drain(hs)
    for i, h in enumerate(hs):
        bt.wait_completed(h, cookies[i], f"client {i} writes")
    for h in hs:
        h.flush()

    def region(i):
        return b"".join(pattern(i * 64 + j, 64 * KiB)
                        for j in range(REGION // (64 * KiB)))

    # Each client reads its own and its neighbour's region.
    for i, h in enumerate(hs):
        check(h.pread(REGION, REGIONS_AT + i * REGION) == region(i),
              f"client {i} reads back its own region")
        n = (i + 1) % CLIENTS
        check(h.pread(REGION, REGIONS_AT + n * REGION) == region(n),
              f"client {i} reads client {n}'s region")
    want = b"".join(bytes([i + 1]) * 256 for i in range(CLIENTS))
    got = hs[0].pread(4096, SHARED_BLOCK)
    bad = [i for i in range(CLIENTS) if got[i * 256:(i + 1) * 256] != want[i * 256:(i + 1) * 256]]
    check(not bad, f"shared 4 KiB block: bytes of clients {bad} lost "
          "(concurrent sub-block writes from different connections)")
    for h in hs:
        h.shutdown()
    return [region(i) for i in range(CLIENTS)], want


def backpressure(sock, port):
    hs = [bt.connect(unix=sock), bt.connect(tcp=port), bt.connect(unix=sock)]
    pats = [nbd.Buffer.from_bytearray(bytearray(pattern(300 + k, 32 * MiB)))
            for k in range(2)]
    cookies = [[] for _ in hs]
    for i in range(6):
        # Small requests mixed in: they must not starve behind the big ones.
        h = hs[i % 3]
        cookies[i % 3].append(h.aio_pwrite(pats[i % 2], BIG_AT + i * 32 * MiB))
        cookies[i % 3].append(h.aio_flush())
    bt.drain(hs, deadline_s=90)
    for k, h in enumerate(hs):
        bt.wait_completed(h, cookies[k], f"32 MiB writes on connection {k}")
    reads = []
    cookies = [[] for _ in hs]
    for i in range(6):
        buf = nbd.Buffer(32 * MiB)
        reads.append(buf)
        cookies[i % 3].append(hs[i % 3].aio_pread(buf, BIG_AT + i * 32 * MiB))
    bt.drain(hs, deadline_s=90)
    for k, h in enumerate(hs):
        bt.wait_completed(h, cookies[k], f"32 MiB reads on connection {k}")
    for i, buf in enumerate(reads):
        check(buf.to_bytearray() == pattern(300 + i % 2, 32 * MiB),
              f"32 MiB block {i} read back under back-pressure")
    for h in hs:
        h.shutdown()


def main(t):
    img = t.image("disk.img", SIZE)
    sock = t.path("nbd.sock")
    port = bt.free_port()
    d = t.start_daemon("d", "--name", "r0", "--disk", img,
                       "--nbd", f"unix:{sock},tcp:127.0.0.1:{port}")
    d.wait_ready(unix=sock)
    d.wait_ready(tcp=port)

    a = bt.connect(unix=sock)
    b = bt.connect(tcp=port)
    flush_across(a, b)
    a.shutdown()
    b.shutdown()

    regions, shared = many_clients(sock, port)
    d.check_alive()
    backpressure(sock, port)
    d.check_alive()

    # A fresh connection after all of them closed sees every region.
    h = bt.connect(unix=sock)
    for i in range(CLIENTS):
        check(h.pread(REGION, REGIONS_AT + i * REGION) == regions[i],
              f"fresh connection reads client {i}'s region")
    check(h.pread(4096, SHARED_BLOCK) == shared, "fresh connection reads the shared block")
    h.shutdown()
    d.stop()

    with open(img, "rb") as f:
        f.seek(REGIONS_AT)
        check(f.read(CLIENTS * REGION) == b"".join(regions),
              "backing file holds every client's region")
        f.seek(SHARED_BLOCK)
        check(f.read(4096) == shared, "backing file holds the shared block")


bt.run(main, timeout_s=120)
