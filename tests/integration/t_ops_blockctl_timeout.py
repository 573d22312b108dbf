#!/usr/bin/python3
"""blockctl does not hang on a daemon that does not answer.

A daemon is stopped (SIGSTOP): its control socket still takes
connections (the kernel queues them) but nothing answers. Then:
* `blockctl --timeout 1 status` gives up: exit 4, "no answer ... within
  1 s" on stderr, in well under the 10 s the test allows;
* so does `blockctl --timeout 1 events`;
* `--timeout` takes whole seconds: `--timeout abc` is bad usage (exit 2);
* after SIGCONT the same commands answer (exit 0), and the daemon stops
  with status 0.
"""

import os
import signal
import subprocess
import time

import bt
from bt import MiB, check, check_eq

BLOCKCTL = os.path.join(os.path.dirname(bt.BLOCKD), "blockctl")
EXIT_USAGE, EXIT_NO_ANSWER = 2, 4


def blockctl(ctl, *args, timeout_s=10):
    t0 = time.monotonic()
    r = subprocess.run([BLOCKCTL, "--control", ctl] + list(args),
                       capture_output=True, text=True, timeout=timeout_s)
    return r, time.monotonic() - t0


def main(t):
    img = t.image("disk.img", 16 * MiB)
    sock = t.path("nbd.sock")
    d = t.start_daemon("d", "--name", "r0", "--disk", img, "--nbd", f"unix:{sock}")
    d.wait_ready(unix=sock)
    ctl = t.path("d.ctl")
    r, _ = blockctl(ctl, "status", "--json")
    check_eq(r.returncode, 0, f"status before the stop ({r.stderr.strip()})")

    os.kill(d.pid, signal.SIGSTOP)
    try:
        for args in (("status", "--json"), ("events",)):
            what = "blockctl --timeout 1 " + " ".join(args)
            try:
                r, took = blockctl(ctl, "--timeout", "1", *args)
            except subprocess.TimeoutExpired:
                raise bt.Failure(f"{what}: still waiting after 10 s on a stopped daemon")
            check_eq(r.returncode, EXIT_NO_ANSWER, f"{what}: exit status "
                     f"({r.stderr.strip()!r})")
            check("no answer" in r.stderr and "within 1 s" in r.stderr,
                  f"{what}: stderr {r.stderr.strip()!r}")
            check(took < 5, f"{what}: took {took:.1f} s")
        r, _ = blockctl(ctl, "--timeout", "abc", "status")
        check_eq(r.returncode, EXIT_USAGE, f"--timeout abc: exit status ({r.stderr.strip()!r})")
    finally:
        os.kill(d.pid, signal.SIGCONT)

    r, _ = blockctl(ctl, "--timeout", "5", "status", "--json")
    check_eq(r.returncode, 0, f"status after SIGCONT ({r.stderr.strip()})")
    p = subprocess.Popen([BLOCKCTL, "--control", ctl, "--timeout", "1", "events"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        check(p.stdout.readline().strip(), "events after SIGCONT: no first line")
        # The stream has no deadline once it has started: still running
        # past the timeout, until the daemon stops.
        time.sleep(1.5)
        if p.poll() is not None:
            raise bt.Failure(f"events exited {p.poll()} 1.5 s after its first line "
                             f"with --timeout 1: {p.stderr.read().strip()!r}")
        d.stop(0)
        check_eq(p.wait(timeout=10), 0, "events after the daemon stopped")
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return "a stopped daemon: blockctl gave up after 1 s with exit 4"


if __name__ == "__main__":
    bt.run(main, timeout_s=60)
