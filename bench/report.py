#!/usr/bin/python3
"""Turn a benchmark manifest and its fio JSON files into tables.

Owns: reading fio's --output-format=json, the stdout table, the markdown
results file and the ratio lines. Uses the standard library only.

Input is the manifest bench/lib.sh writes, one line per (server, job):
    SERVER <TAB> JOB <TAB> ok|failed|skipped <TAB> FIO_JSON_PATH
Servers and jobs are shown in the order they first appear there.

A ratio is given as NUM/DEN@JOBS[>=TARGET]: IOPS of server NUM divided by
IOPS of server DEN, for each job in the comma-separated JOBS (or * for every
job), compared with TARGET when one is given. For a fixed block size the
IOPS ratio and the bandwidth ratio are the same number.

A latency difference is given as NUM/DEN@JOBS[<=LIMIT_US]: the p50 completion
latency of server NUM minus that of DEN, in microseconds, for each job,
compared with LIMIT_US when one is given (bench/replicated.sh: protocol C
against standalone at QD1, the limit being one loopback round trip + 20 us).

Called by bench/run.sh and bench/replicated.sh; it does no
I/O besides reading its inputs and writing the one markdown file.
"""

import argparse
import json
import sys

MIB = 1024 * 1024


class Result:
    """One (server, job) measurement; metric fields are None unless ok."""

    def __init__(self, server, job, status, path):
        self.server = server
        self.job = job
        self.status = status
        self.path = path
        self.iops = None
        self.mib_s = None
        self.p50_us = None
        self.p99_us = None


def fio_load(result):
    """Fill result from its fio JSON; a missing file or a job error is a failure."""
    try:
        with open(result.path) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        print(f"report: {result.server}/{result.job}: {e}", file=sys.stderr)
        result.status = "failed"
        return
    jobs = doc["jobs"]
    if any(j.get("error", 0) != 0 for j in jobs):
        result.status = "failed"
        return
    # Each job reads or writes, never both: take the direction that moved
    # data. Several jobs at once (the one-disk limit: one writer per file)
    # count as their mean: what one of them got while the others ran.
    sides = [max((j["read"], j["write"]), key=lambda s: s["total_ios"])
             for j in jobs]
    pct = sides[0]["clat_ns"].get("percentile", {})
    result.iops = sum(s["iops"] for s in sides) / len(sides)
    result.mib_s = sum(s["bw_bytes"] for s in sides) / len(sides) / MIB
    result.p50_us = pct.get("50.000000", 0) / 1000
    result.p99_us = pct.get("99.000000", 0) / 1000


def manifest_load(path):
    results, servers, jobs = {}, [], []
    with open(path) as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if len(fields) < 3:
                continue
            server, job, status = fields[:3]
            r = Result(server, job, status, fields[3] if len(fields) > 3 else "")
            if status == "ok":
                fio_load(r)
            results[(server, job)] = r
            if server not in servers:
                servers.append(server)
            if job not in jobs:
                jobs.append(job)
    return results, servers, jobs


def spec_parse(spec, jobs, op, usage):
    """NUM/DEN@JOBS[<op>BOUND] -> (num, den, [job], bound or None)."""
    bound = None
    if op in spec:
        spec, t = spec.split(op, 1)
        bound = float(t)
    pair, _, job_list = spec.partition("@")
    num, _, den = pair.partition("/")
    if not num or not den or not job_list:
        raise ValueError(f"bad {usage[0]} {spec!r}: want NUM/DEN@JOBS[{op}{usage[1]}]")
    chosen = jobs if job_list == "*" else job_list.split(",")
    return num, den, chosen, bound


