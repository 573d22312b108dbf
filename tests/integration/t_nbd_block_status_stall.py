#!/usr/bin/python3
"""A BLOCK_STATUS that waits in the kernel must not hold up anyone else.

The allocation map comes from lseek(SEEK_DATA/SEEK_HOLE), which waits for
the backing file's inode lock. A helper process holds that lock: it
write()s into the backing file from a buffer mmap'ed from an nbdfuse file
whose nbdkit delays reads by 10 s (delay filter), so the write sits in a
page fault with the lock held. Once nbdkit has logged the read (log
filter), a client asks for the block status of the first 16 MiB; while
that waits, a new client's handshake plus a refused read and a control
socket `status` must each be answered within 5 s, and the block status
must still be outstanding. Afterwards the block status must arrive with
the real map: hole, the 1 MiB written at 8 MiB, hole."""

import os
import shutil
import subprocess
import sys
import threading
import time

import nbd

import bt
from bt import MiB, check, check_eq

SIZE = 64 * MiB
DATA_AT = 8 * MiB
SPAN = 16 * MiB
HOLDER_AT = 32 * MiB       # where the helper's write lands, outside SPAN
DELAY_S = 10
PROBE_S = 5.0
HOLE_ZERO = nbd.STATE_HOLE | nbd.STATE_ZERO
BLOCKCTL = os.path.join(os.path.dirname(bt.BLOCKD), "blockctl")

HOLDER = """
import mmap, os, sys
src = os.open(sys.argv[1], os.O_RDONLY)
m = mmap.mmap(src, 1 << 20, mmap.MAP_PRIVATE, mmap.PROT_READ)
dst = os.open(sys.argv[2], os.O_WRONLY)
os.pwrite(dst, memoryview(m)[:4096], int(sys.argv[3]))
"""


def wait_for(what, cond, deadline_s, proc=None):
    end = time.monotonic() + deadline_s
    while not cond():
        if proc is not None and proc.poll() is not None:
            raise bt.Failure(f"{what}: process exited with {proc.returncode}")
        if time.monotonic() > end:
            raise bt.Failure(f"{what} not within {deadline_s}s")
        time.sleep(0.05)


def merged(ext):
    out = []
    for length, fl in ext:
        if out and out[-1][1] == fl:
            out[-1] = (out[-1][0] + length, fl)
        else:
            out.append((length, fl))
    return out


