#!/usr/bin/env bash
# Installs, idempotently, every Debian package actnet's build, tests and
# benchmarks need. Safe to run again: packages already present are skipped.
# Must run as root on Debian bookworm (or with sudo available).
set -euo pipefail

PACKAGES=(
  # Build: Bazel 4.2.3 and its Java rules, the compilers.
  bazel-bootstrap bazel-rules-java g++ clang libclang-rt-14-dev
  # Libraries wired in through third_party/.
  libabsl-dev libconcurrentqueue-dev doctest-dev libhttp-parser-dev libuv1-dev
  liburing-dev libssl-dev
  # Real clients and peers used by tests and benchmarks.
  curl wrk redis-server redis-tools nginx socat netcat-openbsd openssl
  util-linux procps iproute2 python3 python3-matplotlib
  # Profilers some benchmark scripts use (perf/compare/profile.py,
  # perf/compare/redis_wakeups.sh, perf/callgrind/).
  linux-perf valgrind
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
# Debian starts redis-server and nginx as services on install; the tests start
# their own instances on free ports and never use the system ones.
echo "setup: done"
