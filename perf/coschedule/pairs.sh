#!/bin/bash
# Co-scheduled pairs: the CPU per echo of two echo servers measured in the
# same window. Both servers are pinned to SRV_CPU at once, each loaded by
# its own //perf/loadgen (closed loop) pinned to CLI_CPU, and each client
# charges its own server's CPU (/proc/PID/stat) over the same measured
# seconds. A host whose speed drifts (a shared VM that runs the same server
# at 7 us per echo one minute and 10 us the next) slows both alike, so
# their ratio holds still where separate runs' ratios spread +-20 %.
#
#   perf/coschedule/pairs.sh
#   PAIRS="actnet-uring/uring actnet/epoll uring/epoll actnet-uring/actnet"
#   ROWS="100:16:1 1000:16:1 100:1024:1 1000:1024:1 100:16384:1 100:16:16"
#   REPS=5 DUR=3 WARM=1 SRV_CPU=0 CLI_CPU=1 OUT=<tmp dir> ECHO_B=<path>
#
# Servers: epoll and uring are the shared perf-anchors harness's raw
# servers (epoll_echo_server.c, uring_echo_server.c from $ANCHORS_DIR,
# default <git toplevel>/../shared/perf-anchors, compiled with cc -O2 into
# $OUT); actnet and actnet-uring are the echo example (--loops=1) on epoll
# and io_uring; actnet-b and actnet-uring-b are the same from the binary
# ECHO_B (another build, for A/B runs of a change).
#
# What it is not: each server has half a CPU and is interleaved with the
# other, so its batches are larger than when it runs alone, and a ratio
# depends a little on the partner (A/B times B/C need not equal A/C
# exactly). Compare pairs within this script's output, and use the shared
# harness (run_anchors.sh) for the issue targets' own numbers when the host
# is quiet enough for it.
#
# Output: $OUT/pairs.tsv (row, pair, rep, CPU us per echo of each, their
# ratio, echoes/s of each) and a table of the median ratio [min-max] per
# row and pair, with the io_uring gain check where the pairs allow it:
# actnet-uring/actnet <= uring/epoll on each row where uring/epoll < 1.
# Loopback only; every client run is bounded (timeout); only the servers
# this script started are signalled, by PID.
set -euo pipefail
ROOT=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
cd "$ROOT"
PAIRS=${PAIRS:-"actnet-uring/uring actnet/epoll uring/epoll actnet-uring/actnet"}
ROWS=${ROWS:-"100:16:1 1000:16:1 100:1024:1 1000:1024:1 100:16384:1 100:16:16"}
REPS=${REPS:-5}
DUR=${DUR:-3}
WARM=${WARM:-1}
SRV_CPU=${SRV_CPU:-0}
CLI_CPU=${CLI_CPU:-1}
OUT=${OUT:-$(mktemp -d -t actnet-pairs.XXXXXX)}
source "$ROOT/perf/coschedule/servers.sh"
build_servers

# fresh_port, listening_on, server_started and stop_server (one server at
# a time, in server_pid: start and stop below set it), and a trap this
# script replaces with its own for both servers.
source "$ROOT/perf/lib/bench.sh"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME: the server pinned to SRV_CPU on a fresh port; sets pid, port.
start() {
  fresh_port
  # shellcheck disable=SC2046
  taskset -c "$SRV_CPU" $(command_of "$1" "$port") > "$OUT/$1-$port.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  server_pid=$pid
  server_started listening_on "$port" && return 0
  echo "pairs.sh: $1 did not listen ($OUT/$1-$port.log)" >&2
  return 1
}
stop() {
  server_pid=$1
  stop_server
}
field() { grep -o " $1=[^ ]*" "$2" | head -1 | cut -d= -f2; }

echo "# pairs.sh $(date -u +%FT%TZ) git $(git rev-parse --short HEAD) REPS=$REPS DUR=$DUR" \
  "WARM=$WARM ECHO_B=${ECHO_B:-} kernel $(uname -r)" | tee "$OUT/meta.txt"
printf 'row\tpair\trep\tus_a\tus_b\tratio\trps_a\trps_b\n' > "$OUT/pairs.tsv"
for row in $ROWS; do
  IFS=: read -r conns size depth <<< "$row"
  for rep in $(seq "$REPS"); do
    for pair in $PAIRS; do
      a=${pair%/*}
      b=${pair#*/}
      start "$a"; pa=$pid; porta=$port
      start "$b"; pb=$pid; portb=$port
      sleep 0.3
      clients=()
      for side in a b; do
        if [[ $side == a ]]; then p=$porta; s=$pa; else p=$portb; s=$pb; fi
        timeout $((WARM + DUR + 20)) taskset -c "$CLI_CPU" "$LOADGEN" \
          --addr="tcp://127.0.0.1:$p" --conns="$conns" --size="$size" --depth="$depth" \
          --duration="$DUR" --warmup="$WARM" --server_pid="$s" \
          > "$OUT/client-$side.txt" 2> "$OUT/client-$side.err" &
        clients+=($!)
      done
      wait "${clients[@]}" || true
      stop "$pa"; stop "$pb"
      pids=()
      ua=$(field srv_us_per_op "$OUT/client-a.txt")
      ub=$(field srv_us_per_op "$OUT/client-b.txt")
      ra=$(field rps "$OUT/client-a.txt")
      rb=$(field rps "$OUT/client-b.txt")
      if [[ -z $ua || -z $ub ]]; then
        echo "pairs.sh: $row $pair rep $rep failed (see $OUT/client-*.err)" >&2
        continue
      fi
      ratio=$(awk -v a="$ua" -v b="$ub" 'BEGIN { printf "%.4f", (b > 0 ? a / b : 0) }')
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$row" "$pair" "$rep" "$ua" "$ub" "$ratio" \
        "$ra" "$rb" >> "$OUT/pairs.tsv"
    done
  done
  echo "row $row done" >&2
done

python3 - "$OUT/pairs.tsv" << 'EOF' | tee "$OUT/summary.md"
import collections, statistics, sys
ratios = collections.OrderedDict()
for line in list(open(sys.argv[1]))[1:]:
    row, pair, _rep, _ua, _ub, ratio, _ra, _rb = line.rstrip("\n").split("\t")
    ratios.setdefault(row, collections.OrderedDict()).setdefault(pair, []).append(float(ratio))
pairs = []
for by_pair in ratios.values():
    for p in by_pair:
        if p not in pairs:
            pairs.append(p)
def med(v):
    return statistics.median(v) if v else None
print("CPU per echo, co-scheduled pairs: median ratio [min-max] over repetitions\n")
print("| row | " + " | ".join(pairs) + " |")
print("|---" * (len(pairs) + 1) + "|")
for row, by_pair in ratios.items():
    cells = []
    for p in pairs:
        v = by_pair.get(p, [])
        cells.append(f"{med(v):.3f} [{min(v):.2f}-{max(v):.2f}]" if v else "-")
    print(f"| {row} | " + " | ".join(cells) + " |")
if all(p in pairs for p in ("actnet-uring/actnet", "uring/epoll")):
    print("\nio_uring gain: actnet-uring/actnet <= uring/epoll where uring/epoll < 1\n")
    for row, by_pair in ratios.items():
        ours, raw = med(by_pair.get("actnet-uring/actnet", [])), med(by_pair.get("uring/epoll", []))
        if ours is None or raw is None:
            continue
        verdict = "no gain to match" if raw >= 1 else ("met" if ours <= raw else "missed")
        print(f"- {row}: {ours:.3f} vs {raw:.3f}: {verdict}")
EOF
echo "results: $OUT"
