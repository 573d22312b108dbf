#!/usr/bin/python3
"""Misbehaving clients on raw sockets: garbage before and after the
greeting, bad magics, oversized options and writes, unknown options and
commands, abrupt closes with requests outstanding, idle connections.  Each
may cost only its own connection: a libnbd client connected before all of
it keeps reading and writing, a new client can connect afterwards, the
daemon stays up and finally exits 0 on SIGTERM.  Also checks the raw wire
format of replies libnbd would hide: no payload after a failed simple read,
structured error chunks and simple replies to successful writes and
flushes under structured replies, the old EXPORT_NAME reply, replies to
requests sent before DISC, EINVAL for a FLUSH with an offset or length, no
reply to a DISC whatever its fields."""

import random
import socket
import struct
import time

import bt
from bt import MiB, Raw, Closed, check, check_eq, pattern

SIZE = 64 * MiB
KNOWN = 20 * MiB      # written once, read by raw clients
KEEP = 16 * MiB       # the long-lived client's scratch region
GARBAGE = 8 * MiB     # target of refused writes: must stay zero
DISC = 24 * MiB       # writes sent just before DISC
PARTIAL = 28 * MiB    # a write whose payload never fully arrives
SR_WRITE = 32 * MiB   # written under structured replies
EINVAL = 22
ENOSPC = 28
rng = random.Random(4242)


def junk(n, first=b""):
    return first + bytes(rng.getrandbits(8) for _ in range(n - len(first)))


def must_close(r, what, deadline_s=10):
    check(r.wait_closed(deadline_s), f"{what}: connection was not dropped "
          f"within {deadline_s}s")


def read_known(r, cookie):
    """Simple-reply read of KNOWN over raw r."""
    r.request(bt.CMD_READ, KNOWN, 4096, cookie=cookie)
    err, c = r.simple_reply()
    check_eq((err, c), (0, cookie), "raw read reply (error, cookie)")
    check(r.recv_exact(4096) == pattern(99, 4096), "raw read data")


class Env:
    def __init__(self, t, d, sock, port, keeper):
        self.t, self.d, self.sock, self.port, self.keeper = t, d, sock, port, keeper
        self.n = 0

    def raw(self, tcp=False):
        return Raw(tcp=self.port) if tcp else Raw(unix=self.sock)

    def still_fine(self, what):
        """Daemon alive and the long-lived client still works."""
        try:
            self.d.check_alive()
        except bt.Failure as e:
            raise bt.Failure(f"after {what}: {e}")
        self.n += 1
        data = pattern(1000 + self.n, 64 * 1024)
        try:
            self.keeper.pwrite(data, KEEP)
            got = self.keeper.pread(64 * 1024, KEEP)
        except Exception as e:
            raise bt.Failure(f"after {what}: the client connected beforehand failed: {e}")
        check(got == data, f"after {what}: the client connected beforehand read wrong data")


# --- handshake phase ---------------------------------------------------------

def r_opt_head(r, opt, want_type):
    """Read one option reply and check its option and type."""
    o, t, _ = r.opt_reply()
    check_eq((o, t), (opt, want_type), "option reply (option, type)")


def garbage_before_greeting(e):
    r = e.raw()
    r.send(junk(4096, b"\xff\xff\xff\xff"))      # as client flags: unknown bits
    must_close(r, "garbage instead of client flags")


def bad_client_flags(e):
    r = e.raw()
    r.greeting()
    r.client_flags(0xFFFFFFFF)
    must_close(r, "client flags 0xffffffff")


def garbage_after_flags(e):
    r = e.raw()
    r.handshake()
    r.send(junk(4096, b"GARBAGE!"))
    must_close(r, "garbage instead of an option header")


def bad_option_magic(e):
    r = e.raw()
    r.handshake()
    r.opt(bt.OPT_GO, struct.pack(">I", 2) + b"r0" + struct.pack(">H", 0),
          magic=0x1122334455667788)
    must_close(r, "option with a bad magic")