def compare(specs, results, jobs, op, usage, sign, value_of):
    """One row per (spec, job): value_of(num's result, den's result), or
    None when either is missing, checked against the spec's bound by op."""
    rows = []
    for spec in specs:
        num, den, chosen, bound = spec_parse(spec, jobs, op, usage)
        for job in (j for j in chosen if j in jobs):
            a, b = results.get((num, job)), results.get((den, job))
            value = value_of(a, b) if a and b else None
            if value is None:
                verdict = "n/a"
            elif bound is None:
                verdict = ""
            else:
                meets = value >= bound if op == ">=" else value <= bound
                verdict = "ok" if meets else "MISS"
            rows.append((f"{num} {sign} {den}", job, value, bound, verdict))
    return rows


def ratios_compute(specs, results, jobs):
    return compare(specs, results, jobs, ">=", ("ratio spec", "TARGET"), "/",
                   lambda a, b: a.iops / b.iops
                   if a.iops is not None and b.iops else None)


def p50_diffs_compute(specs, results, jobs):
    return compare(specs, results, jobs, "<=", ("p50 difference", "LIMIT_US"), "-",
                   lambda a, b: a.p50_us - b.p50_us
                   if a.p50_us is not None and b.p50_us is not None else None)


def p50_diff_cells(row):
    label, job, value, limit, verdict = row
    return [label, job,
            "-" if value is None else f"{value:+.0f}",
            "" if limit is None else f"<= {limit:.0f}",
            verdict]


def cells(r):
    if r is None or r.status != "ok":
        status = r.status if r else "not run"
        return [status, "", "", ""]
    return [f"{r.iops:.0f}", f"{r.mib_s:.1f}", f"{r.p50_us:.0f}", f"{r.p99_us:.0f}"]


def ratio_cells(row):
    label, job, value, target, verdict = row
    return [label, job,
            "-" if value is None else f"{value:.2f}",
            "" if target is None else f">= {target:.2f}",
            verdict]


def text_table(header, rows, right_from):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    out = []
    for row in [header] + rows:
        parts = [str(x).rjust(w) if i >= right_from else str(x).ljust(w)
                 for i, (x, w) in enumerate(zip(row, widths))]
        out.append("  ".join(parts).rstrip())
    return "\n".join(out)


def md_table(header, rows, right_from):
    align = ["---:" if i >= right_from else "---" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(x) for x in row) + " |" for row in rows]
    return "\n".join(lines)


COST_HEADER = ["target", "job", "node", "CPU s per GiB written",
               "CPU us per write", "AL writes per 1000", "bitmap per 1000",
               "superblock per 1000"]


def costs_load(path):
    """Rows of the costs file (bench/replicated.sh): TARGET JOB FIO_JSON
    NODE CPU_S WRITTEN_BYTES AL BM SB, per node and job, turned into cost
    per client write. A client write is fio's average request size of that
    job; WRITTEN_BYTES is what the server counted for the client over the
    same window as the CPU time."""
    rows = []
    if not path:
        return rows
    with open(path) as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 9:
                continue
            target, job, fio_json, node = fields[:4]
            cpu_s, written, al, bm, sb = (float(x) for x in fields[4:])
            try:
                with open(fio_json) as jf:
                    side = json.load(jf)["jobs"][0]["write"]
                per_io = side["io_bytes"] / side["total_ios"]
            except (OSError, ValueError, KeyError, ZeroDivisionError):
                continue
            writes = written / per_io
            if writes <= 0:
                continue
            rows.append([target, job, node,
                         f"{cpu_s / (written / 2**30):.2f}",
                         f"{cpu_s * 1e6 / writes:.1f}",
                         f"{al * 1000 / writes:.2f}",
                         f"{bm * 1000 / writes:.2f}",
                         f"{sb * 1000 / writes:.2f}"])
    return rows


RESULT_HEADER = ["IOPS", "MiB/s", "p50 us", "p99 us"]
RATIO_HEADER = ["ratio (IOPS)", "job", "value", "target", "meets"]
P50_DIFF_HEADER = ["p50 difference (us)", "job", "value", "target", "meets"]


