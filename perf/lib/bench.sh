# Shell helpers shared by the perf/ drivers (compare/compare_echo.sh,
# compare/redis_wakeups.sh, latency/latency.sh, scale/scale.sh). Sourced, not
# run. One server at a time, in $server_pid; it is killed if the driver exits
# early.
#
#   fresh_port                 sets $port to a loopback port nobody uses
#   server_started CHECK...    after `cmd & server_pid=$!`: waits up to 10 s
#                              for CHECK to succeed (0), or the server to
#                              die / time to run out (1)
#   listening_on PORT          a CHECK: something listens on PORT
#   stop_server [TENTHS]       SIGTERM, up to TENTHS/10 s (default 2 s),
#                              then SIGKILL; reaps it
#   machine_lines              nproc, cpu and kernel lines for meta files
#   start_echo_server NAME PORT LOG
#                              epoll | uv | actnet (1 loop) | actnet-nc (1
#                              loop, --coalesce_us=0) | actnet-wN (1 loop,
#                              --coalesce_us=N) from $OUT/bin,
#                              pinned to CPU 0; returns once it listens

server_pid=""
bench_cleanup() {
  if [[ -n $server_pid ]]; then kill -KILL "$server_pid" 2>/dev/null || true; fi
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM

next_port=$((20000 + RANDOM % 20000))
fresh_port() {
  while ss -Htan "( sport = :$next_port or dport = :$next_port )" | grep -q .; do
    next_port=$((next_port + 1))
  done
  port=$next_port
  next_port=$((next_port + 1))
}

listening_on() { ss -Hltn "sport = :$1" | grep -q .; }

server_started() {
  local i
  for ((i = 0; i < 100; i++)); do
    kill -0 "$server_pid" 2>/dev/null || return 1
    "$@" && return 0
    sleep 0.1
  done
  return 1
}

stop_server() {
  [[ -n $server_pid ]] || return 0
  kill -TERM "$server_pid" 2>/dev/null || true
  local i
  for ((i = 0; i < ${1:-20}; i++)); do
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

machine_lines() {
  echo "nproc: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "kernel: $(uname -r)"
}

start_echo_server() {
  local cmd
  case $1 in
    epoll) cmd=("$OUT/bin/epoll_echo" -p "$2") ;;
    uv) cmd=("$OUT/bin/uv_echo" -p "$2") ;;
    actnet) cmd=("$OUT/bin/echo" "--addr=tcp://127.0.0.1:$2" --loops=1) ;;
    actnet-nc) cmd=("$OUT/bin/echo" "--addr=tcp://127.0.0.1:$2" --loops=1 --coalesce_us=0) ;;
    actnet-w[0-9]*)  # a coalescing window of N microseconds
      cmd=("$OUT/bin/echo" "--addr=tcp://127.0.0.1:$2" --loops=1 "--coalesce_us=${1#actnet-w}") ;;
    *) echo "unknown echo server '$1'" >&2; return 1 ;;
  esac
  taskset -c 0 "${cmd[@]}" >"$3" 2>&1 &  # taskset execs: $! is the server
  server_pid=$!
  server_started listening_on "$2"
}
