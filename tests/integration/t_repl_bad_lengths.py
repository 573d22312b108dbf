#!/usr/bin/python3
"""A peer that knows the secret but sends impossible lengths is dropped
with a clear reason, never waited for.

bob runs alone; this test plays alice on the peer link (the real HELLO,
HMAC and STATE exchange), so bob becomes its SyncTarget (a fresh bob
against an UpToDate peer: full resync). Then, on one connection each:

1. RS_CSUM over 48 MiB (bob's buffer pool is 8 MiB; a resync chunk is
   at most 1 MiB), then a valid 4 KiB RS_DATA;
2. RS_DATA of 16 MiB (more than the buffer pool can ever hold), then a
   valid 4 KiB RS_DATA.

Each time bob must log why and close the connection within 10 s (and not
answer the valid frame behind it); its control socket must keep answering.
On the old code, 1. left bob's receiver waiting for a buffer forever, and
2. its link: the RS_DATA behind it was never acknowledged and the
connection stayed open.
"""

import hashlib
import hmac
import os
import random
import re
import socket
import struct
import subprocess
import time

import bt
from bt import MiB, check

BLOCKCTL = os.path.join(os.path.dirname(bt.BLOCKD), "blockctl")
SIZE = 64 * MiB
SECRET = "s3cret"
rng = random.Random(99)

MAGIC = 0x424C4B44
HELLO, AUTH, STATE, RS_DATA, RS_ACK, RS_CSUM = 1, 2, 3, 13, 15, 17
HDR = struct.Struct(">IHHIIQQII")
ROLE_SECONDARY, DS_UPTODATE = 2, 6
VERSION = 0


def crc32c(data, crc=0):
    c = crc ^ 0xFFFFFFFF
    for b in data:
        c ^= b
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
    return c ^ 0xFFFFFFFF


def frame(ftype, payload=b"", fid=0, offset=0, length=None):
    length = len(payload) if length is None else length
    hdr = HDR.pack(MAGIC, VERSION, ftype, 0, len(payload), fid, offset, length, 0)
    # A big payload: CRC32C in Python is slow, so a table-free fast path
    # is not worth it here; the big frames below are never checked by bob
    # (he refuses them from the header).
    crc = crc32c(payload, crc32c(hdr)) if len(payload) <= 65536 else 0
    return HDR.pack(MAGIC, VERSION, ftype, 0, len(payload), fid, offset,
                    length, crc) + payload


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        c = s.recv(n - len(buf))
        check(c, f"bob closed the connection during the handshake ({len(buf)}/{n})")
        buf += c
    return buf


def recv_frame(s):
    h = HDR.unpack(recv_exact(s, 40))
    return h, recv_exact(s, h[4]) if h[4] else b""


def name64(n):
    return n.encode().ljust(64, b"\0")


def handshake(port):
    """Connect as alice, prove the secret, make bob our SyncTarget."""
    global VERSION
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    (_, VERSION, t, _, _, _, _, _, _), bob_hello = recv_frame(s)
    check(t == HELLO, f"bob's first frame is type {t}, not HELLO")
    bob_challenge = bob_hello[72:104]
    mine = bytes(rng.getrandbits(8) for _ in range(32))
    s.sendall(frame(HELLO, struct.pack(">II", 0x1F, 0) + name64("alice") + mine +
                    struct.pack(">Q", crc32c(b"r0"))))
    # Our proof: HMAC(secret, bob's challenge | ours | resource | prover |
    # verifier | we dialed).
    msg = bob_challenge + mine + name64("r0") + name64("alice") + name64("bob") + b"D"
    s.sendall(frame(AUTH, hmac.new(SECRET.encode(), msg, hashlib.sha256).digest()))
    while True:
        (_, _, t, _, _, _, _, _, _), payload = recv_frame(s)
        if t == STATE:
            break
    st = bytearray(128)
    st[0], st[1], st[2] = ROLE_SECONDARY, DS_UPTODATE, ord("C")
    struct.pack_into(">QQ", st, 8, SIZE, rng.getrandbits(63))
    struct.pack_into(">Q", st, 40, 0x5EED0000CAFE)            # current UUID
    struct.pack_into(">I", st, 72, 1)                          # consistent
    s.sendall(frame(STATE, bytes(st)))
    return s


