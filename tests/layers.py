#!/usr/bin/env python3
"""The layer rule of DESIGN.md section 1, checked on every #include "...".

Dependencies point down only:

    common < {nbd, transport, fence} < blockd/core < blockd/store
           < blockd/engine < blockd/daemon

blockd/tools (blockctl) sits on blockd/store beside the engine: it talks
to the daemon over the control socket and uses core and store only for
create-md. nbd/, transport/ and fence/ know nothing of each other. tests/
and bench/ (the benchmarks' own programs) may include anything. A header
named *_priv.h belongs to its folder.

Fails, naming file and line, on an include that points up a layer or
sideways, one that does not name its layer ("nbd/server.h", not
"server.h"), one that names no file of the tree, and on any include cycle
between headers. The engine (blockd/engine) reaches I/O and time only
through the ops tables it is given (DESIGN.md section 1): a system header
of an engine file must be one of ENGINE_SYSTEM (the C library's, without
syscalls). Run from anywhere: python3 tests/layers.py [ROOT]

python3 tests/layers.py --self-test builds a small tree with one problem
of each kind (and a clean one) and checks that each is found, so the
check cannot quietly pass everything.
"""

import os
import re
import subprocess
import sys
import tempfile

# Folder prefix -> (layer name, rank). Longest prefix wins.
LAYERS = {
    "common/": ("common", 0),
    "nbd/": ("nbd", 1),
    "transport/": ("transport", 1),
    "fence/": ("fence", 1),
    "blockd/core/": ("blockd/core", 2),
    "blockd/store/": ("blockd/store", 3),
    "blockd/engine/": ("blockd/engine", 4),
    "blockd/daemon/": ("blockd/daemon", 5),
    "blockd/tools/": ("blockd/tools", 6),
    "tests/": ("tests", 99),
    "bench/": ("bench", 99),
}
# Layers a tool may not use although they rank lower or equal.
TOOLS_MAY_NOT = {"blockd/engine", "blockd/daemon"}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
SYSTEM_INCLUDE = re.compile(r'^\s*#\s*include\s+<([^>]+)>')
# What an engine file may take from the system: no file, socket, clock,
# process or io_uring call among them.
ENGINE_SYSTEM = {"assert.h", "errno.h", "inttypes.h", "limits.h", "stdarg.h",
                 "stdbool.h", "stddef.h", "stdint.h", "stdio.h", "stdlib.h",
                 "string.h"}


def layer_of(path):
    best = None
    for prefix, layer in LAYERS.items():
        if path.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, layer)
    return best[1] if best else None


def allowed(src, dst):
    """May a file of layer src include a header of layer dst?"""
    (sname, srank), (dname, drank) = src, dst
    if sname in ("tests", "bench") or sname == dname:
        return True
    if sname == "blockd/tools" and dname in TOOLS_MAY_NOT:
        return False
    return drank < srank


def source_files(root):
    out = subprocess.run(["git", "-C", root, "ls-files", "*.c", "*.h"],
                         capture_output=True, text=True, check=False)
    if out.returncode == 0 and out.stdout.strip():
        return sorted(out.stdout.split())
    found = []
    for d, _, files in os.walk(root):
        if "/build" in d or "/.git" in d:
            continue
        found += [os.path.relpath(os.path.join(d, f), root)
                  for f in files if f.endswith((".c", ".h"))]
    return sorted(found)


def resolve(root, src, name):
    """The tree path an include names: next to the includer, else from
    the root (the one include directory)."""
    here = os.path.normpath(os.path.join(os.path.dirname(src), name))
    if os.path.isfile(os.path.join(root, here)):
        return here, False
    if os.path.isfile(os.path.join(root, name)):
        return os.path.normpath(name), True
    return None, False


def check_file(root, src, edges, errors):
    slayer = layer_of(src)
    if slayer is None:
        errors.append(f"{src}:1: not in any layer (add its folder to {__file__})")
        return
    with open(os.path.join(root, src), encoding="utf-8", errors="replace") as f:
        for lineno, line in enumerate(f, 1):
            m = SYSTEM_INCLUDE.match(line)
            if m and slayer[0] == "blockd/engine" and m.group(1) not in ENGINE_SYSTEM:
                errors.append(f"{src}:{lineno}: the engine includes <{m.group(1)}>: "
                              f"it reaches I/O and time through its ops tables only")
            m = INCLUDE.match(line)
            if not m:
                continue
            name = m.group(1)
            dst, from_root = resolve(root, src, name)
            where = f"{src}:{lineno}"
            if dst is None:
                errors.append(f'{where}: #include "{name}" names no file of the tree')
                continue
            if src.endswith(".h"):
                edges.setdefault(src, []).append((dst, lineno))
            dlayer = layer_of(dst)
            if slayer[0] != "tests" and not from_root:
                errors.append(f'{where}: #include "{name}" does not name its '
                              f'layer: write "{dst}"')
            if dlayer is None:
                errors.append(f"{where}: includes {dst}, which is in no layer")
            elif not allowed(slayer, dlayer):
                way = "up" if dlayer[1] > slayer[1] else "sideways"
                errors.append(f"{where}: {slayer[0]} includes {dst} "
                              f"({dlayer[0]}): points {way}")
            if (dst.endswith("_priv.h") and slayer[0] != "tests"
                    and os.path.dirname(dst) != os.path.dirname(src)):
                errors.append(f"{where}: {dst} is private to "
                              f"{os.path.dirname(dst)}/")


