// projections_bench: what the projections (projections/views.h) cost, beside the raw cost of
// the same reads, measured on the same machine in the same run, over a log of N events (default
// 1,000,000) written under the shipped Almerin policy.
//
//   Kirjuri                                       raw baseline
//   views built from the log, events/s:           Ledger::ReadEvents + Ledger::ReadFields of every
//     first Views::Open, then Views::Rebuild("")    event ("iterating and opening the same events",
//                                                   one thread; best of 3 passes)
//   Views::Get(id, now), random subjects,         (context) ReplaySubject(id, now): the same answer
//     p50/p99/max                                   folded from the subject's own events
//   Views::Get(heavy, as of mid-log / 99%):       (context) the same for a typical (~10 event)
//     a customer with 1,000 events spread over      subject, and Views::Get(heavy, now)
//     the log, p50/p99
//   Views::List, a page of 1,000 customers as     (context) the whole list as of mid-log, one
//     of mid-log, p50; the same of one city         fold of the log's prefix
//   Views::MarketingAudience as of mid-log        (context) the same whole list
//   Views::CatchUp after each synced batch        (context) Ledger::Append of that batch
//     of 1,000 appended events, per event
//   kirjuri audit with its full verify            Views::Rebuild (the goal); and (context)
//                                                   Ledger::Verify alone, which bounds it
//
// Goals (issue): rebuild >= 50% of the raw iterate + open rate; single-subject query p99 under
// 1 ms in process; `kirjuri audit` (issue 8) over the same log >= 50% of the rebuild rate. The
// as-of latency and the catch-up cost are reported without a goal.
//
// The log: customers (80%) and partners (20%), ~10 events per person on average — a profile
// when they arrive, then usage events with a "kind" (customers only), marketing consents given
// and withdrawn, billing, feedback, rectifications, objections, restrictions — appended in
// synced batches of 1,000 with the views closed. Half of the events go to recent arrivals, half
// to anyone, so a person's events are spread through the log as in live use.
//
// Usage: projections_bench [--events N] [--heavy-events N] [--queries N] [--as-of-repeats N]
//                          [--catchup-batches N] [--dir PATH] [--keep] [--quick] [--json-only]
// Prints a table, then exactly one JSON line (the last line of stdout). Progress goes to stderr
// when stderr is a terminal.
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "kirjuri/ledger.h"
#include "kirjuri/audit.h"
#include "kirjuri/subject_view.h"
#include "kirjuri/views.h"

namespace fs = std::filesystem;
using kirjuri::Appended;
using kirjuri::Ledger;
using kirjuri::NewEvent;
using kirjuri::Status;
using kirjuri::SubjectId;
using kirjuri::SubjectView;
using kirjuri::Views;

namespace {

using namespace kirjuri::bench;  // Now, Die, Check, Fmt, Thousands, ... (bench_util.h)

// Nearest-rank percentile of `sorted` (ascending), q in [0, 1].
double Percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  size_t rank = static_cast<size_t>(q * static_cast<double>(sorted.size()) + 0.999999);
  rank = std::clamp<size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

struct Latency {
  double p50 = 0, p99 = 0, max = 0;  // seconds
};

Latency Summarise(std::vector<double> secs) {
  std::sort(secs.begin(), secs.end());
  return {Percentile(secs, 0.50), Percentile(secs, 0.99), secs.empty() ? 0 : secs.back()};
}

// ---------------------------------------------------------------------------------------------
// The log

struct Person {
  SubjectId id{};
  bool partner = false;
  bool consented = false;  // marketing consent given and not withdrawn
  bool restricted = false;
};

// Makes the events of a realistic register history, a batch at a time. A person made in a batch
// is referred to from the next batch on (Append picks new subjects' ids).
class LogGenerator {
 public:
  // `total`: the events of the log proper; the heavy customer gets `heavy_events` of them: its
  // profile first, the rest evenly spread from `first_batch` (when its id is known) to the end.
  // REQUIRES: total >= first_batch + 2 * heavy_events.
  LogGenerator(uint64_t total, uint64_t heavy_events, uint64_t first_batch)
      : rng_(20261125), next_heavy_(first_batch), heavy_left_(heavy_events) {
    heavy_step_ = heavy_events > 1 ? (total - first_batch) / (heavy_events - 1) : total;
  }

