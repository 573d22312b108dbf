#!/usr/bin/python3
"""Turn bench/pgbench.sh's rows into the pgbench tables and ratios.

Owns: the medians over rounds, the ratio lines, the stdout table and the
markdown results file of bench/pgbench.sh. Standard library only; it reads
its one input and writes the one markdown file, nothing else.

Input, one line per (target, round), tab-separated:
    TARGET ROUND ok TPS_C8 LAT_C8_MS TPS_C1 LAT_C1_MS INIT_S LOAD1
    TARGET ROUND failed
Targets are shown in the order they first appear.

A ratio is NUM/DEN[>=GOAL]: median TPS of NUM over that of DEN, for the
-c 8 and the -c 1 runs; the goal (if any) is checked against -c 8 and
reported as ok or MISS, never turned into an exit status. A ratio whose
targets did not both run is left out.
"""

import argparse
import statistics
import sys


def load(path):
    rows, order = [], []
    with open(path) as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 3:
                continue
            target, rnd, status = fields[:3]
            if target not in order:
                order.append(target)
            row = {"target": target, "round": int(rnd), "status": status}
            if status == "ok" and len(fields) >= 9:
                for key, v in zip(("tps8", "lat8", "tps1", "lat1", "init", "load"),
                                  fields[3:9]):
                    row[key] = float(v)
            else:
                row["status"] = "failed"
            rows.append(row)
    return rows, order


def medians(rows, order):
    """target -> dict of medians over its ok rounds (empty if none)."""
    out = {}
    for t in order:
        ok = [r for r in rows if r["target"] == t and r["status"] == "ok"]
        m = {"n": len(ok), "failed": sum(1 for r in rows
                                         if r["target"] == t and r["status"] != "ok")}
        if ok:
            for key in ("tps8", "lat8", "tps1", "lat1", "init"):
                m[key] = statistics.median(r[key] for r in ok)
            m["spread8"] = (min(r["tps8"] for r in ok), max(r["tps8"] for r in ok))
        out[t] = m
    return out


def parse_ratio(spec):
    goal = None
    if ">=" in spec:
        spec, g = spec.split(">=", 1)
        goal = float(g)
    num, den = spec.split("/", 1)
    return num, den, goal


def ratio_rows(specs, med):
    out = []
    for spec in specs:
        num, den, goal = parse_ratio(spec)
        if num not in med or den not in med:
            continue
        a, b = med[num], med[den]
        if "tps8" in a and "tps8" in b and b["tps8"] > 0 and b["tps1"] > 0:
            r8, r1 = a["tps8"] / b["tps8"], a["tps1"] / b["tps1"]
            meets = "" if goal is None else ("ok" if r8 >= goal else "MISS")
            out.append((f"{num} / {den}", f"{r8:.2f}", f"{r1:.2f}",
                        "" if goal is None else f">= {goal:g}", meets))
        else:
            out.append((f"{num} / {den}", "n/a", "n/a",
                        "" if goal is None else f">= {goal:g}", "n/a"))
    return out


def table(header, rows, left=1):
    """Markdown table; the first LEFT columns are text, the rest numbers."""
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i < left else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rows")
    ap.add_argument("--md", required=True)
    ap.add_argument("--title", default="pgbench")
    ap.add_argument("--meta", action="append", default=[])
    ap.add_argument("--ratio", action="append", default=[])
    ap.add_argument("--command", action="append", default=[])
    ap.add_argument("--note", action="append", default=[])
    args = ap.parse_args()

    rows, order = load(args.rows)
    med = medians(rows, order)

    summary = []
    for t in order:
        m = med[t]
        if "tps8" not in m:
            summary.append((t, "failed", "", "", "", "", f"0 of {m['failed']}"))
            continue
        lo, hi = m["spread8"]
        summary.append((t, f"{m['tps8']:.0f}", f"{lo:.0f}-{hi:.0f}", f"{m['lat8']:.2f}",
                        f"{m['tps1']:.0f}", f"{m['lat1']:.3f}",
                        f"{m['n']} of {m['n'] + m['failed']}"))
    sum_hdr = ("target", "TPS -c 8 (median)", "TPS -c 8 (min-max)", "latency -c 8 ms",
               "TPS -c 1", "latency -c 1 ms", "rounds ok")
    rat_hdr = ("ratio", "TPS -c 8", "TPS -c 1", "goal (-c 8)", "meets")
    rats = ratio_rows(args.ratio, med)
    per_round = []
    for r in sorted(rows, key=lambda r: (r["round"], order.index(r["target"]))):
        if r["status"] != "ok":
            per_round.append((r["round"], r["target"], "failed", "", "", "", "", ""))
        else:
            per_round.append((r["round"], r["target"], f"{r['tps8']:.0f}",
                              f"{r['lat8']:.2f}", f"{r['tps1']:.0f}", f"{r['lat1']:.3f}",
                              f"{r['init']:.1f}", f"{r['load']:.2f}"))
    round_hdr = ("round", "target", "TPS -c 8", "latency -c 8 ms", "TPS -c 1",
                 "latency -c 1 ms", "pgbench -i s", "load (1 min) before")

    print(table(sum_hdr, summary))
    print()
    print(table(rat_hdr, rats))

    md = [f"# {args.title}", ""]
    md += [f"- {m}" for m in args.meta]
    md += ["", "Medians over the rounds; TPS and latency average as pgbench reports "
           "them (TPS without the initial connection time). `-c 1` is one client: "
           "its latency is the time of one commit (a small write plus a FLUSH down "
           "the stack) plus the transaction's work.", "",
           "## Per target", "", table(sum_hdr, summary), "",
           "## Ratios", "", "Median TPS of one target over another; the goals are "
           "issue 15's, reported, never asserted.", "", table(rat_hdr, rats), "",
           "## Every round", "", table(round_hdr, per_round, left=2), ""]
    if args.command:
        md += ["## Commands", ""] + [f"- `{c}`" for c in args.command] + [""]
    if args.note:
        md += ["## Notes", ""] + [f"- {n}" for n in args.note] + [""]
    with open(args.md, "w") as f:
        f.write("\n".join(md))
    return 0


if __name__ == "__main__":
    sys.exit(main())
