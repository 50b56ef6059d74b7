#!/usr/bin/env bash
# The main job: installs what is missing, builds the echo example and the
# load generator, serves tcp://127.0.0.1:PORT with actnet's echo (1 loop),
# drives it for a few seconds with 100 connections, prints requests/s and
# latency percentiles with the server's CPU time per echo, and stops it.
# Loopback only; bounded in time; stops only the server it started.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-5}
CONNS=${CONNS:-100}
SIZE=${SIZE:-16}
PORT=${PORT:-$((20000 + RANDOM % 20000))}

bash tools/setup.sh
bazel build //examples/echo //perf/loadgen:loadgen

server=bazel-bin/examples/echo/echo
loadgen=bazel-bin/perf/loadgen/loadgen
log=$(mktemp -t actnet-demo.XXXXXX)

cpu_args=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  cpu_args=(taskset -c 0)   # server on CPU 0, load on CPU 1
fi
"${cpu_args[@]}" "$server" --addr="tcp://127.0.0.1:$PORT" --loops=1 >"$log" 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  grep -q listening "$log" && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.05
done
cat "$log"

load_cpu=()
[ ${#cpu_args[@]} -gt 0 ] && load_cpu=(taskset -c 1)
echo "load: $CONNS connections, $SIZE-byte messages, ${DURATION}s"
"${load_cpu[@]}" "$loadgen" --addr="tcp://127.0.0.1:$PORT" --conns="$CONNS" \
  --size="$SIZE" --depth=1 --duration="$DURATION" --warmup=1 \
  --server_pid="$server_pid"

kill -TERM "$server_pid"
wait "$server_pid"
trap - EXIT
echo "echo server stopped cleanly"