  // Fills `batch` with the next `n` events.
  void Next(uint64_t n, std::vector<NewEvent>* batch) {
    batch->resize(n);
    pending_.clear();
    for (uint64_t i = 0; i < n; ++i, ++made_) {
      NewEvent& e = (*batch)[i];
      e = NewEvent{};
      if (made_ == 0) {  // the heavy customer's profile
        NewProfile(false, &e);
        pending_.push_back({i, true});
        --heavy_left_;
        continue;
      }
      if (heavy_ && heavy_left_ > 0 && made_ == next_heavy_) {
        --heavy_left_;
        next_heavy_ += heavy_step_;
        Change(&persons_[*heavy_], &e);
        continue;
      }
      if (persons_.empty() || Pick(10) == 0) {
        const bool partner = Pick(5) == 0;
        NewProfile(partner, &e);
        pending_.push_back({i, false});
        continue;
      }
      // Half to the latest arrivals (new customers are the busy ones), half to anyone.
      const size_t recent = std::min<size_t>(persons_.size(), 5000);
      size_t who = Pick(2) ? persons_.size() - 1 - Pick(recent) : Pick(persons_.size());
      if (heavy_ && who == *heavy_) who = (who + 1) % persons_.size();
      if (heavy_ && who == *heavy_) {  // the heavy customer is the only person yet
        NewProfile(false, &e);
        pending_.push_back({i, false});
        continue;
      }
      Change(&persons_[who], &e);
    }
  }

  // Learns the ids Append gave the batch's new persons.
  void Learn(const std::vector<NewEvent>& batch, const std::vector<Appended>& out) {
    for (const auto& [index, heavy] : pending_) {
      Person p;
      p.id = out[index].subject;
      p.partner = batch[index].register_name == "partner";
      if (heavy) heavy_ = persons_.size();
      persons_.push_back(p);
    }
  }

  const std::vector<Person>& persons() const { return persons_; }
  SubjectId heavy() const { return persons_.at(heavy_.value()).id; }
  uint64_t Pick(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_); }

 private:
  static void Envelope(const Person* p, bool partner, const char* type, const char* category,
                       const char* purpose, const char* basis, const char* source, NewEvent* e) {
    e->register_name = partner ? "partner" : "customer";
    if (p) e->subject = p->id;
    e->type = type;
    e->category = category;
    e->purpose = purpose;
    e->basis = basis;
    e->source = source;
    e->actor = "staff:bench-01";
  }

  std::string Number() { return std::to_string(100000 + Pick(900000)); }

  void NewProfile(bool partner, NewEvent* e) {
    static const char* kCities[] = {"Jyvaskyla", "Oulu", "Turku", "Tampere", "Kuopio", "Helsinki"};
    const std::string n = Number();
    Envelope(nullptr, partner, "recorded", "profile", partner ? "partnership" : "service_delivery",
             "contract", partner ? "meeting" : "web_form", e);
    e->data = {{"name", JsonString("Henkilo " + n)},
               {"email", JsonString("henkilo." + n + "@example.fi")},
               {"phone", JsonString("+358 40 " + n)},
               {"city", JsonString(kCities[Pick(6)])},
               {"organisation", JsonString(partner ? "Kumppani " + n + " Oy" : "Asiakas Oy")},
               {"title", JsonString("Hankinta-asiantuntija")}};
    if (!partner) e->data.emplace_back("username", JsonString("henkilo" + n));
  }

  // One change to an existing person.
  void Change(Person* p, NewEvent* e) {
    static const char* kKinds[] = {"exercise", "badge", "login", "quiz", "video", "comment"};
    const bool partner = p->partner;
    const char* service = partner ? "partnership" : "service_delivery";
    uint64_t r = Pick(100);
    if (partner && r < 35) r = 50 + Pick(40);  // partners have no usage category
    // While restricted, the policy records no processing: the restriction is lifted first.
    const bool processing = r < 35 || (r >= 50 && r < 65) || (r >= 80 && r < 90);
    if (p->restricted && processing) r = 95;
    if (r < 35) {
      Envelope(p, partner, "recorded", "usage", service, "contract", "cookies", e);
      e->data = {{"kind", JsonString(kKinds[Pick(6)])}, {"result", std::to_string(Pick(100))}};
      if (Pick(2)) e->ip = JsonString("192.0.2." + std::to_string(1 + Pick(254)));
    } else if (r < 50) {
      if (p->consented) {
        Envelope(p, partner, "consent_withdrawn", "consents", "marketing", "consent", "contact", e);
        e->data = {{"reason", JsonString("no longer interested")}};
      } else {
        Envelope(p, partner, "consent_given", "consents", "marketing", "consent", "web_form", e);
        e->data = {{"notice", JsonString("2026-01")}, {"method", JsonString("checkbox")}};
      }
      p->consented = !p->consented;
    } else if (r < 65) {
      Envelope(p, partner, "recorded", "billing", service, "contract", "contact", e);
      e->data = {{"order_id", JsonString("O-" + Number())},
                 {"product", JsonString("Vuosilisenssi")},
                 {"amount", std::to_string(10 + Pick(990)) + ".50"},
                 {"currency", JsonString("EUR")}};
    } else if (r < 80) {
      Envelope(p, partner, "rectified", "profile", service, "contract", "contact", e);
      switch (Pick(3)) {
        case 0: e->data = {{"city", JsonString("Lahti")}}; break;
        case 1: e->data = {{"phone", JsonString("+358 50 " + Number())}}; break;
        default: e->data = {{"title", JsonString("Ostopaallikko")}}; break;
      }
    } else if (r < 90) {
      Envelope(p, partner, "recorded", "feedback",
               partner ? "partnership_development" : "service_development", "legitimate_interest",
               "web_form", e);
      e->data = {{"rating", std::to_string(1 + Pick(5))}, {"channel", JsonString("email")}};
    } else if (r < 95) {
      Envelope(p, partner, "marketing_objected", "consents", "marketing", "legitimate_interest",
               "contact", e);
    } else {
      Envelope(p, partner, p->restricted ? "restriction_lifted" : "restricted", "profile", service,
               "legal_obligation", "contact", e);
      p->restricted = !p->restricted;
    }
  }