class SlowLock:
    """nbdkit (reads delayed) behind nbdfuse, and a helper whose write
    into path holds its inode lock until the delayed read returns."""

    def __init__(self, t, path):
        self.t, self.path = t, path
        self.procs = []
        self.mnt = t.path("fuse")
        os.mkdir(self.mnt)
        self.mounted = False

    def spawn(self, args, log):
        f = open(self.t.path(log), "ab")
        p = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=f, stderr=f)
        f.close()
        self.procs.append(p)
        return p

    def start(self):
        ksock, klog = self.t.path("nbdkit.sock"), self.t.path("nbdkit.requests")
        self.klog = klog
        k = self.spawn(["nbdkit", "-f", "-U", ksock, "--filter=log",
                        "--filter=delay", "memory", "1M",
                        f"delay-read={DELAY_S}", f"logfile={klog}"], "nbdkit.log")
        wait_for("nbdkit socket", lambda: os.path.exists(ksock), 20, k)
        fuse_file = os.path.join(self.mnt, "slow")
        f = self.spawn(["nbdfuse", "-r", fuse_file, "--unix", ksock], "nbdfuse.log")
        self.mounted = True
        wait_for("nbdfuse mount", lambda: os.path.exists(fuse_file), 20, f)
        self.holder = self.spawn([sys.executable, "-c", HOLDER, fuse_file,
                                  self.path, str(HOLDER_AT)], "holder.log")

        def read_started():
            with open(klog) as lf:
                return " Read " in lf.read()
        wait_for("the helper's page fault reaching nbdkit", read_started, 20,
                 self.holder)

    def stop(self):
        for p in self.procs[2:]:
            if p.poll() is None:
                p.wait(timeout=DELAY_S * 3)
        if self.mounted:
            subprocess.run(["fusermount3", "-u", self.mnt],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def lseek_waits(path):
    """True when our own lseek(SEEK_DATA) on path is held up (by the
    helper's write), i.e. the filesystem serialises the two."""
    done = threading.Event()

    def seek():
        fd = os.open(path, os.O_RDONLY)
        try:
            os.lseek(fd, 0, os.SEEK_DATA)
        finally:
            os.close(fd)
            done.set()
    threading.Thread(target=seek, daemon=True).start()
    return not done.wait(1.0)


def probe(sock, ctl):
    """A new client's handshake and a read refused without disk I/O, then
    a control socket status: the seconds each took."""
    t0 = time.monotonic()
    h2 = bt.connect(unix=sock, meta=False)
    bt.expect_errno(22, "read past the end", h2.pread, 4096, SIZE)
    h2.shutdown()
    t1 = time.monotonic()
    r = subprocess.run([BLOCKCTL, "--control", ctl, "status", "--json"],
                       capture_output=True, text=True, timeout=30)
    t2 = time.monotonic()
    check_eq(r.returncode, 0, f"blockctl status exit status ({r.stderr.strip()})")
    return t1 - t0, t2 - t1


def main(t):
    if not os.path.exists("/dev/fuse"):
        raise bt.Skip("no /dev/fuse")
    for c in ("nbdkit", "nbdfuse", "fusermount3"):
        if not shutil.which(c):
            raise bt.Skip(f"{c} not installed")
    img = t.image("disk.img", SIZE)
    fd = os.open(img, os.O_WRONLY)
    os.pwrite(fd, bt.pattern(3, MiB), DATA_AT)
    os.fsync(fd)
    os.close(fd)
    sock, ctl = t.path("nbd.sock"), t.path("d.ctl")
    d = t.start_daemon("d", "--name", "r0", "--disk", img, "--nbd", "unix:" + sock)
    d.wait_ready(unix=sock)
    h = bt.connect(unix=sock)

    slow = SlowLock(t, img)
    try:
        slow.start()
        if not lseek_waits(img):
            raise bt.Skip("this filesystem does not make lseek wait for a write")
        ext = []

        def cb(ctx, off, entries, err):
            if ctx == nbd.CONTEXT_BASE_ALLOCATION:
                ext.extend(zip(entries[0::2], entries[1::2]))
            return 0
        cookie = h.aio_block_status(SPAN, 0, cb)
        connect_s, status_s = probe(sock, ctl)
        h.poll(0)
        pending = not h.aio_command_completed(cookie)
        check(connect_s < PROBE_S,
              f"a new client's handshake and refused read took {connect_s:.1f}s "
              f"while a BLOCK_STATUS waited for the disk")
        check(status_s < PROBE_S,
              f"blockctl status took {status_s:.1f}s while a BLOCK_STATUS "
              f"waited for the disk")
        check(pending, "the BLOCK_STATUS completed before the lseek could have")
        end = time.monotonic() + DELAY_S * 3
        while not h.aio_command_completed(cookie):
            if time.monotonic() > end:
                raise bt.Failure(f"BLOCK_STATUS not answered within {DELAY_S * 3}s")
            h.poll(100)
    finally:
        slow.stop()
    got = merged(ext)
    if got and sum(n for n, _ in got) > SPAN:
        last = got[-1]
        got[-1] = (last[0] - (sum(n for n, _ in got) - SPAN), last[1])
    check_eq(got, [(DATA_AT, HOLE_ZERO), (MiB, 0), (SPAN - DATA_AT - MiB, HOLE_ZERO)],
             "block status after the wait")
    d.check_alive()
    h.shutdown()
    d.stop()
    return f"handshake {connect_s * 1000:.0f} ms, status {status_s * 1000:.0f} ms " \
           f"while BLOCK_STATUS waited"


bt.run(main, timeout_s=90)
