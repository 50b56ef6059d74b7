#!/usr/bin/env python3
"""compare.py: the measuring half of perf/compare/compare.sh.

    compare.py --bin DIR --out DIR [--reps 3] [--dur 5] [--warm 1]
               [--suites "echo http redis tls"] [--echo_rows "100:16:1 ..."]
               [--http_conns 50] [--http_depth 16]
               [--tls_conns 100] [--tls_bulk_conns 8]
               [--redis_n1 100000] [--redis_n16 1000000] [--redis_conns 50]
               [--srv_cpu 0] [--cli_cpu 1] [--backends "epoll io_uring"]

Runs, for every repetition, every suite, every row and every server (the
server order rotated each repetition so drift hits all servers alike):
start the server pinned to --srv_cpu on a fresh loopback port, wait until it
listens, run the load client pinned to --cli_cpu, read the server's CPU
(utime+stime of the server and its children, /proc/PID/stat) and the whole
machine's busy time (/proc/stat) before and after, stop the server by PID,
and append one line to OUT/results.tsv. Suites:

  echo   DIR/loadgen against DIR/epoll_echo, DIR/uv_echo, DIR/uring_echo
         (server "uring", raw io_uring: the shared perf-anchors harness's
         uring_echo_server, which compare.sh builds there; left out when
         DIR has none) and DIR/echo (--loops=1); rows
         conns:size:depth. loadgen measures the server's CPU itself over
         its measured window (after --warm seconds).
  http   wrk -t1 -cN -dDURs against nginx (1 worker, access_log off,
         `return 200 "Hello, World!"`, config generated in OUT/nginx) and
         DIR/http (--loops=1); rows "plain" and "pipeN" (pipeline16.lua).
  redis  redis-benchmark -c 50 -n N -P P -t set / -t get against
         redis-server (no persistence) and DIR/redis with --loops=1 and
         --loops=2 (both loops on --srv_cpu too); rows set/get x P1/P16.
         One server start per repetition serves its four rows (GET after
         SET, so GETs hit).
  tls    HTTPS against nginx (the reference: one process, master_process
         off, TLS 1.2 and 1.3, session tickets on, config generated in
         OUT/nginx-tls) and DIR/http over tls:// (--loops=1, --static_dir);
         one ECDSA P-256 certificate and a www folder holding 1mib.bin (1 MiB
         of random bytes), made once per run with the openssl CLI in OUT/tls.
         Rows: keepalive (wrk -t1 -c--tls_conns GET /plaintext, requests/s),
         pipeN (the same, pipeline16.lua --http_depth deep), handshake
         (openssl s_time -new -www /plaintext: a new connection with a full
         handshake per request; handshakes/s = connections / wall seconds),
         resume (s_time -reuse: every connection resumes the session), bulk
         (wrk -t1 -c--tls_bulk_conns GET /1mib.bin; rate MB/s, one op = one
         MB = 10^6 body bytes, so srv_us_per_op is CPU µs per MB). s_time
         prints one mark per connection ('*' full handshake, 'r' resumed):
         a connection of the wrong kind for the row counts as an error.
         Before every run one request (Python's ssl) checks the server
         answers (bulk: the whole file, byte for byte) and records the
         negotiated protocol and cipher in the note.

--backends says which of actnet's backends run: "epoll" gives the servers
actnet (echo, http) and actnet-1, actnet-2 (redis); "io_uring" gives the
same with --backend=io_uring, named actnet-uring and actnet-uring-1,
actnet-uring-2, plus the raw io_uring echo "uring" (when DIR/uring_echo
exists). The references (epoll,
uv, nginx, redis) always run. An actnet server must run on the backend its
name says: one whose process holds no io_uring fd (actnet-uring*), or holds
one (the epoll ones), is stopped and its rows recorded with rc 95.
ACTNET_BACKEND, which would override --backend, is removed from the
environment.

Only 127.0.0.1 is used; every client run is bounded by a timeout; only the
PIDs this script started (and the children of those) are signalled.
"""
import argparse
import csv
import os
import random
import re
import signal
import socket
import ssl
import subprocess
import sys
import time

TCK = os.sysconf("SC_CLK_TCK")
HERE = os.path.dirname(os.path.abspath(__file__))

