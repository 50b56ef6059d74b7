#!/usr/bin/env bash
# compare.sh: actnet's echo, HTTP (plain and over TLS) and Redis examples
# against their reference servers, one command, same machine, same run.
#
#   perf/compare/compare.sh                          # full run, ~14-16 min + build
#   RT=1 perf/compare/compare.sh                     # the same, SCHED_RR (shared box)
#   BACKENDS=epoll perf/compare/compare.sh           # actnet on epoll only, ~9-10 min
#   REPS=1 DUR=2 SUITES=echo perf/compare/compare.sh # a quick check (~2 min)
#   REPS=1 DUR=2 SUITES=tls perf/compare/compare.sh  # the TLS rows only (~1 min)
#
# Builds (bazel -c opt) the examples, //perf/loadgen and //perf/reference,
# copies the binaries into $OUT/bin (a rebuild by someone else sharing the
# tree cannot swap them mid-run), builds the raw io_uring anchor (below) into
# $OUT/bin too, then compare.py runs REPS repetitions; in
# each, every suite, every row and every server (server order rotated each
# repetition), with the server pinned to CPU $SRV_CPU and the load to CPU
# $CLI_CPU, on a fresh 127.0.0.1 port:
#
#   echo   perf/loadgen --conns C --size S --depth D  (rows C:S:D, $ECHO_ROWS)
#          vs raw epoll (perf/reference/epoll_echo, the reference), raw
#          io_uring ("uring": uring_echo_server -p PORT, see below), libuv
#          (uv_echo) and actnet (examples/echo --loops=1)
#   http   wrk -t1 -c$HTTP_CONNS -d${DUR}s, plain and pipelined $HTTP_DEPTH deep
#          (pipeline16.lua) vs nginx (reference: 1 worker, access_log off,
#          return 200 "Hello, World!", config generated in $OUT/nginx) and
#          actnet (examples/http --loops=1)
#   redis  redis-benchmark -c 50 -t set / -t get, -P 1 (-n $REDIS_N1) and
#          -P 16 (-n $REDIS_N16) vs redis-server --save "" --appendonly no
#          (reference) and actnet (examples/redis) with --loops=1 and
#          --loops=2 (the cross-loop row; both loops on CPU $SRV_CPU)
#   tls    HTTPS, one ECDSA P-256 certificate made per run by `openssl req`
#          (CN and subjectAltName localhost, 127.0.0.1) and a 1 MiB file of
#          random bytes, both in $OUT/tls; rows
#            keepalive  wrk -t1 -c$TLS_CONNS GET /plaintext      requests/s
#            pipe16     the same with pipeline16.lua, $HTTP_DEPTH deep
#            handshake  openssl s_time -new -time $DUR -www /plaintext: a new
#                       connection, full handshake, per request; rate =
#                       connections / wall seconds (handshakes/s)
#            resume     the same with -reuse: every connection resumes the
#                       session (a TLS 1.3 ticket)
#            bulk       wrk -t1 -c$TLS_BULK_CONNS GET /1mib.bin    MB/s; its CPU
#                       per operation is per MB (10^6 bytes)
#          s_time prints a mark per connection ('*' full, 'r' resumed): one of
#          the wrong kind for the row counts as an error. Before every run one
#          GET checks the server's answer (bulk: every byte) and notes the
#          protocol and cipher; a wrong answer skips the load (rc 94).
#          vs nginx (reference: one process, master_process off, TLS 1.2 and
#          1.3, ssl_session_tickets on, location = /plaintext returns "Hello,
#          World!", root = the file's folder; config in $OUT/nginx) and actnet
#          (examples/http --addr=tls://... --tls_cert --tls_key --static_dir
#          --loops=1)
#
# The backend is a dimension: with BACKENDS="epoll io_uring" (the default)
# every actnet server runs twice, as actnet / actnet-1 / actnet-2 (epoll) and
# as actnet-uring / actnet-uring-1 / actnet-uring-2 (--backend=io_uring), and
# the echo suite adds the raw io_uring anchor "uring". That anchor is not in
# this repository: it is uring_echo_server.c of the shared perf-anchors
# harness ($ANCHORS_DIR, default <git toplevel>/../shared/perf-anchors),
# compiled at run time with `cc -O2 ... -luring` in a temporary folder under
# /tmp (perf/lib/uring_anchor.sh); without that source or liburing the
# "uring" rows are left out (a one-line note says so). An actnet server whose
# process does not run on the backend its name says (compare.py looks for an
# io_uring fd) is stopped and its rows are recorded as failed (rc 95); a
# server that does not start, rc 98: the other rows still run.
# BACKENDS=epoll runs what ran before io_uring (no uring rows): use it where
# io_uring cannot run (kernel.io_uring_disabled, seccomp).
#
# Every run records rate and server CPU per operation (utime+stime of the
# server process tree from /proc/PID/stat, read before and after the load),
# client CPU and the CPU used by everything else (from /proc/stat: the
# noise). summarize.py writes $OUT/benchmarks.md (medians [min..max] over
# repetitions, ratios vs the reference paired per repetition, the redis
# 2-loop vs 1-loop CPU/op ratio, io_uring vs epoll ratios, the issues'
# targets) and plot.py the PNG
# charts in $OUT/img. With PUBLISH=1 (the default when all four suites run,
# echo, http, redis and tls)
# they are copied to docs/benchmarks.md and docs/img/, and the table between
# the compare markers in README.md's benchmark section is replaced.
# Hand-written analysis for docs/benchmarks.md lives in perf/compare/notes.md
# and is appended as is.
#
# Knobs (environment):
#   REPS=3 DUR=5 (seconds per echo/http run) WARM=1 (echo warm-up)
#   SUITES="echo http redis tls"  ECHO_ROWS="100:16:1 1000:1024:1 100:16:16"
#   BACKENDS="epoll io_uring" (actnet's backends to run: either or both)
#   HTTP_CONNS=50 HTTP_DEPTH=16 (http and tls pipelining)  REDIS_N1=100000
#   REDIS_N16=1000000  TLS_CONNS=100 (tls keepalive, pipe16)  TLS_BULK_CONNS=8
#   SRV_CPU=0 CLI_CPU=1  OUT=perf/out/compare-<timestamp>  PUBLISH=0|1
#   NICE=0   nice value for servers and clients (e.g. -10; negative needs root)
#   RT=0     SCHED_RR priority for servers and clients (chrt -r RT; root).
#            On a machine shared with builds, RT=1 removes most of the noise
#            (wake-ups no longer wait behind compilers), but while it runs the
#            other work gets only what the benchmark leaves (at least 5% by
#            the kernel's RT throttling): use it knowingly.
#   OUTPUT_BASE=<dir>   passed to bazel as --output_base (own Bazel cache)
#   ANCHORS_DIR=<dir>   the shared perf-anchors harness (uring_echo_server.c)
#   CC=cc               the compiler for the io_uring anchor
#   PY=/usr/bin/python3 (needs matplotlib for the charts: python3-matplotlib)
# Time: with the defaults the measuring takes 14-16 minutes on 2 cores
# (echo 45 runs x ~7 s, http 18 x ~6 s, redis 60 bounded runs, tls 45 x
# ~6.5 s), plus the build; with BACKENDS=epoll 9-10 minutes (echo 27, http 12,
# redis 36, tls 30 runs); every client run is bounded by a timeout (at most
# DUR+WARM+25 s for echo, DUR+20 s for http and tls, 40 s for redis).
# Only loopback is used and only PIDs this script started are signalled.
# Needs: bazel, taskset, python3, wrk, nginx, redis-server, redis-benchmark,
# and openssl for tls (tools/setup.sh installs them all).
set -euo pipefail