def stdout_write(args, results, servers, jobs, ratio_rows, diff_rows, cost_rows):
    rows = []
    for job in jobs:
        for server in servers:
            if (server, job) in results:
                rows.append([job, server] + cells(results[(server, job)]))
    print(f"== {args.title}: completion latency (clat) in usec ==")
    print(text_table(["job", "server"] + RESULT_HEADER, rows, 2))
    if ratio_rows:
        print()
        print("== ratios ==")
        print(text_table(RATIO_HEADER, [ratio_cells(r) for r in ratio_rows], 2))
    if diff_rows:
        print()
        print("== p50 latency differences ==")
        print(text_table(P50_DIFF_HEADER, [p50_diff_cells(r) for r in diff_rows], 2))
    if cost_rows:
        print()
        print("== cost per client write, per node ==")
        print(text_table(COST_HEADER, cost_rows, 3))
    if args.summary:
        print()
        for m in args.summary:
            print(m)


def md_write(args, results, servers, jobs, ratio_rows, diff_rows, cost_rows):
    out = [f"# {args.title}", ""]
    out += [f"- {m}" for m in args.meta]
    out.append("")
    out.append("IOPS and MiB/s over the run; p50/p99 are fio completion "
               "latency (clat) percentiles in microseconds.")
    for job in jobs:
        out += ["", f"## {job}", ""]
        rows = [[server] + cells(results[(server, job)]) for server in servers
                if (server, job) in results]
        out.append(md_table(["server"] + RESULT_HEADER, rows, 1))
    if ratio_rows:
        out += ["", "## Ratios", ""]
        out.append(md_table(RATIO_HEADER, [ratio_cells(r) for r in ratio_rows], 2))
    if diff_rows:
        out += ["", "## p50 latency differences", ""]
        out.append(md_table(P50_DIFF_HEADER, [p50_diff_cells(r) for r in diff_rows], 2))
    if cost_rows:
        out += ["", "## Cost per client write, per node", "",
                "CPU (user + system, every thread) and metadata block writes "
                "(activity log, bitmap pages, superblock) of each node over "
                "the job, divided by the client's writes (and GiB) the "
                "server counted in the same window.", ""]
        out.append(md_table(COST_HEADER, cost_rows, 3))
    if args.summary:
        out.append("")
        out += [f"- {m}" for m in args.summary]
    if args.command:
        out += ["", "## Commands", ""]
        for c in args.command:
            name, _, argv = c.partition(": ")
            out.append(f"- {name}: `{argv}`")
    if args.note:
        out += ["", "## Notes", ""]
        out += [f"- {n}" for n in args.note]
    with open(args.md, "w") as f:
        f.write("\n".join(out) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("manifest")
    ap.add_argument("--title", default="benchmark")
    ap.add_argument("--md", help="write a markdown report here")
    ap.add_argument("--meta", action="append", default=[],
                    help="a 'key: value' line for the markdown header")
    ap.add_argument("--command", action="append", default=[],
                    help="'NAME: ARGV', how a target was run, for the markdown")
    ap.add_argument("--note", action="append", default=[],
                    help="a line for the markdown notes section")
    ap.add_argument("--ratio", action="append", default=[],
                    help="NUM/DEN@JOBS[>=TARGET]")
    ap.add_argument("--p50-diff", action="append", default=[],
                    help="NUM/DEN@JOBS[<=LIMIT_US]: p50 of NUM minus p50 of DEN")
    ap.add_argument("--costs", help="per-node cost rows (bench/replicated.sh)")
    ap.add_argument("--summary", action="append", default=[],
                    help="a line printed after the ratios (and listed under "
                         "them in the markdown)")
    args = ap.parse_args()

    results, servers, jobs = manifest_load(args.manifest)
    ratio_rows = ratios_compute(args.ratio, results, jobs)
    diff_rows = p50_diffs_compute(args.p50_diff, results, jobs)
    cost_rows = costs_load(args.costs)
    stdout_write(args, results, servers, jobs, ratio_rows, diff_rows, cost_rows)
    if args.md:
        md_write(args, results, servers, jobs, ratio_rows, diff_rows, cost_rows)
    failed = [r for r in results.values() if r.status == "failed"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