# the tls suite's rows, in order ("pipe" runs as pipeN, N = --http_depth)
TLS_ROWS = ["keepalive", "pipe", "handshake", "resume", "bulk"]
BULK_BYTES = 1 << 20  # the bulk row's file, www/1mib.bin

FIELDS = ["rep", "suite", "row", "server", "port", "rc", "rate", "ops",
          "wall_s", "srv_cpu_s", "srv_cores", "srv_us_per_op", "cli_cores",
          "other_cores", "steal_cores", "p50_us", "p99_us", "errors", "note"]


# ---------------------------------------------------------------- /proc ---

def proc_stat(pid):
    """(ppid, utime+stime ticks) of one process, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(")") + 2:].split()  # fields from 3 (state) on
    return int(rest[1]), int(rest[11]) + int(rest[12])


def tree(pid):
    """pid and all its descendants (live ones)."""
    children = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            st = proc_stat(int(name))
            if st:
                children.setdefault(st[0], []).append(int(name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def tree_cpu_s(pid):
    total = 0
    for p in tree(pid):
        st = proc_stat(p)
        if st:
            total += st[1]
    return total / TCK


def system_cpu():
    """(busy seconds, steal seconds) summed over all CPUs, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal guest guest_nice
    busy = v[0] + v[1] + v[2] + v[5] + v[6]
    return busy / TCK, v[7] / TCK