def huge_option(e):
    """Length 0xfffffff0: dropped, or refused with an error reply."""
    r = e.raw()
    r.handshake()
    r.opt(bt.OPT_GO, b"", length=0xFFFFFFF0)
    try:
        r.send(bytes(64 * 1024))
    except Closed:
        pass
    closed = r.wait_closed(5)
    tail = r.tail
    refused = len(tail) >= 20 and struct.unpack(">QII", tail[:16])[2] & bt.REP_ERR
    check(closed or refused, "option of length 0xfffffff0: neither dropped nor "
          f"refused (got {tail[:20].hex()})")


def oversized_option(e):
    """A 1 MiB LIST payload, actually sent: dropped, or refused with an
    error and the connection still usable."""
    r = e.raw()
    r.handshake()
    try:
        r.opt(bt.OPT_LIST, bytes(MiB))
    except Closed:
        return
    try:
        opt, rtype, _ = r.opt_reply()
    except Closed:
        return
    check(rtype & bt.REP_ERR, f"1 MiB LIST payload answered with {rtype:#x}")
    r.go()
    read_known(r, 1)


def unknown_option(e):
    r = e.raw()
    r.handshake()
    r.opt(0x4242, b"0123456789")
    r_opt_head(r, 0x4242, bt.REP_ERR_UNSUP)
    size, tflags = r.go()
    check_eq(size, SIZE, "export size after an unknown option")
    read_known(r, 2)


def unknown_export(e):
    r = e.raw()
    r.handshake()
    name = b"nosuch"
    body = struct.pack(">I", len(name)) + name + struct.pack(">H", 0)
    r.opt(bt.OPT_INFO, body)
    r_opt_head(r, bt.OPT_INFO, bt.REP_ERR_UNKNOWN)
    r.opt(bt.OPT_GO, body)
    r_opt_head(r, bt.OPT_GO, bt.REP_ERR_UNKNOWN)
    r.go(b"r0")
    read_known(r, 3)
    r2 = e.raw()
    r2.handshake()
    r2.go(b"")
    read_known(r2, 4)


def malformed_go(e):
    """GO whose name length runs past the payload: an error reply (and the
    connection still usable) or a drop."""
    r = e.raw()
    r.handshake()
    r.opt(bt.OPT_GO, struct.pack(">I", 100) + b"r0" + struct.pack(">H", 0))
    try:
        o, rtype, _ = r.opt_reply()
    except Closed:
        return
    check(rtype & bt.REP_ERR, f"malformed GO answered with {rtype:#x}")
    r.go()
    read_known(r, 5)


def option_flood(e):
    r = e.raw()
    r.handshake()
    try:
        r.send(b"".join(struct.pack(">QII", bt.IHAVEOPT, 0x4243, 0)
                        for _ in range(2000)))
    except Closed:
        return
    r.wait_closed(3)
    r.close()


def abort(e):
    r = e.raw()
    r.handshake()
    r.opt(bt.OPT_ABORT)
    must_close(r, "NBD_OPT_ABORT")


def truncated_option(e):
    r = e.raw()
    r.handshake()
    r.send(struct.pack(">Q", bt.IHAVEOPT))
    r.close()
    r = e.raw()
    r.greeting()
    r.send(b"\0\0")
    r.close(reset=True)


def export_name_option(e):
    for flags, reply_len in ((3, 10), (1, 134)):
        r = e.raw()
        r.handshake(flags)
        r.opt(bt.OPT_EXPORT_NAME, b"r0")
        rep = r.recv_exact(reply_len)
        size, tflags = struct.unpack(">QH", rep[:10])
        check_eq(size, SIZE, "NBD_OPT_EXPORT_NAME export size")
        check(tflags & bt.FLAG_HAS_FLAGS, f"EXPORT_NAME flags {tflags:#x} lack HAS_FLAGS")
        check(rep[10:] == bytes(reply_len - 10), "EXPORT_NAME reply padding not zero")
        read_known(r, 6)
    r = e.raw()
    r.handshake()
    r.opt(bt.OPT_EXPORT_NAME, b"nosuch")
    must_close(r, "NBD_OPT_EXPORT_NAME with an unknown name")


# --- transmission phase -----------------------------------------------------

def bad_request_magic(e):
    r = e.raw()
    r.go()
    r.request(bt.CMD_READ, KNOWN, 4096, magic=0xDEADBEEF)
    must_close(r, "request with a bad magic")


