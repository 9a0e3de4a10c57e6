// bench_report: one report of every benchmark, each figure beside its raw-cost baseline from the
// same run. Reads the JSON lines that scripts/bench-report.sh saved (IN/ledger.json,
// erasure.json, projections.json, service.json; a bench that failed has no .json and may have
// an IN/<name>.exit holding its exit status) and writes
//
//   OUT/REPORT.md     one Markdown table: measurement | Kirjuri | raw baseline (same run) |
//                     ratio | goal | met, after the machine and the run (--info key=value)
//   OUT/report.json   {"machine":{…},"rows":[…],"benches":{"ledger":<its line>|null,…}}
//   OUT/*.svg         plots where a plot says it better: append rate against batch size beside
//                     RocksDB's raw rate, erasure latency against events per subject, read
//                     latency against clients
//
// A missing bench, or a key a bench did not print, gives a row saying so; nothing is guessed.
// The JSON lines are parsed with Cap'n Proto's JSON codec (JsonValue), report.json is written
// with kirjuri::JsonWriter.
//
// Usage: bench_report --in DIR [--out DIR] [--info key=value]...
#include <capnp/compat/json.h>
#include <capnp/message.h>
#include <kj/exception.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "bench_util.h"
#include "kirjuri/json.h"

namespace fs = std::filesystem;
using kirjuri::JsonWriter;
using kirjuri::bench::Fmt;
using kirjuri::bench::Thousands;