def anon_inodes(pid):
    """The anon-inode kinds ("[io_uring]", "[eventpoll]", ...) pid's tree holds."""
    kinds = set()
    for p in tree(pid):
        try:
            fds = os.listdir(f"/proc/{p}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{p}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("anon_inode:"):
                kinds.add(link[len("anon_inode:"):])
    return kinds


def listening(port):
    want = f":{port:04X}"
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    if parts[1].endswith(want) and parts[3] == "0A":
                        return True
        except OSError:
            pass
    return False


# --------------------------------------------------------------- servers ---

class Ports:
    def __init__(self):
        self.next = 20000 + random.randrange(20000)

    def fresh(self):
        while True:
            port, self.next = self.next, self.next + 1
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
            finally:
                s.close()


LIVE = set()  # servers started and not yet stopped (stopped on any exit)
NICE = []  # e.g. ["nice", "-n", "-10"]: run servers and clients at that priority


class Server:
    def __init__(self, cmd, log, cpu, cwd=None):
        self.cmd = cmd
        with open(log, "w") as f:  # taskset execs: the PID is the server's
            self.proc = subprocess.Popen(NICE + ["taskset", "-c", str(cpu)] + cmd,
                                         stdout=f, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=cwd)
        self.pid = self.proc.pid
        LIVE.add(self)

    def wait_listening(self, port, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            if listening(port):
                time.sleep(0.3)  # let nginx fork its worker, threads start
                return self.proc.poll() is None
            time.sleep(0.05)
        return False

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=3):
        """SIGTERM, up to `timeout` seconds, then SIGKILL (and its children)."""
        LIVE.discard(self)
        pids = tree(self.pid) if self.alive() else []
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for p in pids[1:]:  # children we started through it (nginx worker)
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass


# --------------------------------------------------------------- clients ---

def run_client(cmd, cpu, timeout, log, server_pid):
    """Runs cmd pinned to cpu with CPU sampling around it. Returns a dict."""
    s0, (b0, st0), t0 = tree_cpu_s(server_pid), system_cpu(), time.monotonic()
    with open(log, "w") as f:
        p = subprocess.Popen(NICE + ["taskset", "-c", str(cpu)] + cmd, stdout=f,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = t0 + timeout
        rc, ru = None, None
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                rc, ru = os.waitstatus_to_exitcode(status), usage
                p.returncode = rc
                break
            if time.monotonic() > deadline:
                p.kill()
                _, status, ru = os.wait4(p.pid, 0)
                rc = 124
                p.returncode = rc
                break
            time.sleep(0.01)
    t1 = time.monotonic()
    s1, (b1, st1) = tree_cpu_s(server_pid), system_cpu()
    wall = t1 - t0
    srv = s1 - s0
    cli = ru.ru_utime + ru.ru_stime
    return {"rc": rc, "wall_s": wall, "srv_cpu_s": srv,
            "srv_cores": srv / wall, "cli_cores": cli / wall,
            "other_cores": (b1 - b0 - srv - cli) / wall,
            "steal_cores": (st1 - st0) / wall}


def parse_loadgen(path):
    with open(path) as f:
        for line in f:
            if line.startswith("conns="):
                return dict(kv.split("=", 1) for kv in line.split())
    return {}


def to_us(value, unit):
    return float(value) * {"us": 1, "ms": 1e3, "s": 1e6}[unit]


def parse_wrk(path):
    text = open(path).read()
    out = {}
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    if m:
        out["requests"] = int(m.group(1))
        out["secs"] = to_us(m.group(2), m.group(3)) / 1e6
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if m:
        out["rps"] = float(m.group(1))
    for pct, key in (("50", "p50_us"), ("99", "p99_us")):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
        if m and float(m.group(1)) > 0:  # wrk prints 0 past its histogram
            out[key] = to_us(m.group(1), m.group(2))
    errors = 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        errors += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                  r"timeout (\d+)", text)
    if m:  # read errors are the server closing: count all but timeouts
        errors += int(m.group(1)) + int(m.group(2)) + int(m.group(3))
    out["errors"] = errors
    return out


def parse_redis_csv(path):
    with open(path) as f:
        rows = [r for r in csv.reader(f) if r]
    out = {"errors": 0}
    for r in rows:
        if r[0] in ("SET", "GET") and len(r) >= 7:
            out["rps"] = float(r[1])
            out["p50_us"] = float(r[4]) * 1e3
            out["p99_us"] = float(r[6]) * 1e3
        elif any("rror" in c for c in r):
            out["errors"] += 1
    return out


def parse_stime(path):
    """openssl s_time's output: connections counted (its "N connections in
    T real seconds" line) and the per-connection marks it prints, '*' (or
    't', '3' for old versions) a full handshake, 'r' a resumed session."""
    with open(path, errors="replace") as f:
        text = f.read()
    out = {"full": 0, "resumed": 0}
    m = re.search(r"^(\d+) connections in \d+ real seconds", text, re.M)
    if m:
        out["conns"] = int(m.group(1))
    for line in text.splitlines():
        if re.fullmatch(r"[*rt3]+", line.strip()):
            out["resumed"] += line.count("r")
            out["full"] += len(line.strip()) - line.count("r")
    return out


def https_get(port, path, timeout=5.0):
    """GET path over a fresh TLS connection to 127.0.0.1:port (certificate
    not checked; HTTP/1.1, Connection: close, read to the end). Returns
    (status, body bytes, "protocol cipher"); raises OSError on failure."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\n"
                      "Connection: close\r\n\r\n".encode())
            chunks = []
            while True:
                try:
                    b = s.recv(1 << 16)
                except ssl.SSLError:  # no close_notify: the end all the same
                    break
                if not b:
                    break
                chunks.append(b)
            got = f"{s.version()} {s.cipher()[0]}"
    data = b"".join(chunks)
    head, _, body = data.partition(b"\r\n\r\n")
    m = re.match(rb"HTTP/1\.[01] (\d{3})", head)
    return (int(m.group(1)) if m else 0), body, got


def resp_get(port, key):
    """GET key over a fresh connection; returns the bulk value or None."""
    with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
        s.sendall(f"*2\r\n$3\r\nGET\r\n${len(key)}\r\n{key}\r\n".encode())
        data = b""
        while b"\r\n" not in data or (data.startswith(b"$") and
                                      data.count(b"\r\n") < 2 and
                                      not data.startswith(b"$-1")):
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    if data.startswith(b"$") and not data.startswith(b"$-1"):
        return data.split(b"\r\n")[1]
    return None


def nginx_http_common(t):
    """The http-block lines both nginx configurations share (temp under t)."""
    return f"""    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 60s;
    client_body_temp_path {t}/body;
    proxy_temp_path {t}/proxy;
    fastcgi_temp_path {t}/fastcgi;
    uwsgi_temp_path {t}/uwsgi;
    scgi_temp_path {t}/scgi;
"""


# ----------------------------------------------------------------- suites ---

class Runner:
    def __init__(self, a):
        self.a = a
        self.ports = Ports()
        self.out = os.path.abspath(a.out)
        self.bin = os.path.abspath(a.bin)
        self.logs = os.path.join(self.out, "logs")
        os.makedirs(self.logs, exist_ok=True)
        self.tsv = os.path.join(self.out, "results.tsv")
        with open(self.tsv, "w") as f:
            f.write("\t".join(FIELDS) + "\n")
        self.count = 0
        self.backends = a.backends.split()
        # the raw io_uring anchor is built outside Bazel (compare.sh says so
        # when it could not be): without it there are no "uring" rows
        self.uring_anchor = os.access(os.path.join(self.bin, "uring_echo"), os.X_OK)
        self.total = self.planned()
        self.started = time.monotonic()

    def servers(self, suite):
        """The servers of a suite, reference first, for --backends."""
        epoll, uring = "epoll" in self.backends, "io_uring" in self.backends
        return {
            "echo": (["epoll"] + ["uring"] * (uring and self.uring_anchor) + ["uv"]
                     + ["actnet"] * epoll + ["actnet-uring"] * uring),
            "http": ["nginx"] + ["actnet"] * epoll + ["actnet-uring"] * uring,
            "redis": (["redis"] + ["actnet-1", "actnet-2"] * epoll
                      + ["actnet-uring-1", "actnet-uring-2"] * uring),
            "tls": ["nginx"] + ["actnet"] * epoll + ["actnet-uring"] * uring,
        }[suite]

    def planned(self):
        a, n = self.a, 0
        for s in a.suites.split():
            rows = {"echo": len(a.echo_rows.split()), "http": 2, "redis": 4,
                    "tls": len(TLS_ROWS)}[s]
            n += rows * len(self.servers(s))
        return n * a.reps

    def record(self, rep, suite, row, server, port, r):
        self.count += 1
        row_out = {k: "" for k in FIELDS}
        row_out.update(rep=rep, suite=suite, row=row, server=server, port=port)
        for k, v in r.items():
            if k in row_out:
                row_out[k] = f"{v:.6g}" if isinstance(v, float) else v
        with open(self.tsv, "a") as f:
            f.write("\t".join(str(row_out[k]) for k in FIELDS) + "\n")
        el = time.monotonic() - self.started
        rate = r.get("rate")
        us = r.get("srv_us_per_op")
        print(f"[{self.count}/{self.total} {el:4.0f}s] rep {rep} {suite} {row} "
              f"{server}: rc={r.get('rc')} "
              f"rate={rate if rate is None else f'{rate:,.0f}'} "
              f"us/op={us if us is None else f'{us:.3f}'} "
              f"other={r.get('other_cores', float('nan')):.2f} "
              f"{r.get('note', '')}", flush=True)

    def start(self, cmd, tag, port, server, cwd=None):
        """(Server, None) once it listens on port (on the backend its name
        says), else (None, the result to record)."""
        log = os.path.join(self.logs, f"{tag}.server.log")
        srv = Server(cmd, log, self.a.srv_cpu, cwd)
        if not srv.wait_listening(port):
            srv.stop()
            try:
                with open(log, errors="replace") as f:
                    last = [line.strip() for line in f if line.strip()][-1:]
            except OSError:
                last = []
            note = "server did not start" + (f": {last[0][:120]}" if last else "")
            return None, {"rc": 98, "note": re.sub(r"\s+", " ", note)}
        wrong = self.wrong_backend(server, srv)
        if wrong:
            srv.stop()
            return None, {"rc": 95, "note": wrong}
        return srv, None

    @staticmethod
    def wrong_backend(server, srv):
        """Why an actnet server is not on the backend its name says, or ""."""
        if not server.startswith("actnet"):
            return ""
        want_uring = "uring" in server
        deadline = time.monotonic() + 3  # the loops set up their rings in Run()
        while True:
            kinds = anon_inodes(srv.pid)
            if ("[io_uring]" in kinds) == want_uring:
                return ""
            if not want_uring or time.monotonic() > deadline or not srv.alive():
                break
            time.sleep(0.05)
        return ("not on io_uring: no io_uring fd" if want_uring
                else "not on epoll: holds an io_uring fd")

    @staticmethod
    def rotated(items, rep):
        k = (rep - 1) % len(items)
        return items[k:] + items[:k]

    # -- echo
    def echo_cmd(self, server, port):
        b = self.bin
        actnet = [f"{b}/echo", f"--addr=tcp://127.0.0.1:{port}", "--loops=1"]
        return {"epoll": [f"{b}/epoll_echo", "-p", str(port)],
                "uv": [f"{b}/uv_echo", "-p", str(port)],
                "uring": [f"{b}/uring_echo", "-p", str(port)],
                "actnet": actnet,
                "actnet-uring": actnet + ["--backend=io_uring"]}[server]

    def echo(self, rep):
        a = self.a
        for row in a.echo_rows.split():
            conns, size, depth = row.split(":")
            for server in self.rotated(self.servers("echo"), rep):
                port = self.ports.fresh()
                tag = f"r{rep}-echo-{row.replace(':', '_')}-{server}"
                srv, failed = self.start(self.echo_cmd(server, port), tag, port, server)
                if not srv:
                    self.record(rep, "echo", row, server, port, failed)
                    continue
                log = os.path.join(self.logs, f"{tag}.client.log")
                r = run_client(
                    [f"{self.bin}/loadgen", f"--addr=tcp://127.0.0.1:{port}",
                     f"--conns={conns}", f"--size={size}", f"--depth={depth}",
                     f"--duration={a.dur}", f"--warmup={a.warm}",
                     f"--server_pid={srv.pid}"],
                    a.cli_cpu, a.dur + a.warm + 25, log, srv.pid)
                if not srv.alive():
                    r["rc"], r["note"] = r["rc"] or 97, "server died"
                srv.stop()
                g = parse_loadgen(log)
                # loadgen's own window (after warm-up) is the better one
                fnum = lambda k: float(g[k]) if k in g else None  # noqa: E731
                res = {"rc": r["rc"], "rate": fnum("rps"),
                       "ops": (fnum("rps") or 0) * (fnum("secs") or a.dur),
                       "wall_s": fnum("secs"),
                       "srv_cores": fnum("srv_cpu"),
                       "srv_us_per_op": fnum("srv_us_per_op"),
                       "cli_cores": fnum("cli_cpu"),
                       "other_cores": fnum("other_cpu"),
                       "steal_cores": fnum("steal"),
                       "p50_us": fnum("p50_us"), "p99_us": fnum("p99_us"),
                       "errors": int(float(g.get("errors", 1))),
                       "note": r.get("note", "")}
                secs = res["wall_s"] or 0
                if res["rc"] == 0 and abs(secs - a.dur) > 0.05 * a.dur:
                    # loadgen's sampling thread ran late (e.g. starved): the
                    # CPU window does not match the counted one
                    res["rc"], res["note"] = 96, f"loadgen window {secs:.2f} s"
                if res["srv_cores"] is not None and res["wall_s"]:
                    res["srv_cpu_s"] = res["srv_cores"] * res["wall_s"]
                self.record(rep, "echo", row, server, port, res)

    # -- http
    def nginx_cmd(self, port):
        d = os.path.join(self.out, "nginx")
        os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
        conf = os.path.join(d, f"nginx-{port}.conf")
        t = os.path.join(d, "tmp")
        with open(conf, "w") as f:
            f.write(f"""# generated by perf/compare/compare.py
worker_processes 1;
daemon off;
master_process on;
pid {d}/nginx-{port}.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
{nginx_http_common(t)}    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{
            default_type text/plain;
            return 200 "Hello, World!";
        }}
    }}
}}
""")
        return ["nginx", "-p", d + "/", "-e", f"{d}/error.log", "-c", conf]

    def http(self, rep):
        a = self.a
        for mode in ("plain", f"pipe{a.http_depth}"):
            for server in self.rotated(self.servers("http"), rep):
                port = self.ports.fresh()
                tag = f"r{rep}-http-{mode}-{server}"
                cmd = (self.nginx_cmd(port) if server == "nginx" else
                       [f"{self.bin}/http", f"--addr=tcp://127.0.0.1:{port}",
                        "--loops=1"])
                if server == "actnet-uring":
                    cmd.append("--backend=io_uring")
                srv, failed = self.start(cmd, tag, port, server)
                if not srv:
                    self.record(rep, "http", mode, server, port, failed)
                    continue
                wrk = ["wrk", "-t1", f"-c{a.http_conns}", f"-d{a.dur}s",
                       "--latency", "--timeout", "5s"]
                if mode != "plain":
                    wrk += ["-s", os.path.join(HERE, "pipeline16.lua")]
                wrk.append(f"http://127.0.0.1:{port}/")
                if mode != "plain":
                    wrk += ["--", str(a.http_depth), "/"]
                log = os.path.join(self.logs, f"{tag}.client.log")
                r = run_client(wrk, a.cli_cpu, a.dur + 20, log, srv.pid)
                if not srv.alive():
                    r["rc"], r["note"] = r["rc"] or 97, "server died"
                srv.stop()
                w = parse_wrk(log)
                n = w.get("requests", 0)
                r.update(rate=w.get("rps"), ops=n, p50_us=w.get("p50_us"),
                         p99_us=w.get("p99_us"), errors=w.get("errors", 1),
                         srv_us_per_op=(r["srv_cpu_s"] * 1e6 / n if n else None))
                self.record(rep, "http", mode, server, port, r)

    # -- tls
    def tls_setup(self):
        """OUT/tls: an ECDSA P-256 certificate (cert.pem, key.pem) for
        localhost and 127.0.0.1, and www/1mib.bin (random bytes); once per run."""
        d = os.path.join(self.out, "tls")
        www = os.path.join(d, "www")
        os.makedirs(www, exist_ok=True)
        self.tls_cert = os.path.join(d, "cert.pem")
        self.tls_key = os.path.join(d, "key.pem")
        self.tls_www = www
        cmd = ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
               "ec_paramgen_curve:P-256", "-nodes", "-days", "7",
               "-subj", "/CN=localhost",
               "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
               "-keyout", self.tls_key, "-out", self.tls_cert]
        with open(os.path.join(self.logs, "tls-openssl-req.log"), "w") as f:
            rc = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, timeout=30)
        if rc != 0:
            sys.exit(f"tls: openssl req failed (rc {rc}), see {self.logs}/tls-openssl-req.log")
        self.tls_bulk = os.urandom(BULK_BYTES)
        with open(os.path.join(www, "1mib.bin"), "wb") as f:
            f.write(self.tls_bulk)

    def tls_nginx_cmd(self, port):
        d = os.path.join(self.out, "nginx")
        t = os.path.join(d, "tmp")
        os.makedirs(t, exist_ok=True)
        conf = os.path.join(d, f"nginx-tls-{port}.conf")
        with open(conf, "w") as f:
            f.write(f"""# generated by perf/compare/compare.py (tls suite)
