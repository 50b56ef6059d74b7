#!/usr/bin/env bash
# Soak: the example servers under a bounded mix of load and abuse, with
# their RSS sampled, every reply checked, and a PASS/FAIL verdict.
#
#   perf/soak/soak.sh                      # 10 minutes
#   SOAK_SECONDS=120 perf/soak/soak.sh     # shorter
#
# Starts examples/echo, examples/http and (when it builds) examples/redis on
# fresh loopback ports with 2 loops each, then until the deadline runs side
# by side:
#   - //perf/loadgen echo load with byte verification, in runs of <= 20 s
#     (sizes 16 B, 512 B, 4 KiB; 32 connections, depth 2);
#   - wrk on /plaintext in runs of <= 10 s (any non-2xx or socket error
#     fails), then curl GET /plaintext and POST /echo of a random 200 KiB
#     body (byte-compared);
#   - redis-benchmark (bounded -n) and a redis-cli SET/GET check, if redis;
#   - //perf/soak:abuse against every server for the whole run: verified
#     round trips, resets mid-request and mid-response, half-closes,
#     one-byte-at-a-time requests, bursts of 50 connections, a churned pool
#     of 20 idle (slowloris) connections, endless HTTP headers.
# Every 10 s it samples each server's VmRSS from /proc/PID/status and checks
# that it is alive. At the end it stops the servers with SIGTERM (each must
# exit 0), prints the RSS series and PASS or FAIL. FAIL if any reply was
# wrong, any tool reported an error, any server died or exited non-zero, or
# any server's RSS grew more than 20% (and more than 2 MiB, allocator noise)
# from the sample at the start of the 2nd minute (or at a quarter of the
# run, if shorter than 8 minutes) to the end.
#
# Only the processes this script starts are ever signalled, by PID.
#
# Environment: SOAK_SECONDS (default 600); BAZEL (default bazel);
# BAZEL_STARTUP (startup options, e.g. --output_base=...); SOAK_KEEP=1 keeps
# the work directory with every tool's output.
set -u

SOAK_SECONDS=${SOAK_SECONDS:-600}
BAZEL=${BAZEL:-bazel}
BAZEL_STARTUP=${BAZEL_STARTUP:-}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d /tmp/actnet-soak.XXXXXX)
FAILS=$WORK/failures
: >"$FAILS"
SERVER_NAMES=()
SERVER_PIDS=()
SERVER_PORTS=()
WORKER_PIDS=()

say() { echo "soak: $*"; }
fail() { echo "$*" >>"$FAILS"; echo "soak: FAILURE: $*" >&2; }
now() { date +%s; }

