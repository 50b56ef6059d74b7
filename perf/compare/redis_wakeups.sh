#!/usr/bin/env bash
# redis_wakeups.sh: why one redis-benchmark row is faster on one server than
# another: per request, the server's CPU, system calls, epoll_waits and
# context switches (perf stat on the server's PID), and the client's CPU.
#
#   perf/compare/redis_wakeups.sh                      # set -P16, REPS=2
#   ROW="get 1 150000" REPS=3 perf/compare/redis_wakeups.sh
#   ACTNET_FLAGS=--busy_poll_us=50 perf/compare/redis_wakeups.sh
#   ACTNET_FLAGS=";--coalesce_us=0" perf/compare/redis_wakeups.sh  # default vs flag
#
# ROW is "COMMAND PIPELINE REQUESTS". Each repetition runs redis-server
# (--save "" --appendonly no) and then actnet's examples/redis (--loops=1
# plus each ';'-separated variant of $ACTNET_FLAGS in turn), each fresh on its own loopback port, pinned to CPU 0, with
# redis-benchmark -c 50 pinned to CPU 1. Needs perf with syscall
# tracepoints (perf_event_paranoid <= 1 or root), redis-server,
# redis-benchmark, redis-cli, taskset, bazel. Bounded: every client run is
# under `timeout 120`; only PIDs this script started are signalled.
set -euo pipefail
cd "$(dirname "$0")/../.."
source perf/lib/bench.sh

read -r CMD PIPE N <<<"${ROW:-set 16 1000000}"
REPS=${REPS:-2}
BAZEL=(bazel ${BAZEL_OUTPUT_BASE:+--output_base="$BAZEL_OUTPUT_BASE"})
"${BAZEL[@]}" build -c opt //examples/redis >&2
ACTNET=$("${BAZEL[@]}" info -c opt bazel-bin)/examples/redis/redis
EVENTS=raw_syscalls:sys_enter,context-switches,syscalls:sys_enter_epoll_wait
TMP=$(mktemp -d)
trap 'bench_cleanup; rm -rf "$TMP"' EXIT  # bench.sh's trap, plus $TMP

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run() {  # run NAME [FLAGS]: one server, one client run, one result line
  local name=$1 flags=${2:-} perf_pid t0 t1 rate
  fresh_port  # sets $port
  if [[ $name == redis-server ]]; then
    taskset -c 0 redis-server --save "" --appendonly no --port "$port" \
      --bind 127.0.0.1 >/dev/null 2>&1 &
  else
    taskset -c 0 "$ACTNET" --addr="tcp://127.0.0.1:$port" --loops=1 \
      $flags >/dev/null 2>&1 &
  fi
  server_pid=$!  # taskset execs: $! is the server
  if ! server_started listening_on "$port"; then
    echo "$name did not start listening on port $port" >&2
    exit 1
  fi
  t0=$(cpu_ticks "$server_pid")
  perf stat -x, -e "$EVENTS" -p "$server_pid" -o "$TMP/server" &
  perf_pid=$!
  sleep 0.3
  rate=$(timeout 120 taskset -c 1 perf stat -x, -e task-clock -o "$TMP/client" \
    redis-benchmark -p "$port" -c 50 -t "$CMD" -P "$PIPE" -n "$N" -q 2>&1 |
    tr '\r' '\n' | grep -a "requests per second" | tail -1 |
    sed 's/.*: \([0-9.]*\) requests.*/\1/')
  kill -INT "$perf_pid"
  wait "$perf_pid" 2>/dev/null || true
  t1=$(cpu_ticks "$server_pid")
  stop_server
  awk -F, -v name="$name" -v rate="$rate" -v n="$N" \
      -v cpu_us="$(( (t1 - t0) * 1000000 / $(getconf CLK_TCK) ))" \
      -v client_ms="$(awk -F, '/task-clock/ {print $1}' "$TMP/client")" '
    $3 ~ /raw_syscalls/ {sys = $1} $3 ~ /context-switches/ {cs = $1}
    $3 ~ /epoll_wait/ {ew = $1}
    END {
      printf "| %s | %.0f | %.3f | %.3f | %.3f | %.4f | %.3f |\n", name, rate,
             cpu_us / n, sys / n, ew / n, cs / n, client_ms * 1000 / n
    }' "$TMP/server"
}

echo "row: redis-benchmark -c 50 -t $CMD -P $PIPE -n $N; actnet flag variants: ${ACTNET_FLAGS:-none}"
echo
echo "| server | requests/s | server µs CPU/req | syscalls/req | epoll_waits/req | context switches/req | client µs CPU/req |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for ((rep = 0; rep < REPS; rep++)); do
  run redis-server
  IFS=';' read -r -a variants <<<"${ACTNET_FLAGS:-}"
  ((${#variants[@]})) || variants=("")
  for flags in "${variants[@]}"; do
    run "actnet${flags:+ $flags}" "$flags"
  done
done
