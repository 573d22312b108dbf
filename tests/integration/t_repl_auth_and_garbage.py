#!/usr/bin/python3
"""The peer port is not an open door.

1. Different secrets: both daemons log the authentication failure and
   neither ever shows the peer Connected.
2. Same secret, a replicating pair (alice Primary): raw TCP clients on
   bob's peer port (bob accepts, since "alice" < "bob") send garbage, a
   well-formed HELLO with a bad CRC, a truncated header then close, a
   DATA frame (valid CRC) before any handshake, a valid HELLO claiming to
   be alice followed by DATA or STATE, the same HELLO followed by a wrong
   AUTH, a header announcing a 4 GiB payload, and a silent connection.
   Each time bob logs why, drops that connection, its backing file keeps
   the same bytes, its control socket answers, and the real link to alice
   stays up (no "connection lost"). Afterwards a write through alice still
   reaches bob's disk. (Backing files are compared over the data area: the
   internal metadata after it may change on its own.)
"""

import hashlib
import os
import random
import socket
import struct
import subprocess
import time

import bt
from bt import MiB, check, check_eq

BLOCKCTL = os.path.join(os.path.dirname(bt.BLOCKD), "blockctl")
SIZE = 32 * MiB
rng = random.Random(20240611)

# --- the peer wire format (transport/frame.h), built by hand --------------

MAGIC = 0x424C4B44
HELLO, AUTH, STATE, DATA = 1, 2, 3, 4
HDR = struct.Struct(">IHHIIQQII")      # 40 bytes
assert HDR.size == 40
# The version the daemon speaks, learnt from its HELLO (the accepting side
# sends its HELLO first): frames built here use it, so a header is refused
# for what the test means, not for a stale version number.
VERSION = 1
STATE_BYTES = {1: 64, 2: 128}


def _crc_table():
    tab = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        tab.append(c)
    return tab


CRC_TAB = _crc_table()


