#!/usr/bin/python3
"""Read or wait for a blockd node's state through `blockctl status --json`.

Owns: polling one node's status against a deadline for bench/replicated.sh.
Uses the standard library only.

    status.py get  BLOCKCTL CONF NODE [FIELD...]
        print the status object as JSON, or each dotted FIELD
        (e.g. peer.resync_sent_bytes) on its own line
    status.py wait BLOCKCTL CONF NODE PID DEADLINE_S EXPR
        poll until the Python expression EXPR holds (names: s = the status
        object, p = s["peer"] or {}); print the seconds waited.
        Exit 0 when it holds, 1 at the deadline, 2 when process PID (the
        node's daemon; 0: not checked) has exited. On failure the last state
        seen goes to stderr.

One blockctl call per poll, 20 ms apart, each given 5 s to answer.
"""

import json
import subprocess
import sys
import time


def status(ctl, conf, node):
    """The status object, or a string saying why there is none."""
    try:
        r = subprocess.run([ctl, "-c", conf, "-n", node, "status", "--json"],
                           capture_output=True, text=True, timeout=5)
    except subprocess.TimeoutExpired:
        return "blockctl status got no answer within 5 s"
    if r.returncode != 0:
        return f"blockctl exit {r.returncode}: {r.stderr.strip()}"
    try:
        return json.loads(r.stdout)
    except ValueError as e:
        return f"blockctl printed no JSON: {e}"


def field(s, path):
    v = s
    for k in path.split("."):
        v = v[k]
    return v


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def summary(s):
    p = s.get("peer") or {}
    rs = p.get("resync") or {}
    return (f"role {s.get('role')} disk {s.get('disk')} protocol "
            f"{s.get('protocol')}; peer {p.get('connection')} {p.get('role')} "
            f"{p.get('disk')} replication {p.get('replication')} out_of_sync "
            f"{p.get('out_of_sync_bytes')} pending {p.get('pending_writes')} "
            f"resync {rs.get('done_pct')}%")


def cmd_get(ctl, conf, node, *fields):
    s = status(ctl, conf, node)
    if isinstance(s, str):
        print(f"status.py: {node}: {s}", file=sys.stderr)
        return 1
    if not fields:
        print(json.dumps(s))
    for f in fields:
        v = field(s, f)
        print(json.dumps(v) if isinstance(v, (dict, list, bool)) else v)
    return 0


def cmd_wait(ctl, conf, node, pid, deadline, expr):
    t0 = time.monotonic()
    end = t0 + float(deadline)
    code = compile(expr, "EXPR", "eval")
    last = "no status yet"
    while True:
        s = status(ctl, conf, node)
        if isinstance(s, str):
            last = s
        else:
            try:
                if eval(code, {"s": s, "p": s.get("peer") or {}}):
                    print(f"{time.monotonic() - t0:.3f}")
                    return 0
            except (KeyError, TypeError) as e:
                last = f"status lacks a field: {e!r}"
            else:
                last = summary(s)
        if pid != "0" and not alive(pid):
            print(f"status.py: {node}: daemon (pid {pid}) exited; last: {last}",
                  file=sys.stderr)
            return 2
        if time.monotonic() > end:
            print(f"status.py: {node}: not within {deadline} s: {expr}; "
                  f"last: {last}", file=sys.stderr)
            return 1
        time.sleep(0.02)


def main(argv):
    if len(argv) >= 4 and argv[0] == "get":
        return cmd_get(*argv[1:])
    if len(argv) == 7 and argv[0] == "wait":
        return cmd_wait(*argv[1:])
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
