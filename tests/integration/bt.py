"""Shared helpers for the python integration tests (the python twin of lib.sh).

What it owns: a test's temp dir, the daemons it starts (tracked by PID), the
overall timeout and the one-line result.  Invariants: every daemon a test
starts is ended by PID when the test ends, however it ends; readiness is
polled against a deadline, never waited for with a fixed sleep.

Use:
    import bt
    def main(t):
        d = t.start_daemon("rw", "--name", "r0", "--disk", t.image("d", 1 << 26),
                           "--nbd", "unix:" + t.path("s.sock"))
        h = bt.connect(unix=t.path("s.sock"))
        ...
    bt.run(main, timeout_s=120)

Environment: BLOCKD (daemon binary, default <repo>/build/blockd),
BT_KEEP_TMP=1 (keep the temp dir), BT_TIMEOUT (override the timeout).
"""

import errno
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

import nbd

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BLOCKD = os.environ.get("BLOCKD") or os.path.join(ROOT, "build", "blockd")
if not os.path.isabs(BLOCKD):
    BLOCKD = os.path.join(ROOT, BLOCKD)

READY_S = float(os.environ.get("BT_READY_S", "20"))
STOP_S = float(os.environ.get("BT_STOP_S", "20"))
MiB = 1024 * 1024
SANITIZER_RE = re.compile(
    rb"ERROR: (Address|Leak|Memory|Thread)Sanitizer|runtime error:")


class Failure(Exception):
    pass


