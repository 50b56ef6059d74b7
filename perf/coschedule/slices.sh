#!/bin/bash
# Alternating solo slices: the CPU per echo of several echo servers, each
# loaded alone, in short slices taken in turn. For each row every server
# runs for the whole row, pinned to SRV_CPU (the idle ones asleep in their
# wait); the shared perf-anchors harness's echo_client, pinned to CLI_CPU,
# loads one server at a time for SLICE seconds (after WARM), then the next,
# in an order rotated each round. Each server has the CPU to itself while
# measured, as in the shared harness (run_anchors.sh), but the ratios are
# paired within a round, seconds apart instead of tens of seconds: a host
# whose speed drifts over tens of seconds moves both sides of a ratio
# alike (docs/io_uring.md, "Measured").
#
#   perf/coschedule/slices.sh
#   SERVERS="epoll uring actnet actnet-uring"
#   ROWS="100:16:1 1000:16:1 100:1024:1 1000:1024:1 100:16384:1 100:16:16"
#   ROUNDS=20 SLICE=1.5 WARM=0.5 SRV_CPU=0 CLI_CPU=1 OUT=<tmp dir>
#   ECHO_B=<path>   (for actnet-b, actnet-uring-b: another build)
#
# Servers: see perf/coschedule/servers.sh. CPU per echo is the client's
# srv_us_per_msg (the server's /proc/PID/stat ticks over the slice, 10 ms
# each: a 1.5 s slice at one CPU is about 150 ticks).
#
# Output: $OUT/slices.tsv (row, round, server, CPU us per echo, echoes/s,
# p50 and p99 us) and $OUT/summary.md: per row, each server's median CPU
# per echo and p99; the ratios actnet-uring/uring, actnet/epoll,
# uring/epoll and actnet-uring/actnet (those whose servers ran), each the
# median [quartiles] of its per-round ratios; and the issue's two echo
# checks: actnet-uring/uring <= 1.05, and actnet-uring/actnet <=
# uring/epoll on rows where uring/epoll < 1.
# Loopback only; every client run is bounded (timeout); only the servers
# this script started are signalled, by PID.
set -euo pipefail
ROOT=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
cd "$ROOT"
SERVERS=${SERVERS:-"epoll uring actnet actnet-uring"}
ROWS=${ROWS:-"100:16:1 1000:16:1 100:1024:1 1000:1024:1 100:16384:1 100:16:16"}
ROUNDS=${ROUNDS:-20}
SLICE=${SLICE:-1.5}
WARM=${WARM:-0.5}
SRV_CPU=${SRV_CPU:-0}
CLI_CPU=${CLI_CPU:-1}
OUT=${OUT:-$(mktemp -d -t actnet-slices.XXXXXX)}
mkdir -p "$OUT"
source "$ROOT/perf/coschedule/servers.sh"
build_servers
# fresh_port, listening_on, server_started, stop_server (on server_pid).
source "$ROOT/perf/lib/bench.sh"

