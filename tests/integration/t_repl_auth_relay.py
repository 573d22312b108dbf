#!/usr/bin/python3
"""Knowing the secret is the only way onto the peer link: a third party
that can reach both peer ports but does not know the secret must not get
authenticated by relaying one node's answer to the other.

The attack: connect to bob's peer port as "alice" and read bob's HELLO
challenge; connect to alice's peer port as "bob" and hand alice that same
challenge; alice answers with the MAC bob expects from alice; relay it to
bob, then send a STATE claiming to be an UpToDate Primary and a DATA frame
with 0xEE bytes. The pair replicates (alice Primary) the whole time.

Bob must refuse the relayed AUTH (or alice refuse to take part): the real
link to alice is never lost or replaced, bob's disk stays UpToDate and the
data area of its backing file keeps the same bytes (no 0xEE block).

Then the same against bob alone: two connections to bob as "alice", each
given the other's challenge, bob's own proof from one replayed on the
other. Same expectations; and the pair still replicates a write after both.
"""

import os
import socket
import struct
import time

import bt
from bt import MiB, check, check_eq
import t_repl_auth_and_garbage as tg
from t_repl_auth_and_garbage import (AUTH, DATA, HDR, HELLO, STATE, Pair,
                                     data_sha, frame, read_hello)

SIZE = 32 * MiB
EVIL_OFF = 3 * MiB


def recv_exact(s, n, what):
    buf = b""
    while len(buf) < n:
        try:
            c = s.recv(n - len(buf))
        except (ConnectionResetError, socket.timeout) as e:
            raise bt.Failure(f"{what}: {e} after {len(buf)}/{n} bytes")
        if not c:
            raise bt.Failure(f"{what}: closed after {len(buf)}/{n} bytes")
        buf += c
    return buf


def recv_frame(s, what):
    h = HDR.unpack(recv_exact(s, 40, what))
    return h, recv_exact(s, h[4], what) if h[4] else b""


WRITE_ACK = 9


def collect_frames(s, deadline_s):
    """Headers of the frames the peer sends until it closes or deadline_s."""
    end = time.monotonic() + deadline_s
    buf, out = b"", []
    while time.monotonic() < end:
        s.settimeout(max(0.05, end - time.monotonic()))
        try:
            c = s.recv(65536)
        except socket.timeout:
            break
        except ConnectionResetError:
            break
        if not c:
            break
        buf += c
        while len(buf) >= 40:
            h = HDR.unpack(buf[:40])
            if len(buf) < 40 + h[4]:
                break
            out.append(h)
            buf = buf[40 + h[4]:]
    return out


def hello_payload(node, challenge, resource_hash):
    return struct.pack(">II", 0, 0) + node.encode().ljust(64, b"\0") + \
        challenge + resource_hash


def relay(p):
    """Run the attack; returns a short description of how far it got."""
    to_bob = socket.create_connection(("127.0.0.1", p.ports["bob"]), timeout=5)
    to_alice = socket.create_connection(("127.0.0.1", p.ports["alice"]), timeout=5)
    try:
        bob_hello = read_hello(to_bob)
        bob_challenge = bob_hello[72:104]
        res_hash = bob_hello[104:112]
        try:
            h, _ = recv_frame(to_alice, "alice's HELLO")
        except bt.Failure as e:
            return f"alice refused the inbound connection ({e})"
        to_alice.sendall(frame(HELLO, hello_payload("bob", bob_challenge, res_hash)))
        try:
            h, mac = recv_frame(to_alice, "alice's AUTH")
        except bt.Failure as e:
            return f"alice did not answer bob's challenge ({e})"
        if h[2] != AUTH:
            return f"alice answered with frame type {h[2]}, not AUTH"
        state = struct.pack(">BBBBI", 1, 6, ord("C"), 0, 0) + \
            struct.pack(">QQQQ", SIZE, int.from_bytes(os.urandom(8), "big"), 0, 0)
        state += bytes(tg.STATE_BYTES.get(tg.VERSION, 128) - len(state))
        to_bob.sendall(frame(HELLO, hello_payload("alice", os.urandom(32), res_hash)) +
                       frame(AUTH, mac) + frame(STATE, state) +
                       frame(DATA, b"\xee" * 4096, fid=1 << 40, offset=EVIL_OFF))
        # Bob should hang up on us. Whatever it sends first is collected:
        # a WRITE_ACK for our id means the injected write hit its disk.
        got = collect_frames(to_bob, 3)
        acked = any(f[2] == WRITE_ACK and f[5] == 1 << 40 for f in got)
        types = ",".join(tg.frame_type_name(f[2]) for f in got) or "nothing"
        return (f"relayed AUTH sent; bob sent {types} back"
                + ("; BOB ACKNOWLEDGED THE INJECTED WRITE" if acked else ""))
    finally:
        to_bob.close()
        to_alice.close()


