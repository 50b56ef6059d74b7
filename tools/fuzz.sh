#!/usr/bin/env bash
# Builds actnet's libFuzzer targets with clang (ASan + UBSan) and runs each
# for a bounded time on a copy of its committed seed corpus, then replays
# every committed regression input once.
#
#   tools/fuzz.sh                  # every fuzzer, FUZZ_SECONDS (60) each
#   FUZZ_SECONDS=20 tools/fuzz.sh http byte_ring
#   FUZZ_SECONDS=0 tools/fuzz.sh   # build, run the seeds and regressions once
#
# Environment: FUZZ_SECONDS (default 60), FUZZ_OUT (build and run directory,
# default a fresh temp dir; reuse one to skip recompiling unchanged sources),
# CXX (default clang++), FUZZ_JOBS (parallel compiles, default nproc).
#
# Prints one line per fuzzer, "fuzz <name>: OK (N runs)" or
# "fuzz <name>: CRASH <reproducer>", and one per fuzzer for its regressions;
# exits non-zero if anything crashed or failed to build. Bazel is not used:
# its toolchain here is gcc, which has no libFuzzer.
set -uo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-60}
CXX=${CXX:-clang++}
FUZZ_JOBS=${FUZZ_JOBS:-$(nproc)}
OUT=${FUZZ_OUT:-$(mktemp -d -t actnet-fuzz.XXXXXX)}
mkdir -p "$OUT/obj" "$OUT/bin"

CXXFLAGS=(-std=c++20 -O1 -g -fno-omit-frame-pointer
  -fsanitize=address,undefined -fno-sanitize-recover=undefined -I.)
# The same Abseil libraries Bazel links (third_party/absl/absl.BUILD).
mapfile -t ABSL_LIBS < <(grep -o '"-l[^"]*"' third_party/absl/absl.BUILD | tr -d '"')

