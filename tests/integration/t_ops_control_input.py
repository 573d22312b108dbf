#!/usr/bin/python3
"""Bad input on the control socket gets a clear error and changes nothing.

A protocol C pair, both Secondary, both disks Inconsistent (never
synced), so `primary` on alice is refused unless forced: a request the
daemon misreads as forced would promote a disk that holds nothing.

blockctl, as an operator types it:
* an unknown option (`primary --froce`, `invalidate-remote --bitmpa`,
  `connect --discard-my-date`), an argument a command does not take
  (`primary now`), a missing or wrong argument (`protocol`, `protocol D`),
  blockctl's own flags on a command they do not belong to (`primary
  --watch`), an unknown command: each exits 2 (bad usage), names the
  word at fault on stderr, and nothing changes (role, protocol, no resync);
* `status --json`, `events --now --json` and `protocol c` still work.

Raw requests on the socket, each on its own connection:
* an option whose value is not a JSON boolean (`"force": "no"`,
  `"force": 1`, `"force": null`), an argument that is not a string, a
  command name with a NUL in it, text after the JSON object, a JSON
  array, a number, an empty line, a line of NUL bytes, a line longer
  than the daemon reads: each gets one line {"ok": false, "error": ...}
  (and "usage": true where the request was well formed JSON);
* a connection that sends half a line and closes, one that never speaks
  and one reset with its request unanswered cost only themselves.

Throughout, alice stays Secondary with her disk Inconsistent, bob too,
and both keep answering; at the end `primary --force` still promotes
alice (the options the commands do take still work) and both daemons
stop with status 0.
"""

import json
import socket
import struct
import subprocess

import bt
import btpair
from bt import MiB, check, check_eq
from btpair import BLOCKCTL, NODES

SIZE = 16 * MiB
EXIT_USAGE = 2


class Pair(btpair.Pair):
    def unchanged(self, what):
        """Both still Secondary, Inconsistent, connected, protocol C, no resync."""
        for n in NODES:
            self.d[n].check_alive()
            s = self.status(n)
            p = s.get("peer") or {}
            check(s["role"] == "Secondary" and s["disk"] == "Inconsistent" and
                  s["protocol"] == "C" and p.get("connection") == "Connected" and
                  p.get("replication") == "Established",
                  f"after {what}: {n} is {s['role']}/{s['disk']}, protocol "
                  f"{s['protocol']}, peer {p.get('connection')}/{p.get('replication')}")


