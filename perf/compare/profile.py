#!/usr/bin/env python3
"""profile.py: where a server's CPU goes under one fixed, bounded load.

    profile.py --bin DIR --out DIR --server redis1|redis2|redis-server|http|nginx
               --load redis-P1|redis-P16|http-plain|http-pipe16
               [--tool split|strace|callgrind] [--n 20000] [--dur 5] [--rt 1]

Tools (the server pinned to CPU 0, the load to CPU 1, 127.0.0.1 only):
  split      no tracer: server user and system CPU µs per operation
             (/proc/PID/stat utime and stime; the kernel share is what
             callgrind cannot see).
  strace     `strace -c -f -p PID` attached for the load: system calls per
             operation by name (the tracer slows everything; the counts are
             what matters).
  perfstat   `perf stat` tracepoints on the server for the load: system
             calls by name and context switches per operation (cheap).
  perfrec    `perf record -e cpu-clock` (a software clock: works where
             hardware counters do not) on the server for the load, then
             `perf report --sort sym`: user and kernel functions.
  callgrind  the server under `valgrind --tool=callgrind` (user space
             only, ~50x slower, so keep --n small); writes
             OUT/callgrind.out.<server>-<load> and the top functions
             (exclusive and inclusive instruction counts) to
             OUT/<server>-<load>.callgrind.txt.
Loads: redis-benchmark -c 50 -t set,get -P 1|16 -n N; wrk -t1 -c50 -dDURs
(pipelined: pipeline16.lua, 16 deep). DIR holds the binaries compare.sh
copied (echo, http, redis).
"""
import argparse
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import HERE, NICE, TCK, Ports, Server, parse_wrk, run_client  # noqa: E402


