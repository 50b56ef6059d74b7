#!/usr/bin/env bash
# ab_http.sh: two builds of the HTTP example side by side under wrk, to tell
# a change in actnet from a change in the machine or the reference server.
#
#   A=/path/to/old/http B=bazel-bin/examples/http/http perf/compare/ab_http.sh
#   REPS=5 DUR=5 DEPTH=16 CONNS=50 ARGS_A=... ARGS_B=... (extra server flags)
#
# Each repetition runs A then B (order swapped every other repetition), each
# on a fresh 127.0.0.1 port, server pinned to CPU $SRV_CPU, wrk (pipelined
# $DEPTH deep with pipeline16.lua; DEPTH=0 for plain) pinned to $CLI_CPU,
# both SCHED_RR priority $RT when RT > 0 (root). Prints one line per run
# (requests/s and server CPU µs per request from /proc/PID/stat) and the
# median B/A ratios. Every run is bounded by `timeout`; only PIDs this
# script started are signalled.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${A:?A=path of the first http binary}" "${B:?B=path of the second}"
REPS=${REPS:-5}; DUR=${DUR:-5}; DEPTH=${DEPTH:-16}; CONNS=${CONNS:-50}
SRV_CPU=${SRV_CPU:-0}; CLI_CPU=${CLI_CPU:-1}; RT=${RT:-0}
ARGS_A=${ARGS_A:-}; ARGS_B=${ARGS_B:-}; LOG=${LOG:-/dev/null}  # servers' output
PORT=${PORT_BASE:-24000}
RTCMD=(); (( RT > 0 )) && RTCMD=(chrt -r "$RT")
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
free_port() {
  PORT=$((PORT + 1))
  while ss -Hltn "sport = :$PORT" | grep -q .; do PORT=$((PORT + 1)); done
}
one() {  # name binary args port -> "rps us_per_req"
  local PORT=$4
  # shellcheck disable=SC2086
  "${RTCMD[@]}" taskset -c "$SRV_CPU" "$2" --addr="tcp://127.0.0.1:$PORT" --loops=1 $3 \
    >>"$LOG" 2>&1 &
  local pid=$! out t0 t1
  for _ in $(seq 100); do
    ss -Hltn "sport = :$PORT" | grep -q LISTEN && break; sleep 0.05
  done
  local wrk=(wrk -t1 "-c$CONNS" "-d${DUR}s" --timeout 5s)
  (( DEPTH > 0 )) && wrk+=(-s "$HERE/pipeline16.lua")
  wrk+=("http://127.0.0.1:$PORT/")
  (( DEPTH > 0 )) && wrk+=(-- "$DEPTH" /)
  t0=$(ticks "$pid")
  out=$(timeout $((DUR + 20)) "${RTCMD[@]}" taskset -c "$CLI_CPU" "${wrk[@]}" 2>&1 || true)
  t1=$(ticks "$pid")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  awk -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" '
    /requests in/ {n = $1} /Requests\/sec/ {r = $2}
    END {printf "%.0f %.3f\n", r, (n ? t * 1e6 / hz / n : 0)}' <<<"$out"
}
results=()
for rep in $(seq 1 "$REPS"); do
  order=(A B); (( rep % 2 == 0 )) && order=(B A)
  declare -A got=()
  for v in "${order[@]}"; do
    free_port
    if [[ $v == A ]]; then got[A]=$(one A "$A" "$ARGS_A" "$PORT")
    else got[B]=$(one B "$B" "$ARGS_B" "$PORT"); fi
    echo "rep $rep $v: rps us/req = ${got[$v]}"
  done
  results+=("${got[A]} ${got[B]}")
done
printf '%s\n' "${results[@]}" | python3 -c '
import statistics, sys
rows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
rate = [b / a for a, _, b, _ in rows if a]
cpu = [bu / au for _, au, _, bu in rows if au]
print("median B/A: rate %.2f [%.2f..%.2f], CPU/request %.2f [%.2f..%.2f]" % (
    statistics.median(rate), min(rate), max(rate),
    statistics.median(cpu), min(cpu), max(cpu)))'
