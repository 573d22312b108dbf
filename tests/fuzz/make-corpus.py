#!/usr/bin/python3
"""Write the seed corpus for fuzz_nbd into tests/fuzz/corpus/.

Each seed is one client session in the layout fuzz_nbd.c reads: a config
byte picking the export, the client flags, options, then requests. The
seeds are valid sessions, so the fuzzer starts from inputs that reach
transmission instead of having to find the magic numbers itself.

Run: /usr/bin/python3 tests/fuzz/make-corpus.py
"""

import os
import struct

OPTS_MAGIC = 0x49484156454F5054
REQUEST_MAGIC = 0x25609513

OPT_EXPORT_NAME = 1
OPT_ABORT = 2
OPT_LIST = 3
OPT_STARTTLS = 5
OPT_INFO = 6
OPT_GO = 7
OPT_STRUCTURED_REPLY = 8
OPT_LIST_META_CONTEXT = 9
OPT_SET_META_CONTEXT = 10

INFO_NAME = 1
INFO_DESCRIPTION = 2
INFO_BLOCK_SIZE = 3

CMD_READ = 0
CMD_WRITE = 1
CMD_DISC = 2
CMD_FLUSH = 3
CMD_TRIM = 4
CMD_CACHE = 5
CMD_WRITE_ZEROES = 6
CMD_BLOCK_STATUS = 7

FLAG_FUA = 1 << 0
FLAG_NO_HOLE = 1 << 1
FLAG_DF = 1 << 2
FLAG_REQ_ONE = 1 << 3
FLAG_FAST_ZERO = 1 << 4

C_FIXED_NEWSTYLE = 1
C_NO_ZEROES = 2

# Config byte bits, as fuzz_nbd.c's pick_export() reads them.
CFG_READ_ONLY = 1 << 0
CFG_REFUSED = 1 << 1
CFG_NO_DESC = 1 << 2
CFG_SIZE_HUGE = 2 << 3      # UINT64_MAX bytes
CFG_BLOCK_MAX_64K = 1 << 5

NAME = b"r0"


def config(bits=0):
    return bytes([bits])


def client_flags(flags=C_FIXED_NEWSTYLE | C_NO_ZEROES):
    return struct.pack(">I", flags)


def option(opt, payload=b""):
    return struct.pack(">QII", OPTS_MAGIC, opt, len(payload)) + payload


def go_payload(name=NAME, infos=()):
    return (struct.pack(">I", len(name)) + name +
            struct.pack(">H", len(infos)) +
            b"".join(struct.pack(">H", i) for i in infos))


def meta_payload(name=NAME, queries=()):
    out = struct.pack(">I", len(name)) + name
    out += struct.pack(">I", len(queries))
    for q in queries:
        out += struct.pack(">I", len(q)) + q
    return out


def request(cmd, offset=0, length=0, flags=0, cookie=1, payload=None):
    out = struct.pack(">IHHQQI", REQUEST_MAGIC, flags, cmd, cookie, offset,
                      length)
    if cmd == CMD_WRITE:
        out += payload if payload is not None else bytes(length)
    return out


def seeds():
    yield "go-plain", (
        config() + client_flags() +
        option(OPT_GO, go_payload()) +
        request(CMD_READ, 0, 4096, cookie=1) +
        request(CMD_WRITE, 4096, 512, FLAG_FUA, cookie=2,
                payload=bytes(range(256)) * 2) +
        request(CMD_FLUSH, cookie=3) +
        request(CMD_DISC, cookie=4))

    yield "go-structured-meta", (
        config(CFG_BLOCK_MAX_64K) + client_flags() +
        option(OPT_STRUCTURED_REPLY) +
        option(OPT_SET_META_CONTEXT,
               meta_payload(queries=[b"base:allocation"])) +
        option(OPT_GO, go_payload(b"", [INFO_NAME, INFO_BLOCK_SIZE])) +
        request(CMD_BLOCK_STATUS, 0, 1 << 20, FLAG_REQ_ONE, cookie=1) +
        request(CMD_READ, 0, 65536, FLAG_DF, cookie=2) +
        request(CMD_WRITE_ZEROES, 0, 8192, FLAG_FAST_ZERO | FLAG_NO_HOLE,
                cookie=3) +
        request(CMD_TRIM, 8192, 4096, cookie=4) +
        request(CMD_CACHE, 0, 4096, cookie=5) +
        request(CMD_DISC, cookie=6))

    yield "export-name", (
        config() + client_flags(C_FIXED_NEWSTYLE) +
        option(OPT_LIST) +
        option(OPT_EXPORT_NAME, NAME) +
        request(CMD_WRITE, 0, 16, cookie=7, payload=b"0123456789abcdef") +
        request(CMD_READ, 0, 16, cookie=8) +
        request(CMD_DISC, cookie=9))

    yield "info-then-go", (
        config(CFG_SIZE_HUGE) + client_flags() +
        option(OPT_INFO, go_payload(infos=[INFO_DESCRIPTION, INFO_NAME])) +
        option(OPT_STRUCTURED_REPLY) +
        option(OPT_LIST_META_CONTEXT, meta_payload(queries=[b"base:"])) +
        option(OPT_LIST_META_CONTEXT, meta_payload()) +
        option(OPT_STARTTLS) +
        option(12, b"unknown") +
        option(OPT_GO, go_payload()) +
        request(CMD_READ, (1 << 64) - 1 - 4096, 4096, cookie=10) +
        request(CMD_WRITE, (1 << 64) - 512, 512, cookie=11) +
        request(CMD_DISC, cookie=12))

    yield "read-only", (
        config(CFG_READ_ONLY | CFG_NO_DESC) + client_flags() +
        option(OPT_GO, go_payload(infos=[INFO_DESCRIPTION])) +
        request(CMD_WRITE, 0, 512, cookie=13) +
        request(CMD_TRIM, 0, 512, cookie=14) +
        request(CMD_READ, 0, 512, FLAG_FUA, cookie=15) +
        request(CMD_DISC, cookie=16))

    yield "refused-then-abort", (
        config(CFG_REFUSED) + client_flags() +
        option(OPT_GO, go_payload()) +
        option(OPT_INFO, go_payload(b"other")) +
        option(OPT_ABORT))


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out_dir = os.path.join(here, "corpus")
    os.makedirs(out_dir, exist_ok=True)
    for name, data in seeds():
        with open(os.path.join(out_dir, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
