#!/usr/bin/python3
"""Write the seed corpus for fuzz_frame into tests/fuzz/corpus_frame/.

Each seed is a stream of peer frames in the layout transport/frame.h
documents: a 40-byte big-endian header whose CRC32C covers the header
(crc field zero) and the payload, then the payload. Most seeds are valid
conversations, with correct CRCs, so the fuzzer starts from inputs that
get through frame_parse and into the HELLO and STATE codecs, and reach
every frame type: the bitmap exchange (BITMAP, BITMAP_DONE), the
checksum resync (RS_CSUM, RS_NEED, RS_ACK with F_SAME) and the online
verify (V_REQ with a CRC32C per 4 KiB block, from one block up to
VERIFY_BLOCKS; V_REPLY with its mask in the offset) included, and every
STATE flag (VERIFY, INVALIDATE, INVALIDATE_BITMAP among them). A few end
in a deliberate fault (bad CRC, truncated payload, bad STATE field, a
version 1 peer, a V_REQ whose CRCs do not match its length).

Run: /usr/bin/python3 tests/fuzz/make-frame-corpus.py
"""

import os
import struct

MAGIC = 0x424C4B44
VERSION = 3
HDR_BYTES = 40

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
RS_CSUM = 17
RS_NEED = 18
BITMAP = 19
BITMAP_DONE = 20
V_REQ = 21
V_REPLY = 22
RS_PRIO = 23
READ_REQ = 24
READ_REPLY = 25
ROLE_REQ = 26
ROLE_REPLY = 27
FLUSHED = 28
DS_FAILED = 7

F_FUA = 1 << 0
F_WANT_RECV_ACK = 1 << 1
F_NO_HOLE = 1 << 2
F_FLUSH = 1 << 3
F_SAME = 1 << 4

STATE_F_SYNC_SOURCE = 1 << 0
STATE_F_NEW_UUID = 1 << 1
STATE_F_PAUSED = 1 << 2
STATE_F_DISCARD = 1 << 3
STATE_F_VERIFY = 1 << 4
STATE_F_INVALIDATE = 1 << 5
STATE_F_INVALIDATE_BITMAP = 1 << 6

ROLE_PRIMARY = 1
ROLE_SECONDARY = 2
DS_INCONSISTENT = 2
DS_UPTODATE = 6

NAME_BYTES = 64
CHALLENGE_BYTES = 32
MAC_BYTES = 32
STATE_BYTES = 128
CTRL_PAYLOAD_MAX = 4096
VERIFY_BLOCKS = 64
VBLOCK = 4096


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
          bad_crc=False, version=VERSION):
    if length is None:
        if ftype in (DATA, RS_DATA, READ_REPLY):
            length = len(payload)
        elif ftype == V_REQ:
            length = len(payload) // 4 * VBLOCK
        else:
            length = 0

    def header(crc):
        return struct.pack(">IHHIIQQII", MAGIC, version, ftype, flags,
                           len(payload), fid, offset & (2**64 - 1), length,
                           crc)

    assert len(header(0)) == HDR_BYTES
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
          last_peer=0, dirty=0, uuid=(0, 0, 0, 0), md_flags=0,
          primary_since=0):
    # 0 role, 1 disk, 2 protocol, 3 flags, 4 reserved, 8 size, 16 instance,
    # 24 last_peer_instance, 32 dirty, 40 uuid[4], 72 md_flags,
    # 76 reserved, 80 primary_since, 88.. zero.
    payload = struct.pack(">BBcBIQQQQ4QIIQ", role, disk, protocol, flags, 0,
                          size, instance, last_peer, dirty, *uuid, md_flags,
                          0, primary_since)
    assert len(payload) == 88
    return frame(STATE, payload.ljust(STATE_BYTES, b"\0"))


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def bitmap(first, runs):
    """A BITMAP chunk: runs alternate clear, set (in blocks), clear first;
    offset = first block, id = blocks covered."""
    payload = b"".join(varint(r) for r in runs)
    assert len(payload) <= CTRL_PAYLOAD_MAX
    return frame(BITMAP, payload, fid=sum(runs), offset=first)


def pattern(n, seed):
    return bytes((seed + i * 7) & 0xFF for i in range(n))


