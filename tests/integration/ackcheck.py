#!/usr/bin/python3
"""ackcheck.py - a writer that logs every acknowledgement, and the checker
that reads a node after a failover and says which acknowledged writes it
lost.

Called from netlib.sh (net_ck_writer, net_ck_verify), never by tests
directly. Two commands:

  ackcheck.py write --uri URI --dir DIR --session N --offset O --length L
                    [--bs B] [--qd Q] [--flush-every F] [--seed S]
                    [--max-s T] [--drain-s D]
  ackcheck.py check --dir DIR --proto A|B|C --offset O --length L
                    (--uri URI | --image PATH) [--initial-image PATH]
                    [--commit] [--flushed] [--what TEXT]

Writer. Writes of B bytes (a multiple of 4 KiB) at random 4 KiB-aligned
offsets inside [O, O+L), Q in flight, a FLUSH after every F writes (0:
never), until SIGTERM, T seconds or the connection dies. It never has two
writes in flight that share a block, so the writes to one block form a
chain: each was submitted after the one before it completed. Every 512-byte
sector of block b of write w of session s reads "BDCK s=S w=W b=B|" padded
with dots, so a block names the one write it came from (a torn block shows
two names). DIR/sN.log gets one line per event, in the order the client
saw them, each written before the next request is submitted:

  S W OFF LEN     write W submitted         A W         acknowledged
  E W WHY         failed (not acknowledged) FS F / FA F / FE F  flush F
  X WHY           the writer ended (submitted, acknowledged, failed)

Checker. Sessions are numbered in time order: a new writer starts only
after the previous one ended. The state file DIR/state.json keeps what the
last committed check saw: `through` (the last session then ended) and
`floor` (block -> the write it held). Writes of sessions <= through that a
committed check did not see are dead: they were not on the node that went
on, and must never appear again. For every block of [O, O+L) the checker
reads the node and finds the write it holds; the chain of the block is its
floor followed by the live writes to it, in order. Rules:

  every protocol: a block holds its floor, a live write to it, or (no
      write ever) the initial content (zeros, or --initial-image); anything
      else is a violation (garbage, a dead write come back, a foreign
      block). A torn block counts as the oldest write it shows.
  protocol C: every block holds its newest acknowledged live write or a
      later one in its chain: an acknowledged write is never lost.
  protocols A and B (the prefix rule): write-order fidelity puts a write
      submitted after the client saw V acknowledged into a later epoch
      than V, and the Secondary applies epochs in order. So: let H be the
      latest submission of any live write the node holds (some block
      shows exactly that write); then every live write acknowledged
      before H is present on the node: each of its blocks holds it or a
      later write of its chain. In B a completed FLUSH also promises
      that every write acknowledged before the FLUSH was sent reached the
      peer: those writes must be present whether or not a later write is
      held. (In A a FLUSH is a local promise only: DESIGN.md section 2.)

With --flushed (after a power loss of the node's disk) the rule is the
flush promise alone, in every protocol: each write acknowledged before a
FLUSH was sent that then completed is present (its block holds it or a
later write of its chain); unflushed writes may be lost or torn.

With --commit the blocks' writes become the new floor and every session
seen so far is closed (`through`): call it after a failover, once the new
Primary is the truth, and after a check with the writer drained. Exit 0
when the rules hold, 1 when they do not (the first violations are printed
after a summary line), 2 on a usage or I/O error.
"""
import argparse
import json
import os
import random
import re
import signal
import sys
import time

BLK = 4096
SECTOR = 512
INITIAL = (0, 0)
HDR = re.compile(rb"BDCK s=(\d+) w=(\d+) b=(\d+)\|")