REPS=${REPS:-3}
DUR=${DUR:-5}
WARM=${WARM:-1}
SUITES=${SUITES:-"echo http redis tls"}
BACKENDS=${BACKENDS:-"epoll io_uring"}
ECHO_ROWS=${ECHO_ROWS:-"100:16:1 1000:1024:1 100:16:16"}
HTTP_CONNS=${HTTP_CONNS:-50}
HTTP_DEPTH=${HTTP_DEPTH:-16}
REDIS_N1=${REDIS_N1:-100000}
REDIS_N16=${REDIS_N16:-1000000}
TLS_CONNS=${TLS_CONNS:-100}
TLS_BULK_CONNS=${TLS_BULK_CONNS:-8}
SRV_CPU=${SRV_CPU:-0}
CLI_CPU=${CLI_CPU:-1}
NICE=${NICE:-0}
RT=${RT:-0}
PY=${PY:-$( [[ -x /usr/bin/python3 ]] && echo /usr/bin/python3 || echo python3)}
if [[ -z ${PUBLISH:-} ]]; then
  PUBLISH=0
  [[ $(tr ' ' '\n' <<<"$SUITES" | sort -u | tr '\n' ' ') == "echo http redis tls " ]] && PUBLISH=1
fi

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=${BUILD_WORKSPACE_DIRECTORY:-$(cd "$HERE/../.." && pwd)}
cd "$ROOT"
source "$ROOT/perf/lib/uring_anchor.sh"
OUT=${OUT:-perf/out/compare-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT/bin" "$OUT/logs" "$OUT/img"
OUT=$(cd "$OUT" && pwd)  # nginx wants absolute paths

for tool in taskset python3 timeout bazel wrk nginx redis-server redis-benchmark; do
  command -v "$tool" >/dev/null || {
    echo "missing tool: $tool (run tools/setup.sh)" >&2
    exit 2
  }
done
for s in $SUITES; do
  case $s in echo | http | redis | tls) ;; *) echo "SUITES: unknown suite '$s' (echo http redis tls)" >&2; exit 2 ;; esac
