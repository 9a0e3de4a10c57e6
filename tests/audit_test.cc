// The auditor's workbench: history with filters, the audit's checks (a history with one seeded
// violation of each kind, and the same history keeping the rules), continuity across audits
// (verify --since), and the signed audit report.
#include <capnp/compat/json.h>
#include <capnp/message.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "kirjuri/audit.h"
#include "kirjuri/note.h"
#include "kirjuri/schemas/report.capnp.h"
#include "kirjuri/time.h"
#include "ledger_fixture.h"

using namespace kirjuri;
using namespace kirjuri::test;

namespace {

constexpr int64_t kDay = 86400LL * 1000000;

std::string Line(const std::string& subject, const std::string& type, const std::string& category,
                 const std::string& purpose, const std::string& basis, const std::string& data,
                 const std::string& extra = "") {
  std::string s = R"({"register":"customer","subject":")" + subject + R"(","type":")" + type +
                  R"(","category":")" + category + R"(","actor":"emp-7","purpose":")" + purpose +
                  R"(","basis":")" + basis + R"(","source":"web_form")" + extra;
  if (!data.empty()) s += R"(,"data":)" + data;
  return s + "}\n";
}

const std::string kProfile = R"({"name":"Test Person","email":"t@example.fi"})";
const std::string kConsentData = R"({"notice":"v3","method":"web_form"})";

class AuditFixture : public LedgerFixture {
 public:
  AuditFixture() { InitAndOpen(); }

  // Opens the ledger without the append-time rules: what an older version could have written.
  void Lenient(bool on) {
    OpenOptions o = DefaultOpenOptions();
    o.enforce_rules = !on;
    Reopen(o);
  }

  std::vector<Appended> Add(const std::string& lines) {
    std::vector<Appended> out;
    Status s = AppendLines(lines, &out);
    INFO(s.ToString());
    REQUIRE(s.ok());
    return out;
  }
  SubjectId NewCustomer(const std::string& extra = "") {
    return Add(Line("new", "recorded", "profile", "service_delivery", "contract", kProfile, extra))[0]
        .subject;
  }
  uint64_t Event(const SubjectId& id, const std::string& type, const std::string& category,
                 const std::string& purpose, const std::string& basis,
                 const std::string& data = "", const std::string& extra = "") {
    return Add(Line(SubjectIdHex(id), type, category, purpose, basis, data, extra))[0].seq;
  }
  void Erase(const SubjectId& id) {
    uint64_t seq = 0;
    Status s = ledger().Erase({id, "REQ-E", "dpo-1", 0}, &seq);
    INFO(s.ToString());
    REQUIRE(s.ok());
  }

  AuditResult Audit(AuditOptions o = {}) {
    AuditResult r;
    Status s = RunAudit(ledger(), o, &r);
    INFO(s.ToString());
    REQUIRE(s.ok());
    return r;
  }
};