read -r -a names <<< "$SERVERS"
declare -A pid_of port_of
cleanup() { for p in "${pid_of[@]}"; do kill -KILL "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
trap 'exit 130' INT TERM

start_all() {
  local n
  for n in "${names[@]}"; do
    fresh_port
    # shellcheck disable=SC2046
    taskset -c "$SRV_CPU" $(command_of "$n" "$port") > "$OUT/$n-$port.log" 2>&1 &
    pid_of[$n]=$!
    port_of[$n]=$port
    server_pid=${pid_of[$n]}
    server_started listening_on "$port" && continue
    echo "slices.sh: $n did not listen ($OUT/$n-$port.log)" >&2
    return 1
  done
}
stop_all() {
  local n
  for n in "${names[@]}"; do
    server_pid=${pid_of[$n]}
    stop_server
  done
  pid_of=()
  server_pid=""
}
field() { grep -o " $1=[^ ]*" <<< " $2" | head -1 | cut -d= -f2; }

echo "# slices.sh $(date -u +%FT%TZ) git $(git rev-parse --short HEAD) SERVERS=\"$SERVERS\"" \
  "ROUNDS=$ROUNDS SLICE=$SLICE WARM=$WARM ECHO_B=${ECHO_B:-} kernel $(uname -r)" \
  "cpu $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')" | tee "$OUT/meta.txt"
printf 'row\tround\tserver\tus_per_echo\trps\tp50_us\tp99_us\n' > "$OUT/slices.tsv"
bound=$(awk -v s="$SLICE" -v w="$WARM" 'BEGIN { printf "%d", s + w + 10 }')
for row in $ROWS; do
  IFS=: read -r conns size depth <<< "$row"
  start_all
  sleep 0.3
  for round in $(seq "$ROUNDS"); do
    k=$(( (round - 1) % ${#names[@]} ))
    for n in "${names[@]:k}" "${names[@]:0:k}"; do
      line=$(timeout "$bound" taskset -c "$CLI_CPU" "$OUT/bin/echo_client" -p "${port_of[$n]}" \
        -c "$conns" -s "$size" -k "$depth" -d "$SLICE" -w "$WARM" -S "${pid_of[$n]}" 2>&1 | tail -1) || true
      us=$(field srv_us_per_msg "$line")
      errors=$(field errors "$line")
      if [[ -z $us || $errors != 0 ]]; then
        echo "slices.sh: $row round $round $n failed: $line" >&2
        continue
      fi
      printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$row" "$round" "$n" "$us" "$(field rtt_s "$line")" \
        "$(field p50_us "$line")" "$(field p99_us "$line")" >> "$OUT/slices.tsv"
    done
  done
  stop_all
  echo "row $row done" >&2
done

python3 - "$OUT/slices.tsv" << 'EOF' | tee "$OUT/summary.md"
import collections, statistics, sys
cells = collections.OrderedDict()  # row -> round -> server -> (us, p99)
for line in list(open(sys.argv[1]))[1:]:
    row, rnd, server, us, _rps, _p50, p99 = line.rstrip("\n").split("\t")
    cells.setdefault(row, {}).setdefault(rnd, {})[server] = (float(us), float(p99))
RATIOS = [("actnet-uring", "uring"), ("actnet", "epoll"), ("uring", "epoll"),
          ("actnet-uring", "actnet")]
def quart(v):
    v = sorted(v)
    q = statistics.quantiles(v, n=4) if len(v) >= 2 else [v[0]] * 3
    return q[1], q[0], q[2]
def ratios(rounds, a, b):
    return [r[a][0] / r[b][0] for r in rounds.values() if a in r and b in r]
servers = []
for rounds in cells.values():
    for r in rounds.values():
        servers += [s for s in r if s not in servers]
shown = [(a, b) for a, b in RATIOS if a in servers and b in servers]
print("CPU per echo in alternating solo slices: each server's median us/echo,"
      " then per-round ratios, median [quartiles]\n")
print("| row | " + " | ".join(servers) + " | " + " | ".join(f"{a}/{b}" for a, b in shown) + " |")
print("|---" * (1 + len(servers) + len(shown)) + "|")
checks = []
for row, rounds in cells.items():
    med = {s: statistics.median([r[s][0] for r in rounds.values() if s in r]) for s in servers
           if any(s in r for r in rounds.values())}
    out = [f"{med[s]:.2f}" if s in med else "-" for s in servers]
    got = {}
    for a, b in shown:
        v = ratios(rounds, a, b)
        if v:
            m, lo, hi = quart(v)
            got[(a, b)] = m
            out.append(f"{m:.3f} [{lo:.2f}-{hi:.2f}] n={len(v)}")
        else:
            out.append("-")
    print(f"| {row} | " + " | ".join(out) + " |")
    if ("actnet-uring", "uring") in got:
        v = got[("actnet-uring", "uring")]
        checks.append(f"- {row}: actnet-uring/uring {v:.3f} <= 1.05: {'met' if v <= 1.05 else 'missed'}")
    if ("actnet-uring", "actnet") in got and ("uring", "epoll") in got:
        ours, raw = got[("actnet-uring", "actnet")], got[("uring", "epoll")]
        verdict = "no gain to match" if raw >= 1 else ("met" if ours <= raw else "missed")
        checks.append(f"- {row}: actnet-uring/actnet {ours:.3f} vs uring/epoll {raw:.3f}: {verdict}")
print("\np99 latency, median over rounds (us)\n")
print("| row | " + " | ".join(servers) + " |")
print("|---" * (1 + len(servers)) + "|")
for row, rounds in cells.items():
    out = []
    for s in servers:
        v = [r[s][1] for r in rounds.values() if s in r]
        out.append(f"{statistics.median(v):.0f}" if v else "-")
    print(f"| {row} | " + " | ".join(out) + " |")
if checks:
    print("\nChecks (issue 17's echo targets, on this method's numbers)\n")
    print("\n".join(checks))
EOF
echo "results: $OUT"
