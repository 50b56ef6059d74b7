#!/usr/bin/env python3
"""Summarises compare.py's results.tsv (see compare.sh).

    summarize.py --results R.tsv --meta META.txt [--notes NOTES.md]
                 [--img img] --out benchmarks.md [--readme_table T.md]
    summarize.py --splice_readme README.md --readme_table T.md

The first form writes the Markdown report (tables with medians [min..max]
over repetitions, ratios vs the reference server paired per repetition,
io_uring vs epoll ratios when the run has io_uring rows (actnet-uring*,
the raw io_uring echo "uring"), the issues' targets, the noise, the
parameters of every row, the charts from IMG/, then NOTES.md as is) and a
compact table for README. The second
replaces what is between the `<!-- compare:begin -->` and
`<!-- compare:end -->` lines of README.md with that compact table.
"""
import argparse
import csv
import re
import statistics
import sys

SUITES = ("echo", "http", "redis", "tls")
REFERENCE = {"echo": "epoll", "http": "nginx", "redis": "redis", "tls": "nginx"}
SERVER_ORDER = {"echo": ["epoll", "uring", "uv", "actnet", "actnet-uring"],
                "http": ["nginx", "actnet", "actnet-uring"],
                "redis": ["redis", "actnet-1", "actnet-2", "actnet-uring-1",
                          "actnet-uring-2"],
                "tls": ["nginx", "actnet", "actnet-uring"]}
LABEL = {"epoll": "raw epoll", "uv": "libuv", "actnet": "actnet",
         "nginx": "nginx", "redis": "redis-server",
         "actnet-1": "actnet 1 loop", "actnet-2": "actnet 2 loops",
         "uring": "raw io_uring", "actnet-uring": "actnet io_uring",
         "actnet-uring-1": "actnet io_uring 1 loop",
         "actnet-uring-2": "actnet io_uring 2 loops"}
# io_uring beside epoll, paired per repetition: (server, versus) per suite.
BACKEND_PAIRS = {"echo": [("actnet-uring", "actnet"), ("actnet-uring", "uring"),
                          ("uring", "epoll")],
                 "http": [("actnet-uring", "actnet")],
                 "redis": [("actnet-uring-1", "actnet-1"), ("actnet-uring-2", "actnet-2"),
                           ("actnet-uring-2", "actnet-uring-1")],
                 "tls": [("actnet-uring", "actnet")]}
URING = ("uring", "actnet-uring", "actnet-uring-1", "actnet-uring-2")
UNIT = {"echo": "echoes/s", "http": "requests/s", "redis": "requests/s",
        "tls": "rate (requests/s, handshakes/s or MB/s: see the row)"}
