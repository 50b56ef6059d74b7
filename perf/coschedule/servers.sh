# shellcheck shell=bash
# The echo servers of perf/coschedule's drivers (pairs.sh, slices.sh).
# Sourced, not run; needs ROOT (the git toplevel) and OUT.
#
#   build_servers        builds the echo example (Bazel, -c opt) and compiles
#                        the shared perf-anchors harness's raw epoll and raw
#                        io_uring servers and its echo_client
#                        (ANCHORS_DIR, default <ROOT>/../shared/perf-anchors;
#                        the io_uring one by perf/lib/uring_anchor.sh, which
#                        says why if it cannot) into $OUT/bin; sets LOADGEN
#                        (//perf/loadgen)
#   command_of NAME PORT prints the command line of server NAME on PORT:
#                        epoll and uring (the raw anchors), actnet and
#                        actnet-uring (the echo example, one loop, on epoll
#                        and io_uring), actnet-b and actnet-uring-b (the
#                        same from the binary ECHO_B, another build)
ANCHORS_DIR=${ANCHORS_DIR:-$ROOT/../shared/perf-anchors}
source "$ROOT/perf/lib/uring_anchor.sh"

build_servers() {
  mkdir -p "$OUT/bin"
  bazel build -c opt //examples/echo //perf/loadgen:loadgen > "$OUT/build.log" 2>&1
  local bin
  bin=$(bazel info -c opt bazel-bin 2>/dev/null)
  cp "$bin/examples/echo/echo" "$OUT/bin/echo"
  LOADGEN=$bin/perf/loadgen/loadgen
  cc -O2 -pthread -o "$OUT/bin/epoll_echo" "$ANCHORS_DIR/epoll_echo_server.c"
  build_uring_anchor "$OUT/bin/uring_echo"
  cc -O2 -o "$OUT/bin/echo_client" "$ANCHORS_DIR/echo_client.c"
}

command_of() {
  case $1 in
    epoll) echo "$OUT/bin/epoll_echo -p $2" ;;
    uring) echo "$OUT/bin/uring_echo -p $2" ;;
    actnet) echo "$OUT/bin/echo --addr=tcp://127.0.0.1:$2 --loops=1 --backend=epoll" ;;
    actnet-uring) echo "$OUT/bin/echo --addr=tcp://127.0.0.1:$2 --loops=1 --backend=io_uring" ;;
    actnet-b) echo "${ECHO_B:?ECHO_B=path} --addr=tcp://127.0.0.1:$2 --loops=1 --backend=epoll" ;;
    actnet-uring-b) echo "${ECHO_B:?ECHO_B=path} --addr=tcp://127.0.0.1:$2 --loops=1 --backend=io_uring" ;;
    *) echo "unknown server '$1'" >&2; return 1 ;;
  esac
}