  std::mt19937_64 rng_;
  uint64_t made_ = 0;
  uint64_t next_heavy_, heavy_left_, heavy_step_ = 0;
  std::optional<size_t> heavy_;
  std::vector<Person> persons_;
  std::vector<std::pair<uint64_t, bool>> pending_;  // (index in batch, is the heavy customer)
};

// ---------------------------------------------------------------------------------------------
// Measurements

std::unique_ptr<Ledger> OpenLedger(const fs::path& dir) {
  kirjuri::OpenOptions oo;
  oo.threads = 0;  // all cores
  std::unique_ptr<Ledger> ledger;
  Check(Ledger::Open(dir, oo, &ledger), "open " + dir.string());
  return ledger;
}

// Writes the log: `n` events in synced batches of `batch`. Returns events/s over the Append calls.
double BuildLog(const fs::path& dir, LogGenerator* gen, uint64_t n, uint64_t batch) {
  kirjuri::InitOptions io;
  io.origin = "bench.kirjuri.local/projections";
  Check(Ledger::Init(dir, io), "init " + dir.string());
  auto ledger = OpenLedger(dir);
  std::vector<NewEvent> events;
  std::vector<Appended> out;
  Progress progress("appending the log", n);
  double in_append = 0;
  for (uint64_t done = 0; done < n;) {
    CheckInterrupted();
    const uint64_t count = std::min(batch, n - done);
    gen->Next(count, &events);
    const double t0 = Now();
    Check(ledger->Append(events, &out), "append");
    in_append += Now() - t0;
    gen->Learn(events, out);
    done += count;
    progress.Update(done);
  }
  if (ledger->size() != n) Die("the log holds " + std::to_string(ledger->size()) + " events");
  return static_cast<double>(n) / in_append;
}

// The raw baseline: every event read and opened, as a fold reads them. Returns events/s.
double ReadAndOpen(const Ledger& ledger, const std::string& label) {
  const uint64_t n = ledger.size();
  Progress progress(label, n);
  std::vector<kirjuri::FieldValue> fields;
  uint64_t count = 0, bytes = 0;
  const double t0 = Now();
  Check(ledger.ReadEvents(0, n, [&](const kirjuri::EventView& e) {
          KIRJURI_RETURN_IF_ERROR(ledger.ReadFields(e, &fields));
          for (const auto& f : fields) bytes += f.json ? f.json->size() : 0;
          if ((++count & 0x3ff) == 0) {
            progress.Update(count);
            if (g_interrupted) return Status::FailedPrecondition("interrupted");
          }
          return Status::Ok();
        }),
        "reading and opening the log");
  const double secs = Now() - t0;
  CheckInterrupted();
  if (count != n || bytes == 0) Die("read " + std::to_string(count) + " events, no data");
  return static_cast<double>(n) / secs;
}

// Views take no interruption: Ctrl-C during a fold is noticed once it returns.
kirjuri::ProgressFn ProgressTo(Progress* p) {
  return [p](uint64_t done, uint64_t) { p->Update(done); };
}

// The latency of `fn` over `n` calls, after `warmup` untimed calls.
template <typename Fn>
Latency Time(uint64_t n, uint64_t warmup, const std::string& label, Fn&& fn) {
  Progress progress(label, n);
  for (uint64_t i = 0; i < warmup; ++i) fn(i);
  std::vector<double> secs;
  secs.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    const double t0 = Now();
    fn(i);
    secs.push_back(Now() - t0);
    if ((i & 63) == 0) {
      progress.Update(i);
      CheckInterrupted();
    }
  }
  return Summarise(std::move(secs));
}

// ---------------------------------------------------------------------------------------------

struct Args {
  uint64_t events = 1000000;
  uint64_t heavy_events = 1000;
  uint64_t queries = 10000;
  uint64_t as_of_repeats = 100;
  uint64_t catchup_batches = 20;
  uint64_t batch = 1000;
  std::string dir;
  bool quick = false;
  bool json_only = false;
  bool keep = false;
};

