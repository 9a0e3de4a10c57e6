#!/usr/bin/env bash
# One report of every benchmark, each figure beside its raw-cost baseline from the same run.
# Builds the benches (in build-rel/: Release, no tests), runs ledger_bench, erasure_bench,
# projections_bench and service_bench one after the other, keeps each one's whole output
# (OUT/<bench>.out, OUT/<bench>.err) and its JSON line (OUT/<bench>.json), then bench_report
# writes OUT/REPORT.md (one table, and the machine and run), OUT/report.json (every figure) and
# the plots OUT/*.svg. A bench that fails is reported as "not run" and the others still run; the
# script then exits 1.
#
# The figures mean something only on an otherwise idle machine: the load average at the start
# is in the report.
#
# Usage: bash scripts/bench-report.sh [--quick] [--out DIR] [--build DIR] [--only NAME,...]
#   --quick        each bench's --quick (a smoke run of a few minutes in all; figures meaningless)
#   --out DIR      where the report goes (default: BUILD/report-YYYYmmddTHHMMSSZ)
#   --build DIR    the build directory (default: build-rel; configured only if new)
#   --only a,b     only these benches (ledger, erasure, projections, service); the others are
#                  reported as not run
# KIRJURI_<NAME>_BENCH_ARGS (e.g. KIRJURI_LEDGER_BENCH_ARGS="--events 200000") adds flags to one
# bench; they are in the report's run information.
set -euo pipefail
KIRJURI_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

quick=0
out=""
build="$KIRJURI_ROOT/build-rel"
only="ledger,erasure,projections,service"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1; shift ;;
    --out) out="$2"; shift 2 ;;
    --build) build="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    -h|--help) sed -n "2,21p" "$0"; exit 0 ;;
    *) echo "bench-report.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
load_at_start="$(cut -d' ' -f1-3 /proc/loadavg)"
started="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
[ -n "$out" ] || out="$build/report-$(date -u +%Y%m%dT%H%M%SZ)"

# A new build directory is configured for Release, without the tests; an existing one is built
# as it is configured (never reconfigured: that would rebuild everything in it), and its build
# type goes into the report.
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$KIRJURI_ROOT" -B "$build" -DCMAKE_BUILD_TYPE=Release -DKIRJURI_BUILD_BENCH=ON \
    -DKIRJURI_BUILD_TESTS=OFF >/dev/null
fi
build_type="$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")"
cmake --build "$build" -j "$(nproc)" --target ledger_bench erasure_bench projections_bench \
  service_bench bench_report
mkdir -p "$out"
rm -f "$out"/{ledger,erasure,projections,service}.{out,err,json,exit}

commit="$(git -C "$KIRJURI_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
if ! git -C "$KIRJURI_ROOT" diff --quiet HEAD 2>/dev/null; then commit="$commit (with uncommitted changes)"; fi
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//' || true)"
info=(--info "date=$started" --info "commit=$commit" --info "nproc=$(nproc)"
      --info "cpu=${cpu:-unknown}" --info "kernel=$(uname -r)" --info "build=$build_type ($build)"
      --info "load average at start=$load_at_start"
      --info "mode=$([ $quick = 1 ] && echo '--quick (smoke run: figures meaningless)' || echo full)")

failed=0
for name in ledger erasure projections service; do
  case ",$only," in *",$name,"*) ;; *) continue ;; esac
  args=()
  [ $quick = 1 ] && args+=(--quick)
  # KIRJURI_LEDGER_BENCH_ARGS="--events 200000" and the like: more flags for one bench.
  extra_var="KIRJURI_${name^^}_BENCH_ARGS"
  if [ -n "${!extra_var:-}" ]; then
    read -r -a extra <<<"${!extra_var}"
    args+=("${extra[@]}")
  fi
  echo "== ${name}_bench ${args[*]:-}" >&2
  t0=$(date +%s)
  rc=0
  "$build/bench/${name}_bench" "${args[@]}" >"$out/$name.out" 2>"$out/$name.err" || rc=$?
  secs=$(( $(date +%s) - t0 ))
  echo "$rc" >"$out/$name.exit"
  last="$(tail -n 1 "$out/$name.out")"
  if [ "$rc" = 0 ] && [ "${last:0:1}" = "{" ]; then
    printf '%s\n' "$last" >"$out/$name.json"
  else
    failed=1
    echo "${name}_bench failed (exit $rc); see $out/$name.err" >&2
  fi
  info+=(--info "${name}_bench=${args[*]:-(defaults)}: exit $rc, ${secs} s")
done
info+=(--info "load average at end=$(cut -d' ' -f1-3 /proc/loadavg)")

"$build/bench/bench_report" --in "$out" --out "$out" "${info[@]}"
exit $failed
