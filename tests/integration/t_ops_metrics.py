#!/usr/bin/python3
"""The Prometheus endpoint (node key metrics = 127.0.0.1:PORT) tells the
same story as status --json.

A protocol C pair, both nodes with a metrics port. alice is promoted and
synced, a verify runs, then one NBD client on alice sends a known mix of
requests (writes, reads, flushes, trims, write-zeroes, cache, block
status, and two reads past the end that fail). Then, for each node:

* the exposition parses: every sample's family has one HELP and one TYPE
  line before its samples, types are counter/gauge/histogram, counters
  end in _total, no series appears twice, every series carries
  resource="r0" and node=<that node>;
* the one-hot state families (role, disk, peer role/disk, connection,
  replication) have exactly one series at 1, the one status names;
* gauges and counters equal the status --json fields taken right after
  the scrape (sizes, disk bytes, out of sync, pending, replication
  positions and lags, resync and verify figures);
* blockd_nbd_requests_total/errors_total/bytes_total per command are what
  the client sent; each histogram's buckets are cumulative in ascending
  le, le="+Inf" equals _count, and _count equals requests_total;
* on alice, a further 1 MiB of writes moves disk_written_bytes_total and
  replication_sent_bytes_total by exactly 1 MiB, with no lag left.

HTTP robustness, on alice: another path gets 404; a request split over
three sends, and one preceded by an idle connection that never speaks,
still get 200; malformed requests get a 4xx; NUL bytes, a header larger
than 64 KiB, 64 idle connections at once, and clients that reset before
reading their answer leave the daemon running and answering. Both daemons stop with status 0.
"""

import re
import socket
import struct
import time

import bt
import btpair
from bt import MiB, check, check_eq
from btpair import NODES

SIZE = 32 * MiB


class Pair(btpair.Pair):
    def __init__(self, t):
        super().__init__(t, SIZE, ports=("m-alice", "m-bob"),
                         node_lines=lambda n, pair: [
                             f"metrics = 127.0.0.1:{pair.ports['m-' + n]}"])

    def wait_synced(self):
        self.wait("alice", "synced as Primary", lambda s, p:
                  s["role"] == "Primary" and p.get("connection") == "Connected" and
                  p["disk"] == "UpToDate" and p["replication"] == "Established" and
                  p["out_of_sync_bytes"] == 0, 30)
        self.wait("bob", "synced as Secondary", lambda s, p:
                  s["disk"] == "UpToDate" and p.get("replication") == "Established", 30)


# --- HTTP and the exposition format -----------------------------------------

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE_RE = re.compile(rf"^({NAME})(?:\{{(.*)\}})?\s+(\S+)(?:\s+(-?\d+))?$")
LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)')


def parse_labels(text, where):
    labels, pos = {}, 0
    while pos < len(text):
        m = LABEL_RE.match(text, pos)
        check(m is not None, f"{where}: bad label syntax at {text[pos:]!r}")
        k = m.group(1)
        check(k not in labels, f"{where}: label {k} twice")
        labels[k] = re.sub(r"\\(.)", lambda e: {"n": "\n"}.get(e.group(1), e.group(1)),
                           m.group(2))
        pos = m.end()
    return labels


def parse_float(v, where):
    try:
        return float(v)  # accepts +Inf, -Inf, NaN too
    except ValueError:
        raise bt.Failure(f"{where}: value {v!r} is not a number")