def reflect(p):
    """Bob's own proof handed back to it: two connections to bob as "alice",
    each given the other's challenge; bob's AUTH on the second is replayed
    as alice's AUTH on the first."""
    c1 = socket.create_connection(("127.0.0.1", p.ports["bob"]), timeout=5)
    c2 = socket.create_connection(("127.0.0.1", p.ports["bob"]), timeout=5)
    try:
        h1 = read_hello(c1)
        h2 = read_hello(c2)
        res_hash = h1[104:112]
        c2.sendall(frame(HELLO, hello_payload("alice", h1[72:104], res_hash)))
        try:
            h, mac = recv_frame(c2, "bob's AUTH")
        except bt.Failure as e:
            return f"bob gave no proof on the second connection ({e})"
        if h[2] != AUTH:
            return f"bob answered with frame type {h[2]}, not AUTH"
        c1.sendall(frame(HELLO, hello_payload("alice", h2[72:104], res_hash)) +
                   frame(AUTH, mac) +
                   frame(DATA, b"\xee" * 4096, fid=1 << 40, offset=EVIL_OFF))
        got = collect_frames(c1, 3)
        acked = any(f[2] == WRITE_ACK and f[5] == 1 << 40 for f in got)
        types = ",".join(tg.frame_type_name(f[2]) for f in got) or "nothing"
        return (f"reflected AUTH sent; bob sent {types} back"
                + ("; BOB ACKNOWLEDGED THE INJECTED WRITE" if acked else ""))
    finally:
        c1.close()
        c2.close()


def after_attack(p, name, start, img_sha):
    """The attack changed nothing: no authenticated rogue, the real link
    never dropped, bob UpToDate with the same data. Returns bob's status."""
    # Let anything the attack set off settle (alice redials within ~300 ms
    # if the link was dropped); the verdict comes after, from the log.
    try:
        p.wait("bob", "peer connected", lambda s, q: q["connection"] == "Connected"
               and q["replication"] == "Established", deadline_s=5)
    except bt.Failure:
        pass
    new = p.log("bob")[start:]
    with open(p.t.path(p.img("bob")), "rb") as f:
        f.seek(EVIL_OFF)
        evil = f.read(4096) == b"\xee" * 4096
    check(not evil, f"{name}: the rogue connection wrote a DATA frame to bob's disk")
    lost = [l for l in new.splitlines() if "connection lost" in l or
            "connected and authenticated" in l]
    check(not lost, f"{name}: bob authenticated the rogue connection and dropped "
          f"the real link: {' | '.join(l[-110:] for l in lost[:3])}")
    s = p.status("bob")
    check_eq((s["peer"]["connection"], s["peer"]["replication"]),
             ("Connected", "Established"), f"{name}: bob's link to alice afterwards")
    check_eq(s["disk"], "UpToDate", f"{name}: bob's disk afterwards")
    check_eq(data_sha(p, "bob"), img_sha, f"{name}: sha256 of bob's data area")
    return s


def main(t):
    p = Pair(t, "rl", "s3cret", "s3cret")
    for node in ("alice", "bob"):
        p.wait(node, "peer connected", lambda s, q: q["connection"] == "Connected")
    r = p.ctl("alice", "primary", "--force")
    check(r.returncode == 0, f"primary --force on alice: {r.stderr.strip()}")
    p.wait("alice", "synced", lambda s, q: s["role"] == "Primary"
           and q["replication"] == "Established" and q["disk"] == "UpToDate")
    p.wait("bob", "synced", lambda s, q: s["disk"] == "UpToDate"
           and q["replication"] == "Established")
    h = bt.connect(unix=t.path("rl-alice.nbd"))
    h.pwrite(bt.pattern(5, 6 * MiB), 0)
    h.flush()
    h.shutdown()
    p.wait("alice", "writes drained", lambda s, q: q["pending_writes"] == 0)
    img_sha = data_sha(p, "bob")

    results = []
    for name, attack in (("relay via alice", relay), ("reflection", reflect)):
        start = len(p.log("bob"))
        how = attack(p)
        print(f"{t.name}: {name}: {how}")
        results.append(f"{name}: {how}")
        check("ACKNOWLEDGED" not in how, f"{name}: {how}")
        s = after_attack(p, name, start, img_sha)
        if attack is reflect:
            tg.wait_log(p, "bob", start, r"(?i)authentication failed",
                        "reflection: bob's log")
    before = s["peer"]["data_received_bytes"]
    data = bt.pattern(9, 128 * 1024)
    h = bt.connect(unix=t.path("rl-alice.nbd"))
    h.pwrite(data, 7 * MiB)
    h.flush()
    h.shutdown()
    p.wait("bob", "the new write received",
           lambda s, q: q["data_received_bytes"] >= before + len(data))
    p.wait("alice", "writes drained", lambda s, q: q["pending_writes"] == 0)
    with open(t.path(p.img("bob")), "rb") as f:
        f.seek(7 * MiB)
        check(f.read(len(data)) == data, "the write after the relay attempt is not on bob's disk")
    for node in ("alice", "bob"):
        p.d[node].stop()
    return "; ".join(results)


if __name__ == "__main__":
    bt.run(main, timeout_s=60)
