#!/usr/bin/env bash
# Runs every actnet test, the way CI does: installs what is missing, then
#   1. all tests, optimised build, on the epoll backend; then the
#      consumer workspace (tests/consumer) in a fresh-user configuration;
#   2. the engine-level suites again on io_uring (ACTNET_BACKEND=io_uring);
#   3. the concurrency-tagged tests under ThreadSanitizer (epoll), and the
#      integration and transport ones of them on io_uring;
#   4. all tests under AddressSanitizer + UndefinedBehaviorSanitizer
#      (epoll), and the io, integration, fault and transport suites on
#      io_uring;
#   5. every libFuzzer target for a bounded time (tools/fuzz.sh, clang,
#      FUZZ_SECONDS each, default 60; 0 = seeds and regressions only).
# Which configuration runs which suite on io_uring is chosen to keep a
# clean run under an hour on two cores. Ends with the line
# "N passed, N failed" (test targets summed over the runs, plus one per
# fuzzer) and exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."

bash tools/setup.sh || { echo "0 passed, 1 failed"; exit 1; }

# Explicit packages rather than //...: Bazel's convenience symlinks
# (bazel-<folder>) would otherwise lead the pattern into /usr.
TARGETS=(//:all //actors/... //balance/... //io/... //examples/... //perf/...
         //fuzz/... //tests/...)

passed=0
failed=0
logdir=$(mktemp -d -t actnet-test.XXXXXX)

run() {  # name, bazel test arguments...
  local name=$1
  shift
  local log="$logdir/$name.log"
  echo "=== $name: bazel test $*"
  bazel test --keep_going "$@" >"$log" 2>&1
  tally "$name" "$log" $?
}

tally() {  # name, log of a bazel test run, its exit status
  local name=$1 log=$2 rc=$3
  local p f
  p=$(grep -cE '^//[^ ]+ +(\(cached\) )?PASSED' "$log")
  f=$(grep -cE '^//[^ ]+ +(\(cached\) )?(FAILED|TIMEOUT|FLAKY|NO STATUS|FAILED TO BUILD|INCOMPLETE)' "$log")
  grep -E '^//[^ ]+ +' "$log" | sed "s/^/  [$name] /"
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    # A build error or an empty run: show why and count it as a failure.
    tail -40 "$log"
    f=1
  fi
  echo "=== $name: $p passed, $f failed"
  passed=$((passed + p))
  failed=$((failed + f))
}

# The suites that drive an Engine, which ACTNET_BACKEND switches.
URING=--test_env=ACTNET_BACKEND=io_uring
ENGINE_SUITES=(//tests/integration/... //tests/transport/... //tests/fault/...
               //tests/examples/...)

run plain "${TARGETS[@]}"

# tests/consumer is a separate workspace that uses actnet exactly as
# docs/using.md says (the three WORKSPACE lines, no .bazelrc), so a build
# there fails if a user would need anything more. Bazel gives it its own
# output base; its server is shut down afterwards.
consumer() {
  local log="$logdir/consumer.log"
  echo "=== consumer: bazel test //... in tests/consumer"
  (cd tests/consumer &&
    bazel test --keep_going --symlink_prefix=/ //... >"$log" 2>&1)
  local rc=$?
  (cd tests/consumer && bazel shutdown >/dev/null 2>&1)
  tally consumer "$log" "$rc"
}
consumer
run plain-io_uring "$URING" "${ENGINE_SUITES[@]}"
run tsan --config=tsan --test_tag_filters=concurrency "${TARGETS[@]}"
run tsan-io_uring --config=tsan --test_tag_filters=concurrency "$URING" \
  //tests/integration/... //tests/transport/...
run asan-ubsan --config=asan --config=ubsan "${TARGETS[@]}"
run asan-ubsan-io_uring --config=asan --config=ubsan "$URING" \
  //tests/integration/... //tests/transport/... //tests/fault/...

fuzz() {
  local log="$logdir/fuzz.log"
  local seconds=${FUZZ_SECONDS:-60}
  echo "=== fuzz: tools/fuzz.sh, ${seconds} s per fuzzer"
  FUZZ_SECONDS=$seconds bash tools/fuzz.sh >"$log" 2>&1
  local rc=$?
  sed 's/^/  [fuzz] /' "$log"
  local p f
  p=$(grep -cE '^fuzz [a-z_]+: OK' "$log")
  f=$(grep -cE '^fuzz [a-z_]+: (CRASH|BUILD FAILED|unknown|SKIPPED)' "$log")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  echo "=== fuzz: $p passed, $f failed"
  passed=$((passed + p))
  failed=$((failed + f))
}
fuzz

echo "logs: $logdir"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
