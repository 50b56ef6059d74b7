#!/usr/bin/env bash
# latency.sh: echo latency under load, open loop, actnet's echo beside the raw
# epoll reference (perf/reference/epoll_echo), one event loop each.
#
#   perf/latency/latency.sh                    # REPS=5 DUR=5 WARM=1 LOADS="50 90"
#   REPS=1 DUR=2 DOC= perf/latency/latency.sh  # a quick check, no docs/latency.md
#
# Every repetition (server order rotated each time):
#   1. peak: for each server, //perf/loadgen closed loop ($CONNS connections,
#      $SIZE bytes, depth 1) for DUR seconds: its echoes per second;
#   2. P = the lowest of the peaks of this repetition (so every offered
#      rate is one every server was seen to sustain);
#   3. for each load L in $LOADS and each server: loadgen --rate=L% of P,
#      open loop (requests on a fixed schedule whatever the server does,
#      latency from the scheduled send time, late requests waited for
#      --drain=$DRAIN s): p50 / p90 / p99 / p99.9 / max.
# Every run gets a fresh server on a fresh loopback port, pinned to CPU 0;
# loadgen is pinned to CPU 1 and charges the server's CPU to it
# (--server_pid). Rows: $OUT/results.tsv; medians over repetitions:
# $OUT/latency.md, also written to $DOC (default docs/latency.md; empty = no).
#
# Knobs (environment): REPS, DUR, WARM, CONNS, SIZE, LOADS (percent of P),
# SERVERS (subset of "epoll uring actnet actnet-nc actnet-wN", and the
# actnet names on io_uring: actnet-uring, actnet-uring-nc, actnet-uring-wN;
# actnet-nc is actnet with --coalesce_us=0, actnet-wN with --coalesce_us=N,
# actnet-uring* the same with --backend=io_uring, uring the raw io_uring
# echo uring_echo_server.c of the shared perf-anchors harness, compiled at
# run time with `cc -O2 ... -luring` under /tmp and left out, with a note,
# when its source or liburing is missing; the ratios are against the first),
# ANCHORS_DIR (that harness; default <git toplevel>/../shared/perf-anchors),
# DRAIN,
# QUIET_MAX and QUIET_WAIT (before each repetition wait up to QUIET_WAIT
# s, in 1 s samples of /proc/stat, for the machine's busy CPU to drop to
# QUIET_MAX cores; then go on
# regardless: the "other cores" columns say how disturbed each run was),
# OUT (default
# perf/out/latency-<timestamp>), DOC, BAZEL_OUTPUT_BASE (passed to bazel as
# --output_base). Only loopback is used; only PIDs this script started are
# signalled; every run is bounded by `timeout`.
# Needs: bazel, taskset, ss, python3, timeout.
set -euo pipefail

REPS=${REPS:-5}
DUR=${DUR:-5}
WARM=${WARM:-1}
CONNS=${CONNS:-100}
SIZE=${SIZE:-16}
LOADS=${LOADS:-"50 90"}
SERVERS=${SERVERS:-"epoll actnet"}
DRAIN=${DRAIN:-2}
QUIET_MAX=${QUIET_MAX:-0.5}
QUIET_WAIT=${QUIET_WAIT:-120}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=${BUILD_WORKSPACE_DIRECTORY:-$(cd "$HERE/../.." && pwd)}
cd "$ROOT"
source "$ROOT/perf/lib/bench.sh"
OUT=${OUT:-perf/out/latency-$(date +%Y%m%d-%H%M%S)}
DOC=${DOC-docs/latency.md}
mkdir -p "$OUT/bin" "$OUT/logs"
read -r -a loads <<<"$LOADS"
read -r -a servers <<<"$SERVERS"
want_uring=0
for s in "${servers[@]}"; do
  if [[ $s == uv ]] || ! is_echo_server "$s"; then echo "unknown server '$s'" >&2; exit 2; fi
  if [[ $s == uring ]]; then want_uring=1; fi
done
for tool in taskset ss python3 timeout bazel; do
  command -v "$tool" >/dev/null || { echo "missing tool: $tool" >&2; exit 2; }
done
if (($(nproc) < 2)); then echo "needs 2 CPUs (server on 0, load on 1)" >&2; exit 2; fi
bazel_cmd=(bazel)
if [[ -n ${BAZEL_OUTPUT_BASE:-} ]]; then bazel_cmd+=("--output_base=$BAZEL_OUTPUT_BASE"); fi