namespace {

using JsonReader = capnp::JsonValue::Reader;

// One bench's JSON line, parsed; `root` is null when the bench did not run (or printed no
// JSON), and `why` says which.
struct Bench {
  std::string name;
  std::unique_ptr<capnp::MallocMessageBuilder> message;
  std::optional<JsonReader> root;
  std::string raw;  // the line as printed
  std::string why;  // "not run", "not run (exit 1)", "not run (output not JSON)"
};

std::string ReadText(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  size_t start = 0;
  while (start < s.size() && (s[start] == ' ' || s[start] == '\n')) ++start;
  return s.substr(start);
}

Bench Load(const fs::path& in, const std::string& name) {
  Bench b;
  b.name = name;
  const fs::path json = in / (name + ".json"), exit_file = in / (name + ".exit");
  const std::string exit_status = fs::exists(exit_file) ? Trim(ReadText(exit_file)) : "";
  if (!fs::exists(json) || Trim(ReadText(json)).empty()) {
    b.why = exit_status.empty() || exit_status == "0" ? "not run" : "not run (exit " + exit_status + ")";
    return b;
  }
  b.raw = Trim(ReadText(json));
  b.message = std::make_unique<capnp::MallocMessageBuilder>();
  auto value = b.message->initRoot<capnp::JsonValue>();
  capnp::JsonCodec codec;
  kj::Maybe<kj::Exception> error = kj::runCatchingExceptions([&] {
    codec.decodeRaw(kj::ArrayPtr<const char>(b.raw.data(), b.raw.size()), value);
  });
  if (error != nullptr || !value.asReader().isObject()) {
    b.why = "not run (output not JSON)";
    b.raw.clear();
    return b;
  }
  b.root = value.asReader();
  return b;
}

// The member `key` of an object; nullopt if `v` is not an object or has no such key.
std::optional<JsonReader> Member(JsonReader v, std::string_view key) {
  if (!v.isObject()) return std::nullopt;
  for (auto f : v.getObject()) {
    if (std::string_view(f.getName().cStr()) == key) return f.getValue();
  }
  return std::nullopt;
}

// "a.b.c" from `root`; a number, else nullopt.
std::optional<double> Num(const Bench& b, const std::string& path) {
  if (!b.root) return std::nullopt;
  JsonReader v = *b.root;
  size_t start = 0;
  for (;;) {
    const size_t dot = path.find('.', start);
    auto next = Member(v, path.substr(start, dot == std::string::npos ? dot : dot - start));
    if (!next) return std::nullopt;
    v = *next;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (v.isNumber()) return v.getNumber();
  if (v.isBoolean()) return v.getBoolean() ? 1.0 : 0.0;
  return std::nullopt;
}

// service_bench's reads[] entry of `front` with `clients`; nullopt if absent.
std::optional<JsonReader> ServiceRead(const Bench& b, const std::string& front, int clients) {
  if (!b.root) return std::nullopt;
  auto reads = Member(*b.root, "reads");
  if (!reads || !reads->isArray()) return std::nullopt;
  for (auto r : reads->getArray()) {
    auto f = Member(r, "front");
    auto c = Member(r, "clients");
    if (f && f->isString() && std::string(f->getString().cStr()) == front && c && c->isNumber() &&
        static_cast<int>(c->getNumber()) == clients) {
      return r;
    }
  }
  return std::nullopt;
}

std::optional<double> ReadNum(const std::optional<JsonReader>& r, const char* key) {
  if (!r) return std::nullopt;
  auto v = Member(*r, key);
  if (!v || !v->isNumber()) return std::nullopt;
  return v->getNumber();
}

std::string Rate(double v) { return Thousands(v) + " ev/s"; }
std::string Pct(double r) { return Fmt("%.0f%%", 100 * r); }

// One row of the report.
struct Row {
  std::string bench, key, measurement;
  std::string kirjuri, baseline, ratio, goal, met;  // the table's cells
  std::optional<double> value, baseline_value, ratio_value, target;
  std::string unit;
  std::optional<bool> pass;

  // Kirjuri's rate `v` beside the baseline rate `base`, whose cell is `baseline_cell`; the ratio
  // as a percentage. The goal cells are the caller's.
  void Rates(double v, double base, std::string baseline_cell) {
    value = v, baseline_value = base, ratio_value = v / base, unit = "ev/s";
    kirjuri = Rate(v);
    baseline = std::move(baseline_cell);
    ratio = Pct(v / base);
  }
};

// A row from one figure beside one baseline; `missing` names the keys it lacked, if any.
class Rows {
 public:
  std::vector<Row> rows;

  // The row for `b`; when the bench did not run, or one of `needed` is missing, the row says
  // so and `ok` is false.
  Row* Add(const Bench& b, const std::string& key, const std::string& measurement,
           const std::vector<std::pair<std::string, std::optional<double>>>& needed, bool* ok) {
    Row r;
    r.bench = b.name;
    r.key = key;
    r.measurement = measurement;
    *ok = true;
    if (!b.root) {
      r.kirjuri = b.why;
      *ok = false;
    } else {
      std::string missing;
      for (const auto& [name, v] : needed) {
        if (!v) missing += (missing.empty() ? "" : ", ") + name;
      }
      if (!missing.empty()) {
        r.kirjuri = "missing in the output: " + missing;
        *ok = false;
      }
    }
    if (!*ok) r.baseline = r.ratio = r.goal = r.met = "—";
    rows.push_back(r);
    return &rows.back();
  }
};

// The goal cell and verdict of a row from a bench's "goals" entry (ratio or value, target,
// pass); `text` is the goal as people read it.
void Goal(const Bench& b, const std::string& goal_key, const std::string& text, Row* r) {
  r->goal = text;
  auto pass = Num(b, "goals." + goal_key + ".pass");
  auto target = Num(b, "goals." + goal_key + ".target");
  r->target = target;
  if (!pass) {
    r->met = "—";
    return;
  }
  r->pass = *pass != 0;
  r->met = r->pass.value() ? "met" : "**missed**";
}

std::string Ms(double v) { return Fmt(v < 10 ? "%.2f ms" : "%.0f ms", v); }

std::vector<Row> BuildRows(const Bench& ledger, const Bench& erasure, const Bench& projections,
                           const Bench& service) {
  Rows t;
  bool ok = false;
  Row* r = nullptr;

  // --- ledger_bench
  struct Append {
    int batch;
    const char* raw_key;
    const char* raw_text;
  };
  for (const Append& a : {Append{1, "raw.rocksdb_sync_b1", "RocksDB synced write of the same bytes"},
                          Append{100, "raw.rocksdb_sync_b100", "RocksDB, batch 100"},
                          Append{1000, "raw.ed25519_sign_2t", "Ed25519 sign on 2 threads"}}) {
    const std::string k = "kirjuri.append_b" + std::to_string(a.batch);
    auto v = Num(ledger, k), base = Num(ledger, a.raw_key);
    r = t.Add(ledger, "append_b" + std::to_string(a.batch),
              "append, batch " + std::to_string(a.batch) + " (synced)", {{k, v}, {a.raw_key, base}},
              &ok);
    if (!ok) continue;
    r->Rates(*v, *base, std::string(a.raw_text) + ": " + Thousands(*base) + "/s");
    if (a.batch == 1000) {
      Goal(ledger, "append_b1000_vs_sign_2t", "≥ 60%", r);
    } else {
      r->goal = r->met = "—";
    }
  }
  {
    // Not Kirjuri's figure: the bound that signing, hashing the leaf and writing alone put on
    // any append on this machine (ledger_bench), beside the goal's baseline.
    auto v = Num(ledger, "ceiling.append_sign_hash_write"), base = Num(ledger, "raw.ed25519_sign_2t");
    auto cpu = Num(ledger, "ceiling.append_b1000_cpu_us_per_event");
    auto share = Num(ledger, "ceiling.sign_share_of_append_cpu");
    r = t.Add(ledger, "append_ceiling",
              "ceiling of any append: sign + SHA-256 + RocksDB write per event, all threads",
              {{"ceiling.append_sign_hash_write", v}, {"raw.ed25519_sign_2t", base},
               {"ceiling.append_b1000_cpu_us_per_event", cpu},
               {"ceiling.sign_share_of_append_cpu", share}},
              &ok);
    if (ok) {
      r->value = v, r->baseline_value = base, r->ratio_value = *v / *base, r->unit = "ev/s";
      r->kirjuri = "bound: " + Rate(*v) + " (append uses " + Fmt("%.0f", *cpu) +
                   " µs CPU/event, " + Pct(*share) + " of it signing)";
      r->baseline = "Ed25519 sign on 2 threads: " + Thousands(*base) + "/s";
      r->ratio = Pct(*r->ratio_value);
      r->goal = r->met = "—";
    }
  }
  {
    auto v = Num(ledger, "kirjuri.append_b1000"), base = Num(ledger, "raw.rocksdb_sync_b1000");
    r = t.Add(ledger, "append_b1000_vs_rocksdb", "append, batch 1000, against RocksDB alone",
              {{"kirjuri.append_b1000", v}, {"raw.rocksdb_sync_b1000", base}}, &ok);
    if (ok) {
      r->Rates(*v, *base, "RocksDB synced write, batch 1000: " + Thousands(*base) + "/s");
      r->goal = r->met = "—";
    }
  }
  struct Verify {
    const char *key, *text, *raw_key, *raw_text, *goal_key, *goal_text;
  };
  for (const Verify& a :
       {Verify{"verify", "verify (full)", "raw.ed25519_verify_2t", "Ed25519 verify on 2 threads",
               "verify_vs_verify_2t", "≥ 80%"},
        Verify{"verify_tree_only", "verify --tree-only", "raw.iterate_sha256",
               "iterate + SHA-256, 1 thread", "tree_only_vs_iterate_hash", "≥ 50%"}}) {
    const std::string k = std::string("kirjuri.") + a.key;
    auto v = Num(ledger, k), base = Num(ledger, a.raw_key);
    r = t.Add(ledger, a.key, a.text, {{k, v}, {a.raw_key, base}}, &ok);
    if (!ok) continue;
    r->Rates(*v, *base, std::string(a.raw_text) + ": " + Thousands(*base) + "/s");
    Goal(ledger, a.goal_key, a.goal_text, r);
  }

  // --- erasure_bench
  {
    std::vector<std::pair<std::string, double>> medians;  // events per subject, ms
    if (erasure.root) {
      if (auto m = Member(*erasure.root, "erasure")) {
        if (auto med = Member(*m, "median_ms"); med && med->isObject()) {
          for (auto f : med->getObject()) {
            if (f.getValue().isNumber()) medians.emplace_back(f.getName().cStr(), f.getValue().getNumber());
          }
        }
      }
    }
    auto base = Num(erasure, "raw.keystore_erase_cycle_ms");
    auto flat = Num(erasure, "goals.erasure_flat.ratio");
    std::optional<double> any = medians.empty() ? std::nullopt : std::optional<double>(0);
    std::string sizes, times;
    for (const auto& [n, ms] : medians) {
      sizes += (sizes.empty() ? "" : " / ") + Thousands(std::stod(n));
      times += (times.empty() ? "" : " / ") + Fmt("%.0f", ms);
    }
    r = t.Add(erasure, "erasure", "erasure, " + (sizes.empty() ? "N" : sizes) + " events",
              {{"erasure.median_ms", any}, {"raw.keystore_erase_cycle_ms", base},
               {"goals.erasure_flat.ratio", flat}},
              &ok);
    if (ok) {
      r->value = medians.back().second, r->baseline_value = base, r->ratio_value = flat;
      r->unit = "ms";
      r->kirjuri = times + " ms";
      r->baseline = "key store's own erase cycle: " + Fmt("%.0f ms", *base);
      r->ratio = Fmt("%.2f× max/min", *flat);
      Goal(erasure, "erasure_flat", "≤ 2×", r);
    }
    auto sealed = Num(erasure, "sealing.sealed_events_per_s");
    auto unsealed = Num(erasure, "sealing.unsealed_events_per_s");
    auto cost = Num(erasure, "goals.seal_cost.ratio");
    r = t.Add(erasure, "seal_cost", "sealing's share of append",
              {{"sealing.sealed_events_per_s", sealed}, {"sealing.unsealed_events_per_s", unsealed},
               {"goals.seal_cost.ratio", cost}},
              &ok);
    if (ok) {
      r->value = sealed, r->baseline_value = unsealed, r->ratio_value = cost, r->unit = "ev/s";
      r->kirjuri = Rate(*sealed);
      r->baseline = "the same append unsealed: " + Rate(*unsealed);
      r->ratio = Pct(*cost) + " added";
      Goal(erasure, "seal_cost", "< 15%", r);
    }
  }

  // --- projections_bench
  {
    auto first = Num(projections, "kirjuri.views_first_open");
    auto rebuild = Num(projections, "kirjuri.rebuild");
    auto raw = Num(projections, "raw.read_open");
    r = t.Add(projections, "views_build", "views built from the log (best of first open, rebuild)",
              {{"kirjuri.views_first_open", first}, {"kirjuri.rebuild", rebuild}, {"raw.read_open", raw}},
              &ok);
    if (ok) {
      const double best = std::max(*first, *rebuild);
      r->value = best, r->baseline_value = raw, r->ratio_value = best / *raw, r->unit = "ev/s";
      r->kirjuri = Rate(best);
      r->baseline = "read + open every event, 1 thread: " + Thousands(*raw) + "/s";
      r->ratio = Pct(*r->ratio_value);
      Goal(projections, "rebuild_vs_read_open", "≥ 50%", r);
    }
    auto p50 = Num(projections, "kirjuri.get_now_us.p50"), p99 = Num(projections, "kirjuri.get_now_us.p99");
    auto rp50 = Num(projections, "kirjuri.replay_now_us.p50");
    auto rp99 = Num(projections, "kirjuri.replay_now_us.p99");
    r = t.Add(projections, "get_now", "one person now, p50 / p99",
              {{"kirjuri.get_now_us.p50", p50}, {"kirjuri.get_now_us.p99", p99},
               {"kirjuri.replay_now_us.p50", rp50}, {"kirjuri.replay_now_us.p99", rp99}},
              &ok);
    if (ok) {
      r->value = p99, r->baseline_value = rp99, r->ratio_value = *p99 / *rp99, r->unit = "µs (p99)";
      r->kirjuri = Fmt("%.0f / %.0f µs", *p50, *p99);
      r->baseline = Fmt("replaying their events: %.0f / %.0f µs", *rp50, *rp99);
      r->ratio = Fmt("%.2f×", *r->ratio_value);
      Goal(projections, "get_p99_under_1ms", "p99 < 1 ms", r);
    }
    auto mid = Num(projections, "kirjuri.as_of_mid_heavy_ms.p50");
    auto late = Num(projections, "kirjuri.as_of_late_heavy_ms.p50");
    auto typical = Num(projections, "kirjuri.as_of_mid_typical_ms.p50");
    auto heavy = Num(projections, "heavy_events");
    r = t.Add(projections, "as_of_heavy", "one heavy person, as of mid-log / 99%, p50",
              {{"kirjuri.as_of_mid_heavy_ms.p50", mid}, {"kirjuri.as_of_late_heavy_ms.p50", late},
               {"kirjuri.as_of_mid_typical_ms.p50", typical}, {"heavy_events", heavy}},
              &ok);
    if (ok) {
      r->measurement = "one person with " + Thousands(*heavy) + " events, as of mid-log / 99%, p50";
      r->value = mid, r->baseline_value = typical, r->ratio_value = *mid / *typical, r->unit = "ms";
      r->kirjuri = Ms(*mid) + " / " + Ms(*late);
      r->baseline = "a typical person as of mid-log: " + Ms(*typical);
      r->ratio = Fmt("%.0f×", *r->ratio_value);
      r->goal = r->met = "—";
    }
    auto page = Num(projections, "kirjuri.list_page_as_of_mid_ms.p50");
    auto page_rows = Num(projections, "kirjuri.list_page_rows");
    auto fold = Num(projections, "kirjuri.list_whole_as_of_mid_ms");
    auto fold_rows = Num(projections, "kirjuri.list_whole_rows");
    r = t.Add(projections, "list_page_as_of", "a page of a list as of mid-log, p50",
              {{"kirjuri.list_page_as_of_mid_ms.p50", page}, {"kirjuri.list_page_rows", page_rows},
               {"kirjuri.list_whole_as_of_mid_ms", fold}, {"kirjuri.list_whole_rows", fold_rows}},
              &ok);
    if (ok) {
      r->measurement = "a page of " + Thousands(*page_rows) + " customers as of mid-log, p50";
      r->value = page, r->baseline_value = fold, r->ratio_value = *page / *fold, r->unit = "ms";
      r->kirjuri = Ms(*page);
      r->baseline = "all " + Thousands(*fold_rows) + " as of mid-log, one fold: " + Ms(*fold);
      r->ratio = Fmt("%.2f×", *r->ratio_value);
      r->goal = r->met = "—";
    }
    auto city_page = Num(projections, "kirjuri.list_city_page_as_of_mid_ms.p50");
    auto city_rows = Num(projections, "kirjuri.list_city_page_rows");
    r = t.Add(projections, "list_city_page_as_of",
              "a page of a list filtered by city as of mid-log, p50",
              {{"kirjuri.list_city_page_as_of_mid_ms.p50", city_page},
               {"kirjuri.list_city_page_rows", city_rows},
               {"kirjuri.list_whole_as_of_mid_ms", fold}, {"kirjuri.list_whole_rows", fold_rows}},
              &ok);
    if (ok) {
      r->measurement = "a page of " + Thousands(*city_rows) + " customers of one city (1 in 6) " +
                       "as of mid-log, p50";
      r->value = city_page, r->baseline_value = fold, r->ratio_value = *city_page / *fold;
      r->unit = "ms";
      r->kirjuri = Ms(*city_page);
      r->baseline = "all " + Thousands(*fold_rows) + " as of mid-log, one fold: " + Ms(*fold);
      r->ratio = Fmt("%.2f×", *r->ratio_value);
      r->goal = r->met = "—";
    }
    auto audience = Num(projections, "kirjuri.audience_as_of_mid_ms");
    auto audience_rows = Num(projections, "kirjuri.audience_as_of_mid_rows");
    r = t.Add(projections, "audience_as_of", "the marketing audience as of mid-log",
              {{"kirjuri.audience_as_of_mid_ms", audience},
               {"kirjuri.audience_as_of_mid_rows", audience_rows},
               {"kirjuri.list_whole_as_of_mid_ms", fold}},
              &ok);
    if (ok) {
      r->measurement = "the marketing audience as of mid-log (" + Thousands(*audience_rows) +
                       " people)";
      r->value = audience, r->baseline_value = fold, r->ratio_value = *audience / *fold;
      r->unit = "ms";
      r->kirjuri = Ms(*audience);
      r->baseline = "the customers as of mid-log, one fold: " + Ms(*fold);
      r->ratio = Fmt("%.2f×", *r->ratio_value);
      r->goal = r->met = "—";
    }
    auto catchup = Num(projections, "kirjuri.catchup_us_per_event");
    auto append = Num(projections, "kirjuri.append_us_per_event");
    r = t.Add(projections, "catchup", "views kept current, per appended event",
              {{"kirjuri.catchup_us_per_event", catchup}, {"kirjuri.append_us_per_event", append}},
              &ok);
    if (ok) {
      r->value = catchup, r->baseline_value = append, r->ratio_value = *catchup / *append;
      r->unit = "µs/event";
      r->kirjuri = Fmt("%.0f µs", *catchup);
      r->baseline = Fmt("`Ledger::Append` per event: %.0f µs", *append);
      r->ratio = Pct(*r->ratio_value);
      r->goal = r->met = "—";
    }
    struct Audit {
      const char *key, *text, *goal_key, *goal_text;
    };
    for (const Audit& a : {Audit{"audit_replay", "`audit --no-verify` (replay of the checks)", "", ""},
                           Audit{"audit_with_verify", "`audit` with its full verify",
                                 "audit_vs_rebuild", "≥ 50%"},
                           Audit{"audit_since_90pct", "`audit --since` a checkpoint at 90%", "", ""}}) {
      const std::string k = std::string("kirjuri.") + a.key;
      auto v = Num(projections, k);
      r = t.Add(projections, a.key, a.text, {{k, v}, {"kirjuri.rebuild", rebuild}}, &ok);
      if (!ok) continue;
      r->Rates(*v, *rebuild, "`Views::Rebuild`: " + Rate(*rebuild));
      if (*a.goal_key) {
        Goal(projections, a.goal_key, a.goal_text, r);
      } else {
        r->goal = r->met = "—";
      }
    }
    // The same audit against what bounds it: the full verify alone, over the same log.
    auto audit = Num(projections, "kirjuri.audit_with_verify");
    auto verify = Num(projections, "raw.verify");
    r = t.Add(projections, "audit_vs_verify", "`audit` with its full verify, against verify alone",
              {{"kirjuri.audit_with_verify", audit}, {"raw.verify", verify}}, &ok);
    if (ok) {
      r->Rates(*audit, *verify, "`Ledger::Verify` alone, same log: " + Rate(*verify));
      r->goal = r->met = "—";
    }
  }

  // --- service_bench: reads beside the in-process read with the access log, one thread.
  {
    auto logged = Num(service, "access_log.logged_us");
    auto plain = Num(service, "access_log.plain_us");
    for (const char* front : {"http", "rpc"}) {
      for (int clients : {1, 8, 64}) {
        auto read = ServiceRead(service, front, clients);
        auto qps = ReadNum(read, "qps"), p50 = ReadNum(read, "p50_us"), p99 = ReadNum(read, "p99_us");
        const std::string key = std::string(front) + "_reads_" + std::to_string(clients);
        r = t.Add(service, key,
                  std::string(front == std::string("http") ? "HTTP" : "RPC") + " reads, " +
                      std::to_string(clients) + (clients == 1 ? " client" : " clients") +
                      " (p50 / p99)",
                  {{"reads[" + key + "].qps", qps}, {"p50_us", p50}, {"p99_us", p99},
                   {"access_log.logged_us", logged}},
                  &ok);
        if (!ok) continue;
        const double base = 1e6 / *logged;
        r->value = qps, r->baseline_value = base, r->ratio_value = *qps / base, r->unit = "reads/s";
        r->kirjuri = Fmt("%s/s (%.0f / %.0f µs)", Thousands(*qps).c_str(), *p50, *p99);
        r->baseline = "`Service::GetSubject` in process, 1 thread: " + Thousands(base) + "/s";
        r->ratio = Pct(*r->ratio_value);
        r->goal = r->met = "—";
      }
    }
    r = t.Add(service, "access_log", "a read with its access log, in process",
              {{"access_log.logged_us", logged}, {"access_log.plain_us", plain}}, &ok);
    if (ok) {
      r->value = logged, r->baseline_value = plain, r->ratio_value = *logged / *plain;
      r->unit = "µs/read";
      r->kirjuri = Fmt("%.1f µs", *logged);
      r->baseline = Fmt("`Views::Get` + `ToJson`, no log: %.1f µs", *plain);
      r->ratio = Pct(*r->ratio_value);
      r->goal = r->met = "—";
    }
    auto parse = Num(service, "line_parse.parse_lines_us");
    auto json = Num(service, "line_parse.json_us");
    r = t.Add(service, "line_parse", "an appended JSON line parsed and checked, in process",
              {{"line_parse.parse_lines_us", parse}, {"line_parse.json_us", json}}, &ok);
    if (ok) {
      r->value = parse, r->baseline_value = json, r->ratio_value = *parse / *json;
      r->unit = "µs/line";
      r->kirjuri = Fmt("%.1f µs", *parse);
      r->baseline = Fmt("the line's JSON parsed alone (Cap'n Proto): %.1f µs", *json);
      r->ratio = Pct(*r->ratio_value);
      r->goal = r->met = "—";
    }
    auto in_process = Num(service, "append.in_process_batch1000_per_s");
    auto svc64 = Num(service, "append.service_64_threads_per_s");
    r = t.Add(service, "service_append_64", "`Service::Append`, 64 threads (no network)",
              {{"append.service_64_threads_per_s", svc64},
               {"append.in_process_batch1000_per_s", in_process}},
              &ok);
    if (ok) {
      r->Rates(*svc64, *in_process, "`Ledger::Append`, batches of 1000: " + Rate(*in_process));
      r->goal = r->met = "—";
    }
    // RPC appends from 64 connections, judged against the in-process batched rate; the keys
    // name their events/s, events per synced write and goal_met in service's line.
    auto rpc_append = [&](const char* key, const char* measurement, const char* rate_key,
                          const char* batch_key, const char* met_key) {
      auto rpc = Num(service, rate_key);
      auto per_batch = Num(service, batch_key);
      auto met = Num(service, met_key);
      bool ok = false;
      Row* r = t.Add(service, key, measurement,
                     {{rate_key, rpc}, {"append.in_process_batch1000_per_s", in_process},
                      {batch_key, per_batch}, {met_key, met}},
                     &ok);
      if (!ok) return;
      r->Rates(*rpc, *in_process, "`Ledger::Append`, batches of 1000: " + Rate(*in_process));
      r->kirjuri += Fmt(", %.1f events per synced write", *per_batch);
      r->goal = "≥ 50%";
      r->target = 0.5;
      r->pass = *met != 0;
      r->met = *r->pass ? "met" : "**missed**";
    };
    rpc_append("rpc_append_64", "RPC append, 64 connections", "append.rpc_events_per_s",
               "append.events_per_batch", "append.goal_met");
    rpc_append("rpc_append_64x16", "RPC append, 64 connections, 16 events a call",
               "append.rpc16_events_per_s", "append.rpc16_events_per_batch",
               "append.rpc16_goal_met");
  }
  return t.rows;
}

// --- Plots: grouped bars, hand-written SVG.

std::string Esc(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else out += c;
  }
  return out;
}

struct Series {
  std::string name;
  std::vector<std::optional<double>> values;  // one per group; nullopt: not measured
};

// Bars per group, one colour per series, on a log10 axis (the figures span decades); each bar
// labelled with its value; `lines` are horizontal reference lines (label, value).
std::string BarChart(const std::string& title, const std::string& unit,
                     const std::vector<std::string>& groups, const std::vector<Series>& series,
                     const std::vector<std::pair<std::string, double>>& lines = {}) {
  const double w = 760, h = 420, left = 80, right = 200, top = 50, bottom = 60;
  const double pw = w - left - right, ph = h - top - bottom;
  double lo = 1e300, hi = 0;
  for (const auto& s : series) {
    for (const auto& v : s.values) {
      if (v && *v > 0) lo = std::min(lo, *v), hi = std::max(hi, *v);
    }
  }
  for (const auto& [label, v] : lines) {
    if (v > 0) lo = std::min(lo, v), hi = std::max(hi, v);
  }
  if (hi <= 0) lo = 1, hi = 10;
  const double l0 = std::floor(std::log10(lo)), l1 = std::max(l0 + 1, std::ceil(std::log10(hi)));
  auto y = [&](double v) { return top + ph - ph * (std::log10(v) - l0) / (l1 - l0); };
  static const char* kColours[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"};
  std::string s = Fmt(R"(<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" )"
                      R"(font-family="sans-serif" font-size="12">)" "\n",
                      w, h);
  s += Fmt(R"(<rect width="100%%" height="100%%" fill="white"/>)" "\n");
  s += Fmt(R"(<text x="%.0f" y="24" font-size="15" font-weight="bold">%s</text>)" "\n", left,
           Esc(title).c_str());
  for (double d = l0; d <= l1; ++d) {
    const double yy = y(std::pow(10, d));
    s += Fmt(R"(<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#ddd"/>)" "\n", left, yy,
             left + pw, yy);
    s += Fmt(R"(<text x="%.0f" y="%.1f" text-anchor="end">%s</text>)" "\n", left - 6, yy + 4,
             Thousands(std::pow(10, d)).c_str());
  }
  s += Fmt(R"x(<text x="16" y="%.0f" transform="rotate(-90 16 %.0f)" text-anchor="middle">%s (log scale)</text>)x"
           "\n",
           top + ph / 2, top + ph / 2, Esc(unit).c_str());
  const double gw = pw / static_cast<double>(groups.size());
  const double bw = gw * 0.8 / static_cast<double>(series.size());
  for (size_t g = 0; g < groups.size(); ++g) {
    const double gx = left + gw * static_cast<double>(g) + gw * 0.1;
    s += Fmt(R"(<text x="%.1f" y="%.0f" text-anchor="middle">%s</text>)" "\n", gx + gw * 0.4,
             top + ph + 20, Esc(groups[g]).c_str());
    for (size_t k = 0; k < series.size(); ++k) {
      const double x = gx + bw * static_cast<double>(k);
      const auto& v = series[k].values[g];
      if (!v || *v <= 0) {
        s += Fmt(R"(<text x="%.1f" y="%.0f" text-anchor="middle" fill="#999">n/a</text>)" "\n",
                 x + bw / 2, top + ph - 4);
        continue;
      }
      const double yy = y(std::max(*v, std::pow(10, l0)));
      s += Fmt(R"(<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"/>)" "\n", x, yy,
               bw * 0.92, top + ph - yy, kColours[k % 6]);
      s += Fmt(R"(<text x="%.1f" y="%.1f" text-anchor="middle" font-size="10">%s</text>)" "\n",
               x + bw / 2, yy - 3, (*v < 10 ? Fmt("%.2g", *v) : Thousands(*v)).c_str());
    }
  }
  s += Fmt(R"(<line x1="%.0f" y1="%.0f" x2="%.0f" y2="%.0f" stroke="black"/>)" "\n", left, top + ph,
           left + pw, top + ph);
  double ly = top + 10;
  for (size_t k = 0; k < series.size(); ++k, ly += 18) {
    s += Fmt(R"(<rect x="%.0f" y="%.0f" width="12" height="12" fill="%s"/>)" "\n", left + pw + 16,
             ly, kColours[k % 6]);
    s += Fmt(R"(<text x="%.0f" y="%.0f">%s</text>)" "\n", left + pw + 34, ly + 10,
             Esc(series[k].name).c_str());
  }
  for (const auto& [label, v] : lines) {
    if (v <= 0) continue;
    const double yy = y(v);
    s += Fmt(R"(<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="black" stroke-dasharray="5,4"/>)" "\n",
             left, yy, left + pw, yy);
    s += Fmt(R"(<text x="%.0f" y="%.1f" font-size="10" text-anchor="end">%s</text>)" "\n",
             left + pw - 4, yy - 4, Esc(label).c_str());
  }
  s += "</svg>\n";
  return s;
}