def find_cycles(edges):
    """Every include cycle between headers, once each, as lists of
    (header, line of its include of the next one)."""
    cycles, seen = [], set()
    state = {}  # header -> 1 on the stack, 2 done
    stack = []

    def visit(h):
        state[h] = 1
        stack.append(h)
        for dst, line in edges.get(h, []):
            if state.get(dst) == 1:
                loop = stack[stack.index(dst):]
                key = frozenset(loop)
                if key not in seen:
                    seen.add(key)
                    cycles.append([(a, next(ln for d, ln in edges[a] if d == b))
                                   for a, b in zip(loop, loop[1:] + [dst])])
            elif dst not in state:
                visit(dst)
        stack.pop()
        state[h] = 2

    for h in sorted(edges):
        if h not in state:
            visit(h)
    return cycles


def check_tree(root):
    """(problems, files, header includes) of the tree at root."""
    errors, edges = [], {}
    files = source_files(root)
    for src in files:
        check_file(root, src, edges, errors)
    for cycle in find_cycles(edges):
        path = " -> ".join(f"{h}:{ln}" for h, ln in cycle) + f" -> {cycle[0][0]}"
        errors.append(f"{cycle[0][0]}:{cycle[0][1]}: include cycle: {path}")
    return errors, len(files), sum(len(v) for v in edges.values())


# A tree with one problem of each kind; each expected line must be found
# (as a substring) and nothing else.
SELF_TEST_TREE = {
    "common/ok.h": "",
    "nbd/ok.c": '#include "nbd/ok.h"\n#include "common/ok.h"\n',
    "nbd/ok.h": "",
    "nbd/side.c": '#include "transport/t.h"\n',
    "nbd/bare.c": '#include "ok.h"\n',
    "nbd/priv_priv.h": "",
    "transport/t.h": "",
    "fence/f.c": '#include "nbd/priv_priv.h"\n',
    "blockd/engine/e.h": '#include "blockd/daemon/d.h"\n',
    "blockd/engine/io.c": '#include <string.h>\n#include <unistd.h>\n',
    "blockd/daemon/d.h": '#include "blockd/engine/e.h"\n',
    "blockd/core/p.h": '#include "blockd/core/q.h"\n',
    "blockd/core/q.h": '\n#include "blockd/core/p.h"\n',
    "blockd/tools/tool.c": '#include "blockd/store/s.h"\n'
                           '#include "blockd/engine/e.h"\n#include "missing.h"\n',
    "blockd/store/s.h": '#include "blockd/core/p.h"\n',
    "tests/unit/t.c": '#include "blockd/daemon/d.h"\n',
    "misc/lost.c": "",
}
SELF_TEST_EXPECT = [
    "nbd/side.c:1: nbd includes transport/t.h (transport): points sideways",
    'nbd/bare.c:1: #include "ok.h" does not name its layer',
    "fence/f.c:1: fence includes nbd/priv_priv.h (nbd): points sideways",
    "fence/f.c:1: nbd/priv_priv.h is private to nbd/",
    "blockd/engine/e.h:1: blockd/engine includes blockd/daemon/d.h "
    "(blockd/daemon): points up",
    "blockd/tools/tool.c:2: blockd/tools includes blockd/engine/e.h "
    "(blockd/engine): points sideways",
    'blockd/tools/tool.c:3: #include "missing.h" names no file',
    "misc/lost.c:1: not in any layer",
    "blockd/engine/io.c:2: the engine includes <unistd.h>",
    "blockd/core/p.h:1: include cycle: blockd/core/p.h:1 -> blockd/core/q.h:2",
    "blockd/daemon/d.h:1: include cycle: blockd/daemon/d.h:1 -> "
    "blockd/engine/e.h:1",
]


def self_test():
    with tempfile.TemporaryDirectory() as root:
        for path, text in SELF_TEST_TREE.items():
            os.makedirs(os.path.join(root, os.path.dirname(path)), exist_ok=True)
            with open(os.path.join(root, path), "w") as f:
                f.write(text)
        errors, _, _ = check_tree(root)
    missing = [e for e in SELF_TEST_EXPECT if not any(e in x for x in errors)]
    extra = [x for x in errors if not any(e in x for e in SELF_TEST_EXPECT)]
    for e in missing:
        print(f"self-test: not found: {e}")
    for x in extra:
        print(f"self-test: unexpected: {x}")
    print(f"layers self-test: {len(SELF_TEST_EXPECT)} planted problems, "
          f"{len(missing)} missed, {len(extra)} unexpected")
    return 1 if missing or extra else 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else
                           os.path.join(os.path.dirname(__file__), ".."))
    errors, nfiles, nincludes = check_tree(root)
    for e in errors:
        print(e)
    print(f"layers: {nfiles} files, {nincludes} header includes, "
          f"{len(errors)} problem{'s' if len(errors) != 1 else ''}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
