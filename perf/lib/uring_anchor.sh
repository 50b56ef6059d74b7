# shellcheck shell=bash
# The raw io_uring echo anchor (server "uring"), built at run time from the
# shared perf-anchors harness's own source: the anchor is not part of this
# repository and is not built by Bazel. Sourced (by perf/lib/bench.sh and
# perf/compare/compare.sh), not run.
#
#   uring_anchor_src           prints the path of uring_echo_server.c:
#                              $ANCHORS_DIR/uring_echo_server.c, ANCHORS_DIR
#                              defaulting to <git toplevel>/../shared/perf-anchors
#   build_uring_anchor DEST    compiles it as the harness does
#                              (${CC:-cc} -O2 -o ... SRC -luring) in a fresh
#                              temporary folder under /tmp, copies the binary
#                              to DEST and removes the folder: 0. If the
#                              source or liburing is missing, or it does not
#                              build: a one-line note on stderr, no DEST, 1
#                              (the caller leaves the uring server out).
#   uring_anchor_desc          prints the source's path and the start of its
#                              sha256 (for meta files: the repository's git
#                              hash does not cover it)
#
# The binary takes the harness's flags: uring_echo_server -p PORT [-b BUFSIZE]
# [-n NBUFS] [-q SQ_ENTRIES]; it listens on 127.0.0.1:PORT and exits 0 on
# SIGTERM or SIGINT.

uring_anchor_src() {
  local dir=${ANCHORS_DIR:-}
  if [[ -z $dir ]]; then
    local top
    top=$(git -C "${ROOT:-.}" rev-parse --show-toplevel 2>/dev/null) || top=${ROOT:-.}
    dir=$top/../shared/perf-anchors
  fi
  echo "$dir/uring_echo_server.c"
}

build_uring_anchor() {
  local dest=$1 src cc=${CC:-cc} tmp log
  src=$(uring_anchor_src)
  rm -f "$dest"
  if [[ ! -r $src ]]; then
    echo "note: $src not found (set ANCHORS_DIR): skipping the raw io_uring anchor 'uring'" >&2
    return 1
  fi
  if ! command -v "$cc" >/dev/null; then
    echo "note: no C compiler '$cc' (set CC): skipping the raw io_uring anchor 'uring'" >&2
    return 1
  fi
  if ! echo '#include <liburing.h>' | "$cc" -E -x c - >/dev/null 2>&1; then
    echo "note: liburing not found (liburing-dev): skipping the raw io_uring anchor 'uring'" >&2
    return 1
  fi
  tmp=$(mktemp -d /tmp/actnet-uring-anchor.XXXXXX) || return 1
  if ! log=$("$cc" -O2 -o "$tmp/uring_echo_server" "$src" -luring 2>&1) ||
    ! cp -f "$tmp/uring_echo_server" "$dest"; then
    echo "note: $src did not build ($(grep -m1 -i 'error' <<<"$log" || echo "${log%%$'\n'*}")):" \
      "skipping the raw io_uring anchor 'uring'" >&2
    rm -rf "$tmp"
    rm -f "$dest"
    return 1
  fi
  rm -rf "$tmp"
  return 0
}

uring_anchor_desc() {
  local src
  src=$(uring_anchor_src)
  echo "$(realpath -m "$src") (sha256 $(sha256sum <"$src" 2>/dev/null | cut -c1-16))"
}