def crc32c(data, crc=0):
    c = crc ^ 0xFFFFFFFF
    for b in data:
        c = CRC_TAB[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


def frame(ftype, payload=b"", flags=0, fid=0, offset=0, length=None,
          bad_crc=False):
    length = len(payload) if length is None else length
    hdr = HDR.pack(MAGIC, VERSION, ftype, flags, len(payload), fid, offset, length, 0)
    crc = crc32c(payload, crc32c(hdr))
    if bad_crc:
        crc ^= 0x5A5A5A5A
    return HDR.pack(MAGIC, VERSION, ftype, flags, len(payload), fid, offset,
                    length, crc) + payload


NAMES = ["?", "HELLO", "AUTH", "STATE", "DATA", "TRIM", "ZERO", "BARRIER",
         "RECV_ACK", "WRITE_ACK", "BARRIER_ACK", "PING", "PING_ACK", "RS_DATA",
         "RS_ZERO", "RS_ACK", "RS_DONE"]


def frame_type_name(t):
    return NAMES[t] if t < len(NAMES) else str(t)


def read_hello(s):
    """Read the peer's HELLO frame; note its version; return the payload."""
    global VERSION
    buf = b""
    while len(buf) < 40:
        c = s.recv(40 - len(buf))
        check(c, f"peer closed before sending its HELLO ({len(buf)} bytes)")
        buf += c
    magic, version, ftype, _, plen, *_ = HDR.unpack(buf)
    check_eq((magic, ftype), (MAGIC, HELLO), "first frame from the peer (magic, type)")
    VERSION = version
    payload = b""
    while len(payload) < plen:
        c = s.recv(plen - len(payload))
        check(c, "peer closed in the middle of its HELLO")
        payload += c
    return payload


def hello(node, resource="r0"):
    name = node.encode().ljust(64, b"\0")
    challenge = bytes(rng.getrandbits(8) for _ in range(32))
    return struct.pack(">II", 0, 0) + name + challenge + \
        struct.pack(">Q", crc32c(resource.encode()))


# --- the pair -----------------------------------------------------------------

class Pair:
    def __init__(self, t, tag, secret_alice, secret_bob):
        self.t = t
        self.tag = tag
        self.ports = {"alice": bt.free_port(), "bob": bt.free_port()}
        while self.ports["bob"] == self.ports["alice"]:
            self.ports["bob"] = bt.free_port()
        self.conf = {}
        for node, secret in (("alice", secret_alice), ("bob", secret_bob)):
            self.conf[node] = t.path(f"{tag}-{node}.conf")
            with open(self.conf[node], "w") as f:
                f.write(self.config(secret))
        for node in ("alice", "bob"):
            t.image(self.img(node), SIZE)
            # Two-node resources keep metadata (internal: after the data).
            r = self.ctl(node, "create-md")
            check(r.returncode == 0, f"create-md for {node}: {r.stderr.strip()}")
        self.d = {}
        for node in ("alice", "bob"):
            self.d[node] = t.start_daemon(f"{tag}-{node}", "-c", self.conf[node],
                                          "-n", node)
        for node in ("alice", "bob"):
            self.wait_control(node)

    def wait_control(self, node):
        """Poll until the daemon's control socket answers."""
        end = time.monotonic() + bt.READY_S
        while True:
            self.d[node].check_alive()
            r = self.ctl(node, "status", "--json")
            if r.returncode == 0:
                return
            if time.monotonic() > end:
                raise bt.Failure(f"{node}: control socket not answering within "
                                 f"{bt.READY_S}s: {r.stderr.strip()}")
            time.sleep(0.05)

    def img(self, node):
        return f"{self.tag}-{node}.img"

    def config(self, secret):
        lines = ["[resource]", "name = r0", "protocol = C", f"secret = {secret}",
                 "ping-interval-ms = 200", "ping-timeout-ms = 1000",
                 "connect-retry-max-ms = 300"]
        for node in ("alice", "bob"):
            p = self.t.path(f"{self.tag}-{node}")
            lines += [f"[node {node}]", f"address = 127.0.0.1:{self.ports[node]}",
                      f"disk = {p}.img", f"nbd = unix:{p}.nbd", f"control = {p}.ctl"]
        return "\n".join(lines) + "\n"

    def ctl(self, node, *args):
        return subprocess.run([BLOCKCTL, "-c", self.conf[node], "-n", node] + list(args),
                              capture_output=True, text=True, timeout=10)

    def status(self, node):
        import json
        r = self.ctl(node, "status", "--json")
        check(r.returncode == 0, f"status on {node} exited {r.returncode}: {r.stderr.strip()}")
        return json.loads(r.stdout)

    def wait(self, node, what, pred, deadline_s=20):
        end = time.monotonic() + deadline_s
        while True:
            self.d[node].check_alive()
            s = self.status(node)
            if pred(s, s["peer"]):
                return s
            if time.monotonic() > end:
                raise bt.Failure(f"{node}: {what} not reached within {deadline_s}s: "
                                 f"role {s['role']} disk {s['disk']} peer {s['peer']}")
            time.sleep(0.05)

    def log(self, node):
        with open(self.d[node].log, "rb") as f:
            return f.read().decode(errors="replace")

    def uri(self, node):
        return bt.unix_uri(self.t.path(f"{self.tag}-{node}.nbd"))


def sha(path, size=None):
    """sha256 of the file, or of its first size bytes (the data area: the
    internal metadata after it changes on its own)."""
    with open(path, "rb") as f:
        return hashlib.sha256(f.read(size if size is not None else -1)).hexdigest()


def data_sha(pair, node):
    return sha(pair.t.path(pair.img(node)), pair.status(node)["size_bytes"])


def wait_log(pair, node, start, pattern, what, deadline_s=10):
    """A line matching pattern appears in node's log after byte start."""
    import re
    end = time.monotonic() + deadline_s
    rx = re.compile(pattern)
    while True:
        new = pair.log(node)[start:]
        for line in new.splitlines():
            if rx.search(line):
                return line
        if time.monotonic() > end:
            raise bt.Failure(f"{what}: no log line matching /{pattern}/ on {node} "
                             f"within {deadline_s}s; new log: {new[-800:]!r}")
        time.sleep(0.05)


# --- 1. wrong secret ----------------------------------------------------------

def wrong_secret(t):
    p = Pair(t, "ws", "s3cret", "not-the-secret")
    starts = {"alice": 0, "bob": 0}
    lines = {}
    for node in ("alice", "bob"):
        lines[node] = wait_log(p, node, starts[node],
                               r"(?i)authentication failed|secret",
                               f"wrong secret, {node}")
    # Several dial attempts later, still nobody connected.
    end = time.monotonic() + 1.5
    while time.monotonic() < end:
        for node in ("alice", "bob"):
            s = p.status(node)
            check(s["peer"]["connection"] != "Connected",
                  f"{node} shows the peer Connected although the secrets differ")
        time.sleep(0.1)
    for node in ("alice", "bob"):
        p.d[node].stop()
    return lines


# --- 2. garbage on the peer port ---------------------------------------------

class Probe:
    def __init__(self, pair, img_sha):
        self.p = pair
        self.img_sha = img_sha
        self.n = 0

    def run(self, what, send_fn, pattern):
        """Connect, let send_fn talk, expect bob to log pattern and close."""
        self.n += 1
        start = len(self.p.log("bob"))
        s = socket.create_connection(("127.0.0.1", self.p.ports["bob"]), timeout=10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            read_hello(s)
            closed_by_us = send_fn(s)
            line = wait_log(self.p, "bob", start, pattern, what)
            if not closed_by_us:
                check(wait_closed(s, 10), f"{what}: bob kept the connection open")
        finally:
            s.close()
        self.after(what, start)
        return line

    def after(self, what, start):
        p = self.p
        p.d["bob"].check_alive()
        p.d["alice"].check_alive()
        s = p.status("bob")         # the control socket still answers
        check_eq(s["peer"]["connection"], "Connected", f"after {what}: bob's peer link")
        check_eq(p.status("alice")["peer"]["connection"], "Connected",
                 f"after {what}: alice's peer link")
        new = p.log("bob")[start:]
        check("connection lost" not in new,
              f"after {what}: bob lost the real link: {new[-600:]!r}")
        check_eq(data_sha(p, "bob"), self.img_sha,
                 f"after {what}: sha256 of bob's data area")


def wait_closed(s, deadline_s):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        s.settimeout(max(0.05, end - time.monotonic()))
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True
        if not chunk:
            return True
    return False


def garbage(t):
    p = Pair(t, "gb", "s3cret", "s3cret")
    for node in ("alice", "bob"):
        p.wait(node, "peer connected", lambda s, q: q["connection"] == "Connected")
    r = p.ctl("alice", "primary", "--force")
    check(r.returncode == 0, f"primary --force on alice: {r.stderr.strip()}")
    p.wait("alice", "synced", lambda s, q: q["replication"] == "Established"
           and q["disk"] == "UpToDate" and s["role"] == "Primary")
    p.wait("bob", "synced", lambda s, q: s["disk"] == "UpToDate"
           and q["replication"] == "Established")
    # Something real on both disks first, so "unchanged" means something.
    h = bt.connect(unix=t.path("gb-alice.nbd"))
    h.pwrite(bt.pattern(3, 4 * MiB), 1 * MiB)
    h.flush()
    h.shutdown()
    p.wait("alice", "writes drained", lambda s, q: q["pending_writes"] == 0)
    img_sha = data_sha(p, "bob")
    check_eq(img_sha, data_sha(p, "alice"), "bob's data area vs alice's before the probes")

    pr = Probe(p, img_sha)
    lines = []

    def send_garbage(s):
        s.sendall(b"GET / HTTP/1.0\r\n\r\n" + bytes(rng.getrandbits(8) for _ in range(300)))
    lines.append(pr.run("garbage bytes", send_garbage, r"bad frame header|bad magic"))

    def send_bad_crc(s):
        s.sendall(frame(HELLO, hello("alice"), bad_crc=True))
    lines.append(pr.run("HELLO with a bad CRC", send_bad_crc, r"CRC mismatch"))

    def send_truncated(s):
        s.sendall(frame(HELLO, hello("alice"))[:23])
        s.shutdown(socket.SHUT_WR)
        return True
    lines.append(pr.run("truncated frame then close", send_truncated,
                        r"connection attempt ended: .*(closed|reset)"))

    def send_data_first(s):
        s.sendall(frame(DATA, b"\xee" * 4096, fid=1, offset=1 * MiB))
    lines.append(pr.run("DATA before any handshake", send_data_first,
                        r"before authentication"))

    def send_hello_data(s):
        s.sendall(frame(HELLO, hello("alice")) +
                  frame(DATA, b"\xee" * 4096, fid=1, offset=2 * MiB))
    lines.append(pr.run("HELLO then DATA without AUTH", send_hello_data,
                        r"before authentication"))

    def send_hello_state(s):
        s.sendall(frame(HELLO, hello("alice")) +
                  frame(STATE, bytes(STATE_BYTES.get(VERSION, 128))))
    lines.append(pr.run("HELLO then STATE without AUTH", send_hello_state,
                        r"before authentication"))

    def send_wrong_auth(s):
        s.sendall(frame(HELLO, hello("alice")))
        s.sendall(frame(AUTH, bytes(rng.getrandbits(8) for _ in range(32))))
    lines.append(pr.run("HELLO then a wrong AUTH", send_wrong_auth,
                        r"(?i)authentication failed"))

    def send_huge(s):
        # A valid CRC, but a payload no frame may carry: refused from the
        # header alone, before any buffer is set aside for it.
        hdr = HDR.pack(MAGIC, VERSION, DATA, 0, 0xFFFFFFF0, 1, 0, 0xFFFFFFF0, 0)
        s.sendall(HDR.pack(MAGIC, VERSION, DATA, 0, 0xFFFFFFF0, 1, 0,
                           0xFFFFFFF0, crc32c(hdr)))
    lines.append(pr.run("oversized DATA header", send_huge,
                        r"payload too large|before authentication"))

    def send_nothing(s):
        pass
    lines.append(pr.run("silent connection", send_nothing, r"timed out"))

    # The real pair still replicates.
    before = p.status("bob")["peer"]["data_received_bytes"]
    data = bt.pattern(77, 256 * 1024)
    h = bt.connect(unix=t.path("gb-alice.nbd"))
    h.pwrite(data, 9 * MiB + 512)
    h.flush()
    h.shutdown()
    p.wait("bob", "the new write received",
           lambda s, q: q["data_received_bytes"] >= before + len(data))
    p.wait("alice", "writes drained", lambda s, q: q["pending_writes"] == 0)
    with open(t.path(p.img("bob")), "rb") as f:
        f.seek(9 * MiB + 512)
        check(f.read(len(data)) == data, "the write after the probes is not on bob's disk")
    for node in ("alice", "bob"):
        p.d[node].stop()
    return lines


def main(t):
    ws = wrong_secret(t)
    print(f"{t.name}: wrong secret: alice: {ws['alice'][-120:]}")
    print(f"{t.name}: wrong secret: bob: {ws['bob'][-120:]}")
    lines = garbage(t)
    for line in lines:
        print(f"{t.name}: bob: {line[-140:]}")
    return f"wrong secret refused on both sides, {len(lines)} bad peers dropped, pair intact"


if __name__ == "__main__":
    bt.run(main, timeout_s=90)