done
if [[ " $SUITES " == *" tls "* ]] && ! command -v openssl >/dev/null; then
  echo "missing tool: openssl (the tls suite's certificate and s_time; run tools/setup.sh)" >&2
  exit 2
fi
if (($(nproc) < 2)); then echo "needs 2 CPUs (server on one, load on another)" >&2; exit 2; fi
for b in $BACKENDS; do
  case $b in epoll | io_uring) ;; *) echo "BACKENDS: '$b' is not epoll or io_uring" >&2; exit 2 ;; esac
done
if [[ -z ${BACKENDS// /} ]]; then echo "BACKENDS: empty (epoll, io_uring or both)" >&2; exit 2; fi
if [[ " $BACKENDS " == *" io_uring "* && -r /proc/sys/kernel/io_uring_disabled &&
  $(cat /proc/sys/kernel/io_uring_disabled) != 0 ]]; then
  echo "note: kernel.io_uring_disabled=$(cat /proc/sys/kernel/io_uring_disabled): the io_uring" \
    "rows may fail; BACKENDS=epoll leaves them out" >&2
fi
if [[ -n ${ACTNET_BACKEND:-} ]]; then  # it would override --backend
  echo "note: ignoring ACTNET_BACKEND=$ACTNET_BACKEND (BACKENDS and the server names pick" \
    "the backend)" >&2
  unset ACTNET_BACKEND
fi

BAZEL=(bazel)
if [[ -n ${OUTPUT_BASE:-} ]]; then BAZEL+=(--output_base="$OUTPUT_BASE"); fi
t_build=$(date +%s)
"${BAZEL[@]}" build -c opt //examples/echo //examples/http //examples/redis \
  //perf/loadgen:loadgen //perf/reference:all
BIN=$("${BAZEL[@]}" info -c opt bazel-bin 2>/dev/null)
cp -f "$BIN/examples/echo/echo" "$BIN/examples/http/http" "$BIN/examples/redis/redis" \
  "$BIN/perf/loadgen/loadgen" "$BIN/perf/reference/epoll_echo" \
  "$BIN/perf/reference/uv_echo" "$OUT/bin/"
# The raw io_uring anchor, from the shared harness's source (not Bazel's):
# compare.py runs "uring" only when $OUT/bin/uring_echo exists.
uring_anchor=""
rm -f "$OUT/bin/uring_echo"
if [[ " $BACKENDS " == *" io_uring "* ]] && build_uring_anchor "$OUT/bin/uring_echo"; then
  uring_anchor=$(uring_anchor_desc)
fi
build_s=$(($(date +%s) - t_build))

rt_note=""
[[ $RT != 0 ]] && rt_note+=" RT=$RT"
[[ $NICE != 0 ]] && rt_note+=" NICE=$NICE"
[[ $BACKENDS != "epoll io_uring" ]] && rt_note+=" BACKENDS=\"$BACKENDS\""
cmdline="REPS=$REPS DUR=$DUR SUITES=\"$SUITES\"$rt_note perf/compare/compare.sh"
{
  echo "date: $(date -Is)"
  echo "command: $cmdline"
  echo "settings: REPS=$REPS DUR=$DUR WARM=$WARM SUITES=\"$SUITES\" ECHO_ROWS=\"$ECHO_ROWS\"" \
    "HTTP_CONNS=$HTTP_CONNS HTTP_DEPTH=$HTTP_DEPTH REDIS_N1=$REDIS_N1 REDIS_N16=$REDIS_N16" \
    "TLS_CONNS=$TLS_CONNS TLS_BULK_CONNS=$TLS_BULK_CONNS" \
    "SRV_CPU=$SRV_CPU CLI_CPU=$CLI_CPU NICE=$NICE RT=$RT BACKENDS=\"$BACKENDS\""
  echo "git: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    "($(git status --porcelain --untracked-files=no 2>/dev/null | wc -l) modified tracked files)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') x $(nproc)"
  echo "memory: $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
  echo "kernel: $(uname -r)"
  echo "os: $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "versions: $(nginx -v 2>&1 | sed 's/.*: //'), redis-server $(redis-server --version |
    sed -n 's/.*v=\([^ ]*\).*/\1/p'), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), libuv $(
    dpkg-query -W -f='${Version}' libuv1 2>/dev/null || echo '?')$(
    command -v openssl >/dev/null && echo ", $(openssl version | cut -d' ' -f1-2)")"
  if [[ -n $uring_anchor ]]; then echo "uring_anchor: $uring_anchor"; fi
  echo "loadavg_at_start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "build_s: $build_s"
} >"$OUT/meta.txt"

echo "compare: $REPS reps of [$SUITES] on [$BACKENDS]; output $OUT"
"$PY" "$HERE/compare.py" --bin "$OUT/bin" --out "$OUT" --reps "$REPS" --dur "$DUR" \
  --warm "$WARM" --suites "$SUITES" --echo_rows "$ECHO_ROWS" --http_conns "$HTTP_CONNS" \
  --http_depth "$HTTP_DEPTH" --redis_n1 "$REDIS_N1" --redis_n16 "$REDIS_N16" \
  --tls_conns "$TLS_CONNS" --tls_bulk_conns "$TLS_BULK_CONNS" \
  --srv_cpu "$SRV_CPU" --cli_cpu "$CLI_CPU" --nice "$NICE" --rt "$RT" --backends "$BACKENDS"
echo "loadavg_at_end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$OUT/meta.txt"

"$PY" "$HERE/summarize.py" --results "$OUT/results.tsv" --meta "$OUT/meta.txt" \
  --notes "$HERE/notes.md" --img img --out "$OUT/benchmarks.md" --readme_table "$OUT/readme_table.md"
if "$PY" -c 'import matplotlib' 2>/dev/null; then
  "$PY" "$HERE/plot.py" --results "$OUT/results.tsv" --outdir "$OUT/img"
else
  echo "matplotlib missing (python3-matplotlib): no charts" >&2
fi
cat "$OUT/benchmarks.md"

if [[ $PUBLISH == 1 ]]; then
  mkdir -p docs/img
  "$PY" "$HERE/summarize.py" --results "$OUT/results.tsv" --meta "$OUT/meta.txt" \
    --notes "$HERE/notes.md" --img img --out docs/benchmarks.md \
    --readme_table "$OUT/readme_table.md"
  cp -f "$OUT"/img/*.png docs/img/ 2>/dev/null || true
  mkdir -p perf/compare/results  # the raw rows behind docs/benchmarks.md
  cp -f "$OUT/results.tsv" perf/compare/results/latest.tsv
  cp -f "$OUT/meta.txt" perf/compare/results/latest-meta.txt
  "$PY" "$HERE/summarize.py" --splice_readme README.md --readme_table "$OUT/readme_table.md"
  echo "published: docs/benchmarks.md, docs/img/compare_*.png, README.md benchmark table"
fi
echo "results: $OUT"