// Builds a history; with `violate`, one violation of each kind is seeded in it. Returns, per
// check, the sequence numbers its finding must name.
std::map<std::string, std::vector<uint64_t>> BuildHistory(AuditFixture& f, bool violate) {
  std::map<std::string, std::vector<uint64_t>> want;
  const int64_t now = NowMicros();

  // consent: marketing on consent, with consent given only in the clean history.
  SubjectId a = f.NewCustomer();
  if (!violate) f.Event(a, "consent_given", "consents", "marketing", "consent", kConsentData);
  uint64_t seq = f.Event(a, "recorded", "profile", "marketing", "consent", R"({"city":"Oulu"})");
  if (violate) want["consent"] = {seq};

  // objection: marketing after the person objected (only an older version lets it in).
  SubjectId b = f.NewCustomer();
  f.Event(b, "consent_given", "consents", "marketing", "consent", kConsentData);
  if (violate) {
    const uint64_t objected = f.Event(b, "marketing_objected", "consents", "marketing", "consent");
    f.Lenient(true);
    seq = f.Event(b, "recorded", "profile", "marketing", "consent", R"({"city":"Vaasa"})");
    f.Lenient(false);
    want["objection"] = {seq, objected};
  } else {
    f.Event(b, "recorded", "profile", "marketing", "consent", R"({"city":"Vaasa"})");
    f.Event(b, "marketing_objected", "consents", "marketing", "consent");
  }

  // restriction: processing while restricted.
  SubjectId c = f.NewCustomer();
  const uint64_t restricted = f.Event(c, "restricted", "profile", "service_delivery", "legal_obligation");
  if (violate) {
    f.Lenient(true);
    seq = f.Event(c, "recorded", "profile", "service_delivery", "contract", R"({"city":"Pori"})");
    f.Lenient(false);
    want["restriction"] = {seq, restricted};
  } else {
    f.Event(c, "restriction_lifted", "profile", "service_delivery", "legal_obligation");
    f.Event(c, "recorded", "profile", "service_delivery", "contract", R"({"city":"Pori"})");
  }

  // retention: billing kept after an erasure, its duty over long ago (clean: recent billing).
  SubjectId d = f.NewCustomer();
  f.Event(d, "recorded", "billing", "service_delivery", "contract", R"({"invoice_number":"INV-1"})",
          violate ? R"(,"at":"2015-03-01T00:00:00Z")" : "");
  f.Erase(d);
  SubjectSummary summary;
  REQUIRE(f.ledger().GetSubject(d, &summary).ok());
  if (violate) want["retention"] = {*summary.erased_at_seq};

  // deadline: a request received two months ago, still open (clean: received now, open).
  uint64_t rseq = 0;
  REQUIRE(f.ledger()
              .OpenRequest(a, "access", "REQ-LATE", "dpo-1", violate ? now - 60 * kDay : 0, &rseq)
              .ok());
  if (violate) want["deadline"] = {rseq};

  // disclosure: to a country outside the EU/EEA.
  SubjectId e = f.NewCustomer();
  const std::string country = violate ? "US" : "SE";
  if (violate) f.Lenient(true);
  seq = f.Event(e, "disclosed", "profile", "events", "legal_obligation",
                R"({"recipient":"Messut Oy","country":")" + country + "\"}");
  if (violate) {
    f.Lenient(false);
    want["disclosure"] = {seq};
  }

  // access_role: marketing reading billing (clean: profile).
  AccessRecord r;
  r.subject = a;
  r.actor = "mailer-1";
  r.role = "marketing";
  r.purpose = "marketing";
  r.via = "http";
  r.operation = "query";
  r.categories = {violate ? "billing" : "profile"};
  std::vector<uint64_t> seqs;
  REQUIRE(f.ledger().RecordAccesses({&r, 1}, &seqs).ok());
  if (violate) want["access_role"] = seqs;

  // erasure_keys: the keys an erasure destroyed put back into the key store. (The key store
  // restored whole from an older copy is refused on open: see corruption_test.cc.)
  SubjectId g = f.NewCustomer();
  std::map<std::string, std::string> destroyed;
  if (violate) {
    f.Close();
    destroyed = RawKeyStore(f.data() / "keys").All(g);
    REQUIRE_FALSE(destroyed.empty());
    f.Reopen();
  }
  f.Erase(g);
  if (violate) {
    REQUIRE(f.ledger().GetSubject(g, &summary).ok());
    want["erasure_keys"] = {*summary.erased_at_seq};
    f.Close();
    {
      RawKeyStore keys(f.data() / "keys");
      for (const auto& [category, value] : destroyed) keys.Put(g, category, value);
    }
    f.Reopen();
  }
  return want;
}

std::map<std::string, std::vector<std::vector<uint64_t>>> ByCheck(const AuditResult& r) {
  std::map<std::string, std::vector<std::vector<uint64_t>>> out;
  for (const auto& f : r.findings) out[f.check].push_back(f.seqs);
  return out;
}