class Exposition:
    """families: name -> {"type", "help", "samples": [(name, labels, value)]}"""

    def __init__(self, text, node):
        self.families = {}
        seen = set()
        typed = {}
        check(text.endswith("\n"), f"{node}: exposition does not end with a newline")
        for i, line in enumerate(text.split("\n")[:-1], 1):
            where = f"{node} metrics line {i} ({line[:80]!r})"
            if not line.strip():
                continue
            if line.startswith("#"):
                parts = line.split(None, 3)
                if len(parts) >= 2 and parts[1] in ("HELP", "TYPE"):
                    check(len(parts) >= 3 and re.fullmatch(NAME, parts[2]),
                          f"{where}: malformed {parts[1]} line")
                    fam = self.families.setdefault(parts[2], {"samples": []})
                    key = parts[1].lower()
                    check(key not in fam, f"{where}: second {parts[1]} for {parts[2]}")
                    check(not fam["samples"], f"{where}: {parts[1]} after samples of {parts[2]}")
                    fam[key] = parts[3] if len(parts) > 3 else ""
                    if key == "type":
                        check(fam[key] in ("counter", "gauge", "histogram"),
                              f"{where}: unexpected type {fam[key]!r}")
                        typed[parts[2]] = fam[key]
                continue
            m = SAMPLE_RE.match(line)
            check(m is not None, f"{where}: not a sample line")
            name, labels = m.group(1), parse_labels(m.group(2) or "", where)
            value = parse_float(m.group(3), where)
            fam_name = name
            for suffix in ("_bucket", "_sum", "_count"):
                base = name[:-len(suffix)]
                if name.endswith(suffix) and typed.get(base) == "histogram":
                    fam_name = base
            check(fam_name in self.families and "type" in self.families[fam_name]
                  and "help" in self.families[fam_name],
                  f"{where}: sample before the HELP and TYPE of {fam_name}")
            key = (name, tuple(sorted(labels.items())))
            check(key not in seen, f"{where}: series appears twice")
            seen.add(key)
            check(labels.get("resource") == "r0" and labels.get("node") == node,
                  f"{where}: labels resource/node are {labels}")
            self.families[fam_name]["samples"].append((name, labels, value))
        for name, fam in self.families.items():
            check(fam["samples"], f"{node}: family {name} has no samples")
            if fam.get("type") == "counter":
                check(name.endswith("_total"), f"{node}: counter {name} lacks _total")

    def series(self, name, **want):
        """Samples of name (a sample name, not only a family) matching want."""
        fam = name
        for suffix in ("_bucket", "_sum", "_count"):
            if name.endswith(suffix) and name[:-len(suffix)] in self.families and \
                    self.families[name[:-len(suffix)]].get("type") == "histogram":
                fam = name[:-len(suffix)]
        out = []
        for n, labels, v in self.families.get(fam, {"samples": []})["samples"]:
            if n == name and all(labels.get(k) == str(x) for k, x in want.items()):
                out.append((labels, v))
        return out

    def value(self, name, **want):
        s = self.series(name, **want)
        check(len(s) == 1, f"{name}{want}: expected one series, found {len(s)}")
        return s[0][1]


def scrape(pair, node):
    code, headers, body = bt.http_get(pair.ports["m-" + node])
    check_eq(code, 200, f"{node}: GET /metrics status")
    check(headers.get("content-type", "").startswith("text/plain"),
          f"{node}: content-type {headers.get('content-type')!r}")
    check_eq(int(headers.get("content-length", -1)), len(body), f"{node}: content-length")
    return Exposition(body.decode(), node)


def one_hot(e, name, want, node):
    s = e.series(name)
    check(s, f"{node}: no {name} series")
    on = [lab["state"] for lab, v in s if v == 1]
    check(all(v in (0, 1) for _, v in s), f"{node}: {name} values are not 0/1: {s}")
    check_eq(on, [want], f"{node}: {name} series at 1")


# --- the checks ---------------------------------------------------------------

CMDS = ("read", "write", "flush", "trim", "cache", "write_zeroes", "block_status")


