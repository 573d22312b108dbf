#!/usr/bin/python3
"""Out of file descriptors, a daemon waits; it neither spins nor floods its
log, and it takes every queued connection once descriptors are free.

A protocol C pair; bob runs with a soft limit of LIMIT open files, is
Primary, and an NBD client (the keeper) is connected to him. alice
disconnects. Then raw NBD connections that never speak fill bob's
descriptor table, and a few more wait in his NBD listener's queue;
alice connects again (her dial waits in bob's peer listener's queue), a
status request waits in his control socket's, a scrape in his metrics
endpoint's. Every accept bob tries now fails with EMFILE: each of his
four listeners has a connection queued that he cannot take.

While that lasts, checked over a two-second window:
* bob uses little CPU (at most 0.3 s of it: a loop retrying accept at
  once burns all of it) and logs the shortage a few times at most, not
  once per try;
* the keeper's writes, flush and reads still work.
Then the raw connections close, and without anything else done:
* the queued status request is answered, the queued scrape gets its 200,
  alice and bob connect and resync, a new NBD client reads the keeper's
  data back, bob's log says he is accepting again;
* both daemons stop with status 0.
"""

import json
import os
import socket
import subprocess
import time

import bt
import btpair
from bt import MiB, check, check_eq, pattern
from btpair import BLOCKCTL, NODES

SIZE = 16 * MiB
LIMIT = 48
EXTRA = 4          # NBD connections queued beyond the limit
WINDOW_S = 2.0
MAX_CPU_S = 0.3
MAX_SHORT_LINES = 8   # four listeners, a line when short and one when not


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def log_lines(d, needle):
    with open(d.log, "rb") as f:
        return sum(1 for line in f if needle in line)


def queued(family, addr, first=b""):
    """A connection the listener has not taken yet: connect without
    waiting for accept (the kernel's queue takes it), send first."""
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(addr)
    if first:
        s.sendall(first)
    return s


def main(t):
    pair = btpair.Pair(t, SIZE, ports=("nbd", "metrics"), nofile={"bob": LIMIT},
                       node_lines=lambda n, pair: [] if n == "alice" else [
                           f"nbd = unix:{pair.path[n]}.nbd,tcp:127.0.0.1:{pair.ports['nbd']}",
                           f"metrics = 127.0.0.1:{pair.ports['metrics']}"])
    bob = pair.d["bob"]
    for n in NODES:
        pair.wait(n, "connected", lambda s, p: p.get("connection") == "Connected")
    pair.ok("bob", "new-current-uuid", "--clear-bitmap")
    pair.ok("bob", "primary")
    pair.wait("alice", "synced Secondary", lambda s, p:
              s["disk"] == "UpToDate" and p.get("role") == "Primary")
    keeper = bt.connect(unix=pair.path["bob"] + ".nbd")
    keeper.pwrite(pattern(1, 64 * 1024), 0)
    keeper.flush()
    pair.ok("alice", "disconnect")
    pair.wait("bob", "peer gone", lambda s, p: p.get("connection") != "Connected")

    # Fill bob's descriptor table with NBD connections that never speak.
    base = fd_count(bob.pid)
    check(base < LIMIT - 8, f"bob already holds {base} descriptors of {LIMIT}")
    raws = []
    for _ in range(LIMIT - base + EXTRA):
        raws.append(queued(socket.AF_INET, ("127.0.0.1", pair.ports["nbd"])))
    end = time.monotonic() + 10
    while fd_count(bob.pid) < LIMIT:
        bob.check_alive()
        check(time.monotonic() < end, f"bob holds {fd_count(bob.pid)} descriptors, "
              f"not {LIMIT}, 10 s after {len(raws)} connections")
        time.sleep(0.05)
    # One connection waiting on each of the other three listeners.
    ctl_q = queued(socket.AF_UNIX, pair.path["bob"] + ".ctl", b'{"cmd": "status"}\n')
    met_q = queued(socket.AF_INET, ("127.0.0.1", pair.ports["metrics"]),
                   b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    r = subprocess.run([BLOCKCTL, "-c", pair.conf, "-n", "alice", "connect"],
                       capture_output=True, text=True, timeout=10)
    check_eq(r.returncode, 0, f"alice connect ({r.stderr.strip()})")

    # The shortage: bob waits instead of retrying at once.
    short_before = log_lines(bob, b"Too many open files")
    c0, t0 = cpu_s(bob.pid), time.monotonic()
    keeper.pwrite(pattern(2, 64 * 1024), 64 * 1024)
    keeper.flush()
    check_eq(keeper.pread(64 * 1024, 64 * 1024), pattern(2, 64 * 1024),
             "keeper's read during the shortage")
    time.sleep(max(0.0, WINDOW_S - (time.monotonic() - t0)))
    used = cpu_s(bob.pid) - c0
    check(fd_count(bob.pid) == LIMIT, f"bob holds {fd_count(bob.pid)} descriptors, "
          f"not {LIMIT}: the shortage ended early")
    check(used <= MAX_CPU_S, f"bob used {used:.2f} s of CPU in {WINDOW_S} s while "
          f"out of descriptors (at most {MAX_CPU_S})")
    short = log_lines(bob, b"Too many open files")
    check(short <= MAX_SHORT_LINES, f"bob logged the shortage {short} times "
          f"(at most {MAX_SHORT_LINES})")
    check(short > short_before or short > 0, "bob never logged the shortage")

    # Descriptors free again: everything queued is taken.
    for s in raws:
        s.close()
    ctl_q.settimeout(20)
    met_q.settimeout(20)
    reply = bt.recv_to_eof(ctl_q).split(b"\n")[0]
    check(json.loads(reply).get("ok") is True, f"queued status request: {reply[:200]!r}")
    head = bt.recv_to_eof(met_q)[:40]
    check(head.startswith(b"HTTP/1.1 200"), f"queued scrape: {head!r}")
    for n in NODES:
        pair.wait(n, "connected again", lambda s, p:
                  p.get("connection") == "Connected" and
                  p.get("replication") == "Established", 30)
    h = bt.connect(unix=pair.path["bob"] + ".nbd")
    check_eq(h.pread(64 * 1024, 0), pattern(1, 64 * 1024), "new client's read")
    check_eq(h.pread(64 * 1024, 64 * 1024), pattern(2, 64 * 1024), "new client's read 2")
    h.shutdown()
    keeper.shutdown()
    check(log_lines(bob, b"accepting again") > 0, "bob's log never says he accepts again")
    for n in ("alice", "bob"):
        pair.d[n].stop(0)
    return (f"{used:.2f} s CPU in {WINDOW_S} s out of descriptors, "
            f"{short} shortage lines; all queued connections taken after")


if __name__ == "__main__":
    bt.run(main, timeout_s=120)
