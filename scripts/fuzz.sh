#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang with ASan + UBSan, in build-fuzz/) and runs
# each for a while over its seed corpus in tests/fuzz/corpus/<target>/. New corpus entries go to
# a scratch directory, never into the repository. Any crash, leak, timeout or sanitizer report
# fails the run (non-zero exit) and the reproducer's path is printed; replay it with
#   build-fuzz/tests/fuzz/<target> <reproducer>
#
# Usage: bash scripts/fuzz.sh [--seconds N] [TARGET...]   (default: 20 s each, every target)
set -euo pipefail
KIRJURI_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

seconds=20
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --seconds=*) seconds="${1#--seconds=}"; shift ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [ ${#targets[@]} -eq 0 ]; then
  for src in "$KIRJURI_ROOT"/tests/fuzz/*_fuzz.cc; do
    targets+=("$(basename "$src" .cc)")
  done
fi

# The largest input each target is given: a run is meaningful in seconds only if every input is
# cheap. The policy needs room for a whole document (the shipped one is ~20 KB).
max_len() {
  case "$1" in
    policy_fuzz) echo 32768 ;;
    *) echo 4096 ;;
  esac
}

# -O1 and line tables only: the build is most of a short run's time (CI), and ASan's reports
# still name file and line.
dir="$KIRJURI_ROOT/build-fuzz"
CC=clang CXX=clang++ cmake -S "$KIRJURI_ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
  -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
  -DKIRJURI_FUZZ=ON -DKIRJURI_BUILD_TESTS=OFF -DKIRJURI_BUILD_BENCH=OFF >/dev/null
cmake --build "$dir" -j "$(nproc)" --target "${targets[@]}"

scratch="$(mktemp -d "${TMPDIR:-/tmp}/kirjuri-fuzz-run.XXXXXX")"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
# One target's run, into $scratch/<target>/: its log, and its exit status in `status` (0: no
# finding).
run_target() {
  local t="$1" seeds="$KIRJURI_ROOT/tests/fuzz/corpus/$1" rc=0
  mkdir -p "$scratch/$t/corpus" "$scratch/$t/crashes"
  # The scratch corpus comes first: libFuzzer writes new entries into the first directory.
  "$dir/tests/fuzz/$t" -max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=10 \
    -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$scratch/$t/crashes/" \
    "$scratch/$t/corpus" "$seeds" >"$scratch/$t/log" 2>&1 || rc=$?
  echo "$rc" >"$scratch/$t/status"
}

# As many targets at once as there are cores: each libFuzzer run is one thread.
for t in "${targets[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$(nproc)" ]; do wait -n || true; done
  echo "fuzz: $t for ${seconds}s (seeds: tests/fuzz/corpus/$t, $(ls "$KIRJURI_ROOT/tests/fuzz/corpus/$t" | wc -l) files)"
  run_target "$t" &
done
wait
failed=0
for t in "${targets[@]}"; do
  log="$scratch/$t/log"
  if [ "$(cat "$scratch/$t/status" 2>/dev/null)" = 0 ]; then
    done_line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 || true)"
    echo "fuzz: $t ok: ${done_line:-(no DONE line)}"
  else
    failed=1
    echo "fuzz: $t FAILED; the end of its log ($log):"
    tail -n 60 "$log"
    for f in "$scratch/$t/crashes/"*; do
      [ -e "$f" ] && echo "fuzz: reproducer: $f"
    done
  fi
done

if [ "$failed" -ne 0 ]; then
  echo "fuzz: FAILED; logs and reproducers kept in $scratch"
  exit 1
fi
rm -rf "$scratch"
echo "fuzz: every target ran ${seconds}s without a finding"