def compare(pair, node, sent):
    e = scrape(pair, node)
    s = pair.status(node)
    p = s["peer"]
    one_hot(e, "blockd_role", s["role"], node)
    one_hot(e, "blockd_disk_state", s["disk"], node)
    one_hot(e, "blockd_peer_role", p["role"], node)
    one_hot(e, "blockd_peer_disk_state", p["disk"], node)
    one_hot(e, "blockd_connection_state", p["connection"], node)
    one_hot(e, "blockd_replication_state", p["replication"], node)
    eq = [
        ("blockd_io_frozen", 1 if s["io_frozen"] else 0),
        ("blockd_size_bytes", s["size_bytes"]),
        ("blockd_nbd_connections", s["nbd_connections"]),
        ("blockd_disk_read_bytes_total", s["read_bytes"]),
        ("blockd_disk_written_bytes_total", s["written_bytes"]),
        ("blockd_out_of_sync_bytes", p["out_of_sync_bytes"]),
        ("blockd_pending_writes", p["pending_writes"]),
        ("blockd_replication_sent_bytes_total", p["lag"]["sent_bytes"]),
        ("blockd_replication_received_bytes_total", p["lag"]["received_bytes"]),
        ("blockd_replication_written_bytes_total", p["lag"]["written_bytes"]),
        ("blockd_replication_flushed_bytes_total", p["lag"]["flushed_bytes"]),
        ("blockd_replication_write_lag_bytes", p["lag"]["write_lag_bytes"]),
        ("blockd_replication_flush_lag_bytes", p["lag"]["flush_lag_bytes"]),
        ("blockd_replication_write_lag_seconds", p["lag"]["write_lag_s"]),
        ("blockd_resync_sent_bytes_total", p["resync_sent_bytes"]),
        ("blockd_resync_received_bytes_total", p["resync_received_bytes"]),
        ("blockd_resync_done_ratio", p["resync"]["done_pct"] / 100),
        ("blockd_verify_done_ratio", p["verify"]["done_pct"] / 100),
        ("blockd_verify_out_of_sync_blocks", p["verify"]["out_of_sync_blocks"]),
    ]
    for name, want in eq:
        got = e.value(name)
        check(abs(got - want) <= 1e-9 * max(1, abs(want)),
              f"{node}: {name} = {got!r}, status --json says {want!r}")
    for outcome in ("started", "fenced", "failed"):
        check_eq(e.value("blockd_fence_events_total", outcome=outcome), 0,
                 f"{node}: blockd_fence_events_total{{outcome={outcome}}}")
    for fam, typ in (("blockd_nbd_requests_total", "counter"),
                     ("blockd_nbd_request_duration_seconds", "histogram"),
                     ("blockd_size_bytes", "gauge"),
                     ("blockd_disk_written_bytes_total", "counter")):
        check_eq(e.families.get(fam, {}).get("type"), typ, f"{node}: TYPE of {fam}")
    # NBD requests, by command.
    for cmd in CMDS:
        n, errs = sent["count"].get(cmd, 0), sent["errors"].get(cmd, 0)
        check_eq(e.value("blockd_nbd_requests_total", cmd=cmd), n,
                 f"{node}: blockd_nbd_requests_total{{cmd={cmd}}}")
        check_eq(e.value("blockd_nbd_errors_total", cmd=cmd), errs,
                 f"{node}: blockd_nbd_errors_total{{cmd={cmd}}}")
        buckets = e.series("blockd_nbd_request_duration_seconds_bucket", cmd=cmd)
        check(len(buckets) >= 2, f"{node}: {cmd}: {len(buckets)} histogram buckets")
        les = [parse_float(lab["le"], f"{node} {cmd} le") for lab, _ in buckets]
        check_eq(les, sorted(les), f"{node}: {cmd}: bucket le order")
        check(len(set(les)) == len(les), f"{node}: {cmd}: duplicate le values {les}")
        check_eq(les[-1], float("inf"), f"{node}: {cmd}: last bucket le")
        vals = [v for _, v in buckets]
        check(all(a <= b for a, b in zip(vals, vals[1:])),
              f"{node}: {cmd}: buckets not cumulative: {vals}")
        count = e.value("blockd_nbd_request_duration_seconds_count", cmd=cmd)
        total = e.value("blockd_nbd_request_duration_seconds_sum", cmd=cmd)
        check_eq(vals[-1], count, f"{node}: {cmd}: le=+Inf bucket vs _count")
        check_eq(count, n, f"{node}: {cmd}: histogram _count vs requests sent")
        check(0 <= total < 60 * max(n, 1) and (n > 0 or total == 0),
              f"{node}: {cmd}: _sum {total} for {n} requests")
    for cmd in ("read", "write"):
        check_eq(e.value("blockd_nbd_bytes_total", cmd=cmd), sent["bytes"].get(cmd, 0),
                 f"{node}: blockd_nbd_bytes_total{{cmd={cmd}}}")
    return e, s


