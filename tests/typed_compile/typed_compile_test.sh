#!/usr/bin/env bash
# Compiles typed_tell_snippet.cc with the system compiler: as is it must
# compile (so a broken include path cannot pass the test); with each
# WRONG_* macro it must fail with exactly one error, the static_assert
# message that names the mistake. See BUILD.bazel.
set -uo pipefail

root="${TEST_SRCDIR:?}/${TEST_WORKSPACE:?}"
snippet="$root/tests/typed_compile/typed_tell_snippet.cc"
cxx="${CXX:-c++}"
for f in "$snippet" "$root/actnet.h" "$root/actors/engine.h" "$root/actors/typed.h"; do
  [ -f "$f" ] || { echo "FAIL: missing from the runfiles: $f"; exit 1; }
done

compile() {  # extra compiler flags...
  "$cxx" -std=c++20 -fsyntax-only -I"$root" "$@" "$snippet" 2>&1
}

failures=0

out=$(compile)
if [ $? -ne 0 ]; then
  echo "FAIL: the control snippet does not compile:"
  echo "$out"
  exit 1
fi
echo "ok: the control snippet compiles"

expect_rejected() {  # macro, message
  local macro=$1 message=$2 out rc errors
  out=$(compile "-D$macro")
  rc=$?
  errors=$(grep -c 'error:' <<<"$out")
  if [ "$rc" -eq 0 ]; then
    echo "FAIL: $macro compiled; it must be rejected with \"$message\""
    failures=$((failures + 1))
  elif ! grep -qF "static assertion failed: $message" <<<"$out"; then
    echo "FAIL: $macro was rejected, but not with \"$message\":"
    echo "$out"
    failures=$((failures + 1))
  elif [ "$errors" -ne 1 ]; then
    echo "FAIL: $macro: $errors errors, expected only the static_assert:"
    echo "$out"
    failures=$((failures + 1))
  else
    echo "ok: $macro rejected with \"$message\""
  fi
}

expect_rejected WRONG_ENGINE_TELL "Tell: the target's class does not receive this type"
expect_rejected WRONG_ENGINE_TELL_T "Tell: the target's class does not receive this type"
expect_rejected WRONG_ACTOR_TELL "Tell: the target's class does not receive this type"
expect_rejected WRONG_ASK "Ask: the target's class does not receive this request"

[ "$failures" -eq 0 ]
