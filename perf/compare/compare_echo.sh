#!/usr/bin/env bash
# compare_echo.sh: actnet's echo example against the two yardsticks (raw
# epoll and libuv), one event loop each, same machine, same run.
#
#   perf/compare/compare_echo.sh                 # REPS=5 DUR=5 WARM=1
#   REPS=1 DUR=2 perf/compare/compare_echo.sh    # a quick check
#
# For every repetition (server order rotated each time), every row
# (conns:size:depth) and every server: start the server pinned to CPU 0 on a
# fresh loopback port, wait until it listens, run //perf/loadgen pinned to
# CPU 1 with --server_pid, stop the server by PID, append a row to
# $OUT/results.tsv. Then summarize_echo.py writes $OUT/summary.md.
#
# Knobs (environment): REPS, DUR, WARM, ROWS ("100:16:1 ..."), SERVERS
# (subset of "epoll uv uring actnet actnet-nc actnet-uring actnet-uring-nc";
# actnet-nc is actnet without wake-up coalescing, --coalesce_us=0;
# actnet-uring* the same on --backend=io_uring; uring is the raw io_uring
# echo uring_echo_server.c of the shared perf-anchors harness, compiled at
# run time with `cc -O2 ... -luring` under /tmp and left out, with a note,
# when its source or liburing is missing), ANCHORS_DIR (that harness;
# default <git toplevel>/../shared/perf-anchors), OUT (default
# perf/out/<timestamp>),
# MAX_OTHER (summarise only runs whose other_cpu, in cores, is at most this;
# re-summarise later with summarize_echo.py RESULTS.tsv META.txt 0.2).
# Only loopback is used and only PIDs this script started are signalled.
# Needs: bazel, taskset (util-linux), ss (iproute2), python3, timeout.
set -euo pipefail

REPS=${REPS:-5}
DUR=${DUR:-5}
WARM=${WARM:-1}
ROWS=${ROWS:-"100:16:1 1000:16:1 100:1024:1 1000:1024:1 100:16384:1 100:16:16"}
SERVERS=${SERVERS:-"epoll uv actnet"}
MAX_OTHER=${MAX_OTHER:-}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=${BUILD_WORKSPACE_DIRECTORY:-$(cd "$HERE/../.." && pwd)}
cd "$ROOT"
source "$ROOT/perf/lib/bench.sh"
OUT=${OUT:-perf/out/$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT/bin" "$OUT/logs"

read -r -a rows <<<"$ROWS"
read -r -a servers <<<"$SERVERS"
for s in "${servers[@]}"; do
  case $s in
    epoll | uv | uring | actnet | actnet-nc | actnet-uring | actnet-uring-nc) ;;
    *) echo "unknown server '$s'" >&2; exit 2 ;;
  esac
