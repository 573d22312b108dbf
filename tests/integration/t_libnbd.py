#!/usr/bin/python3
"""Every NBD command through python3-libnbd, with libnbd's own checks off so
bad requests reach the server: data read back, errno of each error case,
negotiated flags and block sizes, block status, export names.  Runs against a
direct-I/O and a buffered daemon, each with structured replies on and off,
then a read-only daemon and one whose disk size is not a multiple of 4 KiB."""

import errno
import os

import nbd

import bt
from bt import MiB, check, check_eq, expect_errno, pattern

SIZE = 256 * MiB
KiB = 1024
HOLE_ZERO = nbd.STATE_HOLE | nbd.STATE_ZERO


def extents(h, count, offset, flags=0):
    """[(length, flags), ...] for base:allocation, as the server sent them."""
    out = []

    def cb(ctx, off, entries, err):
        if ctx == nbd.CONTEXT_BASE_ALLOCATION:
            out.extend(zip(entries[0::2], entries[1::2]))
        return 0
    h.block_status(count, offset, cb, flags)
    return out


def merged(ext):
    out = []
    for length, fl in ext:
        if out and out[-1][1] == fl:
            out[-1] = (out[-1][0] + length, fl)
        else:
            out.append((length, fl))
    return out


def clipped(ext, count):
    """Merged extents cut at count bytes: the last descriptor may run past
    the request."""
    out, pos = [], 0
    for length, fl in merged(ext):
        if pos >= count:
            break
        out.append((min(length, count - pos), fl))
        pos += length
    return out


def allocated_bytes(path):
    return os.stat(path).st_blocks * 512


def check_negotiation(h, structured, tag):
    check_eq(h.get_structured_replies_negotiated(), structured,
             f"{tag} structured replies negotiated")
    check_eq(h.get_size(), SIZE, f"{tag} export size")
    for what in ("flush", "fua", "trim", "zero", "fast_zero", "cache",
                 "multi_conn"):
        check_eq(getattr(h, "can_" + what)(), True, f"{tag} can_{what}")
    check_eq(h.is_read_only(), False, f"{tag} is_read_only")
    check_eq(h.is_rotational(), False, f"{tag} is_rotational")
    check_eq(h.get_block_size(nbd.SIZE_MINIMUM), 1, f"{tag} minimum block size")
    check_eq(h.get_block_size(nbd.SIZE_PREFERRED), 4096,
             f"{tag} preferred block size")
    check_eq(h.get_block_size(nbd.SIZE_MAXIMUM), 32 * MiB,
             f"{tag} maximum block size")
    check_eq(h.can_meta_context(nbd.CONTEXT_BASE_ALLOCATION), structured,
             f"{tag} base:allocation negotiated")
    if structured:
        check_eq(h.can_df(), True, f"{tag} can_df")


