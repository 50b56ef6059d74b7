#!/usr/bin/env bash
# udp_compare.sh: actnet's echo example over UDP on the epoll and io_uring
# backends, side by side: REPS repetitions (default 5), each running every
# backend once (order rotated), server on CPU $SRV_CPU (0), load on CPU
# $CLI_CPU (1), DUR seconds measured (3) after 1 s of warm-up, on a fresh
# 127.0.0.1 port. Prints each run, then per backend the median server CPU
# per datagram and its paired ratio to epoll. Bounded: every run stops by
# itself; the servers are ended by PID.
#
#   perf/udp/udp_compare.sh
#   REPS=3 CONNS=64 SIZE=64 DEPTH=4 perf/udp/udp_compare.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
REPS=${REPS:-5}; DUR=${DUR:-3}; CONNS=${CONNS:-64}; SIZE=${SIZE:-64}
DEPTH=${DEPTH:-4}; SRV_CPU=${SRV_CPU:-0}; CLI_CPU=${CLI_CPU:-1}
BACKENDS=(epoll io_uring)
bazel build -c opt //examples/echo //perf/udp:udp_load >/dev/null 2>&1
out=$(mktemp -d)
cp bazel-bin/examples/echo/echo bazel-bin/perf/udp/udp_load "$out/"
results="$out/results"
for ((r = 0; r < REPS; ++r)); do
  for ((i = 0; i < ${#BACKENDS[@]}; ++i)); do
    be=${BACKENDS[$(((i + r) % ${#BACKENDS[@]}))]}
    port=$((20000 + RANDOM % 20000))
    taskset -c "$SRV_CPU" "$out/echo" --addr="udp://127.0.0.1:$port" --loops=1 \
      --backend="$be" >"$out/server.log" 2>&1 &
    pid=$!
    for _ in $(seq 50); do grep -q listening "$out/server.log" && break; sleep 0.1; done
    line=$(taskset -c "$CLI_CPU" "$out/udp_load" -p "$port" -c "$CONNS" -s "$SIZE" \
      -k "$DEPTH" -d "$DUR" -w 1 -S "$pid")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    echo "rep $r $be $line" | tee -a "$results"
  done
done
python3 - "$results" <<'PY'
import re, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    m = re.match(r"rep (\d+) (\S+) .*srv_us_per_dgram=([\d.]+)", line)
    if m:
        runs.setdefault(m[2], {})[int(m[1])] = float(m[3])
ref = runs.get("epoll", {})
print("| backend | server CPU per datagram (us, median) | / epoll (paired median) |")
print("|---|---|---|")
for be, reps in runs.items():
    ratios = [v / ref[r] for r, v in reps.items() if r in ref]
    print(f"| {be} | {statistics.median(reps.values()):.3f} | "
          f"{statistics.median(ratios):.2f} |")
PY
rm -rf "$out"