class Skip(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def check_eq(got, want, what):
    if got != want:
        raise Failure(f"{what}: expected {want!r}, got {got!r}")


def expect_errno(want, what, fn, *args, **kw):
    """Run fn; it must raise nbd.Error with errnum == want (or one of want
    when a tuple)."""
    wants = want if isinstance(want, tuple) else (want,)
    names = "/".join(errno.errorcode.get(w, str(w)) for w in wants)
    try:
        fn(*args, **kw)
    except nbd.Error as e:
        if e.errnum not in wants:
            raise Failure(f"{what}: expected {names}, got errnum {e.errnum} "
                          f"({errno.errorcode.get(e.errnum, '?')}): {e.string}")
        return e
    raise Failure(f"{what}: expected {names}, but the request succeeded")


def recv_to_eof(s):
    """Everything the peer of socket s sends until it closes (a reset after
    its last bytes, as a server that closes with input unread causes,
    counts as the close)."""
    buf = b""
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            return buf
        if not chunk:
            return buf
        buf += chunk


def http(port, raw, deadline_s=10):
    """Send raw bytes to 127.0.0.1:port, read to EOF; (status code or None,
    headers with lower-case names, body)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=deadline_s)
    try:
        s.sendall(raw)
        buf = recv_to_eof(s)
    finally:
        s.close()
    head, _, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3}) ", lines[0] + " ")
    headers = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        headers[k.strip().lower()] = v.strip()
    return (int(m.group(1)) if m else None), headers, body


def http_get(port, path="/metrics"):
    return http(port, f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def unix_uri(sock, export="r0"):
    return f"nbd+unix:///{export}?socket={sock}"


def connect(unix=None, tcp=None, export="r0", structured=True, meta=True,
            strict=0):
    """A connected libnbd handle.  strict=0 disables libnbd's own checks so
    that bad requests reach the server."""
    h = nbd.NBD()
    h.set_export_name(export)
    h.set_request_structured_replies(structured)
    if meta:
        h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
    h.set_strict_mode(strict)
    if unix is not None:
        h.connect_unix(unix)
    else:
        h.connect_tcp("127.0.0.1", str(tcp))
    return h


def pattern(seed, n):
    """n bytes that differ per seed and per position (so a misplaced block or
    a stale one is caught, not only an all-zero one)."""
    unit = bytes((seed * 131 + i * 7 + (i >> 8)) & 0xFF for i in range(4096))
    out = (unit * (n // 4096 + 1))[:n]
    return bytes(out)


def drain(handles, deadline_s=60):
    """Drive the aio state machines of several handles at once (select on
    their sockets) until none has a command in flight, so that the server
    sees requests from every connection interleaved."""
    import select
    end = time.monotonic() + deadline_s
    while True:
        busy = [h for h in handles if h.aio_in_flight() > 0]
        if not busy:
            return
        if time.monotonic() > end:
            raise Failure(f"{len(busy)} connections still have requests in "
                          f"flight after {deadline_s}s")
        rd, wr = [], []
        for h in busy:
            d = h.aio_get_direction()
            if d & nbd.AIO_DIRECTION_READ:
                rd.append(h.aio_get_fd())
            if d & nbd.AIO_DIRECTION_WRITE:
                wr.append(h.aio_get_fd())
        r, w, _ = select.select(rd, wr, [], 1.0)
        for h in busy:
            fd = h.aio_get_fd()
            if fd in w:
                h.aio_notify_write()
            if fd in r:
                h.aio_notify_read()


def wait_completed(h, cookies, what):
    """Every cookie completed successfully (aio_command_completed raises
    nbd.Error on a failed command)."""
    for c in cookies:
        try:
            ok = h.aio_command_completed(c)
        except nbd.Error as e:
            raise Failure(f"{what}: command failed: {e}")
        check(ok, f"{what}: command {c} not completed")


# --- a raw NBD client, for requests no well-behaved library would send -----

NBD_MAGIC = 0x4E42444D41474943          # "NBDMAGIC"
IHAVEOPT = 0x49484156454F5054
OPT_REPLY_MAGIC = 0x0003E889045565A9
REQUEST_MAGIC = 0x25609513
SIMPLE_REPLY_MAGIC = 0x67446698
STRUCT_REPLY_MAGIC = 0x668E33EF
OPT_EXPORT_NAME, OPT_ABORT, OPT_LIST, OPT_INFO, OPT_GO = 1, 2, 3, 6, 7
OPT_STRUCTURED_REPLY = 8
REP_ACK, REP_SERVER, REP_INFO = 1, 2, 3
REP_ERR = 1 << 31
REP_ERR_UNSUP, REP_ERR_INVALID, REP_ERR_UNKNOWN = REP_ERR | 1, REP_ERR | 3, REP_ERR | 6
CMD_READ, CMD_WRITE, CMD_DISC, CMD_FLUSH = 0, 1, 2, 3
FLAG_HAS_FLAGS = 1
REPLY_FLAG_DONE = 1
REPLY_TYPE_NONE, REPLY_TYPE_OFFSET_DATA, REPLY_TYPE_OFFSET_HOLE = 0, 1, 2
REPLY_TYPE_ERROR, REPLY_TYPE_ERROR_OFFSET = (1 << 15) + 1, (1 << 15) + 2


class Closed(Exception):
    pass


class Raw:
    """One socket speaking NBD byte by byte.  Every receive has a deadline;
    Closed is raised on EOF or reset."""

    def __init__(self, unix=None, tcp=None, timeout_s=10):
        import struct
        self.st = struct
        if unix is not None:
            self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.s.settimeout(timeout_s)
            self.s.connect(unix)
        else:
            self.s = socket.create_connection(("127.0.0.1", tcp), timeout=timeout_s)
            self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.s.settimeout(timeout_s)
        self.shaken = False

    def close(self, reset=False):
        if reset:
            import struct
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                              struct.pack("ii", 1, 0))
        self.s.close()

    def send(self, data):
        """Send all of data; Closed if the server has gone away."""
        try:
            self.s.sendall(data)
        except (BrokenPipeError, ConnectionResetError) as e:
            raise Closed(str(e))

    def recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            try:
                chunk = self.s.recv(n - len(buf))
            except ConnectionResetError as e:
                raise Closed(f"reset after {len(buf)}/{n} bytes: {e}")
            if not chunk:
                raise Closed(f"EOF after {len(buf)}/{n} bytes")
            buf += chunk
        return bytes(buf)

    def wait_closed(self, deadline_s=10):
        """True once the server closes the connection (bytes it sends first
        are returned in .tail); False if it is still open at the deadline."""
        end = time.monotonic() + deadline_s
        self.tail = b""
        while time.monotonic() < end:
            self.s.settimeout(max(0.05, end - time.monotonic()))
            try:
                chunk = self.s.recv(65536)
            except socket.timeout:
                return False
            except ConnectionResetError:
                return True
            if not chunk:
                return True
            self.tail += chunk
        return False

    # handshake
    def greeting(self):
        g = self.recv_exact(18)
        magic, opts, hflags = self.st.unpack(">QQH", g)
        check_eq((magic, opts), (NBD_MAGIC, IHAVEOPT), "server greeting magic")
        return hflags

    def client_flags(self, flags=3):
        self.send(self.st.pack(">I", flags))

    def handshake(self, flags=3):
        self.greeting()
        self.client_flags(flags)
        self.shaken = True

    def opt(self, opt, data=b"", magic=IHAVEOPT, length=None):
        n = len(data) if length is None else length
        self.send(self.st.pack(">QII", magic, opt, n) + data)

    def opt_reply(self):
        magic, opt, rtype, n = self.st.unpack(">QIII", self.recv_exact(20))
        check_eq(magic, OPT_REPLY_MAGIC, "option reply magic")
        return opt, rtype, self.recv_exact(n) if n else b""

    def go(self, name=b"r0", structured=False):
        """GO (after the greeting and STRUCTURED_REPLY, if not yet done or
        if asked); returns (size, tflags)."""
        if not self.shaken:
            self.handshake()
        if structured:
            self.opt(OPT_STRUCTURED_REPLY)
            _, rtype, _ = self.opt_reply()
            check_eq(rtype, REP_ACK, "STRUCTURED_REPLY reply")
        self.opt(OPT_GO, self.st.pack(">I", len(name)) + name + self.st.pack(">H", 0))
        size = tflags = None
        while True:
            opt, rtype, data = self.opt_reply()
            check_eq(opt, OPT_GO, "option in GO reply")
            if rtype == REP_INFO and len(data) >= 12 and \
                    self.st.unpack(">H", data[:2])[0] == 0:
                size, tflags = self.st.unpack(">QH", data[2:12])
            elif rtype == REP_ACK:
                check(size is not None, "GO acked without NBD_INFO_EXPORT")
                return size, tflags
            elif rtype & REP_ERR:
                raise Failure(f"GO {name!r} refused: reply type {rtype:#x} {data!r}")

    # transmission
    def request(self, cmd, offset=0, length=0, flags=0, cookie=1, payload=b"",
                magic=REQUEST_MAGIC):
        self.send(self.st.pack(">IHHQQI", magic, flags, cmd, cookie, offset,
                               length) + payload)

    def simple_reply(self):
        """(error, cookie) of the next simple reply."""
        magic, err, cookie = self.st.unpack(">IIQ", self.recv_exact(16))
        check_eq(magic, SIMPLE_REPLY_MAGIC, "simple reply magic")
        return err, cookie

    def struct_chunk(self):
        """(flags, type, cookie, payload) of the next structured chunk."""
        magic, flags, rtype, cookie, n = self.st.unpack(">IHHQI", self.recv_exact(20))
        check_eq(magic, STRUCT_REPLY_MAGIC, "structured reply magic")
        return flags, rtype, cookie, self.recv_exact(n) if n else b""


class Daemon:
    def __init__(self, test, ident, args):
        self.test = test
        self.ident = ident
        self.args = list(args)
        # Own control socket unless a config file names one: the default
        # under /run/blockd is shared by every daemon of resource and node.
        if not {"-c", "--config", "--control"} & set(self.args):
            self.args += ["--control", test.path(ident + ".ctl")]
        self.log = test.path(ident + ".log")
        logf = open(self.log, "ab")
        self.proc = subprocess.Popen([BLOCKD] + self.args, stdin=subprocess.DEVNULL,
                                     stdout=logf, stderr=logf)
        logf.close()
        self.pid = self.proc.pid
        print(f"{test.name}: started {ident} (pid {self.pid}): "
              f"{BLOCKD} {' '.join(self.args)}", file=sys.stderr)

    def running(self):
        return self.proc.poll() is None

    def check_alive(self):
        rc = self.proc.poll()
        if rc is not None:
            raise Failure(f"{self.ident} (pid {self.pid}) died, status {rc}")

    def wait_ready(self, unix=None, tcp=None, export="r0"):
        """Poll until an NBD handshake to export succeeds."""
        end = time.monotonic() + READY_S
        last = None
        while True:
            self.check_alive()
            try:
                h = connect(unix=unix, tcp=tcp, export=export, meta=False)
                h.shutdown()
                return
            except nbd.Error as e:
                last = e
            if time.monotonic() > end:
                raise Failure(f"{self.ident} not ready within {READY_S}s: {last}")
            time.sleep(0.05)

    def wait_exit(self, deadline_s):
        try:
            return self.proc.wait(timeout=deadline_s)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, want=0):
        """SIGTERM; must exit with status want within STOP_S, with a clean log."""
        if self.running():
            os.kill(self.pid, signal.SIGTERM)
        rc = self.wait_exit(STOP_S)
        if rc is None:
            self.kill9()
            raise Failure(f"{self.ident} did not exit within {STOP_S}s of SIGTERM")
        self.test.daemons.pop(self.ident, None)
        check_eq(rc, want, f"{self.ident} exit status after SIGTERM")
        self.sanitizer_check()

    def kill9(self):
        if self.running():
            os.kill(self.pid, signal.SIGKILL)
        self.proc.wait()
        self.test.daemons.pop(self.ident, None)

    def sanitizer_check(self):
        with open(self.log, "rb") as f:
            if SANITIZER_RE.search(f.read()):
                raise Failure(f"{self.ident}: sanitizer report in {self.log}")

    def cleanup(self):
        if self.running():
            os.kill(self.pid, signal.SIGTERM)
            if self.wait_exit(5) is None:
                os.kill(self.pid, signal.SIGKILL)
        self.proc.wait()


class Test:
    def __init__(self, timeout_s):
        self.name = os.path.splitext(os.path.basename(sys.argv[0]))[0]
        self.timeout_s = timeout_s
        base = os.environ.get("TMPDIR", "/tmp")
        self.tmp = tempfile.mkdtemp(prefix=self.name + ".", dir=base)
        self.daemons = {}

    def path(self, name):
        return os.path.join(self.tmp, name)

    def image(self, name, size_bytes):
        p = self.path(name)
        with open(p, "wb") as f:
            f.truncate(size_bytes)
        return p

    def start_daemon(self, ident, *args):
        d = Daemon(self, ident, args)
        self.daemons[ident] = d
        return d

    def dump_logs(self):
        for ident, d in list(self.daemons.items()):
            try:
                with open(d.log, "rb") as f:
                    tail = f.read()[-4000:]
                sys.stderr.write(f"---- tail of {ident}.log\n")
                sys.stderr.write(tail.decode(errors="replace") + "\n")
            except OSError:
                pass

    def cleanup(self):
        for d in list(self.daemons.values()):
            d.cleanup()
        if os.environ.get("BT_KEEP_TMP"):
            print(f"{self.name}: kept {self.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def _raise_timeout(signum, frame):
    raise Failure(f"timed out (signal {signum})")


def run(main, timeout_s=120):
    """Run main(test) under an overall timeout and print the one-line result.
    Exit 0 pass, 1 fail, 77 skip."""
    timeout_s = int(os.environ.get("BT_TIMEOUT", timeout_s))
    if not os.environ.get("BT_UNDER_TIMEOUT"):
        # Own process group under timeout(1): if a C call hangs past the alarm
        # below, the group kill still ends every child.
        os.environ["BT_UNDER_TIMEOUT"] = "1"
        os.execvp("timeout", ["timeout", "-k", "10", str(timeout_s + 10),
                              sys.executable] + sys.argv)
    signal.signal(signal.SIGALRM, _raise_timeout)
    signal.signal(signal.SIGTERM, _raise_timeout)
    signal.alarm(timeout_s)
    t = Test(timeout_s)
    rc = 1
    try:
        if not os.access(BLOCKD, os.X_OK):
            raise Failure(f"daemon binary not found or not executable: {BLOCKD}")
        extra = main(t)
        print(f"PASS {t.name}" + (f": {extra}" if extra else ""))
        rc = 0
    except Skip as e:
        print(f"SKIP {t.name}: {e}")
        rc = 77
    except Failure as e:
        print(f"FAIL {t.name}: {e}")
        traceback.print_exc(file=sys.stderr)
        t.dump_logs()
    except Exception as e:
        print(f"FAIL {t.name}: unexpected {type(e).__name__}: {e}")
        traceback.print_exc(file=sys.stderr)
        t.dump_logs()
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        t.cleanup()
    sys.stdout.flush()
    sys.exit(rc)
