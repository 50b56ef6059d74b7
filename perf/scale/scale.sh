#!/usr/bin/env bash
# scale.sh: connection-scale benchmark of actnet's echo server.
#
#   perf/scale/scale.sh                         # CONNS=19000 REPS=3 LOOPS=1
#   CONNS=100000 PER_PROC=20000 perf/scale/scale.sh   # a machine with a higher fd limit
#
# Each repetition: start examples/echo (--loops=$LOOPS, pinned to CPU 0) on
# a fresh loopback port, wait for "listening", run //perf/scale:scale
# (pinned to CPU 1) with --server_pid, which opens $CONNS idle connections
# from worker processes of at most $PER_PROC connections each, measures the
# accept rate (clients and server), echoes one checked message on every
# connection and reads the server's VmRSS/RssAnon before, with all idle and
# after close. Then stop the server by PID. Results: $OUT/results.tsv (one
# row per repetition), $OUT/summary.md (medians, min - max), logs in
# $OUT/logs.
#
# Knobs (environment): CONNS, REPS, LOOPS, PER_PROC, SOURCES ("auto" or
# "127.0.0.2,127.0.0.3,..."), INFLIGHT (pending connects per worker),
# MAX_QUEUE (workers pause while the server's accept queue holds this many;
# 0 = never),
# SIZE (echo bytes), SETTLE (seconds before each memory reading), BACKEND
# (the server's --backend: epoll, the default, or io_uring), ECHO_BIN (run
# this echo binary instead of the tree's, e.g. an older build), OUT
# (default perf/out/scale-<timestamp>), BAZEL_OUTPUT_BASE (passed to bazel
# as --output_base). Only loopback is used and only PIDs this script
# started are signalled; every step is bounded by `timeout`.
# Needs: bazel, taskset, ss, python3, timeout.
set -euo pipefail

CONNS=${CONNS:-19000}
REPS=${REPS:-3}
LOOPS=${LOOPS:-1}
PER_PROC=${PER_PROC:-5000}
SOURCES=${SOURCES:-auto}
INFLIGHT=${INFLIGHT:-256}
MAX_QUEUE=${MAX_QUEUE:-2048}
SIZE=${SIZE:-16}
SETTLE=${SETTLE:-1}
BACKEND=${BACKEND:-epoll}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=${BUILD_WORKSPACE_DIRECTORY:-$(cd "$HERE/../.." && pwd)}
cd "$ROOT"
source "$ROOT/perf/lib/bench.sh"
OUT=${OUT:-perf/out/scale-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT/bin" "$OUT/logs"
for tool in taskset ss python3 timeout bazel; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 2; }
done
bazel_cmd=(bazel)
if [[ -n ${BAZEL_OUTPUT_BASE:-} ]]; then bazel_cmd+=("--output_base=$BAZEL_OUTPUT_BASE"); fi

# The server holds every connection itself: it needs CONNS fds plus a few.
hard=$(ulimit -Hn)
if [[ $hard != unlimited ]] && ((CONNS + 64 > hard)); then
  echo "CONNS=$CONNS needs $((CONNS + 64)) fds in the server; the hard limit is $hard" >&2
  exit 2
fi
ulimit -n "$hard"

server_cpu=(taskset -c 0)
client_cpu=(taskset -c 1)
if (($(nproc) < 2)); then server_cpu=(); client_cpu=(); fi

# Build once, run copies (a rebuild by someone else cannot swap them).
"${bazel_cmd[@]}" build //examples/echo //perf/scale:scale
BIN=$("${bazel_cmd[@]}" info bazel-bin 2>/dev/null)
cp -f "${ECHO_BIN:-$BIN/examples/echo/echo}" "$OUT/bin/echo"
cp -f "$BIN/perf/scale/scale" "$OUT/bin/"

{
  echo "date: $(date -Is)"
  echo "command: CONNS=$CONNS REPS=$REPS LOOPS=$LOOPS PER_PROC=$PER_PROC SOURCES=$SOURCES" \
    "INFLIGHT=$INFLIGHT MAX_QUEUE=$MAX_QUEUE SIZE=$SIZE SETTLE=$SETTLE BACKEND=$BACKEND" \
    "ECHO_BIN=${ECHO_BIN:-}" \
    "perf/scale/scale.sh"
  echo "git: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "nproc: $(nproc), fd hard limit: $hard, ephemeral ports:" \
    "$(tr '\t' - </proc/sys/net/ipv4/ip_local_port_range)," \
    "somaxconn: $(cat /proc/sys/net/core/somaxconn)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "kernel: $(uname -r)"
} >"$OUT/meta.txt"
cat "$OUT/meta.txt"

start_server() {  # port log -> sets server_pid
  "${server_cpu[@]}" "$OUT/bin/echo" "--addr=tcp://127.0.0.1:$1" "--loops=$LOOPS" \
    "--backend=$BACKEND" >"$2" 2>&1 &
  server_pid=$!  # taskset execs: $! is the server
  server_started grep -q listening "$2"
}