def write_64mib(e):
    r = e.raw()
    r.go()
    try:
        r.request(bt.CMD_WRITE, GARBAGE, 64 * MiB, payload=b"\xee" * MiB)
    except Closed:
        return
    must_close(r, "write with a 64 MiB payload")


def write_over_cap(e):
    r = e.raw()
    r.go()
    try:
        r.request(bt.CMD_WRITE, GARBAGE, 32 * MiB + 1, payload=b"\xee" * 65536)
    except Closed:
        return
    must_close(r, "write with a 32 MiB + 1 payload")


def unknown_command(e):
    r = e.raw()
    r.go()
    r.request(0x55, 0, 4096, cookie=7)
    check_eq(r.simple_reply(), (EINVAL, 7), "unknown command 0x55 (error, cookie)")
    r.request(8, 0, 0, cookie=8)               # RESIZE, not advertised
    check_eq(r.simple_reply(), (EINVAL, 8), "unadvertised NBD_CMD_RESIZE (error, cookie)")
    read_known(r, 9)


def flush_with_range(e):
    """FLUSH's offset and length are reserved (must be zero): EINVAL, and
    the connection stays usable."""
    r = e.raw()
    r.go()
    r.request(bt.CMD_FLUSH, 4096, 0, cookie=20)
    check_eq(r.simple_reply(), (EINVAL, 20), "FLUSH with offset 4096 (error, cookie)")
    r.request(bt.CMD_FLUSH, 0, 4096, cookie=21)
    check_eq(r.simple_reply(), (EINVAL, 21), "FLUSH with length 4096 (error, cookie)")
    r.request(bt.CMD_FLUSH, 0, 0, cookie=22)
    check_eq(r.simple_reply(), (0, 22), "FLUSH with offset and length 0 (error, cookie)")
    read_known(r, 23)


def disc_with_junk_fields(e):
    """DISC has no reply: with an unknown flag, an offset and a length it
    still ends the connection, and nothing is sent back for it."""
    r = e.raw()
    r.go()
    r.request(bt.CMD_DISC, 4096, 4096, flags=0x8000, cookie=24)
    must_close(r, "NBD_CMD_DISC with flag 0x8000, offset and length")
    check_eq(r.tail, b"", "bytes sent back for NBD_CMD_DISC")


def failed_read_has_no_payload(e):
    r = e.raw()
    r.go()
    r.request(bt.CMD_READ, SIZE, 4096, cookie=10)
    r.request(bt.CMD_READ, KNOWN, 4096, cookie=11)
    check_eq(r.simple_reply(), (EINVAL, 10), "read past end, simple reply")
    check_eq(r.simple_reply(), (0, 11), "read after a failed read (payload sent after an error?)")
    check(r.recv_exact(4096) == pattern(99, 4096), "read after a failed read: data")


