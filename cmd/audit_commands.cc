#include "audit_commands.h"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>

#include "kirjuri/audit.h"
#include "kirjuri/event_json.h"
#include "kirjuri/json.h"
#include "kirjuri/time.h"

namespace kirjuri::cli {
namespace {

struct HistoryArgs {
  std::string from_time, to_time, register_name, purpose, basis, source, actor, type, subject;
  bool with_data = false;
};

struct AuditArgs {
  std::string from_time, to_time, since, out, now, auditor = "auditor";
  bool no_verify = false;
};

// "" -> unset; otherwise RFC 3339, named in the error by `flag`.
Status OptionalTime(const std::string& text, const char* flag, std::optional<int64_t>* out) {
  out->reset();
  if (text.empty()) return Status::Ok();
  int64_t micros = 0;
  KIRJURI_RETURN_IF_ERROR(ParseRfc3339(text, &micros).Prefixed(flag));
  *out = micros;
  return Status::Ok();
}

int RunHistory(const Globals& g, const HistoryArgs& a) {
  HistoryFilter f;
  if (Status s = OptionalTime(a.from_time, "--from-time", &f.from_micros); !s.ok()) return Fail(s);
  if (Status s = OptionalTime(a.to_time, "--to-time", &f.to_micros); !s.ok()) return Fail(s);
  f.register_name = a.register_name;
  f.purpose = a.purpose;
  f.basis = a.basis;
  f.source = a.source;
  f.actor = a.actor;
  f.type = a.type;
  if (!a.subject.empty()) {
    SubjectId id;
    if (Status s = ParseSubjectId(a.subject, &id); !s.ok()) return Fail(s);
    f.subject = id;
  }
  std::unique_ptr<Ledger> ledger;
  // --with-data writes each read into the access log.
  if (Status s = a.with_data ? OpenLedger(g, &ledger) : OpenLedgerToRead(g, &ledger); !s.ok()) {
    return Fail(s);
  }
  uint64_t shown = 0;
  std::vector<FieldValue> fields;
  // --with-data: no trace, no read. Lines wait in `held` until the reads of their persons are
  // in the access log, written every kHeldEvents events (one record per person and chunk).
  constexpr uint64_t kHeldEvents = 4096;
  std::string held;
  uint64_t held_events = 0;
  std::map<SubjectId, AccessRecord> reads;  // of the held lines: each person whose data is shown
  auto release = [&]() -> Status {
    if (!reads.empty()) {
      std::vector<AccessRecord> records;
      for (auto& [id, r] : reads) records.push_back(std::move(r));
      reads.clear();
      KIRJURI_RETURN_IF_ERROR(LogLocalAccess(g, *ledger, std::move(records)));
    }
    std::fwrite(held.data(), 1, held.size(), stdout);
    held.clear();
    held_events = 0;
    return Status::Ok();
  };
  Status s = ReadHistory(*ledger, f, [&](const EventView& e) -> Status {
    ++shown;
    auto env = e.signed_event.getEvent().getEnvelope();
    std::string data;
    if (a.with_data) {
      KIRJURI_RETURN_IF_ERROR(ledger->ReadFields(e, &fields));
      JsonWriter w;
      for (const FieldValue& v : fields) {
        if (v.json) w.Raw(v.name, *v.json); else w.Raw(v.name, "null");
      }
      data = w.Finish();
      // A read of what was shown: a shredded value (null) was not read, nor was its category.
      if (std::any_of(fields.begin(), fields.end(), [](const FieldValue& v) { return v.json; })) {
        SubjectId id{};
        auto bytes = env.getSubject();
        if (bytes.size() == id.size()) std::copy(bytes.begin(), bytes.end(), id.begin());
        AccessRecord& r = reads[id];
        r.subject = id;
        r.purpose = "service_delivery";
        r.operation = "history";
        for (const FieldValue& v : fields) {
          if (v.json) r.categories.push_back(v.category);
        }
        std::sort(r.categories.begin(), r.categories.end());
        r.categories.erase(std::unique(r.categories.begin(), r.categories.end()),
                           r.categories.end());
      }
    }
    std::string line;
    if (g.json) {
      line = EnvelopeJson(e, /*with_leaf=*/false);
      if (a.with_data) line = line.substr(0, line.size() - 1) + ",\"data\":" + data + "}";
    } else {
      line = EnvelopeRow(e);
      if (a.with_data) line += "  " + data;
    }
    if (!a.with_data) {
      std::printf("%s\n", line.c_str());
      return Status::Ok();
    }
    held += line + "\n";
    return ++held_events < kHeldEvents ? Status::Ok() : release();
  });
  if (s.ok() && a.with_data) s = release();
  if (!s.ok()) return Fail(s);
  if (!g.json) std::fprintf(stderr, "%llu events\n", static_cast<unsigned long long>(shown));
  return 0;
}

uint64_t Unchecked(const AuditResult& result) {
  uint64_t n = 0;
  for (const auto& u : result.unchecked) n += u.events;
  return n;
}

int RunAudit(const Globals& g, const AuditArgs& a) {
  AuditOptions o;
  if (Status s = OptionalTime(a.from_time, "--from-time", &o.from_micros); !s.ok()) return Fail(s);
  if (Status s = OptionalTime(a.to_time, "--to-time", &o.to_micros); !s.ok()) return Fail(s);
  std::optional<int64_t> now;
  if (Status s = OptionalTime(a.now, "--now", &now); !s.ok()) return Fail(s);
  o.now_micros = now.value_or(0);
  o.auditor = a.auditor;
  o.verify = !a.no_verify;
  if (!a.since.empty()) {
    std::ifstream in(a.since, std::ios::binary);
    if (!in) return Fail(Status::IOError("cannot read " + a.since));
    o.since_checkpoint.assign(std::istreambuf_iterator<char>(in), {});
  }
  std::unique_ptr<Ledger> ledger;
  if (Status s = OpenLedgerToRead(g, &ledger, /*check_on_open=*/false); !s.ok()) return Fail(s);
  Progress progress("auditing");
  o.progress = [&](uint64_t done, uint64_t total) { progress.Update(done, total); };
  AuditResult result;
  if (Status s = RunAudit(*ledger, o, &result); !s.ok()) return Fail(s);
  if (Status s = WriteAuditReport(result, a.out); !s.ok()) return Fail(s);
  if (g.json) {
    std::printf("%s\n", JsonWriter()
                            .Bool("integrity", result.integrity_ok)
                            .Number("findings", result.findings.size())
                            .Number("unchecked", Unchecked(result))
                            .String("report", (std::filesystem::path(a.out) / "audit.json").string())
                            .Finish()
                            .c_str());
  } else {
    std::printf("integrity: %s\nfindings:  %zu\n",
                result.integrity_ok ? "verified" : (a.no_verify ? "not checked" : "FAILED"),
                result.findings.size());
    for (const auto& f : result.findings) {
      std::string seqs;
      for (uint64_t s : f.seqs) seqs += (seqs.empty() ? "" : ",") + std::to_string(s);
      std::printf("  %-13s %s  seq %s  %s\n", f.check.c_str(),
                  f.subject.empty() ? "-" : f.subject.c_str(), seqs.c_str(),
                  f.description.c_str());
    }
    for (const auto& u : result.unchecked) {
      std::printf("unchecked: %u by %s: %s\n", u.events, u.check.c_str(), u.reason.c_str());
    }
    std::printf("report:    %s/audit.html (signed: audit.json + audit.json.sig)\n",
                a.out.c_str());
  }
  // Findings are what an audit is for, not a failure of the command; a broken log is.
  return result.integrity_ok || a.no_verify ? 0 : 1;
}

}  // namespace

void AddAuditCommands(CLI::App& app, const Globals& g, int& rc) {
  static HistoryArgs h;
  auto* history = app.add_subcommand(
      "history", "event envelopes with filters (no personal data unless --with-data)");
  history->add_option("--from-time", h.from_time, "recorded at or after (RFC 3339)");
  history->add_option("--to-time", h.to_time, "recorded at or before (RFC 3339)");
  history->add_option("--register", h.register_name);
  history->add_option("--purpose", h.purpose);
  history->add_option("--basis", h.basis);
  history->add_option("--source", h.source);
  history->add_option("--actor", h.actor, "who wrote the event");
  history->add_option("--type", h.type, "event type, e.g. consent_withdrawn");
  history->add_option("--subject", h.subject, "one person (uses the subject index)");
  history->add_flag("--with-data", h.with_data,
                    "also the personal data (for the data protection officer; recorded as a read)");
  history->callback([&] { rc = RunHistory(g, h); });

  static AuditArgs a;
  auto* audit = app.add_subcommand(
      "audit", "replay the log against the policy and report every violation (signed report)");
  audit->add_option("--from-time", a.from_time, "the period's start (RFC 3339)");
  audit->add_option("--to-time", a.to_time, "the period's end (RFC 3339)");
  audit->add_option("--since", a.since, "the checkpoint kept from the previous audit");
  audit->add_option("--out", a.out, "where audit.json, audit.json.sig and audit.html go")
      ->required();
  audit->add_option("--now", a.now, "judge deadlines and retention at this time (default now)");
  audit->add_option("--auditor", a.auditor, "who audits (an id, named in the report)")
      ->capture_default_str();
  audit->add_flag("--no-verify", a.no_verify, "skip the full verification");
  audit->callback([&] { rc = RunAudit(g, a); });
}

}  // namespace kirjuri::cli