struct Plot {
  std::string file, caption;
};

std::vector<Plot> WritePlots(const fs::path& out, const Bench& ledger, const Bench& erasure,
                             const Bench& service) {
  std::vector<Plot> plots;
  auto write = [&](const std::string& file, const std::string& caption, const std::string& svg) {
    std::ofstream(out / file) << svg;
    plots.push_back({file, caption});
  };
  if (ledger.root) {
    Series k{"Kirjuri append", {}}, raw{"RocksDB alone", {}};
    for (int b : {1, 100, 1000}) {
      k.values.push_back(Num(ledger, "kirjuri.append_b" + std::to_string(b)));
      raw.values.push_back(Num(ledger, "raw.rocksdb_sync_b" + std::to_string(b)));
    }
    std::vector<std::pair<std::string, double>> lines;
    if (auto sign = Num(ledger, "raw.ed25519_sign_2t")) lines.push_back({"Ed25519 sign, 2 threads", *sign});
    write("append_rate.svg", "Append rate against batch size, beside RocksDB's raw synced write",
          BarChart("Append rate by batch size", "events/s", {"batch 1", "batch 100", "batch 1000"},
                   {k, raw}, lines));
  }
  if (erasure.root) {
    std::vector<std::string> groups;
    Series k{"Ledger::Erase, median", {}};
    if (auto m = Member(*erasure.root, "erasure")) {
      if (auto med = Member(*m, "median_ms"); med && med->isObject()) {
        for (auto f : med->getObject()) {
          groups.push_back(Thousands(std::stod(f.getName().cStr())) + " events");
          k.values.push_back(f.getValue().isNumber() ? std::optional<double>(f.getValue().getNumber())
                                                     : std::nullopt);
        }
      }
    }
    std::vector<std::pair<std::string, double>> lines;
    if (auto base = Num(erasure, "raw.keystore_erase_cycle_ms")) {
      lines.push_back({"key store erase cycle", *base});
    }
    if (!groups.empty() && k.values.front()) lines.push_back({"goal: 2x the smallest", 2 * *k.values.front()});
    if (!groups.empty()) {
      write("erasure_latency.svg", "Erasure latency against events per subject",
            BarChart("Erasure latency by events per subject", "ms", groups, {k}, lines));
    }
  }
  if (service.root) {
    Series hp50{"HTTP p50", {}}, hp99{"HTTP p99", {}}, rp50{"RPC p50", {}}, rp99{"RPC p99", {}};
    for (int c : {1, 8, 64}) {
      auto h = ServiceRead(service, "http", c), r = ServiceRead(service, "rpc", c);
      hp50.values.push_back(ReadNum(h, "p50_us"));
      hp99.values.push_back(ReadNum(h, "p99_us"));
      rp50.values.push_back(ReadNum(r, "p50_us"));
      rp99.values.push_back(ReadNum(r, "p99_us"));
    }
    std::vector<std::pair<std::string, double>> lines;
    if (auto logged = Num(service, "access_log.logged_us")) {
      lines.push_back({"in process, 1 thread", *logged});
    }
    write("read_latency.svg", "Single-customer read latency against clients (HTTP and RPC)",
          BarChart("Read latency by clients", "µs", {"1 client", "8 clients", "64 clients"},
                   {hp50, hp99, rp50, rp99}, lines));
  }
  return plots;
}