def check_rw(h, b, tag):
    """Aligned, FUA and unaligned reads and writes in [b, b + 6M), 32 MiB
    ones in [b + 64M, b + 96M)."""
    data = pattern(1, MiB)
    h.pwrite(data, b)
    check(h.pread(MiB, b) == data, f"{tag} 1 MiB write at {b} read back wrong")

    data = pattern(2, 64 * KiB)
    h.pwrite(data, b + MiB, nbd.CMD_FLAG_FUA)
    check(h.pread(64 * KiB, b + MiB) == data, f"{tag} FUA write read back wrong")
    h.flush()

    # Unaligned: 3 bytes at +1, 2 bytes across a 4 KiB boundary, FUA 100 B.
    u = b + 2 * MiB
    h.pwrite(b"xyz", u + 1)
    check_eq(h.pread(5, u), b"\0xyz\0", f"{tag} 3-byte write at offset +1")
    check_eq(h.pread(3, u + 1), b"xyz", f"{tag} 3-byte read at offset +1")
    h.pwrite(b"AB", u + 4095)
    check_eq(h.pread(4, u + 4094), b"\0AB\0", f"{tag} 2-byte write across 4K")
    h.pwrite(b"q" * 100, u + 8000, nbd.CMD_FLAG_FUA)
    check_eq(h.pread(102, u + 7999), b"\0" + b"q" * 100 + b"\0",
             f"{tag} unaligned FUA write")
    check_eq(h.pread(5, u), b"\0xyz\0", f"{tag} earlier unaligned bytes kept")

    # 1 MiB + 3 at an odd offset: both partial blocks must be merged.
    odd = b + 3 * MiB + 511
    data = pattern(3, MiB + 3)
    h.pwrite(data, odd)
    got = h.pread(MiB + 3 + 2 * 4096, odd - 4096)
    check(got[:4096] == bytes(4096), f"{tag} bytes before unaligned 1 MiB write changed")
    check(got[4096:4096 + MiB + 3] == data, f"{tag} unaligned 1 MiB write read back wrong")
    check(got[4096 + MiB + 3:] == bytes(4096), f"{tag} bytes after unaligned 1 MiB write changed")

    # Many concurrent 1-byte writes into the same 4 KiB block: none may be
    # lost to an unserialised read-modify-write.
    blk = b + 5 * MiB
    bufs = []
    for i in range(64):
        buf = nbd.Buffer.from_bytearray(bytearray([i + 1]))
        bufs.append((h.aio_pwrite(buf, blk + i * 17), buf))
    # ...and the same across a block boundary.
    for i in range(64):
        buf = nbd.Buffer.from_bytearray(bytearray([0x80 | i]))
        bufs.append((h.aio_pwrite(buf, blk + 8192 - 32 * 17 + i * 17), buf))
    while h.aio_in_flight() > 0:
        h.poll(-1)
    for cookie, _ in bufs:
        check(h.aio_command_completed(cookie), f"{tag} concurrent 1-byte write not completed")
    got = h.pread(3 * 4096, blk)
    want = bytearray(3 * 4096)
    for i in range(64):
        want[i * 17] = i + 1
        want[8192 - 32 * 17 + i * 17] = 0x80 | i
    check(got == bytes(want), f"{tag} concurrent unaligned writes to one block: "
          f"{sum(1 for x, y in zip(got, want) if x != y)} bytes wrong")

    # Largest request: 32 MiB each way.
    big = b + 64 * MiB
    data = pattern(9, 32 * MiB)
    h.pwrite(data, big)
    check(h.pread(32 * MiB, big) == data, f"{tag} 32 MiB write/read mismatch")


def check_zero_trim(h, b, img, structured, tag):
    """WRITE_ZEROES (plain, NO_HOLE, FAST_ZERO, FUA, unaligned), TRIM, CACHE
    in [b + 8M, b + 16M)."""
    z = b + 8 * MiB
    h.pwrite(pattern(4, MiB), z)
    h.zero(MiB, z)
    check(h.pread(MiB, z) == bytes(MiB), f"{tag} zero: data not zeroed")
    if structured:
        ext = extents(h, MiB, z)
        check(ext and ext[0][1] & nbd.STATE_ZERO,
              f"{tag} block status after zero lacks NBD_STATE_ZERO: {ext}")

    # NO_HOLE: zeroed and still allocated.
    nh = z + MiB
    h.pwrite(pattern(5, MiB), nh)
    h.flush()
    before = allocated_bytes(img)
    h.zero(MiB, nh, nbd.CMD_FLAG_NO_HOLE)
    check(h.pread(MiB, nh) == bytes(MiB), f"{tag} zero NO_HOLE: data not zeroed")
    after = allocated_bytes(img)
    check(after >= before, f"{tag} zero with NO_HOLE freed space: "
          f"{before} -> {after} bytes allocated")

    # FAST_ZERO on a regular file is fast, so it must succeed.
    fz = z + 2 * MiB
    h.pwrite(pattern(6, MiB), fz)
    h.zero(MiB, fz, nbd.CMD_FLAG_FAST_ZERO)
    check(h.pread(MiB, fz) == bytes(MiB), f"{tag} zero FAST_ZERO: data not zeroed")

    # FUA, and unaligned inside a written region.
    uz = z + 3 * MiB
    data = bytearray(pattern(7, 8192))
    h.pwrite(bytes(data), uz)
    h.zero(100, uz + 10, nbd.CMD_FLAG_FUA)
    data[10:110] = bytes(100)
    check(h.pread(8192, uz) == bytes(data), f"{tag} unaligned zero of 100 bytes")
    h.zero(4096, uz + 4094)
    data[4094:4094 + 4096] = bytes(4096)
    check(h.pread(8192, uz) == bytes(data), f"{tag} unaligned zero across 4K")

    # TRIM of a written, aligned 1 MiB punches a hole on a regular file.
    t = z + 4 * MiB
    h.pwrite(pattern(8, MiB), t)
    h.trim(MiB, t)
    h.trim(3, t + MiB + 1)             # unaligned trim: accepted
    h.trim(64 * KiB, t, nbd.CMD_FLAG_FUA)
    if structured:
        check_eq(clipped(extents(h, MiB, t), MiB), [(MiB, HOLE_ZERO)],
                 f"{tag} block status after trim of 1 MiB")
    check(h.pread(MiB, t) == bytes(MiB), f"{tag} read after trim of a punched range")

    h.cache(MiB, b)
    h.cache(3, b + 1)
    h.cache(32 * MiB, b + 64 * MiB)