// The seeded history (with its violations) audited since the checkpoint it ended at, one more
// customer recorded after it: a report with findings, proofs and a consistency proof.
AuditResult AuditSinceItsEnd(AuditFixture& f) {
  BuildHistory(f, /*violate=*/true);
  std::string earlier;
  REQUIRE(f.ledger().LatestCheckpoint(&earlier).ok());
  f.NewCustomer();
  AuditOptions o;
  o.since_checkpoint = earlier;
  return f.Audit(o);
}

}  // namespace

TEST_CASE("audit: each seeded violation is found once, with the events that prove it") {
  AuditFixture f;
  auto want = BuildHistory(f, /*violate=*/true);
  REQUIRE(want.size() == 8);
  AuditResult r = f.Audit();
  CHECK(r.integrity_ok);
  auto found = ByCheck(r);
  for (const auto& [check, seqs] : want) {
    INFO(check);
    REQUIRE(found[check].size() == 1);
    CHECK(found[check][0] == seqs);
  }
  CHECK(r.findings.size() == want.size());
  // The report says what was checked, and holds no personal data.
  CHECK(r.json.find("\"erasure_keys\"") != std::string::npos);
  CHECK(r.json.find("Test Person") == std::string::npos);
  CHECK(r.html.find("Test Person") == std::string::npos);
  CHECK(r.html.find("<svg") != std::string::npos);
}

TEST_CASE("audit: the same history keeping the rules gives zero findings") {
  AuditFixture f;
  BuildHistory(f, /*violate=*/false);
  AuditResult r = f.Audit();
  CHECK(r.integrity_ok);
  for (const auto& finding : r.findings) INFO(finding.check + ": " + finding.description);
  CHECK(r.findings.empty());
  CHECK(r.html.find("None: the period") != std::string::npos);
}

// After an erasure a disclosure's country can no longer be read: the audit must say how many
// disclosures escaped that rule and why, never count them as checked.
TEST_CASE("audit: disclosures whose country was erased are reported as not checked") {
  AuditFixture f;
  const SubjectId kept = f.NewCustomer();
  f.Event(kept, "disclosed", "profile", "events", "legal_obligation",
          R"({"recipient":"Messut Oy","country":"SE"})");
  const SubjectId gone = f.NewCustomer();
  for (const char* country : {"FI", "DK"}) {
    f.Event(gone, "disclosed", "profile", "events", "legal_obligation",
            std::string(R"({"recipient":"Messut Oy","country":")") + country + "\"}");
  }
  AuditResult before = f.Audit();
  CHECK(before.unchecked.empty());
  CHECK(before.json.find("\"unchecked\": 0") != std::string::npos);

  f.Erase(gone);
  AuditResult r = f.Audit();
  CHECK(r.findings.empty());
  REQUIRE(r.unchecked.size() == 1);
  CHECK(r.unchecked[0].check == "disclosure");
  CHECK(r.unchecked[0].events == 2);  // the kept person's disclosure was checked
  CHECK(r.unchecked[0].reason.find("erased") != std::string::npos);
  // The signed report and its page say it too.
  CHECK(r.json.find("\"unchecked\": 2") != std::string::npos);
  CHECK(r.json.find("can no longer be read") != std::string::npos);
  CHECK(r.html.find("<td>2 disclosures whose country can no longer be read") != std::string::npos);
}