std::string Cell(const std::string& s) {
  std::string out;
  for (char c : s) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

std::string OptNum(const std::optional<double>& v) {
  if (!v || !std::isfinite(*v)) return "null";
  return Fmt("%.6g", *v);
}

int Run(int argc, char** argv) {
  fs::path in, out;
  std::vector<std::pair<std::string, std::string>> info;
  kirjuri::bench::ArgReader args(argc, argv, nullptr);  // a complaint is Die's, exit 1
  while (args.Next()) {
    const std::string& a = args.flag();
    if (a == "--in") {
      in = args.Value();
    } else if (a == "--out") {
      out = args.Value();
    } else if (a == "--info") {
      const std::string kv = args.Value();
      const size_t eq = kv.find('=');
      if (eq == std::string::npos) kirjuri::bench::Die("--info wants key=value, not " + kv);
      info.emplace_back(kv.substr(0, eq), kv.substr(eq + 1));
    } else {
      std::fprintf(stderr, "usage: bench_report --in DIR [--out DIR] [--info key=value]...\n");
      return 2;
    }
  }
  if (in.empty()) kirjuri::bench::Die("--in DIR is needed");
  if (out.empty()) out = in;
  fs::create_directories(out);

  const Bench ledger = Load(in, "ledger"), erasure = Load(in, "erasure"),
              projections = Load(in, "projections"), service = Load(in, "service");
  const std::vector<Row> rows = BuildRows(ledger, erasure, projections, service);
  const std::vector<Plot> plots = WritePlots(out, ledger, erasure, service);

  // REPORT.md
  std::string md = "# Kirjuri benchmark report\n\n";
  md += "Every figure beside the raw cost of the same work, measured in the same run.\n\n";
  md += "| | |\n| --- | --- |\n";
  for (const auto& [k, v] : info) md += "| " + Cell(k) + " | " + Cell(v) + " |\n";
  md += "| benches | ";
  for (const Bench* b : {&ledger, &erasure, &projections, &service}) {
    md += b->name + "_bench: " + (b->root ? "ran" : b->why) + (b == &service ? "" : "; ");
  }
  md += " |\n\n";
  md += "| measurement | Kirjuri | raw baseline (same run) | ratio | goal | met |\n";
  md += "| --- | ---: | --- | ---: | --- | --- |\n";
  for (const Row& r : rows) {
    md += "| " + Cell(r.measurement) + " | " + Cell(r.kirjuri) + " | " + Cell(r.baseline) + " | " +
          Cell(r.ratio) + " | " + Cell(r.goal) + " | " + Cell(r.met) + " |\n";
  }
  if (!plots.empty()) {
    md += "\n";
    for (const Plot& p : plots) md += "![" + p.caption + "](" + p.file + ")\n\n";
  }
  md += "\nEach bench's full output is in `<bench>.out` beside this file, its JSON line in "
        "`<bench>.json`; `report.json` holds every row and every line.\n";
  std::ofstream(out / "REPORT.md") << md;

  // report.json
  JsonWriter machine;
  for (const auto& [k, v] : info) machine.String(k, v);
  std::string rows_json = "[";
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    JsonWriter w;
    w.String("bench", r.bench).String("key", r.key).String("measurement", r.measurement);
    w.Bool("run", r.value.has_value());
    w.Raw("value", OptNum(r.value)).Raw("baseline", OptNum(r.baseline_value));
    w.Raw("ratio", OptNum(r.ratio_value)).String("unit", r.unit);
    w.String("kirjuri_text", r.kirjuri).String("baseline_text", r.baseline);
    w.String("goal", r.goal).Raw("target", OptNum(r.target));
    w.Raw("met", r.pass ? (*r.pass ? "true" : "false") : "null");
    rows_json += (i ? "," : "") + w.Finish();
  }
  rows_json += "]";
  JsonWriter benches;
  for (const Bench* b : {&ledger, &erasure, &projections, &service}) {
    benches.Raw(b->name, b->root ? b->raw : "null");
  }
  JsonWriter report;
  report.Raw("machine", machine.Finish()).Raw("rows", rows_json).Raw("benches", benches.Finish());
  std::ofstream(out / "report.json") << report.Finish() << "\n";

  std::printf("%s", md.c_str());
  std::printf("\nwrote %s, %s", (out / "REPORT.md").c_str(), (out / "report.json").c_str());
  for (const Plot& p : plots) std::printf(", %s", (out / p.file).c_str());
  std::printf("\n");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return kirjuri::bench::RunMain("bench_report", Run, argc, argv);
}
