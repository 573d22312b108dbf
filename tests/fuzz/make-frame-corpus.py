#!/usr/bin/python3
"""Write the seed corpus for fuzz_frame into tests/fuzz/corpus_frame/.

Each seed is a stream of peer frames in the layout transport/frame.h
documents: a 40-byte big-endian header whose CRC32C covers the header
(crc field zero) and the payload, then the payload. Most seeds are valid
conversations, with correct CRCs, so the fuzzer starts from inputs that
get through frame_parse and into the HELLO and STATE codecs; a few end in
a deliberate fault (bad CRC, truncated payload, bad STATE field).

Run: /usr/bin/python3 tests/fuzz/make-frame-corpus.py
"""

import os
import struct

MAGIC = 0x424C4B44
VERSION = 1

HELLO = 1
AUTH = 2
STATE = 3
DATA = 4
TRIM = 5
ZERO = 6
BARRIER = 7
RECV_ACK = 8
WRITE_ACK = 9
BARRIER_ACK = 10
PING = 11
PING_ACK = 12
RS_DATA = 13
RS_ZERO = 14
RS_ACK = 15
RS_DONE = 16

F_FUA = 1 << 0
F_WANT_RECV_ACK = 1 << 1
F_NO_HOLE = 1 << 2
F_FLUSH = 1 << 3

STATE_F_SYNC_SOURCE = 1 << 0

ROLE_PRIMARY = 1
ROLE_SECONDARY = 2
DS_INCONSISTENT = 2
DS_UPTODATE = 6

NAME_BYTES = 64
CHALLENGE_BYTES = 32
MAC_BYTES = 32


def _crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
        table.append(c)
    return table


CRC_TABLE = _crc32c_table()


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = CRC_TABLE[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


assert crc32c(b"123456789") == 0xE3069283


def frame(ftype, payload=b"", flags=0, fid=0, offset=0, length=None,
          bad_crc=False):
    if length is None:
        length = len(payload) if ftype in (DATA, RS_DATA) else 0

    def header(crc):
        return struct.pack(">IHHIIQQII", MAGIC, VERSION, ftype, flags,
                           len(payload), fid, offset & (2**64 - 1), length,
                           crc)

    crc = crc32c(header(0) + payload)
    if bad_crc:
        crc ^= 1
    return header(crc) + payload


def hello(node, features=0, challenge=None, resource_hash=0):
    if challenge is None:
        challenge = bytes(range(CHALLENGE_BYTES))
    name = node.encode().ljust(NAME_BYTES, b"\0")
    assert len(name) == NAME_BYTES
    return frame(HELLO, struct.pack(">II", features, 0) + name + challenge +
                 struct.pack(">Q", resource_hash))


def state(role, disk, protocol=b"C", flags=0, size=1 << 30, instance=1,
          last_peer=0, dirty=0):
    payload = struct.pack(">BBcBIQQQQ", role, disk, protocol, flags, 0, size,
                          instance, last_peer, dirty)
    return frame(STATE, payload.ljust(64, b"\0"))


def pattern(n, seed):
    return bytes((seed + i * 7) & 0xFF for i in range(n))


def seeds():
    yield "handshake", (
        hello("alpha", resource_hash=0x1234ABCD) +
        frame(AUTH, pattern(MAC_BYTES, 1)) +
        state(ROLE_PRIMARY, DS_UPTODATE, b"C", instance=0x1111,
              last_peer=0x2222) +
        frame(PING) + frame(PING_ACK))

    yield "handshake-long-name", (
        hello("n" * (NAME_BYTES - 1), features=0xFFFFFFFF,
              challenge=pattern(CHALLENGE_BYTES, 9),
              resource_hash=2**64 - 1) +
        frame(AUTH, bytes(MAC_BYTES)) +
        state(ROLE_SECONDARY, DS_INCONSISTENT, b"A",
              flags=STATE_F_SYNC_SOURCE, size=2**64 - 4096,
              dirty=1 << 40))

    yield "writes", (
        frame(DATA, pattern(512, 2), F_FUA | F_WANT_RECV_ACK, fid=1,
              offset=4096) +
        frame(RECV_ACK, fid=1) +
        frame(WRITE_ACK, fid=1) +
        frame(TRIM, fid=2, offset=1 << 20, length=1 << 20) +
        frame(ZERO, flags=F_NO_HOLE, fid=3, offset=0, length=65536) +
        frame(BARRIER, flags=F_FLUSH, fid=1) +
        frame(BARRIER_ACK, fid=1) +
        frame(WRITE_ACK, fid=4, offset=-5))

    yield "resync", (
        state(ROLE_PRIMARY, DS_UPTODATE, b"B", flags=STATE_F_SYNC_SOURCE,
              dirty=8192) +
        frame(RS_DATA, pattern(256, 3), offset=0) +
        frame(RS_ACK, offset=0, length=4096) +
        frame(RS_ZERO, offset=4096, length=4096) +
        frame(RS_ACK, offset=4096, length=4096) +
        frame(RS_DONE))

    yield "bad-crc", (
        frame(PING) + frame(DATA, pattern(64, 4), fid=7, bad_crc=True) +
        frame(PING_ACK))

    yield "bad-state", (
        state(ROLE_PRIMARY, DS_UPTODATE, b"D") +
        state(3, DS_UPTODATE) + state(ROLE_SECONDARY, 7))

    yield "empty-name", hello("")

    yield "truncated-data", frame(DATA, pattern(300, 5), fid=9)[:200]

    yield "bad-version", (
        frame(PING)[:4] + struct.pack(">H", 2) + frame(PING)[6:])


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = os.path.join(here, "corpus_frame")
    os.makedirs(out_dir, exist_ok=True)
    for name, data in seeds():
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