# master_process off: one process, the one started, serves (its CPU is the server's)
worker_processes 1;
master_process off;
daemon off;
pid {d}/nginx-tls-{port}.pid;
error_log {d}/error.log warn;
events {{ worker_connections 8192; }}
http {{
{nginx_http_common(t)}    server {{
        listen 127.0.0.1:{port} ssl backlog=4096;
        ssl_certificate {self.tls_cert};
        ssl_certificate_key {self.tls_key};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_tickets on;
        root {self.tls_www};
        location = /plaintext {{
            default_type text/plain;
            return 200 "Hello, World!";
        }}
    }}
}}
""")
        return ["nginx", "-p", d + "/", "-e", f"{d}/error.log", "-c", conf]

    def tls_check(self, port, path):
        """One request before the load: "" and the negotiated protocol and
        cipher, or what is wrong with the answer."""
        try:
            status, body, got = https_get(port, path)
        except OSError as e:
            return f"probe GET {path}: {type(e).__name__}: {e}"[:160], ""
        if status != 200:
            return f"probe GET {path}: status {status}", got
        if path.endswith(".bin") and body != self.tls_bulk:
            return (f"probe GET {path}: {len(body)} bytes, not the {BULK_BYTES}-byte "
                    "file"), got
        return "", got

    def tls_client(self, row, port):
        a = self.a
        url = f"https://127.0.0.1:{port}"
        if row in ("handshake", "resume"):
            return ["openssl", "s_time", "-connect", f"127.0.0.1:{port}",
                    "-new" if row == "handshake" else "-reuse", "-time", str(a.dur),
                    "-www", "/plaintext"]
        conns = a.tls_bulk_conns if row == "bulk" else a.tls_conns
        wrk = ["wrk", "-t1", f"-c{conns}", f"-d{a.dur}s", "--latency", "--timeout", "5s"]
        if row == "bulk":
            return wrk + [f"{url}/1mib.bin"]
        if row == "pipe":
            return wrk + ["-s", os.path.join(HERE, "pipeline16.lua"), f"{url}/plaintext",
                          "--", str(a.http_depth), "/plaintext"]
        return wrk + [f"{url}/plaintext"]

    def tls(self, rep):
        a = self.a
        for row in TLS_ROWS:
            name = f"pipe{a.http_depth}" if row == "pipe" else row
            for server in self.rotated(self.servers("tls"), rep):
                port = self.ports.fresh()
                tag = f"r{rep}-tls-{name}-{server}"
                if server == "nginx":
                    cmd = self.tls_nginx_cmd(port)
                else:
                    cmd = [f"{self.bin}/http", f"--addr=tls://127.0.0.1:{port}",
                           f"--tls_cert={self.tls_cert}", f"--tls_key={self.tls_key}",
                           f"--static_dir={self.tls_www}", "--loops=1"]
                    if server == "actnet-uring":
                        cmd.append("--backend=io_uring")
                srv, failed = self.start(cmd, tag, port, server)
                if not srv:
                    self.record(rep, "tls", name, server, port, failed)
                    continue
                wrong, got = self.tls_check(port, "/1mib.bin" if row == "bulk"
                                            else "/plaintext")
                if wrong:
                    srv.stop()
                    self.record(rep, "tls", name, server, port,
                                {"rc": 94, "errors": 1, "note": wrong})
                    continue
                log = os.path.join(self.logs, f"{tag}.client.log")
                r = run_client(self.tls_client(row, port), a.cli_cpu, a.dur + 20, log,
                               srv.pid)
                notes = [got]
                if not srv.alive():
                    r["rc"] = r["rc"] or 97
                    notes.append("server died")
                srv.stop()
                if row in ("handshake", "resume"):
                    t = parse_stime(log)
                    n = t.get("conns", 0)
                    errors = 0 if n else 1  # no summary line: s_time failed
                    # the kind the row is about: full handshakes, or resumptions
                    wrong_kind = t["resumed"] if row == "handshake" else t["full"]
                    if wrong_kind:
                        errors += wrong_kind
                        notes.append(f"{wrong_kind} of {n} connections "
                                     + ("resumed" if row == "handshake" else "not resumed"))
                    if n and t["full"] + t["resumed"] != n:
                        errors += 1
                        notes.append(f"{t['full'] + t['resumed']} marks for {n} connections")
                    notes.append(f"full={t['full']} resumed={t['resumed']}")
                    r.update(rate=n / r["wall_s"] if n else None, ops=n, errors=errors,
                             srv_us_per_op=(r["srv_cpu_s"] * 1e6 / n if n else None))
                else:
                    w = parse_wrk(log)
                    n = w.get("requests", 0)
                    ops = n * BULK_BYTES / 1e6 if row == "bulk" else n  # bulk: MB
                    rate = w.get("rps")
                    if row == "bulk" and w.get("secs"):
                        rate = ops / w["secs"]
                    r.update(rate=rate, ops=ops, p50_us=w.get("p50_us"),
                             p99_us=w.get("p99_us"), errors=w.get("errors", 1),
                             srv_us_per_op=(r["srv_cpu_s"] * 1e6 / ops if ops else None))
                r["note"] = "; ".join(x for x in notes if x)
                self.record(rep, "tls", name, server, port, r)

    # -- redis
    def redis(self, rep):
        a = self.a
        rdir = os.path.join(self.out, "redis")
        os.makedirs(rdir, exist_ok=True)
        for server in self.rotated(self.servers("redis"), rep):
            port = self.ports.fresh()
            tag = f"r{rep}-redis-{server}"
            if server == "redis":
                cmd = ["redis-server", "--save", "", "--appendonly", "no",
                       "--port", str(port), "--bind", "127.0.0.1",
                       "--daemonize", "no", "--dir", rdir]
            else:  # actnet-N, actnet-uring-N: N loops
                cmd = [f"{self.bin}/redis", f"--addr=tcp://127.0.0.1:{port}",
                       f"--loops={server.rsplit('-', 1)[1]}"]
                if server.startswith("actnet-uring"):
                    cmd.append("--backend=io_uring")
            rows = [(p, t) for p in (1, 16) for t in ("set", "get")]
            srv, failed = self.start(cmd, tag, port, server, cwd=rdir)
            if not srv:
                for p, t in rows:
                    self.record(rep, "redis", f"{t}-P{p}", server, port, failed)
                continue
            for p, t in rows:
                row = f"{t}-P{p}"
                n = a.redis_n1 if p == 1 else a.redis_n16
                log = os.path.join(self.logs, f"{tag}-{row}.client.log")
                r = run_client(
                    ["redis-benchmark", "-h", "127.0.0.1", "-p", str(port),
                     "-c", str(a.redis_conns), "-n", str(n), "-P", str(p),
                     "-t", t, "--csv"],
                    a.cli_cpu, a.redis_timeout, log, srv.pid)
                if not srv.alive():
                    r["rc"], r["note"] = r["rc"] or 97, "server died"
                b = parse_redis_csv(log)
                if r["rc"] == 0 and t == "set":  # the 3-byte value (-d 3) it set
                    try:
                        v = resp_get(port, "key:__rand_int__")
                    except OSError:
                        v = None
                    if v is None or len(v) != 3:
                        b["errors"] = b.get("errors", 0) + 1
                        r["note"] = f"GET after SET gave {v!r}"
                r.update(rate=b.get("rps"), ops=n, p50_us=b.get("p50_us"),
                         p99_us=b.get("p99_us"),
                         errors=b.get("errors", 0) + (0 if "rps" in b else 1),
                         srv_us_per_op=r["srv_cpu_s"] * 1e6 / n)
                self.record(rep, "redis", row, server, port, r)
                if not srv.alive():
                    break
            srv.stop()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--dur", type=int, default=5)
    p.add_argument("--warm", type=int, default=1)
    p.add_argument("--suites", default="echo http redis tls")
    p.add_argument("--echo_rows", default="100:16:1 1000:1024:1 100:16:16")
    p.add_argument("--http_conns", type=int, default=50)
    p.add_argument("--http_depth", type=int, default=16)
    p.add_argument("--tls_conns", type=int, default=100,
                   help="wrk connections of the tls keepalive and pipelined rows")
    p.add_argument("--tls_bulk_conns", type=int, default=8,
                   help="wrk connections of the tls bulk row (1 MiB responses)")
    p.add_argument("--redis_n1", type=int, default=100000)
    p.add_argument("--redis_n16", type=int, default=1000000)
    p.add_argument("--redis_conns", type=int, default=50)
    p.add_argument("--redis_timeout", type=int, default=40)
    p.add_argument("--srv_cpu", type=int, default=0)
    p.add_argument("--cli_cpu", type=int, default=1)
    p.add_argument("--nice", type=int, default=0,
                   help="nice value for servers and clients (negative needs root)")
    p.add_argument("--rt", type=int, default=0,
                   help="SCHED_RR priority for servers and clients (chrt -r; root)")
    p.add_argument("--backends", default="epoll io_uring",
                   help="actnet backends to run: epoll, io_uring or both")
    a = p.parse_args()
    if a.nice:
        NICE[:] = ["nice", "-n", str(a.nice)]
    if a.rt:
        NICE[:] = ["chrt", "-r", str(a.rt)]
    for s in a.suites.split():
        if s not in ("echo", "http", "redis", "tls"):
            sys.exit(f"unknown suite {s!r} (echo, http, redis, tls)")
    if not a.backends.split() or set(a.backends.split()) - {"epoll", "io_uring"}:
        sys.exit(f"--backends {a.backends!r}: one or both of epoll, io_uring")
    if os.environ.pop("ACTNET_BACKEND", None) is not None:
        print("note: ACTNET_BACKEND removed (the server names pick the backend)",
              file=sys.stderr)
    run = Runner(a)
    if "tls" in a.suites.split():
        run.tls_setup()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    b0, _ = system_cpu()
    t0 = time.monotonic()
    try:
        for rep in range(1, a.reps + 1):
            for suite in a.suites.split():
                getattr(run, suite)(rep)
    finally:
        for srv in list(LIVE):
            srv.stop()
    b1, _ = system_cpu()
    wall = time.monotonic() - t0
    with open(os.path.join(run.out, "meta.txt"), "a") as f:
        f.write(f"measure_wall_s: {wall:.0f}\n"
                f"machine_busy_cores_during_run: {(b1 - b0) / wall:.2f}\n")
    print(f"done: {run.count} runs in {wall:.0f} s; {run.tsv}")


if __name__ == "__main__":
    main()