fields=(ok failed client_s client_cps server_s server_cps srv_us_per_accept server_conns
  max_accept_queue listen_overflows
  listen_drops echo_ok echo_bad echo_missing rss_before_kb rss_idle_kb rss_echo_kb
  rss_closed_kb anon_before_kb anon_idle_kb anon_echo_kb rss_per_conn_B anon_per_conn_B
  rss_per_conn_echo_B anon_per_conn_echo_B close_s)
tsv=$OUT/results.tsv
(IFS=$'\t'; echo "rep	conns	loops	rc	${fields[*]}") >"$tsv"

failures=0
for ((rep = 1; rep <= REPS; rep++)); do
  fresh_port
  log=$OUT/logs/r$rep
  if ! start_server "$port" "$log.server.log"; then
    echo "rep $rep: server did not start (see $log.server.log)" >&2
    stop_server 50
    failures=$((failures + 1))
    continue
  fi
  rc=0
  timeout 300 "${client_cpu[@]}" "$OUT/bin/scale" "--addr=tcp://127.0.0.1:$port" \
    "--conns=$CONNS" "--per_proc=$PER_PROC" "--sources=$SOURCES" "--inflight=$INFLIGHT" "--max_queue=$MAX_QUEUE" \
    "--size=$SIZE" "--settle=$SETTLE" "--server_pid=$server_pid" >"$log.scale.log" 2>&1 || rc=$?
  stop_server 50
  sed 's/^/  /' "$log.scale.log"
  ((rc == 0)) || failures=$((failures + 1))
  line=$(grep -m1 '^result ' "$log.scale.log" || true)
  out=("$rep" "$CONNS" "$LOOPS" "$rc")
  for f in "${fields[@]}"; do
    value=$(tr ' ' '\n' <<<"$line" | sed -n "s/^$f=//p")
    out+=("${value:-NA}")
  done
  (IFS=$'\t'; echo "${out[*]}") >>"$tsv"
done

python3 - "$tsv" "$OUT/meta.txt" >"$OUT/summary.md" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
meta = open(sys.argv[2]).read().strip().splitlines()
print("\n".join("    " + m for m in meta))
print()
def col(name):
    vals = []
    for r in rows:
        try:
            vals.append(float(r[name]))
        except (ValueError, KeyError):
            pass
    return vals
def fmt(name, digits=0):
    v = col(name)
    if not v:
        return "NA"
    med = statistics.median(v)
    f = "{:,.%df}" % digits
    return f"{f.format(med)} ({f.format(min(v))} - {f.format(max(v))})" if len(v) > 1 else f.format(med)
print(f"Repetitions: {len(rows)}, exit status 0 in {sum(r['rc'] == '0' for r in rows)}. "
      "Medians, (min - max) over repetitions.")
print()
print("| measure | value |")
print("|---|---|")
table = [
    ("connections established (ok / failed)", f"{fmt('ok')} / {fmt('failed')}"),
    ("connect phase, clients see all established (s)", fmt("client_s", 3)),
    ("accept rate seen by the clients (conn/s)", fmt("client_cps")),
    ("connect phase, server has accepted all (s)", fmt("server_s", 3)),
    ("accept rate seen by the server (conn/s)", fmt("server_cps")),
    ("server CPU per accepted connection (us)", fmt("srv_us_per_accept", 1)),
    ("connections the server holds after the connect phase (its fd count)", fmt("server_conns")),
    ("longest accept queue seen", fmt("max_accept_queue")),
    ("listen queue overflows / drops (TcpExt, whole network namespace)",
     f"{fmt('listen_overflows')} / {fmt('listen_drops')}"),
    ("echo ok / bad / missing", f"{fmt('echo_ok')} / {fmt('echo_bad')} / {fmt('echo_missing')}"),
    ("server VmRSS before / idle / after echo / after close (kB)",
     f"{fmt('rss_before_kb')} / {fmt('rss_idle_kb')} / {fmt('rss_echo_kb')} / {fmt('rss_closed_kb')}"),
    ("server RssAnon before / idle / after echo (kB)",
     f"{fmt('anon_before_kb')} / {fmt('anon_idle_kb')} / {fmt('anon_echo_kb')}"),
    ("**VmRSS per idle connection (B)**", fmt("rss_per_conn_B")),
    ("**RssAnon per idle connection (B)**", fmt("anon_per_conn_B")),
    ("VmRSS / RssAnon per connection after the echo (B)",
     f"{fmt('rss_per_conn_echo_B')} / {fmt('anon_per_conn_echo_B')}"),
    ("server released every fd after the clients closed, within (s)", fmt("close_s", 3)),
]
for k, v in table:
    print(f"| {k} | {v} |")
EOF
echo
cat "$OUT/summary.md"
echo "results: $OUT/results.tsv, summary: $OUT/summary.md"
exit $((failures > 0))
