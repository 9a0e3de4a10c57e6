#!/usr/bin/env bash
# The README's second command: installs what is missing, builds with warnings as errors, and runs
# the whole test suite with CTest, then a short run of every fuzz target (scripts/fuzz.sh, 15 s
# each). With --sanitize, the suite under AddressSanitizer and UndefinedBehaviorSanitizer (its
# own build directory), without the fuzzing.
set -euo pipefail
KIRJURI_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$KIRJURI_ROOT/scripts/deps.sh"

dir="$KIRJURI_ROOT/build-test"
flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DKIRJURI_WERROR=ON -DKIRJURI_SANITIZE=OFF)
if [ "${1:-}" = "--sanitize" ]; then
  dir="$KIRJURI_ROOT/build-asan"
  # The benchmarks are built (and bench_report's test run) by the normal build only.
  flags=(-DCMAKE_BUILD_TYPE=Debug -DKIRJURI_WERROR=ON -DKIRJURI_SANITIZE=ON -DKIRJURI_BUILD_BENCH=OFF)
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
fi

kirjuri_install_deps
kirjuri_build "$dir" "${flags[@]}"
cd "$dir"
ctest --output-on-failure -j "$(nproc)" --timeout 600
if [ "${1:-}" != "--sanitize" ]; then
  bash "$KIRJURI_ROOT/scripts/fuzz.sh" --seconds 15
fi