def v_req(fid, offset, data):
    """A verify request over data (whole 4 KiB blocks): a CRC32C per
    block; length follows from the payload."""
    assert len(data) % VBLOCK == 0
    assert 1 <= len(data) // VBLOCK <= VERIFY_BLOCKS
    crcs = b"".join(struct.pack(">I", crc32c(data[i:i + VBLOCK]))
                    for i in range(0, len(data), VBLOCK))
    return frame(V_REQ, crcs, fid=fid, offset=offset)


def v_reply(fid, mask):
    """The answer: bit i of the mask (in the offset) is block i
    differing."""
    return frame(V_REPLY, fid=fid, offset=mask)


def seeds():
    # Handshake, then the bitmap exchange: chunks of RLE, an empty chunk,
    # the largest one allowed, then BITMAP_DONE.
    yield "handshake", (
        hello("alpha", resource_hash=0x1234ABCD) +
        frame(AUTH, pattern(MAC_BYTES, 1)) +
        state(ROLE_PRIMARY, DS_UPTODATE, b"C", instance=0x1111,
              last_peer=0x2222,
              uuid=(0xA1B2C3D4E5F60001, 0x0102030405060708, 0, 0),
              md_flags=0x3, primary_since=1764288000) +
        frame(PING) + frame(PING_ACK) +
        bitmap(0, [3, 129, 0, 127]) +
        bitmap(259, [1 << 20, 1, 5, 2**35]) +
        frame(BITMAP, fid=0, offset=2**35 + (1 << 20) + 265) +
        bitmap(2**35 + (1 << 20) + 265, [1] * CTRL_PAYLOAD_MAX) +
        frame(BITMAP_DONE))

    yield "handshake-long-name", (
        hello("n" * (NAME_BYTES - 1), features=0xFFFFFFFF,
              challenge=pattern(CHALLENGE_BYTES, 9),
              resource_hash=2**64 - 1) +
        frame(AUTH, bytes(MAC_BYTES)) +
        state(ROLE_SECONDARY, DS_INCONSISTENT, b"A",
              flags=STATE_F_SYNC_SOURCE | STATE_F_NEW_UUID |
              STATE_F_PAUSED | STATE_F_DISCARD | STATE_F_VERIFY |
              STATE_F_INVALIDATE | STATE_F_INVALIDATE_BITMAP,
              size=2**64 - 4096,
              dirty=1 << 40, uuid=(2**64 - 1, 2**64 - 2, 1, 2**63),
              md_flags=0xFFFFFFFF, primary_since=2**64 - 1))

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

    # Plain resync, then checksum resync: one range matches (RS_ACK with
    # F_SAME), one differs (RS_NEED, then RS_DATA), then a pause and
    # the new UUID once in sync.
    csum = struct.pack(">I", crc32c(pattern(4096, 6)))
    yield "resync", (
        state(ROLE_PRIMARY, DS_UPTODATE, b"B", flags=STATE_F_SYNC_SOURCE,
              dirty=8192, uuid=(0x1111, 0x2222, 0x3333, 0x4444)) +
        frame(RS_DATA, pattern(256, 3), offset=0) +
        frame(RS_ACK, offset=0, length=4096) +
        frame(RS_ZERO, offset=4096, length=4096) +
        frame(RS_ACK, offset=4096, length=4096) +
        frame(RS_CSUM, csum, fid=1, offset=8192, length=4096) +
        frame(RS_ACK, flags=F_SAME, fid=1, offset=8192, length=4096) +
        frame(RS_CSUM, b"\0\0\0\0", fid=2, offset=12288, length=4096) +
        frame(RS_NEED, fid=2, offset=12288, length=4096) +
        state(ROLE_PRIMARY, DS_UPTODATE, b"B",
              flags=STATE_F_SYNC_SOURCE | STATE_F_PAUSED, dirty=4096,
              uuid=(0x1111, 0x2222, 0x3333, 0x4444)) +
        frame(RS_DATA, pattern(4096, 6), fid=2, offset=12288) +
        frame(RS_ACK, fid=2, offset=12288, length=4096) +
        frame(RS_DONE) +
        state(ROLE_PRIMARY, DS_UPTODATE, b"B", flags=STATE_F_NEW_UUID,
              uuid=(0x5555, 0, 0x1111, 0x3333)) +
        # Online verify: one block (the same), two (the second differs),
        # the largest request (blocks 0, 2 and 63 differ), then the end of
        # the verify; invalidate --bitmap, then a full invalidate.
        state(ROLE_PRIMARY, DS_UPTODATE, b"B", flags=STATE_F_VERIFY,
              uuid=(0x5555, 0, 0x1111, 0x3333)) +
        v_req(3, 0, pattern(VBLOCK, 7)) +
        v_reply(3, 0) +
        v_req(4, VBLOCK, pattern(2 * VBLOCK, 8)) +
        v_reply(4, 0b10) +
        v_req(5, 3 * VBLOCK, bytes(VERIFY_BLOCKS * VBLOCK)) +
        v_reply(5, (1 << 63) | 0b101) +
        state(ROLE_PRIMARY, DS_UPTODATE, b"B",
              uuid=(0x5555, 0, 0x1111, 0x3333)) +
        state(ROLE_SECONDARY, DS_UPTODATE, b"B",
              flags=STATE_F_INVALIDATE_BITMAP,
              uuid=(0x5555, 0, 0x1111, 0x3333)) +
        state(ROLE_SECONDARY, DS_UPTODATE, b"B",
              flags=STATE_F_INVALIDATE, uuid=(0x5555, 0, 0x1111, 0x3333)))

    # Bad CRCs do not end the stream: a DATA, then a V_REQ whose CRC is
    # wrong, then a V_REPLY whose mask was changed after its CRC; then a
    # V_REQ with a CRC too few for its length, refused on its header.
    bad_reply = bytearray(v_reply(8, 0b1))
    bad_reply[31] ^= 0b10
    yield "bad-crc", (
        frame(PING) + frame(DATA, pattern(64, 4), fid=7, bad_crc=True) +
        frame(V_REQ, pattern(8, 5), fid=8, offset=VBLOCK, bad_crc=True) +
        bytes(bad_reply) +
        frame(PING_ACK) +
        frame(V_REQ, pattern(4, 6), fid=9, length=2 * VBLOCK))

    yield "bad-state", (
        state(ROLE_PRIMARY, DS_UPTODATE, b"D") +
        state(3, DS_UPTODATE) + state(ROLE_SECONDARY, 8) +
        # A version 1 STATE (64 bytes) in a version 3 frame: refused on
        # its size, which ends the stream.
        frame(STATE, state(ROLE_PRIMARY, DS_UPTODATE)[HDR_BYTES:][:64]))

    # A Primary whose disk failed reads through its peer: a read served,
    # a read failed (no data, offset = -EIO), a reply whose length and
    # payload disagree (refused), and the Failed disk state.
    yield "diskless", (
        state(ROLE_PRIMARY, DS_FAILED) +
        frame(READ_REQ, fid=1, offset=8192, length=4096) +
        frame(READ_REPLY, pattern(4096, 7), fid=1, offset=8192) +
        frame(READ_REQ, fid=2, offset=0, length=512) +
        frame(READ_REPLY, fid=2, offset=-5) +
        frame(READ_REPLY, pattern(16, 8), fid=3, length=32))

    # Two promotions at once: each side asks, one says yes, one no; a
    # reply to a request never made, and a request with a payload
    # (refused on its size, which ends the stream).
    yield "role-request", (
        state(ROLE_SECONDARY, DS_UPTODATE) +
        frame(ROLE_REQ, fid=1) +
        frame(ROLE_REPLY, fid=1, offset=0) +
        frame(ROLE_REPLY, fid=7, offset=-114) +
        frame(FLUSHED) +
        frame(ROLE_REQ, pattern(8, 3), fid=2))

    yield "empty-name", hello("")

    yield "truncated-data", frame(DATA, pattern(300, 5), fid=9)[:200]

    # Version 1 and 2 peers: their PINGs, with correct CRCs, are refused
    # on the version.
    yield "bad-version", frame(PING, version=1) + frame(PING, version=2) + frame(PING)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = os.path.join(here, "corpus_frame")
    os.makedirs(out_dir, exist_ok=True)
    for name, data in seeds():
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