def workload(pair):
    """A known mix of requests on alice; returns what was sent, by command.
    The handle stays open (returned) so nbd_connections is 1."""
    h = bt.connect(unix=pair.t.path("alice.nbd"))
    size = h.get_size()
    sent = {"count": {}, "errors": {}, "bytes": {}}

    def note(cmd, nbytes=0, err=False):
        sent["count"][cmd] = sent["count"].get(cmd, 0) + 1
        if err:
            sent["errors"][cmd] = sent["errors"].get(cmd, 0) + 1
        else:
            sent["bytes"][cmd] = sent["bytes"].get(cmd, 0) + nbytes

    for i, n in enumerate((4096, 512, 65536, MiB, 8192, 4096 * 3)):
        h.pwrite(bt.pattern(i, n), i * 2 * MiB)
        note("write", n)
    for i, n in enumerate((4096, 512, 65536, MiB)):
        check_eq(h.pread(n, i * 2 * MiB), bt.pattern(i, n), f"read back {i}")
        note("read", n)
    h.flush()
    note("flush")
    h.flush()
    note("flush")
    if h.can_trim():
        h.trim(MiB, 20 * MiB)
        note("trim")
    if h.can_zero():
        h.zero(65536, 22 * MiB)
        note("write_zeroes")
    if h.can_cache():
        h.cache(MiB, 0)
        note("cache")
    if h.can_meta_context("base:allocation"):
        h.block_status(4 * MiB, 0, lambda *a: 0)
        note("block_status")
    for off in (size, size + 4096):
        bt.expect_errno((22, 28, 5), "read past the end", h.pread, 4096, off)
        note("read", err=True)
    return h, sent


def http_abuse(pair):
    port = pair.ports["m-alice"]
    d = pair.d["alice"]
    code, _, body = bt.http_get(port, "/nothing-here")
    check_eq(code, 404, "GET /nothing-here")
    code, _, _ = bt.http(port, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
    check(code in (404, 405, 400), f"POST /metrics answered {code}")
    # An idle connection must not hold up others.
    idle = socket.create_connection(("127.0.0.1", port), timeout=5)
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    for part in (b"GET /met", b"rics HTTP/1.1\r\nHost: x\r\n", b"\r\n"):
        s.sendall(part)
        time.sleep(0.1)
    buf = b""
    while True:
        c = s.recv(65536)
        if not c:
            break
        buf += c
    s.close()
    check(buf.startswith(b"HTTP/1.1 200 "), f"split request answered {buf[:40]!r}")
    idle.close()
    # Malformed requests that end their header get a 4xx answer.
    for raw in (b"BREW /coffee HTCPCP/1.0\r\n\r\n", b"GET\r\n\r\n",
                bytes(range(1, 256)) * 4 + b"\r\n\r\n"):
        code, _, _ = bt.http(port, raw, deadline_s=5)
        check(code is not None and 400 <= code < 500,
              f"malformed request {raw[:20]!r}... answered {code}")
        d.check_alive()
    # NUL bytes, or no end of header: an answer is optional, a crash is not.
    for raw in (b"\x00" * 100 + b"\r\n\r\n", b"\xff\xfe" * 300):
        try:
            bt.http(port, raw, deadline_s=1)
        except (socket.timeout, ConnectionError):
            pass
        d.check_alive()
    # Oversized header: 64 KiB without an end.
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(b"GET /metrics HTTP/1.1\r\nX-Big: " + b"a" * 65536)
    except (BrokenPipeError, ConnectionResetError):
        pass
    buf = b""
    try:
        while True:
            c = s.recv(65536)
            if not c:
                break
            buf += c
    except (ConnectionResetError, socket.timeout):
        pass
    s.close()
    check(not buf or re.match(rb"HTTP/1\.[01] 4\d\d ", buf),
          f"oversized request answered {buf[:60]!r}")
    d.check_alive()
    # Many idle connections, then a real scrape.
    many = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(64)]
    code, _, _ = bt.http_get(port)
    check_eq(code, 200, "GET /metrics with 64 idle connections open")
    for c in many:
        c.close()
    # Ask and reset before reading the answer, a few times.
    for _ in range(5):
        c = socket.create_connection(("127.0.0.1", port), timeout=5)
        c.sendall(b"GET /metrics HTTP/1.1\r\n\r\n")
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.close()
    time.sleep(0.2)
    d.check_alive()
    code, _, _ = bt.http_get(port)
    check_eq(code, 200, "GET /metrics after the abuse")
    pair.status("alice")


