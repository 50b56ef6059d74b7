#!/usr/bin/env python3
"""Summarises compare_echo.sh's results.tsv as markdown tables.

    summarize_echo.py RESULTS.tsv [META.txt [MAX_OTHER]] > summary.md

One table per row (conns:size:depth). For each server: the median
[min..max] echo rate, the rate ratio against raw epoll paired per
repetition (server / epoll in the same rep, then the median of those), the
median server CPU per echo and its paired ratio against epoll (lower is
better), median p50/p99 latency, and the median other_cpu (cores used by
everything but server and client: the noise). Runs that failed (rc != 0,
errors, or no rate) are left out and counted. With MAX_OTHER (cores, e.g.
0.2) only runs quieter than that are used, and the rest are counted.
"""
import csv
import statistics
import sys

REFERENCE = "epoll"
NOISY = 0.2  # cores of other_cpu above which a run is called noisy


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, digits=0):
    if x is None:
        return "n/a"
    if digits == 0:
        return f"{x:,.0f}"
    return f"{x:.{digits}f}"


def load(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


MAX_OTHER = None  # set from argv: drop runs noisier than this


def ok(r):
    return r["rc"] == "0" and r["errors"] == "0" and (num(r["rps"]) or 0) > 0


def quiet(r):
    other = num(r["other_cpu"])
    return MAX_OTHER is None or (other is not None and other <= MAX_OTHER)


def paired(runs, server, key, ref_by_rep):
    ratios = []
    for r in runs:
        ref = ref_by_rep.get(r["rep"])
        a, b = num(r[key]), num(ref[key]) if ref else None
        if a is not None and b and b > 0 and a >= 0:
            ratios.append(a / b)
    return ratios


def table(row, rows):
    servers = []
    for r in rows:
        if r["server"] not in servers:
            servers.append(r["server"])
    if REFERENCE in servers:
        servers.remove(REFERENCE)
        servers.insert(0, REFERENCE)
    good = [r for r in rows if ok(r) and quiet(r)]
    ref_by_rep = {r["rep"]: r for r in good if r["server"] == REFERENCE}
    out = [f"### conns:size:depth = {row}", "",
           "| server | echoes/s median [min..max] | rate vs epoll | srv µs/echo "
           "| CPU/echo vs epoll | p50 µs | p99 µs | srv cpu | other cpu | ok/runs |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for s in servers:
        all_runs = [r for r in rows if r["server"] == s]
        runs = [r for r in good if r["server"] == s]
        rates = [num(r["rps"]) for r in runs]
        rate = (f"{fmt(med(rates))} [{fmt(min(rates))}..{fmt(max(rates))}]"
                if rates else "n/a")
        if s == REFERENCE:
            rvs, cvs = "1", "1"
        else:
            rr = paired(runs, s, "rps", ref_by_rep)
            cr = paired(runs, s, "srv_us_per_op", ref_by_rep)
            rvs = f"{fmt(med(rr), 2)} (n={len(rr)})" if rr else "n/a"
            cvs = f"{fmt(med(cr), 2)} (n={len(cr)})" if cr else "n/a"
        cpu_op = med([num(r["srv_us_per_op"]) for r in runs])
        out.append(
            f"| {s} | {rate} | {rvs} | {fmt(cpu_op, 2)} | {cvs} "
            f"| {fmt(med([num(r['p50_us']) for r in runs]), 0)} "
            f"| {fmt(med([num(r['p99_us']) for r in runs]), 0)} "
            f"| {fmt(med([num(r['srv_cpu']) for r in runs]), 2)} "
            f"| {fmt(med([num(r['other_cpu']) for r in runs]), 2)} "
            f"| {len(runs)}/{len(all_runs)} |")
    return out


def main():
    global MAX_OTHER
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    rows = load(sys.argv[1])
    if len(sys.argv) > 3 and sys.argv[3]:
        MAX_OTHER = float(sys.argv[3])
    lines = ["# actnet echo vs raw epoll and libuv (one loop each)", ""]
    if len(sys.argv) > 2 and sys.argv[2]:
        with open(sys.argv[2]) as f:
            lines += ["```", f.read().rstrip(), "```", ""]
    others = [num(r["other_cpu"]) for r in rows if num(r["other_cpu"]) is not None]
    if others:
        noisy = sum(1 for o in others if o > NOISY)
        lines += [
            f"Noise: other_cpu (cores busy outside server and client) median "
            f"{fmt(med(others), 2)}, max {fmt(max(others), 2)}; {noisy} of "
            f"{len(others)} runs above {NOISY}."
            + (" Treat rates as rough: the machine was shared." if noisy else ""),
            ""]
    lines += [
        "Server pinned to CPU 0, loadgen to CPU 1. \"vs epoll\" ratios are "
        "paired per repetition, then the median is taken; rate > 1 is faster "
        "than raw epoll, CPU/echo < 1 is cheaper. Latency in µs. ok/runs "
        "counts the runs used out of those made.", ""]
    if MAX_OTHER is not None:
        dropped = sum(1 for r in rows if ok(r) and not quiet(r))
        lines += [f"Only runs with other_cpu <= {MAX_OTHER} are used "
                  f"({dropped} successful runs dropped as noisy).", ""]
    order = []
    for r in rows:
        if r["row"] not in order:
            order.append(r["row"])
    for row in order:
        lines += table(row, [r for r in rows if r["row"] == row]) + [""]
    failed = [r for r in rows if not ok(r)]
    if failed:
        lines.append("Failed runs: " + ", ".join(
            f"rep {r['rep']} {r['row']} {r['server']} (rc={r['rc']}, errors={r['errors']})"
            for r in failed))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
