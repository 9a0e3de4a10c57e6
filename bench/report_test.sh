#!/usr/bin/env bash
# CTest (label bench-smoke): bench_report on canned JSON lines (testdata/: the lines of real
# --quick runs of ledger_bench, projections_bench and service_bench, a few of ledger's figures
# set to round numbers; erasure_bench "failed" with exit 1 and printed no line). Checks that every
# row is in REPORT.md with the canned figures, that the failed bench's rows say "not run (exit
# 1)", that a key missing from a line, a line that is not JSON and a missing file are named as
# such, and that report.json and the plots are written.
#
# Usage: report_test.sh BENCH_REPORT TESTDATA_DIR
set -euo pipefail
bin="$1"
data="$2"
work="$(mktemp -d "${TMPDIR:-/tmp}/kirjuri-report-test-XXXXXX")"
trap 'rm -rf "$work"' EXIT

fail=0
expect() {  # expect FILE TEXT: TEXT occurs in FILE
  if ! grep -qF -- "$2" "$1"; then
    echo "FAIL: $(basename "$1") lacks: $2" >&2
    fail=1
  fi
}
expect_not() {
  if grep -qF -- "$2" "$1"; then
    echo "FAIL: $(basename "$1") has: $2" >&2
    fail=1
  fi
}
row() {  # row FILE MEASUREMENT TEXT: the table row starting with MEASUREMENT holds TEXT
  local line
  line="$(grep -F -- "| $2 |" "$1" | head -n 1 || true)"
  if [ -z "$line" ]; then
    echo "FAIL: no row '$2'" >&2
    fail=1
  elif [[ "$line" != *"$3"* ]]; then
    echo "FAIL: row '$2' lacks '$3': $line" >&2
    fail=1
  fi
}

# 1. Three benches ran, erasure_bench failed.
in="$work/in1"
mkdir -p "$in"
cp "$data/ledger.json" "$data/projections.json" "$data/service.json" "$in/"
echo 1 >"$in/erasure.exit"
"$bin" --in "$in" --out "$work/out1" --info "commit=abc1234" --info "nproc=2" >/dev/null
md="$work/out1/REPORT.md"
expect "$md" "| measurement | Kirjuri | raw baseline (same run) | ratio | goal | met |"
expect "$md" "| commit | abc1234 |"
# The figures of the canned lines, formatted (ledger.json: append_b1 2345.6, rocksdb_sync_b1
# 6000.0; verify 20000.0 against ed25519_verify_2t 25000.0 -> 80%, goal met).
row "$md" "append, batch 1 (synced)" "2,346 ev/s"
row "$md" "append, batch 1 (synced)" "6,000/s"
row "$md" "append, batch 1 (synced)" "39%"
row "$md" "append, batch 100 (synced)" "ev/s"
row "$md" "append, batch 1000 (synced)" "≥ 60%"
row "$md" "append, batch 1000, against RocksDB alone" "ev/s"
row "$md" "ceiling of any append: sign + SHA-256 + RocksDB write per event, all threads" "bound: 16,000 ev/s (append uses 80 µs CPU/event, 40% of it signing)"
row "$md" "ceiling of any append: sign + SHA-256 + RocksDB write per event, all threads" "| 86% | — |"
row "$md" "verify (full)" "| 80% | ≥ 80% | met |"
row "$md" "verify --tree-only" "≥ 50%"
row "$md" "views built from the log (best of first open, rebuild)" "≥ 50%"
row "$md" "one person now, p50 / p99" "p99 < 1 ms"
row "$md" "views kept current, per appended event" "µs"
# projections.json: a page of 1,000 as of mid-log 79.972 ms, one of 327 in one city 194.585 ms,
# the whole fold 105.196 ms.
row "$md" "a page of 1,000 customers as of mid-log, p50" "| 80 ms | all 2,662 as of mid-log, one fold: 105 ms | 0.76× |"
row "$md" "a page of 327 customers of one city (1 in 6) as of mid-log, p50" "| 195 ms | all 2,662 as of mid-log, one fold: 105 ms | 1.85× |"
row "$md" "\`audit --no-verify\` (replay of the checks)" "ev/s"
row "$md" "\`audit\` with its full verify" "≥ 50%"
row "$md" "\`audit --since\` a checkpoint at 90%" "ev/s"
row "$md" "\`audit\` with its full verify, against verify alone" "\`Ledger::Verify\` alone, same log"
for front in HTTP RPC; do
  row "$md" "$front reads, 1 client (p50 / p99)" "/s ("
  row "$md" "$front reads, 8 clients (p50 / p99)" "/s ("
  row "$md" "$front reads, 64 clients (p50 / p99)" "/s ("
done
row "$md" "a read with its access log, in process" "µs"
row "$md" "an appended JSON line parsed and checked, in process" "7.3 µs"
row "$md" "an appended JSON line parsed and checked, in process" "146%"
row "$md" "\`Service::Append\`, 64 threads (no network)" "ev/s"
row "$md" "RPC append, 64 connections" "≥ 50%"
row "$md" "RPC append, 64 connections, 16 events a call" "14,774 ev/s, 243.0 events per synced write"
row "$md" "RPC append, 64 connections, 16 events a call" "| 56% | ≥ 50% | met |"
row "$md" "erasure, N events" "not run (exit 1)"
row "$md" "sealing's share of append" "not run (exit 1)"
expect "$md" "erasure_bench: not run (exit 1)"
expect "$md" "![Append rate against batch size"
[ -s "$work/out1/append_rate.svg" ] || { echo "FAIL: no append_rate.svg" >&2; fail=1; }
[ -s "$work/out1/read_latency.svg" ] || { echo "FAIL: no read_latency.svg" >&2; fail=1; }
[ ! -e "$work/out1/erasure_latency.svg" ] || { echo "FAIL: a plot of a bench not run" >&2; fail=1; }
expect "$work/out1/append_rate.svg" "<svg"
expect "$work/out1/append_rate.svg" "</svg>"
js="$work/out1/report.json"
expect "$js" '"erasure":null'
expect "$js" '"bench":"ledger","key":"append_b1","measurement":"append, batch 1 (synced)","run":true,"value":2345.6'
expect "$js" '"key":"erasure","measurement":"erasure, N events","run":false,"value":null'
expect "$js" '"machine":{"commit":"abc1234","nproc":"2"}'

# 2. A key missing from ledger's line, service's line not JSON, projections' file absent.
in="$work/in2"
mkdir -p "$in"
sed 's/"verify_tree_only":[0-9.]*/"other":1/' "$data/ledger.json" >"$in/ledger.json"
echo '{"bench":"service", truncated' >"$in/service.json"
"$bin" --in "$in" --out "$work/out2" >/dev/null
md="$work/out2/REPORT.md"
row "$md" "verify --tree-only" "missing in the output: kirjuri.verify_tree_only"
row "$md" "verify (full)" "| 80% |"
row "$md" "RPC append, 64 connections" "not run (output not JSON)"
row "$md" "RPC append, 64 connections, 16 events a call" "not run (output not JSON)"
row "$md" "\`audit\` with its full verify" "| not run |"
expect_not "$md" "read_latency.svg"

if [ $fail = 0 ]; then echo "bench_report: all checks passed"; fi
exit $fail
