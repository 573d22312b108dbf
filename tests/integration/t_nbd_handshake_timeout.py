#!/usr/bin/python3
"""NBD clients that never finish the handshake cannot lock others out.

The daemon serves at most 256 NBD connections. With
`nbd-handshake-timeout-ms = 1000`, 256 connections are opened that stop
at each point of the handshake (never read the greeting; sent the client
flags and nothing more; sent half an option), over unix and TCP. Then:
* a new libnbd client is refused at first (every slot is taken), and
  connects and reads the data once the daemon has closed the stalled ones
  (polled, deadline 10 s);
* each stalled connection sees the server close it;
* a client that finished its handshake before and then stayed idle for
  longer than the limit is still served;
* the log names the reason; status --json counts the closed handshakes
  (nbd_handshake_timeouts = 255) and the refused connections
  (nbd_connections_refused, at least the first client's), and the
  metrics endpoint's counters say the same; the daemon stops with
  status 0;
* --check-config takes 0 (no limit) and refuses values outside
  10..3600000 ms, naming the key.
"""

import json
import os
import subprocess
import time

import bt
from bt import MiB, check, pattern

BLOCKCTL = os.path.join(os.path.dirname(bt.BLOCKD), "blockctl")
SIZE = 16 * MiB
SLOTS = 256
LIMIT_MS = 1000


def main(t):
    img = t.image("disk.img", SIZE)
    sock = t.path("nbd.sock")
    port = bt.free_port()
    mport = bt.free_port()
    while mport == port:
        mport = bt.free_port()
    d = t.start_daemon("d", "--name", "r0", "--disk", img,
                       "--nbd", f"unix:{sock},tcp:127.0.0.1:{port}",
                       "--metrics", f"127.0.0.1:{mport}",
                       "--nbd-handshake-timeout-ms", str(LIMIT_MS))
    d.wait_ready(unix=sock)
    keeper = bt.connect(unix=sock)
    keeper.pwrite(pattern(7, 4096), 0)
    keeper.flush()

    stalled = []
    for i in range(SLOTS - 1):    # the keeper holds one slot
        r = bt.Raw(unix=sock) if i % 2 else bt.Raw(tcp=port)
        if i % 3 == 1:
            r.greeting()
            r.client_flags()
        elif i % 3 == 2:
            r.handshake()
            r.send(b"IHAVEOPT\x00\x00\x00\x07\x00\x00")   # half an option
        stalled.append(r)
    t0 = time.monotonic()

    # Every slot is taken: a new client is turned away at first...
    refused = False
    try:
        h = bt.connect(unix=sock)
        h.shutdown()
    except Exception:
        refused = True
    check(refused or time.monotonic() - t0 >= LIMIT_MS / 1000,
          "a client connected while all 256 slots were stalled")
    # ... and served once the stalled ones are closed.
    end = time.monotonic() + 10
    while True:
        d.check_alive()
        try:
            h = bt.connect(unix=sock)
            break
        except Exception as e:
            if time.monotonic() > end:
                raise bt.Failure(f"no client served 10 s after {SLOTS - 1} stalled "
                                 f"handshakes: {e}")
            time.sleep(0.1)
    check(h.pread(4096, 0) == pattern(7, 4096), "new client's read")
    h.shutdown()

    for i, r in enumerate(stalled):
        check(r.wait_closed(10), f"stalled connection {i} was not closed by the server")
        r.close()

    # The keeper, idle longer than the limit after its handshake, is served.
    check(keeper.pread(4096, 0) == pattern(7, 4096), "keeper's read after idling")
    keeper.shutdown()
    with open(d.log, "rb") as f:
        log = f.read()
    check(b"handshake not finished within 1000 ms" in log,
          "the log does not say why the stalled connections were closed")
    r = subprocess.run([BLOCKCTL, "--control", t.path("d.ctl"), "status", "--json"],
                       capture_output=True, text=True, timeout=10)
    check(r.returncode == 0, f"status: {r.stderr.strip()}")
    st = json.loads(r.stdout)
    check(st.get("nbd_handshake_timeouts") == SLOTS - 1,
          f"status nbd_handshake_timeouts = {st.get('nbd_handshake_timeouts')}, "
          f"not {SLOTS - 1}")
    refused_min = 1 if refused else 0
    check(isinstance(st.get("nbd_connections_refused"), int) and
          st["nbd_connections_refused"] >= refused_min,
          f"status nbd_connections_refused = {st.get('nbd_connections_refused')}")
    code, _, body = bt.http_get(mport)
    check(code == 200, f"GET /metrics: {code}")
    metrics = {}
    for line in body.decode().split("\n"):
        if line.startswith("blockd_nbd_") and "{" in line:
            metrics[line.split("{")[0]] = line.rsplit(" ", 1)[1]
    check(metrics.get("blockd_nbd_handshake_timeouts_total") == str(SLOTS - 1),
          f"metric handshake timeouts {metrics.get('blockd_nbd_handshake_timeouts_total')}")
    check(metrics.get("blockd_nbd_connections_refused_total") ==
          str(st["nbd_connections_refused"]),
          f"metric refused {metrics.get('blockd_nbd_connections_refused_total')} "
          f"against status {st['nbd_connections_refused']}")
    d.stop(0)

    # The key's values: 0 is no limit; anything else outside 10..3600000 is refused.
    for value, ok in (("0", True), ("abc", False), ("5", False)):
        r = subprocess.run([bt.BLOCKD, "--check-config", "--name", "r0", "--disk", img,
                            "--nbd", f"unix:{sock}", "--nbd-handshake-timeout-ms", value],
                           capture_output=True, text=True, timeout=10)
        check((r.returncode == 0) == ok, f"nbd-handshake-timeout-ms = {value}: exit "
              f"{r.returncode} ({r.stderr.strip()})")
        if not ok:
            check("nbd-handshake-timeout-ms" in r.stderr,
                  f"nbd-handshake-timeout-ms = {value}: error does not name the key")
    return f"{SLOTS - 1} stalled handshakes closed after {LIMIT_MS} ms"


if __name__ == "__main__":
    bt.run(main, timeout_s=120)