def check_block_status(h, b, tag):
    """Hole/data layout in [b + 16M, b + 20M) after a 64 KiB write."""
    bs = b + 16 * MiB
    check_eq(clipped(extents(h, 4 * MiB, bs), 4 * MiB), [(4 * MiB, HOLE_ZERO)],
             f"{tag} block status of an untouched 4 MiB range")
    h.pwrite(pattern(10, 64 * KiB), bs + MiB)
    ext = clipped(extents(h, 4 * MiB, bs), 4 * MiB)
    check(len(ext) >= 2, f"{tag} block status after a write: {ext}")
    check_eq(ext[0], (MiB, HOLE_ZERO), f"{tag} first extent (hole before data)")
    check_eq(ext[1], (64 * KiB, 0), f"{tag} second extent (the 64 KiB written)")
    for i, (length, fl) in enumerate(ext[2:]):
        check_eq(fl, HOLE_ZERO, f"{tag} extent {i + 2} (hole after data)")

    one = extents(h, 4 * MiB, bs, nbd.CMD_FLAG_REQ_ONE)
    check_eq(one, [(MiB, HOLE_ZERO)], f"{tag} block status with REQ_ONE at a hole")
    one = extents(h, 4 * MiB, bs + MiB, nbd.CMD_FLAG_REQ_ONE)
    check_eq(one, [(64 * KiB, 0)], f"{tag} block status with REQ_ONE at data")
    one = extents(h, 100, bs + MiB + 10, nbd.CMD_FLAG_REQ_ONE)
    check(len(one) == 1 and one[0][1] == 0 and 1 <= one[0][0] <= 100,
          f"{tag} unaligned block status with REQ_ONE (one data extent of "
          f"1..100 bytes): {one}")
    ext = extents(h, 4096, SIZE - 4096)
    check(ext and ext[0][0] >= 1, f"{tag} block status of the last 4 KiB: {ext}")

    # DF: one data chunk for a range holding hole and data.
    chunks = []

    def chunk(sub, off, status, err):
        chunks.append((off, len(sub), status))
        return 0
    got = h.pread_structured(2 * MiB, bs, chunk, nbd.CMD_FLAG_DF)
    check_eq(len(chunks), 1, f"{tag} chunks in a DF read over hole+data")
    check(got[MiB:MiB + 64 * KiB] == pattern(10, 64 * KiB) and
          got[:MiB] == bytes(MiB), f"{tag} DF read content")
    chunks.clear()
    got = h.pread_structured(2 * MiB, bs, chunk)
    check_eq(sum(c[1] for c in chunks), 2 * MiB,
             f"{tag} chunk lengths of a structured read add up")
    check(got[MiB:MiB + 64 * KiB] == pattern(10, 64 * KiB),
          f"{tag} structured read content")