TEST_CASE("audit: a period judges only its own events, against the state before it") {
  AuditFixture f;
  SubjectId a = f.NewCustomer();
  f.Event(a, "consent_given", "consents", "marketing", "consent", kConsentData);
  f.Event(a, "consent_withdrawn", "consents", "marketing", "consent");
  const uint64_t early = f.Event(a, "recorded", "profile", "marketing", "consent", R"({"city":"A"})");
  // recordedAt has microsecond resolution and never decreases: a pause separates the periods.
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const int64_t split = NowMicros();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const uint64_t late = f.Event(a, "recorded", "profile", "marketing", "consent", R"({"city":"B"})");
  AuditOptions o;
  o.from_micros = split;
  AuditResult r = f.Audit(o);
  REQUIRE(r.findings.size() == 1);
  CHECK(r.findings[0].check == "consent");
  CHECK(r.findings[0].seqs.front() == late);
  o = {};
  o.to_micros = split;
  r = f.Audit(o);
  REQUIRE(r.findings.size() == 1);
  CHECK(r.findings[0].seqs.front() == early);
  // The two ends swapped: refused, not an empty period signed as free of findings.
  o.from_micros = split + 1;
  o.to_micros = split;
  AuditResult swapped;
  Status s = RunAudit(f.ledger(), o, &swapped);
  CHECK(s.IsInvalidArgument());
  CHECK(s.message() == "the period starts (" + FormatRfc3339(split + 1) + ") after it ends (" +
                           FormatRfc3339(split) + ")");
  // A period still to come: refused too. One that has begun is audited up to now.
  o = {};
  o.now_micros = split;
  o.from_micros = split + 1;
  AuditResult future;
  s = RunAudit(f.ledger(), o, &future);
  CHECK(s.IsInvalidArgument());
  CHECK(s.message() == "the period starts (" + FormatRfc3339(split + 1) + ") after now (" +
                           FormatRfc3339(split) + "): an audit covers what has happened");
  o.from_micros = split;
  o.to_micros = split + 3'600'000'000;
  AuditResult begun;
  REQUIRE(RunAudit(f.ledger(), o, &begun).ok());
}

TEST_CASE("audit report: signed, every proof checks, tampering is named") {
  AuditFixture f;
  AuditResult r = AuditSinceItsEnd(f);
  const fs::path dir = f.tmp().path() / "audit";
  REQUIRE(WriteAuditReport(r, dir).ok());
  REQUIRE(IsAuditReport(dir / "audit.json"));
  AuditReportCheck check;
  Status s = VerifyAuditReport(dir / "audit.json", &f.ledger().public_key(), &check);
  INFO(s.ToString());
  REQUIRE(s.ok());
  CHECK(check.findings == 8);
  CHECK(check.proofs >= 8);
  CHECK(check.since);

  // OpenSSL, not our code, checks the signature over the exact bytes.
  const std::string openssl = "cd '" + dir.string() +
                              "' && openssl pkeyutl -verify -pubin -inkey ledger.pub.pem -rawin "
                              "-in audit.json -sigfile audit.json.sig >/dev/null 2>&1";
  CHECK(std::system(openssl.c_str()) == 0);
  std::string json = ReadFile(dir / "audit.json");
  std::string tampered = json;
  tampered.replace(json.find("still open past its deadline"), 4, "STIL");
  {
    std::ofstream out(dir / "audit.json", std::ios::binary | std::ios::trunc);
    out << tampered;
  }
  s = VerifyAuditReport(dir / "audit.json", nullptr, &check);
  CHECK(s.IsCorruption());
  CHECK(s.message().find("signature") != std::string::npos);
  CHECK(std::system(openssl.c_str()) != 0);
}