cleanup() {
  local pid
  for pid in "${WORKER_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${SERVER_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  [[ ${SOAK_KEEP:-0} == 1 ]] || rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- Build ----
cd "$ROOT" || exit 2
TARGETS=(//examples/echo //examples/http //perf/loadgen:loadgen //perf/soak:abuse)
# shellcheck disable=SC2086
if ! $BAZEL $BAZEL_STARTUP build "${TARGETS[@]}" >"$WORK/build.log" 2>&1; then
  cat "$WORK/build.log" >&2
  say "build failed"
  exit 2
fi
HAVE_REDIS=0
# shellcheck disable=SC2086
if [[ -f examples/redis/BUILD.bazel ]] &&
   $BAZEL $BAZEL_STARTUP build //examples/redis >>"$WORK/build.log" 2>&1; then
  HAVE_REDIS=1
fi
# shellcheck disable=SC2086
BIN=$($BAZEL $BAZEL_STARTUP info bazel-bin 2>/dev/null)

# ---- Servers ----
# start NAME BINARY: runs it on a fresh port, waits for "listening".
start() {
  local name=$1 bin=$2 out=$WORK/$1.out pid port i
  "$bin" --addr=tcp://127.0.0.1:0 --loops=2 >"$out" 2>"$WORK/$name.err" &
  pid=$!
  for ((i = 0; i < 100; i++)); do
    if grep -q listening "$out" 2>/dev/null; then break; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  port=$(grep -o 'tcp://127.0.0.1:[0-9]*' "$out" | head -1 | sed 's/.*://')
  if [[ -z $port ]]; then
    fail "$name did not start: $(cat "$WORK/$name.err")"
    kill -TERM "$pid" 2>/dev/null
    return 1
  fi
  SERVER_NAMES+=("$name")
  SERVER_PIDS+=("$pid")
  SERVER_PORTS+=("$port")
  say "$name pid $pid on 127.0.0.1:$port"
}
start echo "$BIN/examples/echo/echo" || exit 1
start http "$BIN/examples/http/http" || exit 1
if ((HAVE_REDIS)); then start redis "$BIN/examples/redis/redis" || exit 1; fi
EPORT=${SERVER_PORTS[0]}
HPORT=${SERVER_PORTS[1]}
RPORT=${SERVER_PORTS[2]:-}

START=$(now)
DEADLINE=$((START + SOAK_SECONDS))
left() { echo $((DEADLINE - $(now))); }

# ---- Workers (each bounded by the deadline) ----
echo_load() {
  local sizes=(16 512 4096) k=0 d
  while d=$(left); ((d >= 3)); do
    ((d > 20)) && d=20
    if ! "$BIN/perf/loadgen/loadgen" --addr="tcp://127.0.0.1:$EPORT" --conns=32 \
        --size="${sizes[k % 3]}" --depth=2 --warmup=0 --duration="$d" --verify \
        >>"$WORK/loadgen.log" 2>&1; then
      fail "loadgen reported errors (size ${sizes[k % 3]}): $(tail -2 "$WORK/loadgen.log" | tr '\n' ' ')"
    fi
    k=$((k + 1))
    sleep 1
  done
}

http_load() {
  local d out body=$WORK/body.bin got=$WORK/body.out
  head -c 204800 /dev/urandom >"$body"
  while d=$(left); ((d >= 3)); do
    ((d > 10)) && d=10
    out=$(wrk -t1 -c16 -d"${d}s" "http://127.0.0.1:$HPORT/plaintext" 2>&1)
    echo "$out" >>"$WORK/wrk.log"
    if ! grep -q 'Requests/sec' <<<"$out" || grep -qE 'Non-2xx|Socket errors' <<<"$out"; then
      fail "wrk: $(grep -E 'Non-2xx|Socket errors|Requests/sec' <<<"$out" | tr '\n' ' ')"
    fi
    if [[ $(curl -s --max-time 10 "http://127.0.0.1:$HPORT/plaintext") != "Hello, World!" ]]; then
      fail "curl GET /plaintext: wrong reply"
    fi
    if ! curl -s --max-time 10 -H 'Expect:' --data-binary @"$body" \
        "http://127.0.0.1:$HPORT/echo" -o "$got" || ! cmp -s "$body" "$got"; then
      fail "curl POST /echo: body differs"
    fi
    sleep 1
  done
}

redis_load() {
  local d v k=0
  while d=$(left); ((d >= 3)); do
    if ! redis-benchmark -h 127.0.0.1 -p "$RPORT" -c 10 -n 20000 -t ping,set,get -q \
        >>"$WORK/redis-benchmark.log" 2>&1; then
      fail "redis-benchmark failed: $(tail -2 "$WORK/redis-benchmark.log" | tr '\n' ' ')"
    fi
    v="soak-value-$k-$RANDOM"
    if [[ $(redis-cli -h 127.0.0.1 -p "$RPORT" SET soak:cli "$v") != OK ||
          $(redis-cli -h 127.0.0.1 -p "$RPORT" GET soak:cli) != "$v" ]]; then
      fail "redis-cli SET/GET: wrong reply"
    fi
    k=$((k + 1))
    sleep 2
  done
}

abuse() {
  local name=$1 port=$2 seed=$3
  if ! "$BIN/perf/soak/abuse" --addr="127.0.0.1:$port" --proto="$name" \
      --duration="$SOAK_SECONDS" --seed="$seed" >"$WORK/abuse-$name.log" 2>&1; then
    fail "abuse $name: $(tail -3 "$WORK/abuse-$name.log" | tr '\n' ' ')"
  fi
}

echo_load & WORKER_PIDS+=($!)
http_load & WORKER_PIDS+=($!)
abuse echo "$EPORT" 1 & WORKER_PIDS+=($!)
abuse http "$HPORT" 2 & WORKER_PIDS+=($!)
if ((HAVE_REDIS)); then
  redis_load & WORKER_PIDS+=($!)
  abuse redis "$RPORT" 3 & WORKER_PIDS+=($!)
fi

# ---- Sampling ----
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null; }
SERIES=$WORK/rss
echo "t_s ${SERVER_NAMES[*]}" >"$SERIES"
declare -A DEAD=()
next=$START
while :; do
  t=$(($(now) - START))
  line="$t"
  for i in "${!SERVER_PIDS[@]}"; do
    r=$(rss_kib "${SERVER_PIDS[i]}")
    if [[ -z $r ]]; then
      r=dead
      if [[ -z ${DEAD[$i]:-} ]]; then
        DEAD[$i]=1
        fail "${SERVER_NAMES[i]} (pid ${SERVER_PIDS[i]}) died at t=${t}s"
      fi
    fi
    line+=" $r"
  done
  echo "$line" >>"$SERIES"
  ((t >= SOAK_SECONDS)) && break
  next=$((next + 10))
  ((next > DEADLINE)) && next=$DEADLINE
  while (($(now) < next)); do sleep 1; done
done

# ---- Wind down ----
for pid in "${WORKER_PIDS[@]}"; do wait "$pid"; done
WORKER_PIDS=()
for i in "${!SERVER_PIDS[@]}"; do
  pid=${SERVER_PIDS[i]}
  [[ -n ${DEAD[$i]:-} ]] && continue
  kill -TERM "$pid" 2>/dev/null
  for ((k = 0; k < 100; k++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    fail "${SERVER_NAMES[i]} did not exit within 10 s of SIGTERM"
    kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid"
  rc=$?
  ((rc == 0)) || fail "${SERVER_NAMES[i]} exited with status $rc"
done
SERVER_PIDS=()

# ---- Report ----
baseline_t=120
((SOAK_SECONDS < 480)) && baseline_t=$((SOAK_SECONDS / 4))
echo
echo "RSS (KiB) every 10 s; baseline = first sample at t >= ${baseline_t}s"
column -t "$SERIES"
for i in "${!SERVER_NAMES[@]}"; do
  col=$((i + 2))
  read -r base last < <(awk -v b="$baseline_t" -v c="$col" \
    'NR > 1 && $c != "dead" { if (base == "" && $1 >= b) base = $c; last = $c }
     END { print base, last }' "$SERIES")
  [[ -z ${base:-} || -z ${last:-} ]] && continue
  growth=$(awk -v a="$base" -v z="$last" 'BEGIN { printf "%.1f", (z - a) * 100 / a }')
  echo "${SERVER_NAMES[i]}: baseline ${base} KiB, end ${last} KiB, growth ${growth}%"
  if awk -v a="$base" -v z="$last" 'BEGIN { exit !(z > a * 1.2 && z - a > 2048) }'; then
    fail "${SERVER_NAMES[i]} RSS grew ${growth}% (${base} -> ${last} KiB)"
  fi
done
echo
for f in "$WORK"/abuse-*.log; do tail -1 "$f"; done
echo "loadgen runs: $(grep -c '^conns=' "$WORK/loadgen.log" 2>/dev/null || echo 0)," \
  "wrk runs: $(grep -c 'Requests/sec' "$WORK/wrk.log" 2>/dev/null || echo 0)" \
  "$( ((HAVE_REDIS)) && echo ", redis-benchmark runs: $(grep -c 'PING_INLINE' "$WORK/redis-benchmark.log" 2>/dev/null || echo 0)")"
if [[ -s $FAILS ]]; then
  echo "FAIL ($(wc -l <"$FAILS") problems):"
  sed 's/^/  /' "$FAILS"
  exit 1
fi
echo "PASS (${SOAK_SECONDS}s, servers: ${SERVER_NAMES[*]})"