# The runtime the HTTP example links (//:actnet and what it pulls in).
RUNTIME=(actors/*.cc balance/*.cc io/*.cc tls/*.cc)

# name -> sources besides fuzz/<name>_fuzzer.cc and fuzz/<name>_check.cc.
declare -A SOURCES=(
  [address]="io/address.cc io/socket_address.cc"
  [byte_ring]="io/buffer.cc"
  [http]="examples/http/http_server.cc ${RUNTIME[*]}"
  [resp]="examples/redis/resp.cc"
  [tls]="tls/tls_context.cc tls/tls_session.cc"
)
# The runtime's io/ links liburing (third_party/liburing/liburing.BUILD);
# tls/ links OpenSSL (third_party/openssl/openssl.BUILD).
declare -A EXTRA_LIBS=([http]="-lhttp_parser -luring -lssl -lcrypto" [tls]="-lssl -lcrypto")
# Per-fuzzer libFuzzer flags: HTTP inputs must pass the 8 KiB header limit
# to reach the 431 path.
declare -A RUN_FLAGS=([http]="-max_len=16384")
ALL=(address byte_ring http resp tls)

if [ $# -gt 0 ]; then NAMES=("$@"); else NAMES=("${ALL[@]}"); fi

# Compiles one source to $OUT/obj (skipped when the object is newer than
# the source and every header it read, as recorded in its .d file).
compile() {
  local src=$1 obj="$OUT/obj/${1//\//_}.o"
  if [ -f "$obj" ] && [ -f "$obj.d" ] &&
     [ -z "$(find $(sed -e 's/^[^:]*://' -e 's/\\$//' "$obj.d") -newer "$obj" 2>/dev/null)" ]; then
    return 0
  fi
  # The fuzz targets get libFuzzer's coverage hooks; so does the code
  # under test, so the fuzzer sees its branches.
  "$CXX" "${CXXFLAGS[@]}" -fsanitize=fuzzer-no-link -MMD -MF "$obj.d" \
    -c "$src" -o "$obj" || { echo "compile failed: $src" >&2; return 1; }
}
export -f compile
export OUT CXX
export CXXFLAGS_STR="${CXXFLAGS[*]}"

failed=0
declare -A BUILT=()
srcs_of() {
  echo "fuzz/$1_fuzzer.cc fuzz/$1_check.cc ${SOURCES[$1]}"
}

# Build every requested fuzzer whose sources exist.
todo=()
for name in "${NAMES[@]}"; do
  if [ -z "${SOURCES[$name]+x}" ]; then
    echo "fuzz $name: unknown fuzzer (known: ${ALL[*]})"
    failed=1
    continue
  fi
  missing=""
  for src in $(srcs_of "$name"); do [ -f "$src" ] || missing="$missing $src"; done
  if [ -n "$missing" ]; then
    echo "fuzz $name: SKIPPED (missing:$missing)"
    continue
  fi
  todo+=("$name")
done

# Compile the union of the sources once, FUZZ_JOBS at a time.
mapfile -t all_srcs < <(for name in "${todo[@]}"; do srcs_of "$name"; done | tr ' ' '\n' | grep . | sort -u)
if [ ${#all_srcs[@]} -gt 0 ]; then
  printf '%s\n' "${all_srcs[@]}" |
    xargs -P "$FUZZ_JOBS" -I{} bash -c 'CXXFLAGS=($CXXFLAGS_STR); compile "$@"' _ {}
fi
compile_rc=$?

for name in "${todo[@]}"; do
  objs=()
  for src in $(srcs_of "$name"); do objs+=("$OUT/obj/${src//\//_}.o"); done
  bin="$OUT/bin/${name}_fuzzer"
  # shellcheck disable=SC2086
  if ! "$CXX" "${CXXFLAGS[@]}" -fsanitize=fuzzer "${objs[@]}" -o "$bin" \
      ${EXTRA_LIBS[$name]:-} "${ABSL_LIBS[@]}" -lpthread 2>"$OUT/$name.link.log"; then
    echo "fuzz $name: BUILD FAILED (compile rc $compile_rc; $OUT/$name.link.log)"
    tail -5 "$OUT/$name.link.log"
    failed=1
    continue
  fi
  BUILT[$name]=$bin
done

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

for name in "${todo[@]}"; do
  bin=${BUILT[$name]:-}
  [ -n "$bin" ] || continue
  corpus="$OUT/corpus/$name"
  artifacts="$OUT/artifacts/$name/"
  log="$OUT/$name.log"
  rm -rf "$corpus" "$artifacts"
  mkdir -p "$corpus" "$artifacts"
  # A copy, so what the run discovers never lands in the repository.
  cp fuzz/corpus/"$name"/* "$corpus"/ 2>/dev/null
  if [ "$FUZZ_SECONDS" -gt 0 ]; then
    limit=(-max_total_time="$FUZZ_SECONDS")
  else
    limit=(-runs=0)  # only the seeds
  fi
  # shellcheck disable=SC2086
  "$bin" "${limit[@]}" ${RUN_FLAGS[$name]:-} -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts" "$corpus" >"$log" 2>&1
  rc=$?
  runs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
  if [ $rc -eq 0 ]; then
    echo "fuzz $name: OK (${runs:-0} runs)"
  else
    repro=$(ls -1 "$artifacts" 2>/dev/null | head -1)
    echo "fuzz $name: CRASH ${repro:+$artifacts$repro} (log $log)"
    grep -m3 -E 'ERROR|runtime error|check failed' "$log" | sed 's/^/  /'
    failed=1
  fi

  # Every committed reproducer, once each (libFuzzer runs file arguments).
  mapfile -t regressions < <(find "fuzz/regressions/$name" -type f 2>/dev/null | sort)
  if [ ${#regressions[@]} -gt 0 ]; then
    bad=0
    for input in "${regressions[@]}"; do
      rlog="$OUT/$name.regression.$(basename "$input").log"
      if ! "$bin" -timeout=10 -rss_limit_mb=2048 "$input" >"$rlog" 2>&1; then
        echo "fuzz $name: CRASH $input (regression; log $rlog)"
        grep -m3 -E 'ERROR|runtime error|check failed' "$rlog" | sed 's/^/  /'
        bad=1
      fi
    done
    [ $bad -eq 0 ] && echo "fuzz $name: regressions OK (${#regressions[@]} inputs)"
    [ $bad -eq 0 ] || failed=1
  fi
done

exit $failed
