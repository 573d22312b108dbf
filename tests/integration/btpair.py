"""A two-node resource on loopback for the python tests: its config, its
metadata, its daemons and blockctl.

    pair = btpair.Pair(t, ports=("m-alice", "m-bob"),
                       node_lines=lambda n, pair: [f"metrics = ..."])
    pair.wait("alice", "synced", lambda s, p: p["disk"] == "UpToDate")

Nodes alice and bob, protocol C, fast pings and redials; node n's files
are t.path(n) + ".img", ".nbd" (its unix NBD socket) and ".ctl" (its
control socket). ports names extra free TCP ports (pair.ports[name]);
node_lines(n, pair) adds lines to node n's section; nofile limits a
node's open files (soft limit) from its start.
"""

import json
import os
import resource
import subprocess
import time

import bt
from bt import check

BLOCKCTL = os.path.join(os.path.dirname(bt.BLOCKD), "blockctl")
# Status polls may use another blockctl (pairlib.sh's BLOCKCTL_POLL: the
# release build's while the daemons are the sanitizer build's).
BLOCKCTL_POLL = os.environ.get("BLOCKCTL_POLL") or BLOCKCTL
NODES = ("alice", "bob")


class Pair:
    def __init__(self, t, size, ports=(), node_lines=None, nofile=None):
        self.t = t
        self.ports = {}
        used = set()
        for key in NODES + tuple(ports):
            p = bt.free_port()
            while p in used:
                p = bt.free_port()
            used.add(p)
            self.ports[key] = p
        self.path = {n: t.path(n) for n in NODES}
        self.conf = t.path("pair.conf")
        lines = ["[resource]", "name = r0", "protocol = C", "secret = s3cret",
                 "ping-interval-ms = 200", "ping-timeout-ms = 1000",
                 "connect-retry-max-ms = 300"]
        for n in NODES:
            p = self.path[n]
            lines += [f"[node {n}]", f"address = 127.0.0.1:{self.ports[n]}",
                      f"disk = {p}.img", f"control = {p}.ctl"]
            extra = node_lines(n, self) if node_lines else []
            if not any(x.startswith("nbd ") for x in extra):
                lines.append(f"nbd = unix:{p}.nbd")
            lines += extra
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.d = {}
        for n in NODES:
            t.image(n + ".img", size)
            r = self.ctl(n, "create-md")
            check(r.returncode == 0, f"create-md for {n}: {r.stderr.strip()}")
        for n in NODES:
            self.start(n, (nofile or {}).get(n))
        for n in NODES:
            self.wait(n, "control socket answering", lambda s, p: True)

    def start(self, n, nofile=None):
        """Start node n's daemon, with at most nofile open files if given."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if nofile:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, hard))
        try:
            self.d[n] = self.t.start_daemon(n, "-c", self.conf, "-n", n)
        finally:
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))

    def ctl(self, node, *args, poll=False):
        return subprocess.run([BLOCKCTL_POLL if poll else BLOCKCTL, "-c", self.conf,
                               "-n", node] + list(args),
                              capture_output=True, text=True, timeout=10)

    def ok(self, node, *args):
        r = self.ctl(node, *args)
        check(r.returncode == 0, f"blockctl {' '.join(args)} on {node} exited "
              f"{r.returncode}: {r.stderr.strip()}")

    def status(self, node):
        r = self.ctl(node, "status", "--json", poll=True)
        check(r.returncode == 0, f"status on {node} exited {r.returncode}: {r.stderr.strip()}")
        return json.loads(r.stdout)

    def wait(self, node, what, pred, deadline_s=20):
        """Poll node's status --json until pred(status, peer) holds."""
        end = time.monotonic() + deadline_s
        last = "no status"
        while True:
            self.d[node].check_alive()
            r = self.ctl(node, "status", "--json", poll=True)
            if r.returncode == 0:
                s = json.loads(r.stdout)
                if pred(s, s.get("peer") or {}):
                    return s
                last = r.stdout[:600]
            else:
                last = r.stderr.strip()
            if time.monotonic() > end:
                raise bt.Failure(f"{node}: {what} not reached within {deadline_s}s: {last}")
            time.sleep(0.05)