// Each claim of a report altered and signed again with the ledger's own key (what only the
// ledger's holder could do): the proofs still do not hold, and the check names which.
TEST_CASE("audit report: claims altered and signed again still fail, naming the claim") {
  AuditFixture f;
  const fs::path dir = f.tmp().path() / "audit";
  REQUIRE(WriteAuditReport(AuditSinceItsEnd(f), dir).ok());
  const std::string json = ReadFile(dir / "audit.json");
  // The position of the first character of `key`'s string value (of a list: its first one).
  auto value_of = [&](const std::string& key) {
    const size_t at = json.find("\"" + key + "\"");
    REQUIRE(at != std::string::npos);
    const size_t value = json.find_first_not_of(" \n[", json.find(':', at) + 1);
    REQUIRE(json[value] == '"');
    return value + 1;
  };
  auto flipped = [&](size_t at) {
    std::string bad = json;
    bad[at] = bad[at] == '0' ? '1' : '0';
    return bad;
  };
  auto replaced = [&](std::string_view from, std::string_view to) {
    return testing::ReplacedOnce(json, from, to);
  };
  struct Case {
    const char* name;
    std::string json;
    const char* reason;  // the start of the message
  };
  const std::vector<Case> cases = {
      {"another format", replaced("kirjuri.audit-report/", "kirjuri.audit-rapport/"),
       "not an audit report (format is not "},
      {"another origin", replaced("\"origin\": \"", "\"origin\": \"x"),
       "checkpoint: its origin is not the report's ledger"},
      {"an evidence's leaf hash", flipped(value_of("leafHash")), "inclusion proof of seq "},
      {"a leaf hash that is no hash", replaced("\"leafHash\": \"", "\"leafHash\": \"zz"),
       "a hash is not 64 hex digits"},
      {"the consistency proof since the last audit",
       flipped(value_of("consistencyProof")),
       "since: the consistency proof does not verify"},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.name) {
      REQUIRE(c.json != json);
      const fs::path bad = f.tmp().path() / "bad";
      fs::create_directories(bad);
      testing::WriteText(bad / "audit.json", c.json);
      const Ed25519Signature sig = f.ledger().SignDocument(
          {reinterpret_cast<const uint8_t*>(c.json.data()), c.json.size()});
      testing::WriteText(bad / "audit.json.sig",
                         std::string_view(reinterpret_cast<const char*>(sig.data()), sig.size()));
      AuditReportCheck check;
      Status s = VerifyAuditReport(bad / "audit.json", &f.ledger().public_key(), &check);
      INFO(s.ToString());
      CHECK_FALSE(s.ok());
      CHECK(s.message().starts_with(c.reason));
    }
  }
  SECTION("a report of another ledger, against the pinned key") {
    const PublicKey other = SigningKey::Generate().public_key();
    AuditReportCheck check;
    Status s = VerifyAuditReport(dir / "audit.json", &other, &check);
    CHECK(s.IsCorruption());
    CHECK(s.message() == "the report's key is not the pinned key");
  }
}

TEST_CASE("verify --since: an earlier checkpoint of this ledger, never another's or a rewrite") {
  AuditFixture f;
  f.AppendN(20);
  std::string earlier;
  REQUIRE(f.ledger().LatestCheckpoint(&earlier).ok());
  f.AppendN(13);
  ExtendsResult ext;
  Status s = f.ledger().CheckExtends(earlier, &ext);
  INFO(s.ToString());
  REQUIRE(s.ok());
  CHECK(ext.old_size == 20);
  CHECK(ext.new_size == 33);
  CHECK_FALSE(ext.proof.empty());

  // Another ledger's checkpoint.
  AuditFixture other;
  other.AppendN(20);
  std::string foreign;
  REQUIRE(other.ledger().LatestCheckpoint(&foreign).ok());
  s = f.ledger().CheckExtends(foreign, &ext);
  CHECK(s.IsCorruption());

  // A checkpoint this ledger's key signed over another history of 20 events (as a rewrite
  // would leave): the prefix no longer hashes to it.
  SigningKey key;
  REQUIRE(SigningKey::ReadFile(f.data() / "ledger.key", &key).ok());
  Checkpoint cp;
  REQUIRE(OpenCheckpoint(earlier, f.ledger().public_key(), &cp).ok());
  cp.root[0] ^= 1;
  const std::string rewritten = SignNote(CheckpointBody(cp), cp.origin, key);
  s = f.ledger().CheckExtends(rewritten, &ext);
  CHECK(s.IsCorruption());
  CHECK(s.message().find("rewritten") != std::string::npos);

  // From the future.
  cp.root = ext.new_root;
  cp.size = 1000;
  s = f.ledger().CheckExtends(SignNote(CheckpointBody(cp), cp.origin, key), &ext);
  CHECK(s.IsCorruption());

  // The command line, as an auditor runs it.
  f.Close();
  const fs::path file = f.tmp().path() / "last-audit.checkpoint";
  {
    std::ofstream out(file);
    out << earlier;
  }
  RunResult ok = RunKirjuri({"--data", f.data().string(), "verify", "--since", file.string()},
                            f.tmp().path());
  INFO(ok.err);
  CHECK(ok.code == 0);
  CHECK(ok.out.find("extends the checkpoint of 20 events") != std::string::npos);
  {
    std::ofstream out(file, std::ios::trunc);
    out << rewritten;
  }
  RunResult bad = RunKirjuri({"--data", f.data().string(), "verify", "--since", file.string()},
                             f.tmp().path());
  CHECK(bad.code != 0);
  CHECK(bad.err.find("rewritten") != std::string::npos);
}