def structured_replies(e):
    r = e.raw()
    r.go(structured=True)
    r.request(bt.CMD_READ, SIZE - 512, 4096, cookie=12)
    flags, rtype, cookie, payload = r.struct_chunk()
    check_eq(cookie, 12, "structured error chunk cookie")
    check(flags & bt.REPLY_FLAG_DONE, "structured error chunk lacks DONE")
    check(rtype in (bt.REPLY_TYPE_ERROR, bt.REPLY_TYPE_ERROR_OFFSET),
          f"read past end answered with chunk type {rtype}")
    err, msglen = struct.unpack(">IH", payload[:6])
    check_eq(err, EINVAL, "structured error chunk errno")
    check(6 + msglen <= len(payload), "structured error message length overruns chunk")

    r.request(bt.CMD_READ, KNOWN - 2048, 8192, cookie=13)
    got = bytearray(8192)
    covered = 0
    while True:
        flags, rtype, cookie, payload = r.struct_chunk()
        check_eq(cookie, 13, "structured read chunk cookie")
        if rtype == bt.REPLY_TYPE_OFFSET_DATA:
            off = struct.unpack(">Q", payload[:8])[0] - (KNOWN - 2048)
            data = payload[8:]
            check(0 <= off and off + len(data) <= 8192, "data chunk outside the request")
            got[off:off + len(data)] = data
            covered += len(data)
        elif rtype == bt.REPLY_TYPE_OFFSET_HOLE:
            off, n = struct.unpack(">QI", payload[:12])
            covered += n
        else:
            check_eq(rtype, bt.REPLY_TYPE_NONE, "structured read chunk type")
        if flags & bt.REPLY_FLAG_DONE:
            break
    check_eq(covered, 8192, "bytes covered by structured read chunks")
    check(bytes(got[2048:6144]) == pattern(99, 4096), "structured read data")

    # Replies without a payload that succeeded are simple even here (the
    # protocol allows either for every command but READ): a 16-byte
    # header a client reads at once, as nbdkit and qemu-nbd send them,
    # where a structured NONE chunk costs it a second read. A failure
    # stays a structured ERROR chunk.
    r.request(bt.CMD_WRITE, SR_WRITE, 4096, cookie=14, payload=pattern(7, 4096))
    check_eq(r.simple_reply(), (0, 14), "write under structured replies: simple reply")
    r.request(bt.CMD_FLUSH, cookie=15)
    check_eq(r.simple_reply(), (0, 15), "flush under structured replies: simple reply")
    r.request(bt.CMD_WRITE, SIZE - 512, 4096, cookie=16, payload=pattern(7, 4096))
    flags, rtype, cookie, payload = r.struct_chunk()
    check_eq((cookie, rtype), (16, bt.REPLY_TYPE_ERROR), "write past end: structured error")
    check_eq(struct.unpack(">I", payload[:4])[0], ENOSPC, "write past end: errno")
    check(flags & bt.REPLY_FLAG_DONE, "write error chunk lacks DONE")
    r.request(bt.CMD_READ, SR_WRITE, 4096, cookie=17)
    flags, rtype, cookie, payload = r.struct_chunk()
    check_eq((cookie, rtype), (17, bt.REPLY_TYPE_OFFSET_DATA), "read back: data chunk")
    check(payload[8:] == pattern(7, 4096), "read back under structured replies: data")


def garbage_midstream(e):
    r = e.raw()
    r.go()
    read_known(r, 14)
    r.send(junk(4096, b"\0\0\0\0"))
    must_close(r, "garbage instead of a request")


def disc_with_outstanding(e):
    r = e.raw()
    r.go()
    out = b""
    for i in range(8):
        out += struct.pack(">IHHQQI", bt.REQUEST_MAGIC, 0, bt.CMD_WRITE, 100 + i,
                           DISC + i * 256 * 1024, 256 * 1024) + pattern(200 + i, 256 * 1024)
    out += struct.pack(">IHHQQI", bt.REQUEST_MAGIC, 0, bt.CMD_DISC, 999, 0, 0)
    r.send(out)
    got = sorted(r.simple_reply() for _ in range(8))
    check_eq(got, [(0, 100 + i) for i in range(8)], "replies to writes sent before DISC")
    must_close(r, "NBD_CMD_DISC")
    for i in range(8):
        check(e.keeper.pread(256 * 1024, DISC + i * 256 * 1024) == pattern(200 + i, 256 * 1024),
              f"write {i} sent before DISC not readable afterwards")


def close_with_outstanding(e):
    for reset in (False, True):
        r = e.raw()
        r.go()
        out = b""
        for i in range(64):
            out += struct.pack(">IHHQQI", bt.REQUEST_MAGIC, 0, bt.CMD_READ, i, KNOWN, MiB)
        for i in range(16):
            out += struct.pack(">IHHQQI", bt.REQUEST_MAGIC, 0, bt.CMD_WRITE, 64 + i,
                               KEEP + MiB + i * 65536, 65536) + bytes(65536)
        # The server stops reading while its replies go unread: send what
        # the socket takes within a second, then go away.
        r.s.settimeout(1)
        try:
            r.s.sendall(out)
        except (socket.timeout, OSError):
            pass
        r.close(reset=reset)