def raw(path, data, deadline_s=10):
    """Send bytes on a fresh connection, read to EOF: the reply lines."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(deadline_s)
    s.connect(path)
    try:
        s.sendall(data)
        # A line longer than the daemon reads is closed with our surplus
        # bytes unread: its reply comes before the reset.
        buf = bt.recv_to_eof(s)
    finally:
        s.close()
    return buf.split(b"\n")[:-1] if buf.endswith(b"\n") else buf.split(b"\n")


def expect_error(path, data, what, usage=None, mention=None):
    lines = raw(path, data)
    check_eq(len(lines), 1, f"{what}: reply lines ({lines!r})")
    try:
        r = json.loads(lines[0])
    except ValueError:
        raise bt.Failure(f"{what}: reply is not JSON: {lines[0][:200]!r}")
    check(isinstance(r, dict) and r.get("ok") is False and
          isinstance(r.get("error"), str) and r["error"],
          f"{what}: expected an error reply, got {r!r}")
    if usage is not None:
        check_eq(r.get("usage", False), usage, f"{what}: usage flag in {r!r}")
    if mention:
        check(mention in r["error"], f"{what}: error {r['error']!r} does not name {mention!r}")
    return r["error"]


def main(t):
    pair = Pair(t, SIZE)
    for n in NODES:
        pair.wait(n, "connected, both Inconsistent", lambda s, p:
                  p.get("connection") == "Connected" and
                  p.get("replication") == "Established" and s["disk"] == "Inconsistent")
    pair.unchanged("start")

    # --- blockctl, as typed ----------------------------------------------------
    usage_cases = [
        (("primary", "--froce"), "froce"),
        (("primary", "--force", "--froce"), "froce"),
        (("primary", "now"), "now"),
        (("primary", "--watch"), "watch"),
        (("primary", "--json"), "json"),
        (("invalidate-remote", "--bitmpa"), "bitmpa"),
        (("invalidate", "--full"), "full"),
        (("connect", "--discard-my-date"), "discard-my-date"),
        (("verify", "--now"), "now"),
        (("protocol",), "protocol"),
        (("protocol", "D"), "D"),
        (("protocol", "A", "--force"), "force"),
        (("new-current-uuid", "--clear-bitmpa"), "clear-bitmpa"),
        (("frobnicate",), "frobnicate"),
        (("status", "--jsn"), "jsn"),
    ]
    for args, word in usage_cases:
        r = pair.ctl("alice", *args)
        what = "blockctl " + " ".join(args)
        check_eq(r.returncode, EXIT_USAGE, f"{what}: exit status (stderr {r.stderr.strip()!r})")
        check(word in r.stderr, f"{what}: stderr {r.stderr.strip()!r} does not name {word!r}")
        pair.unchanged(what)

    r = pair.ctl("alice", "protocol", "c")
    check_eq(r.returncode, 0, f"blockctl protocol c: exit status ({r.stderr.strip()})")
    # events streams until the daemon stops: read its first line only.
    p = subprocess.Popen([BLOCKCTL, "-c", pair.conf, "-n", "alice", "events", "--now",
                          "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    try:
        first = p.stdout.readline()
        check(first.strip(), f"events --now --json: no first line "
              f"(exit {p.poll()}, stderr {p.stderr.read() if p.poll() is not None else ''})")
        check_eq(json.loads(first).get("role"), "Secondary", "events' first line role")
    finally:
        p.kill()
        p.wait()

    # --- raw requests ------------------------------------------------------------
    sock = pair.path["alice"] + ".ctl"
    for value in ('"no"', '"false"', "1", "0", "null", "[]", "{}"):
        expect_error(sock, b'{"cmd": "primary", "force": %s}\n' % value.encode(),
                     f"primary with force = {value}", usage=True, mention="force")
        pair.unchanged(f"primary with force = {value}")
    expect_error(sock, b'{"cmd": "connect", "discard-my-data": "false"}\n',
                 "connect with discard-my-data = \"false\"", usage=True,
                 mention="discard-my-data")
    expect_error(sock, b'{"cmd": "protocol", "arg": 65}\n', "protocol with arg 65",
                 usage=True)
    expect_error(sock, b'{"cmd": "protocol", "arg": "A", "arg2": "B"}\n',
                 "protocol with arg2", usage=True, mention="arg2")
    expect_error(sock, b'{"cmd": "primary\\u0000x", "force": true}\n',
                 "a command name with a NUL", usage=True)
    expect_error(sock, b'{"cmd": "primary"} {"cmd": "primary", "force": true}\n',
                 "text after the object")
    for body in (b'["primary"]', b'42', b'', b'\0' * 100, b'{"cmd": 7}',
                 b'{"cmd": "primary", "force": tru}', b'{"force": true}'):
        expect_error(sock, body + b"\n", f"request {body[:20]!r}")
    expect_error(sock, b"x" * 10000 + b"\n", "a line longer than the daemon reads",
                 usage=True, mention="4096")
    pair.unchanged("raw requests")

    # Connections that never finish a request cost only themselves.
    half = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    half.connect(sock)
    half.sendall(b'{"cmd": "primary", "fo')
    half.close()
    idle = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    idle.connect(sock)
    reset = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    reset.connect(sock)
    reset.sendall(b'{"cmd": "status"}\n')
    reset.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    reset.close()
    pair.unchanged("half, idle and reset connections")
    idle.close()

    # The options the commands do take still work.
    r = pair.ctl("alice", "primary", "--force")
    check_eq(r.returncode, 0, f"primary --force: exit status ({r.stderr.strip()})")
    pair.wait("alice", "Primary", lambda s, p: s["role"] == "Primary")
    for n in ("bob", "alice"):
        pair.d[n].stop(0)
    return f"{len(usage_cases)} blockctl usage errors, raw requests refused, nothing changed"


if __name__ == "__main__":
    bt.run(main, timeout_s=120)