def check_errors(h, b, structured, tag):
    """Error cases: the errno, no data changed, the connection still works."""
    end = SIZE
    expect_errno(errno.ENOSPC, f"{tag} write at end of export", h.pwrite, b"x" * 512, end)
    expect_errno(errno.ENOSPC, f"{tag} write straddling the end", h.pwrite,
                 b"x" * 1024, end - 512)
    check_eq(h.pread(512, end - 512), bytes(512),
             f"{tag} bytes before the end after a refused straddling write")
    expect_errno(errno.ENOSPC, f"{tag} write at offset 2^64-2048", h.pwrite,
                 b"x" * 4096, 2**64 - 2048)
    # ENOSPC is for data stored past the end; a TRIM stores none.
    expect_errno(errno.EINVAL, f"{tag} trim past end", h.trim, 4096, end)
    expect_errno(errno.EINVAL, f"{tag} trim straddling the end", h.trim, 8192,
                 end - 4096)
    expect_errno(errno.ENOSPC, f"{tag} zero past end", h.zero, 4096, end - 2048)
    expect_errno(errno.ENOSPC, f"{tag} FUA write past end", h.pwrite,
                 b"x" * 4096, end, nbd.CMD_FLAG_FUA)
    expect_errno(errno.EINVAL, f"{tag} read at end of export", h.pread, 512, end)
    expect_errno(errno.EINVAL, f"{tag} read straddling the end", h.pread, 1024, end - 512)
    expect_errno(errno.EINVAL, f"{tag} read at offset 2^64-2048", h.pread, 4096, 2**64 - 2048)
    expect_errno(errno.EINVAL, f"{tag} cache past end", h.cache, 4096, end)
    if structured:
        expect_errno(errno.EINVAL, f"{tag} block status past end",
                     extents, h, 4096, end)

    # Unknown flag bits and flags that belong to another command.
    bad = b + 40 * MiB
    for fl in (1 << 5, 1 << 10, 1 << 15):
        expect_errno(errno.EINVAL, f"{tag} write with unknown flag {fl:#x}",
                     h.pwrite, b"w" * 4096, bad, fl)
        expect_errno(errno.EINVAL, f"{tag} read with unknown flag {fl:#x}",
                     h.pread, 4096, bad, fl)
    expect_errno(errno.EINVAL, f"{tag} flush with unknown flag", h.flush, 1 << 10)
    expect_errno(errno.EINVAL, f"{tag} trim with unknown flag", h.trim, 4096, bad, 1 << 10)
    expect_errno(errno.EINVAL, f"{tag} write with NO_HOLE", h.pwrite,
                 b"w" * 4096, bad, nbd.CMD_FLAG_NO_HOLE)
    expect_errno(errno.EINVAL, f"{tag} write with DF", h.pwrite,
                 b"w" * 4096, bad, nbd.CMD_FLAG_DF)
    expect_errno(errno.EINVAL, f"{tag} write with FAST_ZERO", h.pwrite,
                 b"w" * 4096, bad, nbd.CMD_FLAG_FAST_ZERO)
    expect_errno(errno.EINVAL, f"{tag} read with REQ_ONE", h.pread, 4096, bad,
                 nbd.CMD_FLAG_REQ_ONE)
    expect_errno(errno.EINVAL, f"{tag} trim with FAST_ZERO", h.trim, 4096, bad,
                 nbd.CMD_FLAG_FAST_ZERO)
    if not structured:
        # No meta context without structured replies.
        expect_errno(errno.EINVAL, f"{tag} block status without a meta context",
                     extents, h, 4096, 0)
    check_eq(h.pread(4096, bad), bytes(4096),
             f"{tag} data after refused writes (must be untouched)")
    # A read above the 32 MiB maximum is refused, not served.
    expect_errno((errno.EINVAL, errno.EOVERFLOW), f"{tag} read of 32 MiB + 4 KiB", h.pread,
                 32 * MiB + 4096, 0)
    # The connection survives all of it.
    h.pwrite(b"alive", bad)
    check_eq(h.pread(5, bad), b"alive", f"{tag} write/read after the error cases")