def partial_write_then_close(e):
    r = e.raw()
    r.go()
    r.request(bt.CMD_WRITE, PARTIAL, 4096, payload=b"\xaa" * 100)
    r.close()
    # For a second after the close the block must stay untouched.
    end = time.monotonic() + 1
    while time.monotonic() < end:
        e.keeper.pread(1, 0)
        if e.keeper.pread(4096, PARTIAL) != bytes(4096):
            raise bt.Failure("a write whose payload never fully arrived changed data")
        time.sleep(0.05)


def dribbled_request(e):
    r = e.raw(tcp=True)
    r.go()
    hdr = struct.pack(">IHHQQI", bt.REQUEST_MAGIC, 0, bt.CMD_READ, 15, KNOWN, 4096)
    for b in hdr:
        r.send(bytes([b]))
        time.sleep(0.002)
    check_eq(r.simple_reply(), (0, 15), "read sent one byte at a time")
    check(r.recv_exact(4096) == pattern(99, 4096), "read sent one byte at a time: data")
    # A write whose payload trickles in, in uneven pieces.
    data = pattern(77, 65536)
    r.send(struct.pack(">IHHQQI", bt.REQUEST_MAGIC, 0, bt.CMD_WRITE, 16, PARTIAL + 65536, 65536))
    pos = 0
    for n in (1, 7, 4089, 3, 30000, 31436):
        r.send(data[pos:pos + n])
        pos += n
        time.sleep(0.002)
    check_eq(r.simple_reply(), (0, 16), "write whose payload trickled in")
    check(e.keeper.pread(65536, PARTIAL + 65536) == data, "trickled write data")


def idle_connections(e):
    idle = []
    for i in range(64):
        idle.append(e.raw(tcp=bool(i % 2)))               # never even read
    for i in range(64):
        r = e.raw(tcp=bool(i % 2))
        r.handshake()                                      # then silence
        idle.append(r)
    h = bt.connect(unix=e.sock)
    check(h.pread(4096, KNOWN) == pattern(99, 4096), "new client while 128 connections idle")
    h.shutdown()
    e.still_fine("128 idle connections")
    for r in idle:
        r.close()


def connect_storm(e):
    for i in range(200):
        r = e.raw(tcp=bool(i % 2))
        if i % 3 == 0:
            r.greeting()
        r.close(reset=bool(i % 5 == 0))


CASES = [
    garbage_before_greeting, bad_client_flags, garbage_after_flags,
    bad_option_magic, huge_option, oversized_option, unknown_option,
    unknown_export, malformed_go, option_flood, abort, truncated_option,
    export_name_option, bad_request_magic, write_64mib, write_over_cap,
    unknown_command, flush_with_range, disc_with_junk_fields,
    failed_read_has_no_payload, structured_replies,
    garbage_midstream, disc_with_outstanding, close_with_outstanding,
    partial_write_then_close, dribbled_request, idle_connections, connect_storm,
]


def main(t):
    img = t.image("disk.img", SIZE)
    sock = t.path("nbd.sock")
    port = bt.free_port()
    d = t.start_daemon("d", "--name", "r0", "--disk", img,
                       "--nbd", f"unix:{sock},tcp:127.0.0.1:{port}")
    d.wait_ready(unix=sock)
    d.wait_ready(tcp=port)
    keeper = bt.connect(unix=sock)
    keeper.pwrite(pattern(99, 4096), KNOWN)
    keeper.flush()
    e = Env(t, d, sock, port, keeper)
    for case in CASES:
        try:
            case(e)
        except Closed as ex:
            raise bt.Failure(f"{case.__name__}: connection closed unexpectedly: {ex}")
        except bt.Failure as ex:
            raise bt.Failure(f"{case.__name__}: {ex}")
        e.still_fine(case.__name__)

    # Nothing a refused or half-sent write carried reached the disk.
    check(keeper.pread(MiB, GARBAGE) == bytes(MiB), "refused oversized writes changed data")
    check(keeper.pread(4096, PARTIAL) == bytes(4096), "half-sent write changed data")
    keeper.shutdown()
    h = bt.connect(tcp=port)
    check(h.pread(4096, KNOWN) == pattern(99, 4096), "a new client after all the garbage")
    h.shutdown()
    d.stop()
    return f"{len(CASES)} cases"


bt.run(main, timeout_s=150)