NOISY = 0.2  # cores used by other processes above which a run is "noisy"
BEGIN, END = "<!-- compare:begin -->", "<!-- compare:end -->"


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def load(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def ok(r):
    return (r["rc"] == "0" and (num(r["errors"]) or 0) == 0
            and (num(r["rate"]) or 0) > 0 and (num(r["srv_us_per_op"]) or 0) > 0)


def stats(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return None
    return statistics.median(xs), min(xs), max(xs)


def fmt(x, d=0):
    if x is None:
        return "n/a"
    return f"{x:,.0f}" if d == 0 else f"{x:,.{d}f}"


def fmt_stats(s, d=0, brackets=True):
    if s is None:
        return "n/a"
    m, lo, hi = s
    return f"{fmt(m, d)} [{fmt(lo, d)}..{fmt(hi, d)}]" if brackets else fmt(m, d)


def row_unit(suite, row):
    """(rate unit, short rate unit, what one operation is) of a row. Every
    suite counts one kind of operation except tls: its keepalive and pipe
    rows count requests, handshake and resume connections (one TLS handshake
    each), bulk megabytes of response body (10^6 bytes)."""
    if suite == "tls":
        if row in ("handshake", "resume"):
            return "handshakes/s", "handshakes/s", "handshake"
        if row == "bulk":
            return "MB/s", "MB/s", "MB"
        return "requests/s", "req/s", "request"
    return UNIT[suite], UNIT[suite], "echo" if suite == "echo" else "request"


def row_label(suite, row):
    """The row as tables show it: tls rows carry their units."""
    if suite != "tls":
        return row
    unit, _, op = row_unit(suite, row)
    return f"{row} ({unit}, µs/{op})"


def order_rows(rows, suite):
    seen = []
    for r in rows:
        if r["suite"] == suite and r["row"] not in seen:
            seen.append(r["row"])
    return seen


class Data:
    def __init__(self, rows):
        self.rows = rows
        self.good = [r for r in rows if ok(r)]

    def runs(self, suite, row, server, good=True):
        src = self.good if good else self.rows
        return [r for r in src if r["suite"] == suite and r["row"] == row
                and r["server"] == server]

    def servers(self, suite):
        present = {r["server"] for r in self.rows if r["suite"] == suite}
        return [s for s in SERVER_ORDER[suite] if s in present]

    def has(self, suite, *servers):
        """Every one of servers has rows (run, even if failed) in suite."""
        present = set(self.servers(suite))
        return all(s in present for s in servers)

    def has_uring(self, suite=None):
        return any(r["server"] in URING for r in self.rows
                   if suite is None or r["suite"] == suite)

    def metric(self, suite, row, server, key):
        return stats([num(r[key]) for r in self.runs(suite, row, server)])

    def paired(self, suite, row, server, ref, key):
        """Per-repetition ratio server/ref (same rep), summarised."""
        refs = {r["rep"]: num(r[key]) for r in self.runs(suite, row, ref)}
        out = []
        for r in self.runs(suite, row, server):
            a, b = num(r[key]), refs.get(r["rep"])
            if a is not None and b:
                out.append(a / b)
        return stats(out), len(out)


def suite_table(d, suite):
    ref = REFERENCE[suite]
    lines = [f"| row | server | {UNIT[suite]} median [min..max] | rate vs "
             f"{LABEL[ref]} | server µs CPU/op [min..max] | CPU/op vs "
             f"{LABEL[ref]} | server cores | p50 / p99 µs | other cores | ok/runs |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for row in order_rows(d.rows, suite):
        for s in d.servers(suite):
            rate = d.metric(suite, row, s, "rate")
            cpu = d.metric(suite, row, s, "srv_us_per_op")
            if s == ref:
                rr = cr = "1"
            else:
                (rs, n), (cs, _) = (d.paired(suite, row, s, ref, "rate"),
                                    d.paired(suite, row, s, ref, "srv_us_per_op"))
                rr = f"**{fmt_stats(rs, 2)}**" if rs else "n/a"
                cr = f"**{fmt_stats(cs, 2)}**" if cs else "n/a"
            p50 = d.metric(suite, row, s, "p50_us")
            p99 = d.metric(suite, row, s, "p99_us")
            lat = (f"{fmt(p50[0])} / {fmt(p99[0])}" if p50 and p99 else "n/a")
            srv = d.metric(suite, row, s, "srv_cores")
            oth = d.metric(suite, row, s, "other_cores")
            lines.append(
                f"| {row_label(suite, row)} | {LABEL[s]} | {fmt_stats(rate)} | {rr} "
                f"| {fmt_stats(cpu, 2 if suite != 'echo' else 2)} | {cr} "
                f"| {fmt(srv[0], 2) if srv else 'n/a'} | {lat} "
                f"| {fmt(oth[0], 2) if oth else 'n/a'} "
                f"| {len(d.runs(suite, row, s))}/{len(d.runs(suite, row, s, False))} |")
    return lines


def cross_loop_table(d):
    lines = ["| row | actnet 2 loops / 1 loop: CPU/op [min..max] | rate [min..max] |",
             "|---|---|---|"]
    for row in order_rows(d.rows, "redis"):
        (c, n), (r, _) = (d.paired("redis", row, "actnet-2", "actnet-1", "srv_us_per_op"),
                          d.paired("redis", row, "actnet-2", "actnet-1", "rate"))
        lines.append(f"| {row} | **{fmt_stats(c, 2)}** | {fmt_stats(r, 2)} |")
    return lines


def backend_table(d, suite):
    """io_uring vs epoll, same repetition: the pairs of BACKEND_PAIRS run."""
    pairs = [(s, v) for s, v in BACKEND_PAIRS[suite] if d.has(suite, s, v)]
    if not pairs:
        return []
    lines = ["| row | server / versus | rate [min..max] | server CPU/op [min..max] "
             "| paired reps |", "|---|---|---|---|---|"]
    for row in order_rows(d.rows, suite):
        for s, v in pairs:
            (rs, n), (cs, _) = (d.paired(suite, row, s, v, "rate"),
                                d.paired(suite, row, s, v, "srv_us_per_op"))
            lines.append(f"| {row_label(suite, row)} | {LABEL[s]} / {LABEL[v]} "
                         f"| {fmt_stats(rs, 2)} "
                         f"| **{fmt_stats(cs, 2)}** | {n} |")
    return lines


def check(value, op, target):
    if value is None:
        return "no data"
    m, lo, hi = value
    good = (m >= target) if op == ">=" else (m <= target)
    every = (lo >= target) if op == ">=" else (hi <= target)
    if good and every:
        return "**met**"
    if good:
        return "**met** (median; not every rep)"
    return "**missed**"


def targets(d):
    """The issue's targets: (what, measured, verdict) rows."""
    out = []
    suites = {r["suite"] for r in d.rows}
    if "echo" in suites:
        for row in order_rows(d.rows, "echo"):
            rs, _ = d.paired("echo", row, "actnet", "epoll", "rate")
            cs, _ = d.paired("echo", row, "actnet", "epoll", "srv_us_per_op")
            out.append((f"echo {row}, 1 loop: rate >= 0.95x raw epoll",
                        fmt_stats(rs, 2), check(rs, ">=", 0.95)))
            out.append((f"echo {row}, 1 loop: CPU/echo <= 1.10x raw epoll",
                        fmt_stats(cs, 2), check(cs, "<=", 1.10)))
    if "http" in suites:
        pipe = [r for r in order_rows(d.rows, "http") if r.startswith("pipe")]
        for row in pipe:
            rs, _ = d.paired("http", row, "actnet", "nginx", "rate")
            out.append((f"http {row}: rate >= 7.5x nginx (same-run, both pipelined)",
                        fmt_stats(rs, 2), check(rs, ">=", 7.5)))
        if "plain" in order_rows(d.rows, "http"):
            cs, _ = d.paired("http", "plain", "actnet", "nginx", "srv_us_per_op")
            out.append(("http plain: CPU/request <= 1.0x nginx", fmt_stats(cs, 2),
                        check(cs, "<=", 1.0)))
    if "redis" in suites:
        rows = order_rows(d.rows, "redis")
        for row in rows:
            if row.endswith("P16"):
                rs, _ = d.paired("redis", row, "actnet-1", "redis", "rate")
                out.append((f"redis {row}, 1 loop: rate >= 1.0x redis-server",
                            fmt_stats(rs, 2), check(rs, ">=", 1.0)))
        for row in rows:
            # -P1: issue 16 (default options, coalescing off); -P16: issue 6.
            limit = 1.0 if row.endswith("P1") else 0.9
            cs, _ = d.paired("redis", row, "actnet-1", "redis", "srv_us_per_op")
            out.append((f"redis {row}, 1 loop: CPU/request <= {limit}x redis-server",
                        fmt_stats(cs, 2), check(cs, "<=", limit)))
        for row in rows:
            cs, _ = d.paired("redis", row, "actnet-2", "actnet-1", "srv_us_per_op")
            out.append((f"redis {row}: 2 loops CPU/request <= 1.3x 1 loop",
                        fmt_stats(cs, 2), check(cs, "<=", 1.3)))
    if "tls" in suites:
        out += tls_targets(d)
    return out + uring_targets(d)


def tls_targets(d):
    """Issue 18's targets for HTTPS, actnet (epoll) against nginx: CPU per
    request <= 0.9x on keep-alive connections, rate >= 4x pipelined, CPU per
    full handshake <= 1.0x, CPU per MB of 1 MiB responses <= 1.0x."""
    out = []
    for row in order_rows(d.rows, "tls"):
        if row == "keepalive":
            what, key, op, limit = "CPU/request", "srv_us_per_op", "<=", 0.9
        elif row.startswith("pipe"):
            what, key, op, limit = "rate", "rate", ">=", 4.0
        elif row == "handshake":
            what, key, op, limit = "CPU/handshake", "srv_us_per_op", "<=", 1.0
        elif row == "bulk":
            what, key, op, limit = "CPU/MB", "srv_us_per_op", "<=", 1.0
        else:
            continue
        rs, _ = d.paired("tls", row, "actnet", "nginx", key)
        out.append((f"tls {row}: {what} {op} {limit}x nginx", fmt_stats(rs, 2),
                    check(rs, op, limit)))
    return out


def uring_targets(d):
    """Issue 17's targets for the io_uring backend, where the run has the rows:
    echo CPU/echo <= 1.05x the raw io_uring anchor (when it ran), HTTP
    pipelined and Redis -P1/-P16 CPU/request <= 1.02x actnet on epoll."""
    out = []
    if d.has("echo", "actnet-uring", "uring"):
        for row in order_rows(d.rows, "echo"):
            cs, _ = d.paired("echo", row, "actnet-uring", "uring", "srv_us_per_op")
            out.append((f"echo {row}, 1 loop: actnet io_uring CPU/echo <= 1.05x raw io_uring",
                        fmt_stats(cs, 2), check(cs, "<=", 1.05)))
    if d.has("http", "actnet-uring", "actnet"):
        for row in order_rows(d.rows, "http"):
            if row.startswith("pipe"):
                cs, _ = d.paired("http", row, "actnet-uring", "actnet", "srv_us_per_op")
                out.append((f"http {row}: actnet io_uring CPU/request <= 1.02x actnet epoll",
                            fmt_stats(cs, 2), check(cs, "<=", 1.02)))
    if d.has("redis", "actnet-uring-1", "actnet-1"):
        for row in order_rows(d.rows, "redis"):
            if row.endswith(("P1", "P16")):
                cs, _ = d.paired("redis", row, "actnet-uring-1", "actnet-1", "srv_us_per_op")
                out.append((f"redis {row}, 1 loop: actnet io_uring CPU/request <= 1.02x "
                            "actnet epoll", fmt_stats(cs, 2), check(cs, "<=", 1.02)))
    return out


def noise(d, meta):
    others = [num(r["other_cores"]) for r in d.rows if num(r["other_cores"]) is not None]
    steal = [num(r["steal_cores"]) for r in d.rows if num(r["steal_cores"]) is not None]
    lines = []
    if others:
        noisy = sum(1 for o in others if o > NOISY)
        lines.append(
            f"Other processes' CPU during the runs (`/proc/stat` busy time minus "
            f"server and client, in cores): median {fmt(statistics.median(others), 2)}, "
            f"max {fmt(max(others), 2)}; {noisy} of {len(others)} runs above {NOISY} "
            f"cores. VM steal: median {fmt(statistics.median(steal), 2) if steal else 'n/a'} cores."
            + (" **The machine was shared during this run: rates are disturbed; "
               "CPU per operation (charged to the server process only) is the "
               "steadier figure.**" if noisy > len(others) / 4 else ""))
    if "machine_busy_cores_during_run" in meta:
        lines.append(f"Whole machine busy over the measuring part: "
                     f"{meta['machine_busy_cores_during_run']} of 2 cores "
                     f"(load average at start {meta.get('loadavg_at_start', '?')}, "
                     f"at end {meta.get('loadavg_at_end', '?')}).")
    return lines


def parameters(settings, uring_anchor=True):
    s = dict(re.findall(r'(\w+)="?([^"]*?)"?(?=\s+\w+=|$)', settings))
    dur = s.get("DUR", "5")
    warm = s.get("WARM", "1")
    backends = s.get("BACKENDS", "epoll").split()  # runs before the knob: epoll
    uring = "io_uring" in backends
    echo_uring = (", `uring_echo -p PORT` (raw io_uring: the shared perf-anchors "
                  "harness's uring_echo_server.c, built with `cc -O2 ... -luring`)"
                  if uring and uring_anchor else "")
    head = []
    if "BACKENDS" in s:
        head = [f"actnet's backends: {' and '.join(backends)}" + (
            " (io_uring: the actnet commands below with `--backend=io_uring`, servers "
            "actnet-uring, actnet-uring-1 and actnet-uring-2)" if uring else "") + ".", ""]
    return head + [
        "| suite | rows | load (client pinned to CPU 1) | servers (pinned to CPU 0) |",
        "|---|---|---|---|",
        f"| echo | conns:size:depth = {s.get('ECHO_ROWS', '?')} | `loadgen --conns C "
        f"--size S --depth D --warmup={warm} --duration={dur} --server_pid PID` (one "
        f"thread, checks every byte; CPU measured over the {dur} s window) | "
        f"`epoll_echo -p PORT` (reference){echo_uring}, `uv_echo -p PORT`, `echo "
        f"--addr=tcp://127.0.0.1:PORT --loops=1` |",
        f"| http | plain, pipe{s.get('HTTP_DEPTH', '16')} | `wrk -t1 -c{s.get('HTTP_CONNS', '50')} "
        f"-d{dur}s --latency --timeout 5s http://127.0.0.1:PORT/`; pipelined adds "
        f"`-s perf/compare/pipeline16.lua -- {s.get('HTTP_DEPTH', '16')} /` "
        f"({s.get('HTTP_DEPTH', '16')} GETs per write) | nginx (reference): "
        f"`worker_processes 1`, `access_log off`, `keepalive_requests 100000000`, "
        f"`return 200 \"Hello, World!\"` (master + 1 worker, CPU of both); "
        f"`http --addr=tcp://127.0.0.1:PORT --loops=1` |",
        f"| redis | set/get x -P 1/16 | `redis-benchmark -h 127.0.0.1 -p PORT -c 50 "
        f"-t set|get -P 1 -n {s.get('REDIS_N1', '?')}` and `-P 16 -n "
        f"{s.get('REDIS_N16', '?')}` (3-byte values, one key); one server start per "
        f"repetition runs SET then GET at P1, then at P16; after every SET a GET "
        f"checks the value | `redis-server --save \"\" --appendonly no --port PORT "
        f"--bind 127.0.0.1` (reference); `redis --addr=tcp://127.0.0.1:PORT "
        f"--loops=1` and `--loops=2` (both loops share CPU 0) |",
        f"| tls | keepalive, pipe{s.get('HTTP_DEPTH', '16')}, handshake, resume, bulk "
        f"| HTTPS, ECDSA P-256 certificate (made per run by `openssl req`); the "
        f"clients (OpenSSL 3 defaults) negotiate TLS 1.3, and every run's note has the "
        f"protocol and cipher a check GET got. keepalive: `wrk -t1 -c{s.get('TLS_CONNS', '100')} "
        f"-d{dur}s --latency --timeout 5s https://127.0.0.1:PORT/plaintext` (requests/s); "
        f"pipe{s.get('HTTP_DEPTH', '16')}: the same with `-s perf/compare/pipeline16.lua "
        f"-- {s.get('HTTP_DEPTH', '16')} /plaintext`; handshake: `openssl s_time -connect "
        f"127.0.0.1:PORT -new -time {dur} -www /plaintext` (a new connection and full "
        f"handshake per request; handshakes/s = connections / wall seconds; every "
        f"connection must print `*`, full); resume: the same with `-reuse` (every "
        f"connection must print `r`, resumed from a TLS 1.3 ticket); bulk: `wrk -t1 "
        f"-c{s.get('TLS_BULK_CONNS', '8')} -d{dur}s --latency --timeout 5s "
        f"https://127.0.0.1:PORT/1mib.bin` (1 MiB of random bytes; MB/s and server CPU "
        f"µs per MB, MB = 10^6 bytes); before every run one GET checks the answer (bulk: "
        f"every byte) "
        f"| nginx (reference): one process (`master_process off`), `ssl_protocols TLSv1.2 "
        f"TLSv1.3`, `ssl_session_tickets on`, no session cache, `root` the file's folder, "
        f"`location = /plaintext {{ return 200 \"Hello, World!\"; }}`, `access_log off`; "
        f"`http --addr=tls://127.0.0.1:PORT --tls_cert=C --tls_key=K --static_dir=WWW "
        f"--loops=1` |",
    ]


def readme_table(d):
    lines = ["| suite: row | reference | reference rate | actnet rate | rate vs ref "
             "| CPU/op vs ref |", "|---|---|---|---|---|---|"]
    for suite in SUITES:
        if not any(r["suite"] == suite for r in d.rows):
            continue
        ref = REFERENCE[suite]
        for row in order_rows(d.rows, suite):
            for s in d.servers(suite):
                if s in (ref, "uv", "uring", "actnet-uring-2"):
                    continue
                rate = d.metric(suite, row, s, "rate")
                refrate = d.metric(suite, row, ref, "rate")
                rs, _ = d.paired(suite, row, s, ref, "rate")
                cs, _ = d.paired(suite, row, s, ref, "srv_us_per_op")
                name = f"{suite}: {row}" + (f" ({LABEL[s]})" if suite == "redis" or
                                            s != "actnet" else "")
                if suite == "tls":
                    name += f", {row_unit(suite, row)[0]}"
                lines.append(f"| {name} | {LABEL[ref]} | {fmt(refrate[0]) if refrate else 'n/a'} "
                             f"| {fmt(rate[0]) if rate else 'n/a'} | {fmt_stats(rs, 2, False)} "
                             f"| {fmt_stats(cs, 2, False)} |")
    if any(r["server"] == "actnet-2" for r in d.rows):
        for row in order_rows(d.rows, "redis"):
            rate = d.metric("redis", row, "actnet-2", "rate")
            refrate = d.metric("redis", row, "actnet-1", "rate")
            rs, _ = d.paired("redis", row, "actnet-2", "actnet-1", "rate")
            cs, _ = d.paired("redis", row, "actnet-2", "actnet-1", "srv_us_per_op")
            lines.append(f"| redis: {row}, cross-loop (2 loops) | actnet 1 loop "
                         f"| {fmt(refrate[0]) if refrate else 'n/a'} "
                         f"| {fmt(rate[0]) if rate else 'n/a'} | {fmt_stats(rs, 2, False)} "
                         f"| {fmt_stats(cs, 2, False)} |")
    for suite, s, v in (("echo", "actnet-uring", "actnet"), ("http", "actnet-uring", "actnet"),
                        ("redis", "actnet-uring-1", "actnet-1"),
                        ("tls", "actnet-uring", "actnet")):
        if not d.has(suite, s, v):
            continue
        for row in order_rows(d.rows, suite):
            rate = d.metric(suite, row, s, "rate")
            refrate = d.metric(suite, row, v, "rate")
            rs, _ = d.paired(suite, row, s, v, "rate")
            cs, _ = d.paired(suite, row, s, v, "srv_us_per_op")
            unit = f" ({row_unit(suite, row)[0]})" if suite == "tls" else ""
            lines.append(f"| {suite}: {row}, io_uring vs epoll{unit} | {LABEL[v]} "
                         f"| {fmt(refrate[0]) if refrate else 'n/a'} "
                         f"| {fmt(rate[0]) if rate else 'n/a'} | {fmt_stats(rs, 2, False)} "
                         f"| {fmt_stats(cs, 2, False)} |")
    return lines


def read_meta(path):
    meta = {}
    if path:
        with open(path) as f:
            for line in f:
                if ":" in line:
                    k, v = line.split(":", 1)
                    meta[k.strip()] = v.strip()
    return meta


def report(d, meta, notes, img):
    suites = [s for s in SUITES if any(r["suite"] == s for r in d.rows)]
    names = {"echo": "echo", "http": "HTTP", "redis": "Redis", "tls": "TLS"}
    L = ["# actnet vs reference servers: " + ", ".join(names[s] for s in suites), "",
         "Generated by `perf/compare/compare.sh` (`summarize.py`); the sections "
         "after the charts are hand-written (`perf/compare/notes.md`).", "",
         "## Command and machine", "", "```",
         f"{meta.get('command', '?')}", "```", "",
         f"- date: {meta.get('date', '?')}; git {meta.get('git', '?')}",
         f"- machine: {meta.get('cpu', '?')}, {meta.get('memory', '?')}, "
         f"{meta.get('os', '?')}, kernel {meta.get('kernel', '?')}",
         f"- peers: {meta.get('versions', '?')}",
         f"- settings: `{meta.get('settings', '?')}`",
         f"- measuring took {meta.get('measure_wall_s', '?')} s after a "
         f"{meta.get('build_s', '?')} s build", "",
         "Every server is pinned to CPU 0 and every load client to CPU 1 "
         "(`taskset`), each run on a fresh 127.0.0.1 port with a fresh server "
         "process; repetitions are interleaved and the server order is rotated "
         "every repetition. Rates are the client's; **server CPU per operation** "
         "is the server process tree's utime+stime (`/proc/PID/stat`) over the "
         "load divided by the operations done (for echo, loadgen's own measured "
         "window). Ratios are paired: server / reference within the same "
         "repetition, then the median [min..max] of those ratios. On 2 cores the "
         "client saturates about where the fastest server does, so rate ratios "
         "near 1 say little; CPU per operation is the sharper figure.", "",
         "## Noise", ""]
    L += noise(d, meta) + [""]
    nums = [5, 6, 16] + [17] * d.has_uring() + [18] * ("tls" in suites)
    issues = "issues " + ", ".join(map(str, nums[:-1])) + f" and {nums[-1]}"
    L += [f"## Targets ({issues})", "",
          "| target | measured (median [min..max] of paired ratios) | verdict |",
          "|---|---|---|"]
    L += [f"| {a} | {b} | {c} |" for a, b, c in targets(d)] + [""]
    for suite in suites:
        title = {"echo": "Echo: actnet vs raw epoll and libuv (1 loop each)",
                 "http": "HTTP plaintext: actnet vs nginx (1 worker)",
                 "redis": "Redis protocol: actnet vs redis-server",
                 "tls": "HTTPS (TLS 1.3, ECDSA P-256): actnet vs nginx (1 process)"}[suite]
        if d.has_uring(suite):
            title = {"echo": "Echo: actnet (epoll, io_uring) vs raw epoll, raw io_uring "
                             "and libuv (1 loop each)",
                     "http": "HTTP plaintext: actnet (epoll, io_uring) vs nginx (1 worker)",
                     "redis": "Redis protocol: actnet (epoll, io_uring) vs "
                              "redis-server",
                     "tls": "HTTPS (TLS 1.3, ECDSA P-256): actnet (epoll, io_uring) vs "
                            "nginx (1 process)"}[suite]
        L += [f"## {title}", ""]
        if suite == "tls":
            L += ["The rows count different operations: keepalive and pipelined rows "
                  "count requests (requests/s, server CPU µs per request), handshake and "
                  "resume count connections, one TLS handshake each (handshakes/s, µs per "
                  "handshake; handshake: full, resume: resumed from a ticket), bulk "
                  "counts megabytes of 1 MiB responses (MB/s, µs per MB, MB = 10^6 "
                  "bytes). Compare a row only with itself.", ""]
        L += suite_table(d, suite) + [""]
        bt = backend_table(d, suite)
        if bt:
            L += ["io_uring vs epoll (ratios paired per repetition; below 1 is "
                  "less CPU per operation, above 1 a higher rate):", ""] + bt + [""]
        if suite == "redis" and any(r["server"] == "actnet-2" for r in d.rows):
            L += ["Cross-loop cost (actnet redis with 2 loops vs 1 loop, same "
                  "repetition; keys are sharded by loop, so about half the "
                  "requests of a connection are served by the other loop):", ""]
            L += cross_loop_table(d) + [""]
        L += [f"![{suite}: rate and server CPU per operation]({img}/compare_{suite}.png)", ""]
    failed = [r for r in d.rows if not ok(r)]
    if failed:
        L += ["Runs left out (failed): " + "; ".join(
            f"rep {r['rep']} {r['suite']} {r['row']} {r['server']} rc={r['rc']} "
            f"errors={r['errors']} {r['note']}".strip() for r in failed), ""]
    L += (["## Parameters of every row", ""]
          + parameters(meta.get("settings", ""), d.has("echo", "uring")) + [""])
    if notes:
        L += [notes.rstrip(), ""]
    return "\n".join(L)


def splice(readme, table_path):
    text = open(readme).read()
    table = open(table_path).read().rstrip("\n")
    if BEGIN not in text or END not in text:
        sys.exit(f"{readme}: no {BEGIN} ... {END} lines to replace")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    with open(readme, "w") as f:
        f.write(head + BEGIN + "\n" + table + "\n" + END + tail)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--results")
    p.add_argument("--meta")
    p.add_argument("--notes")
    p.add_argument("--img", default="img")
    p.add_argument("--out")
    p.add_argument("--readme_table")
    p.add_argument("--splice_readme")
    a = p.parse_args()
    if a.splice_readme:
        return splice(a.splice_readme, a.readme_table)
    d = Data(load(a.results))
    meta = read_meta(a.meta)
    notes = ""
    if a.notes:
        try:
            notes = open(a.notes).read()
        except OSError:
            pass
    with open(a.out, "w") as f:
        f.write(report(d, meta, notes, a.img))
    if a.readme_table:
        with open(a.readme_table, "w") as f:
            f.write("\n".join(readme_table(d)) + "\n")


if __name__ == "__main__":
    main()
