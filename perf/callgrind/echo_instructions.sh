#!/bin/bash
# User-space instructions per echo of the echo example, from valgrind's
# callgrind: a count that, unlike CPU time, does not move with a noisy
# host. The server (one loop, pinned to CPU 0, under callgrind) is loaded by
# //perf/loadgen on CPU 1 over loopback for WARM + DUR seconds; the profile
# is dumped while the load runs, then the server is killed (by PID).
#
#   perf/callgrind/echo_instructions.sh [epoll|io_uring ...]
#   CONNS=100 SIZE=16 DEPTH=1 DUR=6 WARM=1 PORT=19800 OUT=/tmp/dir ECHO=path
#
# Prints, per backend: echoes (calls of Echo::OnData), the instructions of
# the whole run, and (total - start-up) / echoes, where start-up is measured
# once on an idle server (STARTUP=N skips that). Profiles stay in $OUT for
# callgrind_annotate (run it from the repository root to see the sources).
set -eu
command -v valgrind > /dev/null || { echo "needs valgrind (apt-get install valgrind)" >&2; exit 2; }
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
CONNS=${CONNS:-100}; SIZE=${SIZE:-16}; DEPTH=${DEPTH:-1}; DUR=${DUR:-6}; WARM=${WARM:-1}
PORT=${PORT:-19800}
OUT=${OUT:-$(mktemp -d -t actnet-callgrind.XXXXXX)}
mkdir -p "$OUT"
BACKENDS=${*:-epoll io_uring}
if [ -z "${ECHO:-}" ]; then
  bazel build -c opt //examples/echo //perf/loadgen:loadgen > "$OUT/build.log" 2>&1
  ECHO=$(bazel info -c opt bazel-bin 2>/dev/null)/examples/echo/echo
fi
LOADGEN=$(bazel info -c opt bazel-bin 2>/dev/null)/perf/loadgen/loadgen

# start NAME BACKEND: the server under callgrind, listening; sets VPID.
start() {
  PORT=$((PORT + 1))
  rm -f "$OUT/$1".*
  taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$OUT/$1.out" \
    "$ECHO" --addr="tcp://127.0.0.1:$PORT" --loops=1 --backend="$2" \
    > "$OUT/$1.log" 2>&1 &
  VPID=$!
  disown "$VPID"  # killed by dump: no job notice
  for _ in $(seq 300); do
    ss -Hltn "sport = :$PORT" | grep -q LISTEN && return 0
    kill -0 "$VPID" 2> /dev/null || break
    sleep 0.1
  done
  echo "$1: the server did not listen ($OUT/$1.log)" >&2
  kill -KILL "$VPID" 2> /dev/null || true
  return 1
}
# dump NAME: the profile of the running server, then kill it; prints the file.
dump() {
  timeout 60 callgrind_control -d "$VPID" > /dev/null 2>&1 || true
  kill -KILL "$VPID" 2> /dev/null || true
  while kill -0 "$VPID" 2> /dev/null; do sleep 0.1; done
  ls "$OUT/$1".out.* 2> /dev/null | head -1
}
total() { callgrind_annotate "$1" 2> /dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}'; }
# calls FILE NAME: the calls of functions whose name contains NAME.
calls() {
  awk -v want="$2" '
    match($0, /^c?fn=\([0-9]+\)/) {
      id = substr($0, RSTART, RLENGTH); sub(/^c?fn=/, "", id)
      if (RLENGTH < length($0)) name[id] = substr($0, RLENGTH + 2)
      callee = ($0 ~ /^cfn=/) ? id : ""
      next
    }
    /^calls=/ && callee != "" && index(name[callee], want) {
      split($0, f, /[= ]/); n += f[2]
    }
    END { print n + 0 }' "$1"
}

if [ -z "${STARTUP:-}" ]; then
  start idle epoll
  sleep 3
  STARTUP=$(total "$(dump idle)")
fi
echo "start-up: $STARTUP instructions; load: $CONNS conns x $SIZE B, depth $DEPTH, ${WARM}+${DUR} s"
for backend in $BACKENDS; do
  start "$backend" "$backend" || continue
  timeout $((WARM + DUR + 30)) taskset -c 1 "$LOADGEN" --addr="tcp://127.0.0.1:$PORT" \
    --conns="$CONNS" --size="$SIZE" --depth="$DEPTH" --duration="$DUR" --warmup="$WARM" \
    > "$OUT/$backend.loadgen.log" 2>&1 || true
  file=$(dump "$backend")
  [ -n "$file" ] || { echo "$backend: no profile" >&2; continue; }
  t=$(total "$file"); e=$(calls "$file" "Echo::OnData")
  if [ "$e" -gt 0 ]; then
    echo "$backend: echoes=$e instructions=$t per_echo=$(( (t - STARTUP) / e )) ($file)"
  else
    echo "$backend: no echo ran ($OUT/$backend.loadgen.log)" >&2
  fi
done