TEST_CASE("history: filters by time, subject, type and purpose without personal data") {
  AuditFixture f;
  SubjectId a = f.NewCustomer();
  SubjectId b = f.NewCustomer();
  f.Event(a, "consent_given", "consents", "marketing", "consent", kConsentData);
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  const int64_t split = NowMicros();
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  f.Event(b, "consent_given", "consents", "marketing", "consent", kConsentData);
  f.Event(a, "consent_withdrawn", "consents", "marketing", "consent");

  auto seqs = [&](const HistoryFilter& filter) {
    std::vector<uint64_t> out;
    REQUIRE(ReadHistory(f.ledger(), filter, [&](const EventView& e) {
              out.push_back(e.seq);
              return Status::Ok();
            }).ok());
    return out;
  };
  HistoryFilter h;
  CHECK(seqs(h) == std::vector<uint64_t>{0, 1, 2, 3, 4});
  h.from_micros = split;
  CHECK(seqs(h) == std::vector<uint64_t>{3, 4});
  h = {};
  h.to_micros = split;
  CHECK(seqs(h) == std::vector<uint64_t>{0, 1, 2});
  h = {};
  h.subject = a;
  CHECK(seqs(h) == std::vector<uint64_t>{0, 2, 4});
  h.type = "consent_withdrawn";
  CHECK(seqs(h) == std::vector<uint64_t>{4});
  h = {};
  h.purpose = "marketing";
  h.from_micros = split;
  CHECK(seqs(h) == std::vector<uint64_t>{3, 4});
  h = {};
  h.type = "no_such_type";
  CHECK(ReadHistory(f.ledger(), h, [](const EventView&) { return Status::Ok(); })
            .IsInvalidArgument());
  h = {};
  h.from_micros = split + 1;
  h.to_micros = split;
  CHECK(ReadHistory(f.ledger(), h, [](const EventView&) { return Status::Ok(); })
            .IsInvalidArgument());

  // The command: envelopes only, unless --with-data, which is itself logged as a read.
  f.Close();
  RunResult plain = RunKirjuri({"--data", f.data().string(), "history", "--json", "--subject",
                                SubjectIdHex(a)},
                               f.tmp().path());
  INFO(plain.err);
  REQUIRE(plain.code == 0);
  CHECK(plain.out.find("Test Person") == std::string::npos);
  RunResult with = RunKirjuri({"--data", f.data().string(), "--actor", "dpo-1", "history",
                               "--json", "--subject", SubjectIdHex(a), "--with-data"},
                              f.tmp().path());
  INFO(with.err);
  REQUIRE(with.code == 0);
  CHECK(with.out.find("Test Person") != std::string::npos);
  f.Reopen();
  h = {};
  h.type = "data_accessed";
  h.subject = a;
  auto reads = seqs(h);
  REQUIRE(reads.size() == 1);
  REQUIRE(f.ledger().ReadEvents(reads[0], reads[0] + 1, [](const EventView& e) {
    CHECK(std::string(e.signed_event.getEvent().getEnvelope().getActor().cStr()) == "dpo-1");
    CHECK(std::string(e.signed_event.getEvent().getAccess().getOperation().cStr()) == "history");
    return Status::Ok();
  }).ok());
}