def log_since(path, start):
    with open(path, "rb") as f:
        f.seek(start)
        return f.read().decode(errors="replace")


def status(conf):
    import json
    r = subprocess.run([BLOCKCTL, "-c", conf, "-n", "bob", "status", "--json"],
                       capture_output=True, text=True, timeout=5)
    check(r.returncode == 0, f"bob's control socket: exit {r.returncode}: {r.stderr.strip()}")
    return json.loads(r.stdout)


def probe(t, bob, conf, port, what, bad, pattern):
    start = os.path.getsize(bob.log)
    s = handshake(port)
    end = time.monotonic() + 10
    while status(conf)["peer"]["replication"] != "SyncTarget":
        check(time.monotonic() < end, f"{what}: bob did not become SyncTarget")
        time.sleep(0.05)
    good = b"\xab" * 4096
    try:
        s.sendall(bad())
        s.sendall(frame(RS_DATA, good, fid=777, offset=1 * MiB))
    except OSError:
        pass    # bob closed before it had all of it: fine
    # bob must close; an RS_ACK of the valid frame means he took the bad
    # one as fine.
    end = time.monotonic() + 10
    s.settimeout(0.2)
    closed = False
    while time.monotonic() < end and not closed:
        try:
            h = s.recv(40)
        except socket.timeout:
            continue
        except ConnectionResetError:
            closed = True
            break
        if not h:
            closed = True
        elif len(h) >= 8 and struct.unpack(">H", h[6:8])[0] == RS_ACK:
            raise bt.Failure(f"{what}: bob acknowledged the frame after it")
    s.close()
    bob.check_alive()
    new = log_since(bob.log, start)
    check(closed, f"{what}: bob kept the connection open for 10 s; log: {new[-400:]!r}")
    m = re.search(pattern, new)
    check(m, f"{what}: no log line matching /{pattern}/; log: {new[-600:]!r}")
    status(conf)
    line = [ln for ln in new.splitlines() if re.search(pattern, ln)][0]
    print(f"{t.name}: {what}: {line[-150:]}")


def main(t):
    port_a, port_b = bt.free_port(), bt.free_port()
    conf = t.path("pair.conf")
    with open(conf, "w") as f:
        f.write("[resource]\nname = r0\nprotocol = C\nsecret = s3cret\n"
                "ping-interval-ms = 10000\nping-timeout-ms = 30000\n"
                "connect-retry-max-ms = 300\nbuffer-mib = 8\n")
        for node, port in (("alice", port_a), ("bob", port_b)):
            p = t.path(node)
            f.write(f"[node {node}]\naddress = 127.0.0.1:{port}\ndisk = {p}.img\n"
                    f"nbd = unix:{p}.nbd\ncontrol = {p}.ctl\n")
    t.image("bob.img", SIZE)
    r = subprocess.run([BLOCKCTL, "-c", conf, "-n", "bob", "create-md"],
                       capture_output=True, text=True, timeout=10)
    check(r.returncode == 0, f"create-md: {r.stderr.strip()}")
    bob = t.start_daemon("bob", "-c", conf, "-n", "bob")
    end = time.monotonic() + bt.READY_S
    while subprocess.run([BLOCKCTL, "-c", conf, "-n", "bob", "status"],
                         capture_output=True).returncode != 0:
        bob.check_alive()
        check(time.monotonic() < end, "bob's control socket never answered")
        time.sleep(0.05)

    # Built once the handshake has taught us bob's frame version.
    probe(t, bob, conf, port_b, "RS_CSUM over 48 MiB",
          lambda: frame(RS_CSUM, struct.pack(">I", 0), fid=1, offset=0,
                        length=48 * MiB),
          r"RS_CSUM|resync chunk")
    probe(t, bob, conf, port_b, "RS_DATA of 16 MiB",
          lambda: HDR.pack(MAGIC, VERSION, RS_DATA, 0, 16 * MiB, 2, 0, 16 * MiB, 0)
          + b"\0" * (4 * MiB), r"buffer pool|resync chunk")
    bob.stop()


bt.run(main, timeout_s=90)