def proc_split(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    rest = s[s.rindex(")") + 2:].split()
    return int(rest[11]) / TCK, int(rest[12]) / TCK


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--server", required=True)
    p.add_argument("--load", required=True)
    p.add_argument("--tool", default="split")
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--dur", type=int, default=5)
    p.add_argument("--rt", type=int, default=0, help="SCHED_RR priority (chrt -r)")
    a = p.parse_args()
    if a.rt:
        NICE[:] = ["chrt", "-r", str(a.rt)]
    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    b = os.path.abspath(a.bin)
    port = Ports().fresh()
    tag = f"{a.server}-{a.load}"
    cmd = {
        "redis1": [f"{b}/redis", f"--addr=tcp://127.0.0.1:{port}", "--loops=1"],
        "redis2": [f"{b}/redis", f"--addr=tcp://127.0.0.1:{port}", "--loops=2"],
        "redis-server": ["redis-server", "--save", "", "--appendonly", "no",
                         "--port", str(port), "--bind", "127.0.0.1", "--dir", out],
        "http": [f"{b}/http", f"--addr=tcp://127.0.0.1:{port}", "--loops=1"],
    }.get(a.server)
    if a.server == "nginx":
        sys.exit("nginx: profile it with --tool split or strace from compare.py's config")
    if cmd is None:
        sys.exit(f"unknown server {a.server}")
    cg_out = os.path.join(out, f"callgrind.out.{tag}")
    if a.tool == "callgrind":
        cmd = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={cg_out}",
               "--dump-instr=no", "--separate-threads=no"] + cmd
    srv = Server(cmd, os.path.join(out, f"{tag}.{a.tool}.server.log"), 0, cwd=out)
    try:
        if not srv.wait_listening(port, 60 if a.tool == "callgrind" else 10):
            sys.exit("server did not start")
        kind, mode = a.load.split("-")
        if kind == "redis":
            load = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-c", "50",
                    "-n", str(a.n), "-P", mode[1:], "-t", "set,get", "--csv"]
            ops = 2 * a.n
        else:
            load = ["wrk", "-t1", "-c50", f"-d{a.dur}s", "--timeout", "5s"]
            if mode != "plain":
                load += ["-s", os.path.join(HERE, "pipeline16.lua")]
            load.append(f"http://127.0.0.1:{port}/")
            if mode != "plain":
                load += ["--", "16", "/"]
            ops = None
        tracer = None
        ps_out = os.path.join(out, f"{tag}.perfstat.txt")
        if a.tool == "perfstat":
            events = ["raw_syscalls:sys_enter", "context-switches", "page-faults"] + [
                f"syscalls:sys_enter_{n}" for n in (
                    "read", "recvfrom", "readv", "write", "sendto", "sendmsg", "writev",
                    "epoll_wait", "epoll_pwait", "epoll_ctl", "futex")]
            tracer = subprocess.Popen(["perf", "stat", "-x", ",", "-o", ps_out,
                                       "-e", ",".join(events), "-p", str(srv.pid)],
                                      stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        pr_out = os.path.join(out, f"perf.data.{tag}")
        if a.tool == "perfrec":
            tracer = subprocess.Popen(["perf", "record", "-q", "-e", "cpu-clock", "-F", "4000",
                                       "-o", pr_out, "-p", str(srv.pid)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        if a.tool == "strace":
            st_out = os.path.join(out, f"{tag}.strace.txt")
            tracer = subprocess.Popen(["strace", "-c", "-f", "-p", str(srv.pid),
                                       "-o", st_out], stderr=subprocess.DEVNULL)
            time.sleep(1.0)
        u0, s0 = proc_split(srv.pid)
        log = os.path.join(out, f"{tag}.{a.tool}.client.log")
        r = run_client(load, 1, 600 if a.tool == "callgrind" else 120, log, srv.pid)
        u1, s1 = proc_split(srv.pid)
        if ops is None:
            ops = parse_wrk(log).get("requests", 0)
        if tracer:
            tracer.send_signal(signal.SIGINT)
            tracer.wait(timeout=10)
        line = (f"{tag} tool={a.tool} rc={r['rc']} ops={ops} "
                f"user_us_per_op={(u1 - u0) * 1e6 / max(ops, 1):.3f} "
                f"sys_us_per_op={(s1 - s0) * 1e6 / max(ops, 1):.3f} "
                f"other_cores={r['other_cores']:.2f}")
        print(line)
        with open(os.path.join(out, "profile.log"), "a") as f:
            f.write(line + "\n")
        if tracer and a.tool == "perfstat":
            time.sleep(0.3)
            with open(ps_out) as f:
                for ln in f:
                    parts = ln.strip().split(",")
                    if len(parts) > 2 and parts[0].isdigit() and int(parts[0]) > 0:
                        print(f"  {parts[2]:32s} {int(parts[0]):10d}  "
                              f"{int(parts[0]) / max(ops, 1):.4f}/op")
        if tracer and a.tool == "perfrec":
            time.sleep(0.5)
            rep = subprocess.run(["perf", "report", "-i", pr_out, "--stdio", "--sort", "sym",
                                  "--percent-limit", "0.7"], capture_output=True, text=True)
            txt = os.path.join(out, f"{tag}.perfrec.txt")
            with open(txt, "w") as f:
                f.write(rep.stdout)
            print("".join(ln + "\n" for ln in rep.stdout.splitlines()
                          if ln.strip() and not ln.startswith("#"))[:3000])
        if tracer and a.tool == "strace":
            with open(st_out) as f:
                text = f.read()
            rows = []
            for ln in text.splitlines():
                parts = ln.split()
                if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
                    calls = int(parts[3])
                    rows.append((calls, parts[-1]))
            rows.sort(reverse=True)
            with open(os.path.join(out, f"{tag}.syscalls.txt"), "w") as f:
                for calls, name in rows[:12]:
                    msg = f"{name:16s} {calls:9d} calls  {calls / max(ops, 1):.3f}/op"
                    print("  " + msg)
                    f.write(msg + "\n")
    finally:
        srv.stop() if a.tool != "callgrind" else stop_slow(srv)
    if a.tool == "callgrind" and os.path.exists(cg_out):
        txt = os.path.join(out, f"{tag}.callgrind.txt")
        with open(txt, "w") as f:
            for inclusive in ("no", "yes"):
                f.write(subprocess.run(
                    ["callgrind_annotate", f"--inclusive={inclusive}", "--threshold=99",
                     cg_out], capture_output=True, text=True).stdout)
        print(f"wrote {txt}")


def stop_slow(srv):
    """SIGTERM and give valgrind time to write its output."""
    srv.stop(timeout=60)


if __name__ == "__main__":
    main()