[[noreturn]] void Usage(int code) {
  std::fprintf(code ? stderr : stdout,
               "usage: projections_bench [--events N] [--heavy-events N] [--queries N]\n"
               "                         [--as-of-repeats N] [--catchup-batches N] [--dir PATH]\n"
               "                         [--keep] [--quick] [--json-only]\n"
               "  --events N           events in the log (1000000)\n"
               "  --heavy-events N     events of the heavy customer, spread over the log (1000)\n"
               "  --queries N          Views::Get calls on random subjects (10000)\n"
               "  --as-of-repeats N    calls per as-of figure (100)\n"
               "  --catchup-batches N  batches of 1000 appended then caught up (20)\n"
               "  --dir PATH           work directory (default: a fresh one under /tmp)\n"
               "  --keep               do not remove what the benchmark wrote\n"
               "  --quick              smoke run: 50000 events, 2000 queries, 20 as-of calls,\n"
               "                       5 catch-up batches\n"
               "  --json-only          print only the JSON line\n");
  std::exit(code);
}

Args ParseArgs(int argc, char** argv) {
  Args a;
  std::optional<uint64_t> events, heavy, queries, repeats, catchup;
  ArgReader args(argc, argv, Usage);
  while (args.Next()) {
    const std::string& f = args.flag();
    if (f == "--events") events = args.PositiveNumber();
    else if (f == "--heavy-events") heavy = args.PositiveNumber();
    else if (f == "--queries") queries = args.PositiveNumber();
    else if (f == "--as-of-repeats") repeats = args.PositiveNumber();
    else if (f == "--catchup-batches") catchup = args.PositiveNumber();
    else if (f == "--dir") a.dir = args.Value();
    else if (f == "--quick") a.quick = true;
    else if (f == "--json-only") a.json_only = true;
    else if (f == "--keep") a.keep = true;
    else if (f == "-h" || f == "--help") Usage(0);
    else args.UnknownFlag();
  }
  if (a.quick) {
    a.events = 50000;
    a.queries = 2000;
    a.as_of_repeats = 20;
    a.catchup_batches = 5;
  }
  if (events) a.events = *events;
  if (heavy) a.heavy_events = *heavy;
  if (queries) a.queries = *queries;
  if (repeats) a.as_of_repeats = *repeats;
  if (catchup) a.catchup_batches = *catchup;
  if (a.events < a.batch + 10 * a.heavy_events) {
    args.Fail("--events must be at least 1000 + 10x --heavy-events");
  }
  return a;
}

struct Goal {
  std::string key, name;
  double value, target;
  bool at_least;  // value >= target (a rate); otherwise value < target (a latency)
  bool pass() const { return at_least ? value >= target : value < target; }
};

std::string Micros(double secs) { return Fmt("%.1f us", secs * 1e6); }
std::string Millis(double secs) { return Fmt("%.2f ms", secs * 1e3); }