def main(t):
    pair = Pair(t)
    for n in NODES:
        code, _, _ = bt.http_get(pair.ports["m-" + n])
        check_eq(code, 200, f"{n}: metrics answering before the pair connected")
    pair.wait("alice", "peer connected", lambda s, p: p.get("connection") == "Connected")
    pair.ok("alice", "primary", "--force")
    pair.wait_synced()
    pair.ok("alice", "verify")
    pair.wait("alice", "verify finished", lambda s, p:
              p["replication"] == "Established" and p["verify"]["done_pct"] == 100)
    pair.wait("bob", "verify finished", lambda s, p: p["replication"] == "Established")

    h, sent = workload(pair)
    pair.wait("alice", "no pending writes", lambda s, p: p["pending_writes"] == 0)
    e, s = compare(pair, "alice", sent)
    check_eq(s["nbd_connections"], 1, "alice: nbd_connections with the client open")
    check(e.value("blockd_disk_written_bytes_total") > 0, "alice: nothing written")
    check(e.value("blockd_resync_sent_bytes_total") >= 0, "alice: resync counter")
    eb, sb = compare(pair, "bob", {"count": {}, "errors": {}, "bytes": {}})
    check_eq(sb["role"], "Secondary", "bob's role")
    check(eb.value("blockd_disk_written_bytes_total") > 0,
          "bob: the replicated writes did not count as written")

    # A further 1 MiB of writes moves both byte counters by exactly 1 MiB.
    w0 = e.value("blockd_disk_written_bytes_total")
    r0 = e.value("blockd_replication_sent_bytes_total")
    for i in range(16):
        h.pwrite(bt.pattern(40 + i, 65536), 8 * MiB + i * 65536)
        sent["count"]["write"] += 1
        sent["bytes"]["write"] += 65536
    h.flush()
    sent["count"]["flush"] += 1
    e2, s2 = compare(pair, "alice", sent)
    check_eq(e2.value("blockd_disk_written_bytes_total") - w0, MiB,
             "alice: disk_written_bytes_total growth for 1 MiB of writes")
    check_eq(e2.value("blockd_replication_sent_bytes_total") - r0, MiB,
             "alice: replication_sent_bytes_total growth for 1 MiB of writes")
    check_eq(e2.value("blockd_replication_write_lag_bytes"), 0,
             "alice: write lag after protocol C writes completed")
    check_eq(e2.value("blockd_replication_flush_lag_bytes"), 0,
             "alice: flush lag after a FLUSH completed")
    h.shutdown()
    pair.wait("alice", "client gone", lambda s, p: s["nbd_connections"] == 0)
    compare(pair, "alice", sent)

    http_abuse(pair)
    compare(pair, "bob", {"count": {}, "errors": {}, "bytes": {}})
    for n in NODES:
        pair.d[n].stop()
    return (f"{len(e2.families)} families; {sum(sent['count'].values())} NBD requests "
            f"accounted; HTTP abuse survived")


bt.run(main, timeout_s=90)