def block_bytes(s, w, b):
    return (b"BDCK s=%d w=%d b=%d|" % (s, w, b)).ljust(SECTOR, b".") * (BLK // SECTOR)


# ---------------------------------------------------------------- writer

def cmd_write(a):
    import nbd

    if a.bs % BLK or a.bs <= 0 or a.length < a.bs or a.offset % BLK:
        sys.exit("ackcheck write: bs, offset and length must be 4 KiB multiples, length >= bs")
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    rnd = random.Random(a.seed)
    log = open(os.path.join(a.dir, f"s{a.session}.log"), "a", buffering=1)
    log.write(f"# session {a.session} bs {a.bs} qd {a.qd} flush-every "
              f"{a.flush_every} seed {a.seed} region {a.offset} {a.length}\n")
    h = nbd.NBD()
    try:
        h.connect_uri(a.uri)
    except nbd.Error as e:
        log.write(f"X connect failed: {e}\n")
        sys.exit(f"ackcheck write: connect to {a.uri}: {e}")
    nb = a.bs // BLK
    lo, count = a.offset // BLK, a.length // BLK
    inflight = {}           # cookie -> ("W", seq, first block, buffer) | ("F", fseq)
    busy = set()            # blocks of writes in flight
    seq = fseq = since_flush = 0
    n_ack = n_err = 0
    end = time.monotonic() + a.max_s
    why = "time limit"

    def retire(cookie, err):
        nonlocal n_ack, n_err
        kind = inflight.pop(cookie)
        if kind[0] == "W":
            busy.difference_update(range(kind[2], kind[2] + nb))
            if err is None:
                n_ack += 1
                log.write(f"A {kind[1]}\n")
            else:
                n_err += 1
                log.write(f"E {kind[1]} {err}\n")
        else:
            log.write(f"FA {kind[1]}\n" if err is None else f"FE {kind[1]} {err}\n")

    def reap():
        for c in list(inflight):
            try:
                done = h.aio_command_completed(c)
                err = None
            except nbd.Error as e:
                done, err = True, str(e).replace("\n", " ")
            if done:
                retire(c, err)

    def submit():
        nonlocal seq, fseq, since_flush
        if a.flush_every and since_flush >= a.flush_every:
            fseq += 1
            since_flush = 0
            log.write(f"FS {fseq}\n")
            inflight[h.aio_flush()] = ("F", fseq)
            return True
        for _ in range(16):
            first = lo + rnd.randrange(count - nb + 1)
            if busy.isdisjoint(range(first, first + nb)):
                break
        else:
            return False
        seq += 1
        since_flush += 1
        buf = b"".join(block_bytes(a.session, seq, b) for b in range(first, first + nb))
        log.write(f"S {seq} {first * BLK} {a.bs}\n")
        busy.update(range(first, first + nb))
        inflight[h.aio_pwrite(buf, first * BLK)] = ("W", seq, first, buf)
        return True

    try:
        while not stop and time.monotonic() < end:
            while len(inflight) < a.qd and not stop and submit():
                pass
            try:
                h.poll(100)
            except nbd.Error as e:
                if e.errnum != 4:     # EINTR: the stop flag is looked at
                    raise
            reap()
        why = "stopped" if stop else why
        drain_end = time.monotonic() + a.drain_s
        while inflight and time.monotonic() < drain_end:
            try:
                h.poll(100)
            except nbd.Error as e:
                if e.errnum != 4:
                    raise
            reap()
        if inflight:
            why += f", {len(inflight)} still in flight after {a.drain_s}s"
    except nbd.Error as e:
        why = f"connection: {str(e).splitlines()[0] if str(e) else e}"
        reap()
    log.write(f"X {why}; submitted {seq}, acknowledged {n_ack}, failed {n_err}\n")
    print(f"writer s{a.session}: {why}; submitted {seq}, acknowledged {n_ack}, failed {n_err}")
    try:
        if not inflight:
            h.shutdown()
    except nbd.Error:
        pass


# ---------------------------------------------------------------- checker

class Session:
    def __init__(self, num):
        self.num = num
        self.writes = {}        # w -> [off, len, submit idx, ack idx or None]
        self.flushes = []       # (FS idx, FA idx or None)


def load_sessions(d, after, gidx):
    """Sessions numbered above `after`, their events numbered from gidx up
    in time order (sessions did not overlap)."""
    nums = sorted(int(m.group(1)) for f in os.listdir(d)
                  if (m := re.fullmatch(r"s(\d+)\.log", f)))
    out = []
    for n in nums:
        if n <= after:
            continue
        s = Session(n)
        fs = {}
        for line in open(os.path.join(d, f"s{n}.log")):
            p = line.split()
            if not p or p[0].startswith("#") or p[0] == "X":
                continue
            gidx += 1
            if p[0] == "S" and len(p) == 4:
                s.writes[int(p[1])] = [int(p[2]), int(p[3]), gidx, None]
            elif p[0] == "A" and len(p) == 2 and int(p[1]) in s.writes:
                s.writes[int(p[1])][3] = gidx
            elif p[0] == "FS" and len(p) == 2:
                fs[int(p[1])] = [gidx, None]
            elif p[0] == "FA" and len(p) == 2 and int(p[1]) in fs:
                fs[int(p[1])][1] = gidx
            # E and FE: failed, so never acknowledged; a torn last line
            # (the writer was killed while writing it) is skipped too.
        s.flushes = [tuple(v) for v in fs.values()]
        out.append(s)
    return out


def read_blocks(a, lo, n):
    """The node's blocks lo .. lo+n-1, over NBD or from an image file."""
    chunk = 1024
    if a.uri:
        import nbd
        h = nbd.NBD()
        h.connect_uri(a.uri)
        for b in range(lo, lo + n, chunk):
            k = min(chunk, lo + n - b)
            data = h.pread(k * BLK, b * BLK)
            for i in range(k):
                yield data[i * BLK:(i + 1) * BLK]
        h.shutdown()
    else:
        with open(a.image, "rb") as f:
            for b in range(lo, lo + n, chunk):
                k = min(chunk, lo + n - b)
                f.seek(b * BLK)
                data = f.read(k * BLK)
                if len(data) != k * BLK:
                    raise OSError(f"short read of {a.image} at block {b}")
                for i in range(k):
                    yield data[i * BLK:(i + 1) * BLK]


def decode(data, b, initial):
    """The writes a block shows: [(s, w)] (two or more when torn), [INITIAL]
    for the initial content, or a string saying what else it holds."""
    sec = data[:SECTOR]
    if data == sec * (BLK // SECTOR):
        m = HDR.match(sec)
        if not m:
            if data == initial:
                return [INITIAL]
            return "zeros" if data == bytes(BLK) else "other data (not a logged write)"
        if int(m.group(3)) != b:
            return f"block {m.group(3).decode()}'s data (misplaced)"
        return [(int(m.group(1)), int(m.group(2)))]
    if data == initial:
        return [INITIAL]
    seen = []
    for i in range(0, BLK, SECTOR):
        m = HDR.match(data[i:i + SECTOR])
        if not m or int(m.group(3)) != b:
            return "garbage"
        v = (int(m.group(1)), int(m.group(2)))
        if v not in seen:
            seen.append(v)
    return seen


def vname(v):
    return "initial content" if v == INITIAL else f"s{v[0]} w{v[1]}"


def cmd_check(a):
    state_path = os.path.join(a.dir, "state.json")
    st = {"through": 0, "floor": {}, "gidx": 0}
    if os.path.exists(state_path):
        st = json.load(open(state_path))
    through = st["through"]
    floor = {int(k): tuple(v) for k, v in st["floor"].items()}
    sessions = load_sessions(a.dir, through, st.get("gidx", 0))
    lo, n = a.offset // BLK, a.length // BLK

    # The chain of each block: floor, then the live writes to it in order.
    chains = {}
    writes = {}             # (s, w) -> [off, len, submit, ack]
    for s in sessions:
        for w in sorted(s.writes):
            rec = s.writes[w]
            writes[(s.num, w)] = rec
            for b in range(rec[0] // BLK, (rec[0] + rec[1]) // BLK):
                chains.setdefault(b, [floor.get(b, INITIAL)]).append((s.num, w))

    initial = bytes(BLK)
    init_f = open(a.initial_image, "rb") if a.initial_image else None
    bad, obs, pos, torn = [], {}, {}, 0
    for i, data in enumerate(read_blocks(a, lo, n)):
        b = lo + i
        if init_f:
            init_f.seek(b * BLK)
            initial = init_f.read(BLK)
        chain = chains.get(b) or [floor.get(b, INITIAL)]
        got = decode(data, b, initial)
        if isinstance(got, str):
            want = (vname(chain[0]) if len(chain) == 1 else
                    f"one of its chain ({vname(chain[0])} .. {vname(chain[-1])})")
            bad.append(f"block {b}: holds {got}, expected {want}")
            continue
        if len(got) > 1:
            torn += 1
        idx = []
        for v in got:
            if v in chain:
                idx.append(chain.index(v))
            elif v == INITIAL or v[0] <= through:
                bad.append(f"block {b}: holds {vname(v)}, a write the node "
                           f"promoted at the last failover did not hold "
                           f"(its floor is {vname(chain[0])})")
            else:
                bad.append(f"block {b}: holds {vname(v)}, never written there")
        if len(idx) != len(got):
            continue
        pos[b] = min(idx)
        obs[b] = [chain[k] for k in sorted(set(idx))]

    lost = {}               # (s, w) -> lost block count
    if a.flushed:
        # After a power loss only what a completed FLUSH covered is kept
        # (any protocol): every write acknowledged before that FLUSH was
        # sent. Later acknowledged writes may be gone, each block on its
        # own, so neither the protocol C nor the prefix rule applies.
        f_idx = max((fs for s in sessions for fs, fa in s.flushes if fa is not None),
                    default=-1)
        for v, rec in writes.items():
            if rec[3] is None or rec[3] >= f_idx:
                continue
            for b in range(rec[0] // BLK, (rec[0] + rec[1]) // BLK):
                if b in pos and pos[b] < chains[b].index(v):
                    lost[v] = lost.get(v, 0) + 1
                    if lost[v] == 1:
                        bad.append(f"block {b}: lost flushed {vname(v)} "
                                   f"(offset {rec[0]}), holds {vname(chains[b][pos[b]])}")
    elif a.proto == "C":
        for b, chain in chains.items():
            if b not in pos:
                continue
            acked = [k for k in range(1, len(chain)) if writes[chain[k]][3] is not None]
            if acked and pos[b] < acked[-1]:
                v = chain[acked[-1]]
                lost[v] = lost.get(v, 0) + 1
                if lost[v] == 1:
                    bad.append(f"block {b}: lost acknowledged {vname(v)} "
                               f"(offset {writes[v][0]}), holds {vname(chain[pos[b]])}")
    else:
        held = [v for b, vs in obs.items() for v in vs if v != INITIAL and v in writes]
        h_idx = max((writes[v][2] for v in held), default=-1)
        h_by = max(held, key=lambda v: writes[v][2]) if held else None
        f_idx = -1
        if a.proto == "B":
            f_idx = max((fs for s in sessions for fs, fa in s.flushes if fa is not None),
                        default=-1)
        for v, rec in writes.items():
            if rec[3] is None or rec[3] >= max(h_idx, f_idx):
                continue
            for b in range(rec[0] // BLK, (rec[0] + rec[1]) // BLK):
                if b in pos and pos[b] < chains[b].index(v):
                    lost[v] = lost.get(v, 0) + 1
                    if lost[v] == 1:
                        why = (f"the node holds {vname(h_by)}, submitted after it was acknowledged"
                               if rec[3] < h_idx else "a completed FLUSH sent after it covers it")
                        bad.append(f"block {b}: lacks acknowledged {vname(v)} "
                                   f"(offset {rec[0]}) but {why}; holds "
                                   f"{vname(chains[b][pos[b]])}")

    n_acked = sum(1 for r in writes.values() if r[3] is not None)
    n_flushed = sum(1 for s in sessions for fs, fa in s.flushes if fa is not None)
    summary = (f"{a.what}: protocol {a.proto}, {len(sessions)} session(s), "
               f"{len(writes)} writes submitted, {n_acked} acknowledged, "
               f"{n_flushed} flushes completed; {len(lost)} acknowledged writes lost "
               f"({sum(lost.values())} blocks of 4 KiB), {len(bad) - len(lost)} other "
               f"bad blocks{f', {torn} torn' if torn else ''}")
    print(summary)
    for line in bad[:8]:
        print("  " + line)
    if len(bad) > 8:
        print(f"  ... and {len(bad) - 8} more")
    with open(os.path.join(a.dir, "last.json"), "w") as f:
        json.dump({"lost_writes": len(lost), "lost_blocks": sum(lost.values()),
                   "other_bad": len(bad) - len(lost), "acked": n_acked,
                   "summary": summary}, f)
    if a.commit:
        for b, vs in obs.items():
            if vs[0] == INITIAL:
                floor.pop(b, None)
            else:
                floor[b] = vs[0]
        last = max((s.num for s in sessions), default=through)
        gidx = max((r[3] or r[2] for r in writes.values()), default=st.get("gidx", 0))
        tmp = state_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"through": last, "floor": {str(k): v for k, v in floor.items()},
                       "gidx": gidx}, f)
        os.rename(tmp, state_path)
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("--uri", required=True)
    w.add_argument("--session", type=int, required=True)
    w.add_argument("--bs", type=int, default=BLK)
    w.add_argument("--qd", type=int, default=16)
    w.add_argument("--flush-every", type=int, default=0)
    w.add_argument("--seed", type=int, default=1)
    w.add_argument("--max-s", type=float, default=60)
    w.add_argument("--drain-s", type=float, default=5)
    c = sub.add_parser("check")
    c.add_argument("--proto", choices="ABC", required=True)
    c.add_argument("--uri")
    c.add_argument("--image")
    c.add_argument("--initial-image")
    c.add_argument("--commit", action="store_true")
    c.add_argument("--flushed", action="store_true",
                   help="after a power loss: only FLUSH-covered writes are promised")
    c.add_argument("--what", default="check")
    for p in (w, c):
        p.add_argument("--dir", required=True)
        p.add_argument("--offset", type=int, required=True)
        p.add_argument("--length", type=int, required=True)
    a = ap.parse_args()
    if a.cmd == "write":
        cmd_write(a)
        return 0
    if bool(a.uri) == bool(a.image):
        sys.exit("ackcheck check: give --uri or --image")
    try:
        return cmd_check(a)
    except Exception as e:      # nbd.Error, OSError, a corrupt log or state
        print(f"ackcheck check: {type(e).__name__}: {e}")
        return 2


if __name__ == "__main__":
    sys.exit(main())