int Run(int argc, char** argv) {
  Args args = ParseArgs(argc, argv);
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  spdlog::set_level(spdlog::level::warn);  // the ledger logs at info, on stdout
  if (sodium_init() < 0) Die("sodium_init failed");

  Scratch scratch(args.dir, "pbench", args.keep);
  const fs::path dir = scratch.Sub("ledger");
  scratch.Track(kirjuri::DefaultMasterKeyPath(dir));
  const unsigned hw = std::max(1u, std::thread::hardware_concurrency());

  // 1. The log, written with the views closed; then reopened, as `kirjuri rebuild` would.
  LogGenerator gen(args.events, args.heavy_events, args.batch);
  const double append_rate = BuildLog(dir, &gen, args.events, args.batch);
  auto ledger = OpenLedger(dir);
  const uint64_t n = ledger->size();
  const SubjectId heavy = gen.heavy();
  {
    kirjuri::SubjectSummary s;
    Check(ledger->GetSubject(heavy, &s), "the heavy customer");
    if (s.event_count != args.heavy_events) {
      Die("the heavy customer has " + std::to_string(s.event_count) + " events, not " +
          std::to_string(args.heavy_events));
    }
  }
  uint64_t partners = 0;
  for (const Person& p : gen.persons()) partners += p.partner;
  const uint64_t persons = gen.persons().size();

  // 2. Raw: read and open every event (a warm-up pass first, which also warms the page cache).
  double raw = ReadAndOpen(*ledger, "read + open (warm-up)");
  raw = std::max(raw, ReadAndOpen(*ledger, "read + open"));

  // 3. The views built from the log: on first open, then by Rebuild("").
  std::unique_ptr<Views> views;
  double open_secs = 0, rebuild_secs = 0;
  {
    Progress progress("building the views (first open)", n);
    const double t0 = Now();
    Check(Views::Open(ledger.get(), dir, ProgressTo(&progress), &views), "opening the views");
    open_secs = Now() - t0;
  }
  CheckInterrupted();
  {
    Progress progress("Views::Rebuild(\"\")", n);
    const double t0 = Now();
    Check(views->Rebuild("", ProgressTo(&progress)), "rebuilding the views");
    rebuild_secs = Now() - t0;
  }
  CheckInterrupted();
  // Again after the views, and keep the best figure (the stricter baseline).
  raw = std::max(raw, ReadAndOpen(*ledger, "read + open (again)"));
  const double open_rate = static_cast<double>(n) / open_secs;
  const double rebuild_rate = static_cast<double>(n) / rebuild_secs;
  const double build_rate = std::max(open_rate, rebuild_rate);

  // 3b. The audit (issue 8) over the same log: the replay of every check alone, and the whole
  // audit an auditor runs (the full verify beside the replay, then the report). The audit with
  // its verify is the better of two runs, as the rebuild it is compared with is.
  double audit_replay_secs = 0, audit_full_secs = 0, audit_since_secs = 0;
  size_t audit_findings = 0;
  {
    kirjuri::AuditOptions o;
    o.verify = false;
    kirjuri::AuditResult result;
    double t0 = Now();
    Check(kirjuri::RunAudit(*ledger, o, &result), "audit (replay only)");
    audit_replay_secs = Now() - t0;
    CheckInterrupted();
    Progress progress("audit with verify", n);
    o.verify = true;
    o.progress = ProgressTo(&progress);
    for (int run = 0; run < 2; ++run) {
      t0 = Now();
      Check(kirjuri::RunAudit(*ledger, o, &result), "audit");
      const double secs = Now() - t0;
      audit_full_secs = run == 0 ? secs : std::min(audit_full_secs, secs);
      if (!result.integrity_ok) Die("the audit's verification failed");
      CheckInterrupted();
    }
    audit_findings = result.findings.size();
    // The next audit: since the previous one's checkpoint (here at 90% of the log), whose
    // events' signatures the consistency proof vouches for.
    Check(ledger->CheckpointAt(n - n / 10, &o.since_checkpoint), "a checkpoint at 90%");
    o.progress = nullptr;
    t0 = Now();
    Check(kirjuri::RunAudit(*ledger, o, &result), "audit since 90%");
    audit_since_secs = Now() - t0;
    if (!result.integrity_ok) Die("the audit's verification failed");
  }
  // What bounds the audit: the full verify alone over the same log (signatures on both cores),
  // the better of two runs as the audit's is.
  double verify_secs = 0;
  {
    Progress progress("verify", n);
    kirjuri::VerifyOptions vo;
    vo.progress = ProgressTo(&progress);
    for (int run = 0; run < 2; ++run) {
      kirjuri::VerifyResult result;
      const double t0 = Now();
      Check(ledger->Verify(vo, &result), "verify");
      const double secs = Now() - t0;
      verify_secs = run == 0 ? secs : std::min(verify_secs, secs);
      CheckInterrupted();
    }
  }
  const double verify_rate = static_cast<double>(n) / verify_secs;
  const double audit_replay_rate = static_cast<double>(n) / audit_replay_secs;
  const double audit_full_rate = static_cast<double>(n) / audit_full_secs;
  const double audit_since_rate = static_cast<double>(n) / audit_since_secs;

  // The views must hold what the log says: every view applied all of it, sampled rows equal a
  // replay of the subject's events, the heavy customer's row counts all its events.
  for (const std::string& name : views->Names()) {
    uint64_t applied = 0;
    Check(views->Applied(name, &applied), "applied size of " + name);
    if (applied != n) Die("view " + name + " applied " + std::to_string(applied));
  }
  std::vector<SubjectId> sample(args.queries);
  for (auto& id : sample) id = gen.persons()[gen.Pick(persons)].id;
  for (size_t i = 0; i < std::min<size_t>(200, sample.size()); ++i) {
    SubjectView row, replayed;
    Check(views->Get(sample[i], 0, &row), "Views::Get");
    Check(kirjuri::ReplaySubject(*ledger, sample[i], 0, &replayed), "ReplaySubject");
    if (!(row == replayed)) {
      Die("the row of " + kirjuri::SubjectIdHex(sample[i]) + " differs from its replay");
    }
  }
  std::vector<SubjectView> audience;
  Check(views->MarketingAudience(0, &audience), "the marketing audience");

  // 4. Single-subject queries, now: the view's row, beside folding the subject's events.
  SubjectView out;
  const uint64_t warmup = std::min<uint64_t>(1000, args.queries);
  const Latency get_now = Time(args.queries, warmup, "Views::Get now", [&](uint64_t i) {
    Check(views->Get(sample[i], 0, &out), "Views::Get");
  });
  const Latency replay_now = Time(args.queries, warmup, "ReplaySubject now", [&](uint64_t i) {
    Check(kirjuri::ReplaySubject(*ledger, sample[i], 0, &out), "ReplaySubject");
  });

  // 5. As-of queries: the heavy customer at mid-log and near the end, a typical subject at
  // mid-log; and the heavy customer now, from its row.
  const uint64_t mid = n / 2, late = n - n / 100;
  SubjectId typical{};
  uint64_t typical_events = 0, typical_before_mid = 0;
  {
    // The first customer (in arrival order) with 6-14 events, at least half of them before mid.
    for (const Person& p : gen.persons()) {
      if (p.id == heavy || p.partner) continue;
      kirjuri::SubjectSummary s;
      Check(ledger->GetSubject(p.id, &s), "a typical subject");
      if (s.event_count < 6 || s.event_count > 14 || s.first_seq > mid / 2) continue;
      SubjectView v;
      Check(kirjuri::ReplaySubject(*ledger, p.id, mid, &v), "a typical subject as of mid-log");
      if (v.event_count * 2 < s.event_count) continue;
      typical = p.id;
      typical_events = s.event_count;
      typical_before_mid = v.event_count;
      break;
    }
    if (typical_events == 0) Die("no typical subject with 6-14 events found");
  }
  uint64_t heavy_before_mid = 0, heavy_before_late = 0;
  auto as_of = [&](const SubjectId& id, uint64_t size, const std::string& label,
                   uint64_t* events_seen) {
    const Latency l = Time(args.as_of_repeats, 2, label, [&](uint64_t) {
      Check(views->Get(id, size, &out), label);
    });
    if (events_seen) *events_seen = out.event_count;
    return l;
  };
  const Latency heavy_mid = as_of(heavy, mid, "as of mid-log, heavy", &heavy_before_mid);
  const Latency heavy_late = as_of(heavy, late, "as of 99%, heavy", &heavy_before_late);
  const Latency typical_mid = as_of(typical, mid, "as of mid-log, typical", nullptr);
  const Latency heavy_now = as_of(heavy, 0, "now, heavy", nullptr);
  if (heavy_before_mid == 0 || heavy_before_late <= heavy_before_mid) {
    Die("the heavy customer's as-of replays saw " + std::to_string(heavy_before_mid) + " / " +
        std::to_string(heavy_before_late) + " events");
  }

  // 5b. A page of a register's list as of mid-log (what GET /v1/customers?as_of= serves: 1,000
  // people, each replayed alone), beside the whole list as of mid-log (one fold of the prefix).
  kirjuri::ViewFilter page_filter;
  page_filter.limit = 1000;
  std::vector<SubjectView> rows;
  const uint64_t page_repeats = std::max<uint64_t>(1, std::min<uint64_t>(args.as_of_repeats, 10));
  const Latency page_mid = Time(page_repeats, 1, "a page as of mid-log", [&](uint64_t) {
    Check(views->List("customer", page_filter, mid, &rows), "a page as of mid-log");
  });
  const size_t page_rows = rows.size();
  // The same page filtered by a city (one customer in six lives in each): it replays people
  // until 1,000 of them pass, about six times as many as the page above.
  kirjuri::ViewFilter city_filter = page_filter;
  city_filter.city = "Oulu";
  const Latency city_page_mid =
      Time(page_repeats, 1, "a page of one city as of mid-log", [&](uint64_t) {
        Check(views->List("customer", city_filter, mid, &rows), "a page of one city as of mid-log");
      });
  const size_t city_page_rows = rows.size();
  double whole_secs = Now();
  Check(views->List("customer", kirjuri::ViewFilter{}, mid, &rows), "the list as of mid-log");
  whole_secs = Now() - whole_secs;
  const size_t whole_rows = rows.size();
  // The marketing audience as of mid-log, its profiles opened (as the service serves it).
  double audience_secs = Now();
  Check(views->MarketingAudience(mid, &rows, [](std::string_view c) { return c == "profile"; }),
        "the marketing audience as of mid-log");
  audience_secs = Now() - audience_secs;
  const size_t audience_rows = rows.size();
  rows.clear();

  // 6. Incremental: synced batches appended, then CatchUp, as every writing command does.
  double catchup_append_secs = 0, catchup_secs = 0;
  uint64_t catchup_events = 0;
  {
    Progress progress("append + catch up", args.catchup_batches * args.batch);
    std::vector<NewEvent> events;
    std::vector<Appended> appended;
    for (uint64_t b = 0; b < args.catchup_batches; ++b) {
      CheckInterrupted();
      gen.Next(args.batch, &events);
      double t0 = Now();
      Check(ledger->Append(events, &appended), "append");
      catchup_append_secs += Now() - t0;
      gen.Learn(events, appended);
      t0 = Now();
      Check(views->CatchUp(), "CatchUp");
      catchup_secs += Now() - t0;
      catchup_events += events.size();
      progress.Update(catchup_events);
    }
    uint64_t applied = 0;
    Check(views->Applied("customer", &applied), "applied size");
    if (applied != ledger->size()) Die("CatchUp left the customer view behind");
  }
  const double catchup_us = 1e6 * catchup_secs / static_cast<double>(catchup_events);
  const double append_us = 1e6 * catchup_append_secs / static_cast<double>(catchup_events);

  // 7. Report.
  std::vector<Goal> goals = {
      {"rebuild_vs_read_open", "view build >= 50% of read + open", build_rate / raw, 0.50, true},
      {"get_p99_under_1ms", "Views::Get now, p99 < 1 ms", get_now.p99, 1e-3, false},
      {"audit_vs_rebuild", "audit (with verify) >= 50% of the rebuild rate",
       audit_full_rate / rebuild_rate, 0.50, true},
  };
  if (!args.json_only) {
    std::printf("Kirjuri projections benchmark: %u hardware threads, ledger opened with all "
                "cores\n",
                hw);
    std::printf("  log: %s events (appended at %s events/s, synced batches of %llu), %s persons "
                "(%s partners), %s in the marketing audience\n",
                Thousands(static_cast<double>(n)).c_str(), Thousands(append_rate).c_str(),
                static_cast<unsigned long long>(args.batch),
                Thousands(static_cast<double>(persons)).c_str(),
                Thousands(static_cast<double>(partners)).c_str(),
                Thousands(static_cast<double>(audience.size())).c_str());
    std::printf("  heavy customer: %llu events, %llu before mid-log (%s), %llu before 99%% (%s); "
                "typical: %llu events, %llu before mid-log\n\n",
                static_cast<unsigned long long>(args.heavy_events),
                static_cast<unsigned long long>(heavy_before_mid),
                Thousands(static_cast<double>(mid)).c_str(),
                static_cast<unsigned long long>(heavy_before_late),
                Thousands(static_cast<double>(late)).c_str(),
                static_cast<unsigned long long>(typical_events),
                static_cast<unsigned long long>(typical_before_mid));
    auto row = [](const std::string& figure, const std::string& value, const std::string& base,
                  const std::string& base_value, const std::string& ratio,
                  const std::string& goal) {
      std::printf("%-34s %15s  %-32s %15s %8s  %s\n", figure.c_str(), value.c_str(), base.c_str(),
                  base_value.c_str(), ratio.c_str(), goal.c_str());
    };
    auto verdict = [](const Goal& g, const char* text) {
      return std::string(text) + (g.pass() ? "  yes" : "  NO");
    };
    row("figure", "value", "baseline", "baseline value", "ratio", "goal met");
    const std::string raw_s = Thousands(raw) + " ev/s";
    row("views built on first open", Thousands(open_rate) + " ev/s", "read + open every event",
        raw_s, Fmt("%.1f%%", 100 * open_rate / raw), "");
    row("Views::Rebuild(\"\")", Thousands(rebuild_rate) + " ev/s", "read + open every event",
        raw_s, Fmt("%.1f%%", 100 * rebuild_rate / raw), "");
    row("views built, best of the two", Thousands(build_rate) + " ev/s", "read + open every event",
        raw_s, Fmt("%.1f%%", 100 * build_rate / raw), verdict(goals[0], ">= 50%"));
    row("audit, replay of the checks", Thousands(audit_replay_rate) + " ev/s",
        "Views::Rebuild(\"\")", Thousands(rebuild_rate) + " ev/s",
        Fmt("%.1f%%", 100 * audit_replay_rate / rebuild_rate), "");
    row("audit with full verify", Thousands(audit_full_rate) + " ev/s", "Views::Rebuild(\"\")",
        Thousands(rebuild_rate) + " ev/s", Fmt("%.1f%%", 100 * audit_full_rate / rebuild_rate),
        verdict(goals[2], ">= 50%"));
    row("audit with full verify", Thousands(audit_full_rate) + " ev/s", "Ledger::Verify alone",
        Thousands(verify_rate) + " ev/s", Fmt("%.1f%%", 100 * audit_full_rate / verify_rate), "");
    row("audit since a checkpoint at 90%", Thousands(audit_since_rate) + " ev/s",
        "Views::Rebuild(\"\")", Thousands(rebuild_rate) + " ev/s",
        Fmt("%.1f%%", 100 * audit_since_rate / rebuild_rate), "");
    const std::string q = " (" + Thousands(static_cast<double>(args.queries)) + ")";
    row("Views::Get now, p50" + q, Micros(get_now.p50), "ReplaySubject now, p50",
        Micros(replay_now.p50), Fmt("%.2fx", get_now.p50 / replay_now.p50), "");
    row("Views::Get now, p99" + q, Micros(get_now.p99), "ReplaySubject now, p99",
        Micros(replay_now.p99), Fmt("%.2fx", get_now.p99 / replay_now.p99),
        verdict(goals[1], "< 1 ms"));
    row("Views::Get now, max" + q, Micros(get_now.max), "ReplaySubject now, max",
        Micros(replay_now.max), Fmt("%.2fx", get_now.max / replay_now.max), "");
    const std::string r = " (" + std::to_string(args.as_of_repeats) + ")";
    row("as of mid-log, heavy, p50" + r, Millis(heavy_mid.p50), "typical subject, p50",
        Millis(typical_mid.p50), Fmt("%.0fx", heavy_mid.p50 / typical_mid.p50), "");
    row("as of mid-log, heavy, p99" + r, Millis(heavy_mid.p99), "typical subject, p99",
        Millis(typical_mid.p99), Fmt("%.0fx", heavy_mid.p99 / typical_mid.p99), "");
    row("as of 99%, heavy, p50" + r, Millis(heavy_late.p50), "heavy now (its row), p50",
        Millis(heavy_now.p50), Fmt("%.0fx", heavy_late.p50 / heavy_now.p50), "");
    row("as of 99%, heavy, p99" + r, Millis(heavy_late.p99), "heavy now (its row), p99",
        Millis(heavy_now.p99), Fmt("%.0fx", heavy_late.p99 / heavy_now.p99), "");
    row("a page of " + Thousands(static_cast<double>(page_rows)) + " as of mid-log, p50",
        Millis(page_mid.p50), "all " + Thousands(static_cast<double>(whole_rows)) + ", one fold",
        Millis(whole_secs), Fmt("%.3fx", page_mid.p50 / whole_secs), "");
    row("a page of " + Thousands(static_cast<double>(city_page_rows)) +
            " in one city as of mid-log, p50",
        Millis(city_page_mid.p50), "all, one fold", Millis(whole_secs),
        Fmt("%.3fx", city_page_mid.p50 / whole_secs), "");
    row("audience as of mid-log (" + Thousands(static_cast<double>(audience_rows)) + ")",
        Millis(audience_secs), "all customers, one fold", Millis(whole_secs),
        Fmt("%.2fx", audience_secs / whole_secs), "");
    row("CatchUp per appended event", Fmt("%.1f us", catchup_us), "Ledger::Append per event",
        Fmt("%.1f us", append_us), Fmt("%.1f%%", 100 * catchup_us / append_us), "");
    std::printf("\n(%s catch-up events in batches of %llu; the raw rate is the best of 3 passes, "
                "one thread)\n\n",
                Thousands(static_cast<double>(catchup_events)).c_str(),
                static_cast<unsigned long long>(args.batch));
  }

  auto lat = [](const char* key, const Latency& l, double scale) {
    return Fmt("\"%s\":{\"p50\":%.3f,\"p99\":%.3f,\"max\":%.3f}", key, l.p50 * scale,
               l.p99 * scale, l.max * scale);
  };
  std::string j = "{\"bench\":\"projections\"";
  j += Fmt(",\"hardware_threads\":%u,\"events\":%llu,\"quick\":%s,\"persons\":%llu,"
           "\"partners\":%llu,\"audience\":%zu,\"heavy_events\":%llu,\"queries\":%llu,"
           "\"as_of_repeats\":%llu",
           hw, static_cast<unsigned long long>(n), args.quick ? "true" : "false",
           static_cast<unsigned long long>(persons), static_cast<unsigned long long>(partners),
           audience.size(), static_cast<unsigned long long>(args.heavy_events),
           static_cast<unsigned long long>(args.queries),
           static_cast<unsigned long long>(args.as_of_repeats));
  j += Fmt(",\"raw\":{\"read_open\":%.1f,\"append_b%llu\":%.1f,\"verify\":%.1f}", raw,
           static_cast<unsigned long long>(args.batch), append_rate, verify_rate);
  j += Fmt(",\"kirjuri\":{\"views_first_open\":%.1f,\"rebuild\":%.1f,", open_rate, rebuild_rate);
  j += Fmt("\"audit_replay\":%.1f,\"audit_with_verify\":%.1f,\"audit_since_90pct\":%.1f,"
           "\"audit_findings\":%zu,",
           audit_replay_rate, audit_full_rate, audit_since_rate, audit_findings);
  j += lat("get_now_us", get_now, 1e6) + "," + lat("replay_now_us", replay_now, 1e6) + ",";
  j += lat("as_of_mid_heavy_ms", heavy_mid, 1e3) + "," +
       lat("as_of_late_heavy_ms", heavy_late, 1e3) + "," +
       lat("as_of_mid_typical_ms", typical_mid, 1e3) + "," +
       lat("get_now_heavy_ms", heavy_now, 1e3);
  j += "," + lat("list_page_as_of_mid_ms", page_mid, 1e3);
  j += Fmt(",\"list_page_rows\":%zu,\"list_whole_as_of_mid_ms\":%.3f,\"list_whole_rows\":%zu",
           page_rows, whole_secs * 1e3, whole_rows);
  j += "," + lat("list_city_page_as_of_mid_ms", city_page_mid, 1e3);
  j += Fmt(",\"list_city_page_rows\":%zu", city_page_rows);
  j += Fmt(",\"audience_as_of_mid_ms\":%.3f,\"audience_as_of_mid_rows\":%zu", audience_secs * 1e3,
           audience_rows);
  j += Fmt(",\"heavy_events_before_mid\":%llu,\"heavy_events_before_late\":%llu",
           static_cast<unsigned long long>(heavy_before_mid),
           static_cast<unsigned long long>(heavy_before_late));
  j += Fmt(",\"catchup_us_per_event\":%.2f,\"append_us_per_event\":%.2f}", catchup_us, append_us);
  AppendGoalsJson(&j, goals, &Goal::value, kValueGoalJson);
  PrintJsonLine(j + "}");
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return RunMain("projections_bench", Run, argc, argv); }
