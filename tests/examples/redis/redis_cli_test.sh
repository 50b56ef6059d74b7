#!/usr/bin/env bash
# Drives examples/redis with redis-cli and redis-benchmark: every line of
# commands.txt is sent to it and to a real redis-server, and the outputs
# must be identical; then a bounded redis-benchmark run must report a rate
# for every test and no error; then SIGTERM must stop it with status 0.
set -uo pipefail

server="${TEST_SRCDIR:-.}/actnet/examples/redis/redis"
commands="${TEST_SRCDIR:-.}/actnet/tests/examples/redis/commands.txt"
loops="${LOOPS:-4}"
work=$(mktemp -d /tmp/actnet-redis-test.XXXXXX)
ours_pid=""
ref_pid=""
cleanup() {
  [ -n "$ours_pid" ] && kill "$ours_pid" 2>/dev/null
  [ -n "$ref_pid" ] && kill "$ref_pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# Ours on an ephemeral port: the "listening" line names it.
"$server" --addr=tcp://127.0.0.1:0 --loops="$loops" >"$work/ours.out" 2>"$work/ours.err" &
ours_pid=$!
for _ in $(seq 600); do  # up to 30 s: a bound on a hang, not a speed
  grep -q listening "$work/ours.out" && break
  sleep 0.05
done
port=$(sed -n 's|.*listening on tcp://127.0.0.1:\([0-9]*\).*|\1|p' "$work/ours.out")
[ -n "$port" ] || fail "no listening line: $(cat "$work/ours.out" "$work/ours.err")"

# The reference on a Unix socket (no port to race for), persistence off.
redis-server --port 0 --unixsocket "$work/ref.sock" --save '' --appendonly no \
  --dir "$work" >"$work/ref.log" 2>&1 &
ref_pid=$!
for _ in $(seq 600); do
  redis-cli -s "$work/ref.sock" ping >/dev/null 2>&1 && break
  sleep 0.05
done
redis-cli -s "$work/ref.sock" ping >/dev/null 2>&1 || fail "redis-server did not start"

ours_cli() { timeout 10 redis-cli -p "$port" "$@" 2>&1; }
ref_cli() { timeout 10 redis-cli -s "$work/ref.sock" "$@" 2>&1; }

mismatches=0
n=0
started=${EPOCHREALTIME%.*}  # when the previous command began, in seconds
while IFS= read -r line; do
  case "$line" in
    ''|'#'*) continue ;;
    @sleep*) sleep "${line#@sleep }"; continue ;;
  esac
  mode=plain
  case "$line" in
    @sorted*) mode=sorted; line=${line#@sorted } ;;
    @pairs*) mode=pairs; line=${line#@pairs } ;;
    @near*) mode=near; line=${line#@near } ;;
  esac
  eval "args=($line)"
  # Both at once: redis-cli start-up dominates on a loaded machine.
  previous_started=$started
  started=${EPOCHREALTIME%.*}
  ours_cli "${args[@]}" >"$work/a" &
  a_pid=$!
  ref_cli "${args[@]}" >"$work/b" &
  b_pid=$!
  wait "$a_pid" "$b_pid"
  a=$(cat "$work/a")
  b=$(cat "$work/b")
  case $mode in
    sorted) a=$(sort <<<"$a"); b=$(sort <<<"$b") ;;
    pairs) a=$(paste - - <<<"$a" | sort); b=$(paste - - <<<"$b" | sort) ;;
    near)
      # The previous command set the timer; each server read it some time
      # after setting it, at most as long as has passed since the previous
      # command began (plus a second for rounding), however slowly the
      # two redis-cli processes ran.
      apart=$(( ${EPOCHREALTIME%.*} - previous_started + 2 ))
      [ "$apart" -lt 3 ] && apart=3
      if [[ "$a" =~ ^-?[0-9]+$ && "$b" =~ ^-?[0-9]+$ ]] &&
         [ $((a - b)) -le "$apart" ] && [ $((b - a)) -le "$apart" ]; then
        b=$a
      fi ;;
  esac
  n=$((n + 1))
  if [ "$a" != "$b" ]; then
    mismatches=$((mismatches + 1))
    printf 'MISMATCH for: %s\n  actnet: %q\n  redis:  %q\n' "$line" "$a" "$b"
  fi
done <"$commands"
echo "$n commands compared, $mismatches mismatches"
[ "$mismatches" -eq 0 ] || fail "replies differ from redis-server"

# COMMAND has its own table here (Redis lists ~240 commands); check shape.
count=$(ours_cli command count)
[ "$count" -ge 44 ] || fail "COMMAND COUNT: $count"
ours_cli command info get | head -2 | tr '\n' ' ' | grep -q '^get 2 ' ||
  fail "COMMAND INFO get: $(ours_cli command info get)"
ours_cli command | grep -qx mset || fail "COMMAND lists no mset"

# INFO: a server section and one counter line per loop (Engine::Stats).
info=$(ours_cli info | tr -d '\r')
grep -qx "loops:$loops" <<<"$info" || fail "INFO has no 'loops:$loops': $info"
grep -qx '# Loops' <<<"$info" || fail "INFO has no Loops section: $info"
lines=$(grep -cE '^loop[0-9]+:connections=[0-9]+,iterations=[0-9]+,polls=[0-9]+,' <<<"$info")
[ "$lines" -eq "$loops" ] || fail "INFO: $lines loop lines for $loops loops: $info"
only=$(ours_cli info loops | tr -d '\r')
grep -q '# Server' <<<"$only" && fail "INFO loops printed the Server section"
grep -qx '# Loops' <<<"$only" || fail "INFO loops: $only"
[ -z "$(ours_cli info nosuchsection | tr -d '\r\n')" ] || fail "INFO of an unknown section is not empty"
# redis-cli reading commands from stdin (its scripting mode).
got=$(printf 'set piped 1\nincr piped\nget piped\n' | timeout 10 redis-cli -p "$port")
[ "$got" = $'OK\n2\n2' ] || fail "stdin mode: $got"

# Bounded load: a rate line for every test and not one error.
tests=ping,set,get,incr,lpush,rpush,lpop,rpop,sadd,hset,mset
timeout 120 redis-benchmark -p "$port" -q -n 20000 -P 16 -t "$tests" \
  >"$work/bench.out" 2>&1 || fail "redis-benchmark: $(cat "$work/bench.out")"
tr '\r' '\n' <"$work/bench.out" | grep 'requests per second' >"$work/rates"
cat "$work/rates"
for t in PING_INLINE PING_MBULK SET GET INCR LPUSH RPUSH LPOP RPOP SADD HSET MSET; do
  grep -q "^ *$t.*: [0-9.]* requests per second" "$work/rates" || fail "no rate for $t"
done
if tr '\r' '\n' <"$work/bench.out" | grep -iE 'error|fail|refused|reset'; then
  fail "redis-benchmark reported errors"
fi

# Graceful stop.
kill -TERM "$ours_pid"
wait "$ours_pid"
status=$?
ours_pid=""
[ "$status" -eq 0 ] || fail "exit status $status after SIGTERM"
echo PASS