TEST_CASE("audit report: the page renders in a real browser and shows every finding") {
  REQUIRE(std::system("command -v chromium >/dev/null 2>&1") == 0);  // scripts/deps.sh installs it
  AuditFixture f;
  BuildHistory(f, /*violate=*/true);
  AuditResult r = f.Audit();
  const fs::path dir = f.tmp().path() / "audit";
  REQUIRE(WriteAuditReport(r, dir).ok());
  const fs::path dom = f.tmp().path() / "dom.html";
  const std::string cmd = "timeout 120 chromium --headless --no-sandbox --disable-gpu "
                          "--user-data-dir='" + (f.tmp().path() / "chromium").string() +
                          "' --dump-dom 'file://" + (dir / "audit.html").string() + "' > '" +
                          dom.string() + "' 2>/dev/null";
  REQUIRE(std::system(cmd.c_str()) == 0);
  const std::string html = ReadFile(dom);
  // The browser's own serialisation of the parsed page: each finding is a section of it.
  size_t sections = 0;
  for (size_t at = html.find("<section class=\"finding\">"); at != std::string::npos;
       at = html.find("<section class=\"finding\">", at + 1)) {
    ++sections;
  }
  CHECK(sections == r.findings.size());
  for (const auto& finding : r.findings) {
    INFO(finding.check);
    CHECK(html.find("<code>" + finding.check + "</code>") != std::string::npos);
  }
  CHECK(html.find("<svg") != std::string::npos);
  CHECK(html.find("<rect") != std::string::npos);
}

// The report's access list as "change id holder role by" lines, in order.
std::vector<std::string> AccessLines(const std::string& json) {
  capnp::MallocMessageBuilder message;
  capnp::JsonCodec codec;
  codec.decode(kj::ArrayPtr<const char>(json.data(), json.size()),
               message.initRoot<schema::AuditReport>());
  std::vector<std::string> out;
  for (auto a : message.getRoot<schema::AuditReport>().getAccess()) {
    CHECK(std::string(a.getAt().cStr()).size() >= 20);  // RFC 3339
    out.push_back(std::string(a.getChange().cStr()) + " " + a.getTokenId().cStr() + " " +
                  a.getHolder().cStr() + " " + a.getRole().cStr() + " " + a.getBy().cStr());
  }
  return out;
}

TEST_CASE("audit report: lists the period's token changes with holder and role and who made them") {
  AuditFixture f;
  std::string crm_token, crm_id, mailer_token, mailer_id;
  REQUIRE(f.ledger().IssueToken("crm-01", "staff", "dpo-01", &crm_token, &crm_id).ok());
  f.NewCustomer();
  const int64_t between = NowMicros();
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  REQUIRE(f.ledger().IssueToken("mailer-01", "marketing", "dpo-01", &mailer_token, &mailer_id).ok());
  REQUIRE(f.ledger().RevokeToken(crm_id, "dpo-02").ok());

  AuditResult all = f.Audit();
  for (const std::string& text : {all.json, all.html}) {
    CHECK(text.find(crm_token) == std::string::npos);  // ids only, never a token
    CHECK(text.find(mailer_token) == std::string::npos);
  }
  const std::string issued_crm = "issued " + crm_id + " crm-01 staff dpo-01";
  const std::string issued_mailer = "issued " + mailer_id + " mailer-01 marketing dpo-01";
  const std::string revoked_crm = "revoked " + crm_id + " crm-01 staff dpo-02";
  CHECK(AccessLines(all.json) == std::vector<std::string>{issued_crm, issued_mailer, revoked_crm});
  CHECK(all.html.find("Access to the ledger") != std::string::npos);
  CHECK(all.html.find("revoked <code>" + crm_id + "</code>") != std::string::npos);

  // A period lists its own changes only.
  AuditOptions later;
  later.from_micros = between;
  CHECK(AccessLines(f.Audit(later).json) == std::vector<std::string>{issued_mailer, revoked_crm});
}