def check_pipeline_and_disc(t, sock, b, structured, tag):
    """512 writes in flight (more than any sane request pool), then 512
    reads; then writes followed at once by DISC must all land."""
    h = bt.connect(unix=sock, structured=structured)
    base = b + 48 * MiB
    n, sz = 512, 16 * KiB
    cookies = []
    for i in range(n):
        buf = nbd.Buffer.from_bytearray(bytearray(pattern(i, sz)))
        cookies.append((h.aio_pwrite(buf, base + i * sz), buf))
    while h.aio_in_flight() > 0:
        h.poll(-1)
    for c, _ in cookies:
        check(h.aio_command_completed(c), f"{tag} pipelined write failed")
    reads = []
    for i in range(n):
        buf = nbd.Buffer(sz)
        reads.append((h.aio_pread(buf, base + i * sz), buf, i))
    while h.aio_in_flight() > 0:
        h.poll(-1)
    for c, buf, i in reads:
        check(h.aio_command_completed(c), f"{tag} pipelined read failed")
        check(buf.to_bytearray() == pattern(i, sz),
              f"{tag} pipelined read {i} returned the wrong data")

    # Writes queued, then DISC: the server finishes them before closing.
    disc = b + 56 * MiB
    keep = []
    for i in range(8):
        buf = nbd.Buffer.from_bytearray(bytearray(pattern(100 + i, MiB)))
        keep.append(buf)
        h.aio_pwrite(buf, disc + i * MiB)
    h.shutdown()
    h2 = bt.connect(unix=sock, structured=structured)
    for i in range(8):
        check(h2.pread(MiB, disc + i * MiB) == pattern(100 + i, MiB),
              f"{tag} write {i} sent before DISC is missing")
    h2.shutdown()


def run_mode(t, mode):
    img = t.image(f"{mode}.img", SIZE)
    sock = t.path(f"{mode}.sock")
    d = t.start_daemon(mode, "--name", "r0", "--disk", img, "--nbd", "unix:" + sock,
                       "--io-mode", mode)
    d.wait_ready(unix=sock)
    for structured, b in ((True, 0), (False, 128 * MiB)):
        tag = f"[{mode}, structured replies {'on' if structured else 'off'}]"
        h = bt.connect(unix=sock, structured=structured)
        check_negotiation(h, structured, tag)
        check_rw(h, b, tag)
        check_zero_trim(h, b, img, structured, tag)
        if structured:
            check_block_status(h, b, tag)
        check_errors(h, b, structured, tag)
        h.flush()
        h.shutdown()
        check_pipeline_and_disc(t, sock, b, structured, tag)
        d.check_alive()
    # What a client wrote is in the backing file.
    with open(img, "rb") as f:
        f.seek(64 * MiB)
        check(f.read(32 * MiB) == pattern(9, 32 * MiB),
              f"[{mode}] backing file does not hold the 32 MiB written")
    return d


