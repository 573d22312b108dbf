#!/usr/bin/python3
"""A client that mixes reads and logged writes at random offsets, and the
checker that proves no acknowledged write was lost.

  ackmix.py mix URI LO HI SECONDS LOG TAG [DEPTH]
      DEPTH (default 32) requests in flight for SECONDS: half 4 KiB writes
      to random blocks of [LO, HI), half reads of 4..64 KiB at random
      offsets there. Random order on purpose: requests to the same 1 MiB
      area arrive highest offset first as often as not. Each block written
      holds TAG, its offset and a generation (1, 2, ... per block); every
      write the server acknowledged is appended to LOG as "offset
      generation" when it completes. Prints "writes W reads R".
  ackmix.py check TARGET LOG TAG
      TARGET: an nbd URI, or a file (a node's image: the data area starts
      at offset 0). Every block LOG lists holds its newest acknowledged
      generation, or a newer one (a write in flight when the client ended
      may have landed). Prints the number of blocks checked; exit 1 with
      the first differences otherwise.

Seeded (by TAG), so a run is the same sequence of requests each time; the
timing of the server decides the rest.
"""

import random
import re
import sys
import time

import nbd

BS = 4096


def block(tag, off, gen):
    unit = f"{tag} off={off} gen={gen}|".encode()
    return (unit * (BS // len(unit) + 1))[:BS]


def mix(uri, lo, hi, seconds, log, tag, depth=32):
    rnd = random.Random(tag)
    h = nbd.NBD()
    h.connect_uri(uri)
    out = open(log, "a", buffering=1)
    gens, busy, inflight = {}, set(), {}
    writes = reads = 0
    end = time.monotonic() + seconds
    nblocks = (hi - lo) // BS
    while time.monotonic() < end or inflight:
        while time.monotonic() < end and len(inflight) < depth:
            if rnd.random() < 0.5:
                off = lo + rnd.randrange(nblocks) * BS
                if off in busy:  # one write per block in flight
                    continue
                gen = gens.get(off, 0) + 1
                gens[off] = gen
                busy.add(off)
                buf = block(tag, off, gen)
                inflight[h.aio_pwrite(buf, off)] = ("w", off, gen, buf)
            else:
                n = rnd.randrange(1, 17) * BS
                off = lo + rnd.randrange(nblocks - 16) * BS
                buf = nbd.Buffer(n)
                inflight[h.aio_pread(buf, off)] = ("r", off, 0, buf)
        h.poll(100)
        for c in list(inflight):
            if h.aio_command_completed(c):
                kind, off, gen, _ = inflight.pop(c)
                if kind == "w":
                    busy.discard(off)
                    out.write(f"{off} {gen}\n")
                    writes += 1
                else:
                    reads += 1
    h.shutdown()
    print(f"writes {writes} reads {reads}")


def check(target, log, tag):
    acked = {}
    for line in open(log):
        off, gen = map(int, line.split())
        acked[off] = max(acked.get(off, 0), gen)
    if target.startswith("nbd"):
        h = nbd.NBD()
        h.connect_uri(target)
        read = lambda off: h.pread(BS, off)
    else:
        f = open(target, "rb")

        def read(off):
            f.seek(off)
            return f.read(BS)
    bad = []
    pat = re.compile(rb"(\S+) off=(\d+) gen=(\d+)\|")
    for off, gen in sorted(acked.items()):
        data = read(off)
        m = pat.match(data)
        if (not m or m.group(1).decode() != tag or int(m.group(2)) != off
                or int(m.group(3)) < gen or data != block(tag, off, int(m.group(3)))):
            bad.append(f"offset {off}: acked gen {gen}, found {bytes(data[:32])!r}")
    if bad:
        sys.exit(f"{len(bad)} of {len(acked)} acknowledged blocks lost: "
                 + "; ".join(bad[:3]))
    print(len(acked))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "mix":
        mix(args[0], int(args[1]), int(args[2]), float(args[3]), args[4],
            args[5], *(int(a) for a in args[6:7]))
    elif cmd == "check":
        check(*args)
    else:
        sys.exit(f"unknown command {cmd}")