# The raw io_uring anchor, built from the shared harness's source (not by
# Bazel) into $OUT/bin; without it, its rows are left out (not failed).
uring_anchor=""
if ((want_uring)); then
  if build_uring_anchor "$OUT/bin/uring_echo"; then
    uring_anchor=$(uring_anchor_desc)
  else
    kept=()
    for s in "${servers[@]}"; do if [[ $s != uring ]]; then kept+=("$s"); fi; done
    if ((${#kept[@]} == 0)); then echo "no server left to run" >&2; exit 2; fi
    servers=("${kept[@]}")
  fi
fi

runs=$((REPS * ${#servers[@]} * (1 + ${#loads[@]})))
echo "latency: $REPS reps x ${#servers[@]} servers x $((1 + ${#loads[@]})) runs of" \
  "~$((WARM + DUR + 1))s: expect ~$(((runs * (WARM + DUR + 2) + 59) / 60)) min. Output: $OUT"

# Build once, run copies (a rebuild by someone else cannot swap them).
"${bazel_cmd[@]}" build //examples/echo //perf/loadgen:loadgen //perf/reference:epoll_echo
BIN=$("${bazel_cmd[@]}" info bazel-bin 2>/dev/null)
cp -f "$BIN/examples/echo/echo" "$BIN/perf/loadgen/loadgen" "$BIN/perf/reference/epoll_echo" \
  "$OUT/bin/"

{
  echo "date: $(date -Is)"
  echo "command: REPS=$REPS DUR=$DUR WARM=$WARM CONNS=$CONNS SIZE=$SIZE LOADS=\"$LOADS\"" \
    "SERVERS=\"$SERVERS\" DRAIN=$DRAIN perf/latency/latency.sh"
  echo "git: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  if [[ -n $uring_anchor ]]; then echo "uring_anchor: $uring_anchor"; fi
  machine_lines
} >"$OUT/meta.txt"

fields=(rps p50_us p90_us p99_us p999_us max_us srv_cpu srv_us_per_op cli_cpu other_cpu steal
  scheduled unfinished backlog_drops errors)
tsv=$OUT/results.tsv
(IFS=$'\t'; echo "rep	server	load	target_rps	rc	${fields[*]}") >"$tsv"

value_of() {  # field logfile
  grep -m1 '^conns=' "$2" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$1=//p"
}

busy_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9}' /proc/stat; }
wait_quiet() {
  local waited=0 a b busy=0 limit
  limit=$(awk -v q="$QUIET_MAX" 'BEGIN { printf "%d", q * 100 }')
  while ((waited < QUIET_WAIT)); do
    a=$(busy_ticks)
    sleep 1
    b=$(busy_ticks)
    busy=$(((b - a) * 100 / $(getconf CLK_TCK)))  # hundredths of a core
    if ((busy <= limit)); then return 0; fi
    waited=$((waited + 1))
  done
  echo "machine still busy ($((busy))% of a core) after ${QUIET_WAIT}s; going on" >&2
}

run=0
one_run() {  # rep server load_label rate -> appends a row, prints a line
  local rep=$1 server=$2 label=$3 rate=$4 rc=0 tag out f
  run=$((run + 1))
  fresh_port
  tag="r$rep-$server-$label"
  if ! start_echo_server "$server" "$port" "$OUT/logs/$tag.server.log"; then
    echo "[$run/$runs] $tag: server did not start" >&2
    stop_server
    (IFS=$'\t'; echo "$rep	$server	$label	$rate	98") >>"$tsv"
    return
  fi
  timeout $((WARM + DUR + DRAIN + 25)) taskset -c 1 "$OUT/bin/loadgen" \
    "--addr=tcp://127.0.0.1:$port" "--conns=$CONNS" "--size=$SIZE" --depth=1 \
    "--warmup=$WARM" "--duration=$DUR" "--rate=$rate" "--drain=$DRAIN" \
    "--server_pid=$server_pid" >"$OUT/logs/$tag.loadgen.log" 2>&1 || rc=$?
  stop_server
  out=("$rep" "$server" "$label" "$rate" "$rc")
  for f in "${fields[@]}"; do
    v=$(value_of "$f" "$OUT/logs/$tag.loadgen.log")
    out+=("${v:-NA}")
  done
  (IFS=$'\t'; echo "${out[*]}") >>"$tsv"
  echo "[$run/$runs] $tag rc=$rc rate=$rate $(grep -m1 '^conns=' "$OUT/logs/$tag.loadgen.log" |
    tr ' ' '\n' | grep -E '^(rps|p50_us|p99_us|p999_us|srv_cpu|other_cpu|unfinished)=' | tr '\n' ' ')"
}

for ((rep = 1; rep <= REPS; rep++)); do
  n=${#servers[@]}
  order=()
  for ((k = 0; k < n; k++)); do order+=("${servers[$(((k + rep - 1) % n))]}"); done
  wait_quiet
  peak=""
  for server in "${order[@]}"; do
    one_run "$rep" "$server" peak 0
    r=$(value_of rps "$OUT/logs/r$rep-$server-peak.loadgen.log")
    if [[ -n $r && $r != 0 ]] && { [[ -z $peak ]] || ((r < peak)); }; then peak=$r; fi
  done
  if [[ -z $peak ]]; then
    echo "rep $rep: no peak measured; skipping its paced runs" >&2
    continue
  fi
  for load in "${loads[@]}"; do
    rate=$((peak * load / 100))
    for server in "${order[@]}"; do
      one_run "$rep" "$server" "$load" "$rate"
    done
  done
done

python3 - "$tsv" "$OUT/meta.txt" "$LOADS" >"$OUT/latency.md" <<'EOF'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
meta = open(sys.argv[2]).read().strip().splitlines()
loads = sys.argv[3].split()
servers = []
for r in rows:
    if r["server"] not in servers:
        servers.append(r["server"])
reps = sorted({r["rep"] for r in rows}, key=int)

def vals(server, load, field):
    out = []
    for r in rows:
        if r["server"] == server and r["load"] == load and r.get("rc") == "0":
            try:
                out.append(float(r[field]))
            except (KeyError, ValueError, TypeError):
                pass
    return out

def med(v, digits=0):
    if not v:
        return "NA"
    f = "{:,.%df}" % digits
    m = f.format(statistics.median(v))
    return m if len(v) == 1 else f"{m} ({f.format(min(v))}-{f.format(max(v))})"

print("# Echo latency under load (open loop)")
print()
print("Generated by `perf/latency/latency.sh` (see its header for the method).")
print()
print("```")
print("\n".join(meta))
print("```")
print()
failed = [r for r in rows if r.get("rc") != "0"]
print(f"{len(reps)} repetitions, {len(rows)} runs, {len(failed)} with a non-zero exit "
      "(left out of the medians). Each cell: median over repetitions, (min-max).")
print()
print("## Peak (closed loop, depth 1)")
print()
print("| server | echoes/s | p50 µs | p99 µs | server CPU µs/echo | server cores | other cores |")
print("|---|---|---|---|---|---|---|")
for s in servers:
    print(f"| {s} | {med(vals(s, 'peak', 'rps'))} | {med(vals(s, 'peak', 'p50_us'), 1)} | "
          f"{med(vals(s, 'peak', 'p99_us'), 1)} | {med(vals(s, 'peak', 'srv_us_per_op'), 2)} | "
          f"{med(vals(s, 'peak', 'srv_cpu'), 2)} | {med(vals(s, 'peak', 'other_cpu'), 2)} |")
print()
print("P (per repetition, the lowest of the peaks): "
      + ", ".join(f"{int(float(r['target_rps']) * 100 / int(loads[0])):,}"
                  for r in rows if r["load"] == loads[0] and r["server"] == servers[0])
      + " echoes/s (from the first load's rate).")
print()
print("## Latency at a fraction of P (open loop, latency from the scheduled send time)")
print()
print("| load | server | offered /s | answered /s | p50 µs | p90 µs | p99 µs | p99.9 µs | max µs | "
      "unfinished | server cores | other cores |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for load in loads:
    for s in servers:
        print(f"| {load}% | {s} | {med(vals(s, load, 'target_rps'))} | {med(vals(s, load, 'rps'))} | "
              f"{med(vals(s, load, 'p50_us'), 1)} | {med(vals(s, load, 'p90_us'), 1)} | "
              f"{med(vals(s, load, 'p99_us'), 1)} | {med(vals(s, load, 'p999_us'), 1)} | "
              f"{med(vals(s, load, 'max_us'), 1)} | {med(vals(s, load, 'unfinished'))} | "
              f"{med(vals(s, load, 'srv_cpu'), 2)} | {med(vals(s, load, 'other_cpu'), 2)} |")
print()
if len(servers) >= 2:
    a = servers[0]
    print(f"## Same-repetition ratios to {a} (median over repetitions)")
    print()
    print("| load | server | p50 | p99 | p99.9 |")
    print("|---|---|---|---|---|")
    for load in loads:
        for b in servers[1:]:
            cells = []
            for field in ("p50_us", "p99_us", "p999_us"):
                ratios = []
                for rep in reps:
                    x = [r for r in rows if r["rep"] == rep and r["load"] == load and r.get("rc") == "0"]
                    va = [float(r[field]) for r in x if r["server"] == a]
                    vb = [float(r[field]) for r in x if r["server"] == b]
                    if va and vb and va[0] > 0:
                        ratios.append(vb[0] / va[0])
                cells.append(med(ratios, 2))
            print(f"| {load}% | {b} | " + " | ".join(cells) + " |")
    print()
print("Columns: *offered* = --rate; *answered* = requests scheduled in the window and echoed, "
      "per second; *unfinished* = requests of the window not echoed by the end of the drain "
      "(recorded at their age then); *server cores* = the server's CPU over the window; "
      "*other cores* = CPU used by everything else on the machine (the noise level: on this "
      "2-core machine anything well above 0 means the server and load generator shared their "
      "cores with other work).")
EOF
echo
cat "$OUT/latency.md"
if [[ -n $DOC ]]; then
  cp "$OUT/latency.md" "$DOC"
  echo "wrote $DOC"
fi