def check_export_names(t, sock):
    h = bt.connect(unix=sock, export="")
    check_eq(h.get_size(), SIZE, "size via the empty export name")
    h.pwrite(b"empty-name", 100 * MiB)
    check_eq(h.pread(10, 100 * MiB), b"empty-name", "I/O via the empty export name")
    h.shutdown()

    try:
        bt.connect(unix=sock, export="nosuch")
    except nbd.Error:
        pass
    else:
        raise bt.Failure("connect with unknown export name 'nosuch' succeeded")

    # In option mode: INFO on an unknown name is NBD_REP_ERR_UNKNOWN (libnbd
    # reports ENOENT), and the same connection can still go to r0.
    h = nbd.NBD()
    h.set_opt_mode(True)
    h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
    h.connect_unix(sock)
    h.set_export_name("nosuch")
    expect_errno(errno.ENOENT, "NBD_OPT_INFO for unknown export", h.opt_info)
    expect_errno(errno.ENOENT, "NBD_OPT_GO for unknown export", h.opt_go)
    names = []
    h.opt_list(lambda name, desc: names.append(name))
    check_eq(names, ["r0"], "NBD_OPT_LIST export names")
    h.set_export_name("r0")
    ctx = []
    h.opt_list_meta_context(lambda c: ctx.append(c))
    check("base:allocation" in ctx, f"LIST_META_CONTEXT lacks base:allocation: {ctx}")
    h.opt_info()
    check_eq(h.get_size(), SIZE, "size from NBD_OPT_INFO")
    h.opt_go()
    check_eq(h.pread(10, 100 * MiB), b"empty-name", "read after GO in option mode")
    h.shutdown()


def check_read_only(t):
    img = t.image("ro.img", SIZE)
    with open(img, "r+b") as f:
        f.write(b"ro-data")
    sock = t.path("ro.sock")
    d = t.start_daemon("ro", "--name", "r0", "--disk", img, "--nbd", "unix:" + sock,
                       "--read-only", "yes")
    d.wait_ready(unix=sock)
    for structured in (True, False):
        tag = f"[read-only, structured replies {'on' if structured else 'off'}]"
        h = bt.connect(unix=sock, structured=structured)
        check_eq(h.is_read_only(), True, f"{tag} is_read_only")
        check_eq(h.pread(7, 0), b"ro-data", f"{tag} read")
        expect_errno(errno.EPERM, f"{tag} write", h.pwrite, b"nope", 0)
        expect_errno(errno.EPERM, f"{tag} FUA write", h.pwrite, b"nope", 0,
                     nbd.CMD_FLAG_FUA)
        expect_errno(errno.EPERM, f"{tag} trim", h.trim, 4096, 0)
        expect_errno(errno.EPERM, f"{tag} zero", h.zero, 4096, 0)
        check_eq(h.pread(7, 0), b"ro-data", f"{tag} data after refused writes")
        h.cache(4096, 0)
        h.shutdown()
    d.stop()
    with open(img, "rb") as f:
        check_eq(f.read(7), b"ro-data", "read-only backing file after the test")


def check_odd_size(t):
    """A backing file whose size is not a multiple of 4 KiB, in direct I/O:
    the partial last block reads and writes like any other and the file
    never grows."""
    size = 8 * MiB + 1000
    img = t.image("odd.img", size)
    sock = t.path("odd.sock")
    d = t.start_daemon("odd", "--name", "r0", "--disk", img, "--nbd", "unix:" + sock,
                       "--io-mode", "direct")
    d.wait_ready(unix=sock)
    h = bt.connect(unix=sock)
    check_eq(h.get_size(), size, "[odd size] export size")
    for off, data in ((size - 3, b"end"), (size - 1000, pattern(11, 1000)),
                      (size - 5000, pattern(12, 5000))):
        h.pwrite(data, off, nbd.CMD_FLAG_FUA)
        check(h.pread(len(data), off) == data,
              f"[odd size] {len(data)} bytes at {off} read back wrong")
    expect_errno(errno.ENOSPC, "[odd size] write past the partial last block",
                 h.pwrite, b"x" * 4096, size - 1000)
    h.zero(1000, size - 1000)
    check(h.pread(1000, size - 1000) == bytes(1000), "[odd size] zero of the tail")
    h.trim(1000, size - 1000)
    h.flush()
    h.shutdown()
    d.stop()
    check_eq(os.stat(img).st_size, size, "[odd size] backing file size after I/O")


def main(t):
    direct = run_mode(t, "direct")
    check_export_names(t, t.path("direct.sock"))
    buffered = run_mode(t, "buffered")
    check_read_only(t)
    check_odd_size(t)
    direct.stop()
    buffered.stop()


bt.run(main, timeout_s=150)
