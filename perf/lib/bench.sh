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
#                              epoll | uv | uring (raw io_uring,
#                              $OUT/bin/uring_echo: build_uring_anchor) |
#                              actnet (1 loop) | actnet-nc (1 loop,
#                              --coalesce_us=0) |
#                              actnet-wN (1 loop, --coalesce_us=N), and each
#                              actnet name with -uring after actnet
#                              (actnet-uring, actnet-uring-nc,
#                              actnet-uring-wN: the same on
#                              --backend=io_uring) from $OUT/bin,
#                              pinned to CPU 0; returns once it listens
#                              (an actnet-uring* server also once it holds
#                              an io_uring fd: else, after 3 s, it fails, 1)
#   uses_io_uring PID          a CHECK: PID holds an io_uring instance
#   is_echo_server NAME        NAME is one start_echo_server knows (0)
#   build_uring_anchor DEST    (perf/lib/uring_anchor.sh) builds the raw
#                              io_uring anchor from the shared perf-anchors
#                              harness's source, not the repository's: 0, or
#                              a one-line note and 1 (leave "uring" out)
#
# ACTNET_BACKEND is unset: it would override --backend, and the server
# names say which backend runs.

source "$(dirname "${BASH_SOURCE[0]}")/uring_anchor.sh"

server_pid=""
bench_cleanup() {
  if [[ -n $server_pid ]]; then kill -KILL "$server_pid" 2>/dev/null || true; fi
}
trap bench_cleanup EXIT
trap 'exit 130' INT TERM
if [[ -n ${ACTNET_BACKEND:-} ]]; then
  echo "note: ignoring ACTNET_BACKEND=$ACTNET_BACKEND (server names pick the backend)" >&2
  unset ACTNET_BACKEND
fi

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

uses_io_uring() {
  local link
  for link in /proc/"$1"/fd/*; do
    [[ $(readlink "$link" 2>/dev/null) == "anon_inode:[io_uring]" ]] && return 0
  done
  return 1
}

is_echo_server() {
  case $1 in
    epoll | uv | uring | actnet | actnet-nc | actnet-w[0-9]*) ;;
    actnet-uring | actnet-uring-nc | actnet-uring-w[0-9]*) ;;
    *) return 1 ;;
  esac
  [[ $1 != *-w* || ${1##*-w} =~ ^[0-9]+$ ]]
}

start_echo_server() {
  local cmd variant=${1#actnet} uring=()
  if [[ $1 == actnet-uring* ]]; then  # the same actnet variant on io_uring
    variant=${variant#-uring}
    uring=(--backend=io_uring)
  fi
  is_echo_server "$1" || { echo "unknown echo server '$1'" >&2; return 1; }
  case $1 in
    epoll) cmd=("$OUT/bin/epoll_echo" -p "$2") ;;
    uv) cmd=("$OUT/bin/uv_echo" -p "$2") ;;
    uring) cmd=("$OUT/bin/uring_echo" -p "$2") ;;
    actnet*)
      cmd=("$OUT/bin/echo" "--addr=tcp://127.0.0.1:$2" --loops=1)
      case $variant in
        -nc) cmd+=(--coalesce_us=0) ;;
        -w*) cmd+=("--coalesce_us=${variant#-w}") ;;  # a window of N microseconds
      esac
      cmd+=("${uring[@]}") ;;
  esac
  taskset -c 0 "${cmd[@]}" >"$3" 2>&1 &  # taskset execs: $! is the server
  server_pid=$!
  server_started listening_on "$2" || return 1
  ((${#uring[@]})) || return 0
  local i  # the loops set up their rings in Engine::Run, after listening
  for ((i = 0; i < 30; i++)); do
    uses_io_uring "$server_pid" && return 0
    sleep 0.1
  done
  echo "bench.sh: $1 (pid $server_pid) holds no io_uring fd: not on io_uring" >>"$3"
  return 1
}