done
# The raw io_uring anchor, built from the shared harness's source (not by
# Bazel) into $OUT/bin; without it, its rows are left out (not failed).
uring_anchor=""
if [[ " ${servers[*]} " == *" uring "* ]]; then
  if build_uring_anchor "$OUT/bin/uring_echo"; then
    uring_anchor=$(uring_anchor_desc)
  else
    kept=()
    for s in "${servers[@]}"; do if [[ $s != uring ]]; then kept+=("$s"); fi; done
    if ((${#kept[@]} == 0)); then echo "no server left to run" >&2; exit 2; fi
    servers=("${kept[@]}")
  fi
fi
if [[ ${servers[0]} != epoll ]]; then
  echo "note: ratios are against 'epoll'; keep it in SERVERS for them" >&2
fi
for tool in taskset ss python3 timeout bazel; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 2; }
done
if (($(nproc) < 2)); then echo "needs 2 CPUs (server on 0, client on 1)" >&2; exit 2; fi

runs=$((REPS * ${#rows[@]} * ${#servers[@]}))
per_run=$((WARM + DUR + 1))
echo "compare_echo: $REPS reps x ${#rows[@]} rows x ${#servers[@]} servers = $runs runs of" \
  "~${per_run}s: expect ~$(((runs * per_run + 59) / 60)) min after the build (at most" \
  "$(((runs * (WARM + DUR + 30) + 59) / 60)) min). Output: $OUT"

# Build once, then run copies, so a rebuild by someone else sharing this tree
# cannot swap a binary mid-run.
bazel build //examples/echo //perf/loadgen:loadgen //perf/reference:all
BIN=$(bazel info bazel-bin 2>/dev/null)
cp -f "$BIN/examples/echo/echo" "$BIN/perf/loadgen/loadgen" \
  "$BIN/perf/reference/epoll_echo" "$BIN/perf/reference/uv_echo" "$OUT/bin/"

{
  echo "date: $(date -Is)"
  echo "command: REPS=$REPS DUR=$DUR WARM=$WARM ROWS=\"$ROWS\" SERVERS=\"$SERVERS\" perf/compare/compare_echo.sh"
  echo "git: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
    "($(git status --porcelain 2>/dev/null | grep -vc '^??' || true) modified tracked files)"
  if [[ -n $uring_anchor ]]; then echo "uring_anchor: $uring_anchor"; fi
  machine_lines
} >"$OUT/meta.txt"

fields=(conns size depth secs rps MBps p50_us p90_us p99_us p999_us max_us srv_cpu
  srv_us_per_op cli_cpu other_cpu steal errors)
tsv=$OUT/results.tsv
(IFS=$'\t'; echo "rep	row	server	port	rc	${fields[*]}") >"$tsv"

record() {  # rep row server port rc logfile
  local line value out=("$1" "$2" "$3" "$4" "$5") f
  line=$(grep -m1 '^conns=' "$6" || true)
  for f in "${fields[@]}"; do
    value=$(tr ' ' '\n' <<<"$line" | sed -n "s/^$f=//p")
    out+=("${value:-NA}")
  done
  (IFS=$'\t'; echo "${out[*]}") >>"$tsv"
}

run=0
for ((rep = 1; rep <= REPS; rep++)); do
  n=${#servers[@]}
  order=()
  for ((k = 0; k < n; k++)); do order+=("${servers[$(((k + rep - 1) % n))]}"); done
  for row in "${rows[@]}"; do
    IFS=: read -r conns size depth <<<"$row"
    for server in "${order[@]}"; do
      run=$((run + 1))
      fresh_port
      tag="r$rep-c$conns-s$size-d$depth-$server"
      if ! start_echo_server "$server" "$port" "$OUT/logs/$tag.server.log"; then
        echo "[$run/$runs] $tag: server did not start (see $OUT/logs/$tag.server.log)" >&2
        stop_server
        record "$rep" "$row" "$server" "$port" 98 /dev/null
        continue
      fi
      rc=0
      timeout $((WARM + DUR + 25)) taskset -c 1 "$OUT/bin/loadgen" \
        "--addr=tcp://127.0.0.1:$port" "--conns=$conns" "--size=$size" "--depth=$depth" \
        "--duration=$DUR" "--warmup=$WARM" "--server_pid=$server_pid" \
        >"$OUT/logs/$tag.loadgen.log" 2>&1 || rc=$?
      if ! kill -0 "$server_pid" 2>/dev/null; then
        echo "[$run/$runs] $tag: server exited during the run" >&2
        if [[ $rc == 0 ]]; then rc=97; fi
      fi
      stop_server
      record "$rep" "$row" "$server" "$port" "$rc" "$OUT/logs/$tag.loadgen.log"
      echo "[$run/$runs] $tag rc=$rc $(grep -m1 '^conns=' "$OUT/logs/$tag.loadgen.log" |
        grep -o 'rps=[^ ]*\|srv_us_per_op=[^ ]*\|p99_us=[^ ]*\|other_cpu=[^ ]*' | tr '\n' ' ')"
    done
  done
done

python3 "$HERE/summarize_echo.py" "$tsv" "$OUT/meta.txt" "$MAX_OTHER" >"$OUT/summary.md"
cat "$OUT/summary.md"
echo "wrote $tsv and $OUT/summary.md"
