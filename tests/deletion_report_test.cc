// Proof-of-deletion reports: built from a real ledger after a real erasure, checked by
// VerifyDeletionReport and by the OpenSSL command the report itself tells people to run.
#include <capnp/compat/json.h>
#include <capnp/message.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kirjuri/crypto.h"
#include "kirjuri/deletion_report.h"
#include "kirjuri/ledger.h"
#include "kirjuri/note.h"
#include "kirjuri/schemas/report.capnp.h"
#include "kirjuri/time.h"
#include "test_util.h"

namespace fs = std::filesystem;
using namespace kirjuri;
using kirjuri::testing::Describe;
using kirjuri::testing::RunKirjuri;
using kirjuri::testing::RunResult;

namespace {

// Personal values in the inputs; none may reach a report. (None may occur by chance in what a
// report does hold: an amount like 49.00 matched a timestamp's ":49.008814Z".)
const char* const kPersonal[] = {"Test Person", "t@example.fi", "198.51.100.7", "ORD-1", "4711.93"};

const std::string kOpenSsl =
    "openssl pkeyutl -verify -pubin -inkey ledger.pub.pem -rawin -in report.json "
    "-sigfile report.json.sig";

std::string Slurp(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void Spit(const fs::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
  REQUIRE(out.good());
}

int RunShell(const std::string& cmd) {
  int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int OpenSslVerify(const fs::path& dir) {
  return RunShell("cd '" + dir.string() + "' && " + kOpenSsl + " >/dev/null 2>&1");
}

void RequireOk(const Status& s) {
  INFO(s.ToString());
  REQUIRE(s.ok());
}

// A ledger in a temporary directory holding one person (profile with an IP address, billing,
// consent) who has been erased.
struct ErasedSubject {
  fs::path dir;
  std::unique_ptr<Ledger> ledger;
  SubjectId subject{};
  uint64_t erase_seq = 0;

  ErasedSubject() {
    char tmpl[] = "/tmp/kirjuri-report-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    InitOptions init;
    init.master_key_file = dir / "master.key";
    RequireOk(Ledger::Init(dir / "data", init));
    OpenOptions open;
    open.master_key_file = dir / "master.key";
    open.threads = 2;
    RequireOk(Ledger::Open(dir / "data", open, &ledger));

    std::vector<Appended> first;
    Append(R"({"register":"customer","subject":"new","type":"recorded","category":"profile",)"
           R"("actor":"emp-0007","purpose":"service_delivery","basis":"consent",)"
           R"("source":"web_form","data":{"name":"Test Person","email":"t@example.fi"},)"
           R"("ip":"198.51.100.7"})",
           &first);
    REQUIRE(first.size() == 1);
    subject = first[0].subject;
    const std::string id = SubjectIdHex(subject);
    std::vector<Appended> more;
    Append(R"({"register":"customer","subject":")" + id +
               R"(","type":"recorded","category":"billing","actor":"emp-0007",)"
               R"("purpose":"service_delivery","basis":"contract","source":"contact",)"
               R"("data":{"order_id":"ORD-1","amount":"4711.93"}})"
               "\n"
               R"({"register":"customer","subject":")" +
               id +
               R"(","type":"consent_given","category":"consents","actor":"emp-0007",)"
               R"("purpose":"marketing","basis":"consent","source":"web_form",)"
               R"("data":{"notice":"v3","method":"web_form"}})",
           &more);
    EraseRequest request;
    request.subject = subject;
    request.request = "REQ-2026-0042";
    request.actor = "emp-0007";
    RequireOk(ledger->Erase(request, &erase_seq));
  }

  ~ErasedSubject() {
    ledger.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  void Append(const std::string& lines, std::vector<Appended>* out) {
    std::vector<NewEvent> events;
    RequireOk(ledger->ParseLines(lines, &events));
    RequireOk(ledger->Append(events, out));
  }

  DeletionReportFiles Build(std::optional<uint64_t> seq = std::nullopt) {
    DeletionReportFiles files;
    RequireOk(BuildDeletionReport(*ledger, subject, seq, &files));
    return files;
  }

  // Writes `files` into a fresh folder under the temporary directory; returns report.json.
  fs::path Write(const DeletionReportFiles& files, const std::string& name = "report") {
    RequireOk(WriteDeletionReport(files, dir / name));
    return dir / name / "report.json";
  }

  // The report with `json` in place of its own, signed again by the ledger.
  fs::path WriteResigned(const std::string& json, const std::string& name) {
    DeletionReportFiles files = Build();
    files.json = json;
    files.signature = ledger->SignDocument(
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(json.data()), json.size()));
    return Write(files, name);
  }
};

// The report's JSON, decoded with the same codec.
struct DecodedReport {
  capnp::MallocMessageBuilder message;
  schema::DeletionReport::Reader get() { return message.getRoot<schema::DeletionReport>(); }
  explicit DecodedReport(const std::string& json) {
    capnp::JsonCodec codec;
    codec.decode(kj::ArrayPtr<const char>(json.data(), json.size()),
                 message.initRoot<schema::DeletionReport>());
  }
};

// Replaces the base64 character at `pos` (the first of a 32-byte hash's base64) with another, so
// the text stays canonical base64 of the same length but names another hash.
void FlipBase64(std::string* s, size_t pos) {
  REQUIRE(pos < s->size());
  (*s)[pos] = (*s)[pos] == 'A' ? 'B' : 'A';
}

Status Verify(const fs::path& report, const PublicKey* pinned = nullptr,
              ReportCheck* check_out = nullptr) {
  ReportCheck check;
  Status s = VerifyDeletionReport(report, pinned, &check);
  if (check_out) *check_out = check;
  return s;
}

}  // namespace

TEST_CASE("a deletion report verifies and names the subject, the request, the shredded and the "
          "retained categories") {
  ErasedSubject f;
  DeletionReportFiles files = f.Build();
  REQUIRE(!files.json.empty());
  CHECK(files.json.back() == '\n');
  const fs::path report = f.Write(files);
  CHECK(Slurp(report) == files.json);
  CHECK(Slurp(report.parent_path() / "report.json.sig").size() == 64);
  CHECK(fs::exists(report.parent_path() / "report.html"));
  CHECK(Slurp(report.parent_path() / "ledger.pub.pem") == PublicKeyPem(f.ledger->public_key()));

  ReportCheck check;
  Status s = Verify(report, nullptr, &check);
  INFO(s.ToString());
  REQUIRE(s.ok());
  CHECK(check.signature_ok);
  CHECK(check.checkpoint_ok);
  CHECK(check.proof_ok);
  CHECK(check.event_ok);
  CHECK(check.subject == SubjectIdHex(f.subject));
  CHECK(check.seq == f.erase_seq);

  // Pinning the ledger's own key passes too.
  CHECK(Verify(report, &f.ledger->public_key()).ok());

  DecodedReport decoded(files.json);
  auto r = decoded.get();
  CHECK(std::string(r.getFormat()) == "kirjuri.deletion-report/v1");
  CHECK(std::string(r.getKind()) == "erasure");
  CHECK(std::string(r.getSubject()) == SubjectIdHex(f.subject));
  CHECK(std::string(r.getRegister()) == "customer");
  CHECK(std::string(r.getRequest()) == "REQ-2026-0042");
  CHECK(std::string(r.getErasedBy()) == "emp-0007");
  CHECK(std::string(r.getProof().getSeq()) == std::to_string(f.erase_seq));
  CHECK(std::string(r.getFirstSeq()) == "0");
  CHECK(std::string(r.getLastSeq()) == std::to_string(f.erase_seq - 1));
  CHECK(r.getKeyStoreCheck().getPassed());
  CHECK(r.getKeyStoreCheck().getFilesChecked() > 0);
  CHECK(std::string(r.getLedger().getOrigin()) == f.ledger->origin());

  std::vector<std::string> shredded;
  for (auto k : r.getShredded()) {
    shredded.push_back(k.getCategory());
    CHECK(std::string(k.getKeyId()).size() == 32);
  }
  CHECK_THAT(shredded, Catch::Matchers::VectorContains(std::string("profile")));
  CHECK_THAT(shredded, Catch::Matchers::VectorContains(std::string("network")));
  CHECK_THAT(shredded, Catch::Matchers::VectorContains(std::string("consents")));
  CHECK_THAT(shredded, !Catch::Matchers::VectorContains(std::string("billing")));
  // profile and consents had one event each; billing's data stays readable.
  CHECK(r.getEventsUnreadable() >= 2);

  REQUIRE(r.getRetained().size() == 1);
  auto kept = r.getRetained()[0];
  CHECK(std::string(kept.getCategory()) == "billing");
  CHECK_THAT(std::string(kept.getReason()), Catch::Matchers::Contains("Accounting Act"));
  int64_t due = 0;
  RequireOk(ParseRfc3339(std::string(kept.getDueAt()), &due));
  CHECK(due > NowMicros());
}

TEST_CASE("OpenSSL verifies a deletion report's signature and rejects the report with one byte "
          "changed") {
  ErasedSubject f;
  const fs::path report = f.Write(f.Build());
  const fs::path dir = report.parent_path();
  REQUIRE(RunShell("command -v openssl >/dev/null 2>&1") == 0);
  CHECK(OpenSslVerify(dir) == 0);

  // One byte of the signed document changed; the JSON stays well-formed.
  std::string json = Slurp(report);
  const size_t at = json.find("\"customer\"");
  REQUIRE(at != std::string::npos);
  json[at + 1] = 'C';
  Spit(report, json);
  CHECK(OpenSslVerify(dir) != 0);

  Status s = Verify(report);
  INFO(s.ToString());
  CHECK(s.IsCorruption());
  CHECK_THAT(s.message(), Catch::Matchers::StartsWith("report.json.sig: signature does not verify"));
}

TEST_CASE("a deletion report whose proof, checkpoint or event claims were altered fails, naming "
          "the first thing that does not verify") {
  ErasedSubject f;
  const std::string json = f.Build().json;
  // The tlog-proof is a JSON string: its line breaks are the two characters '\' 'n'.
  const size_t index = json.find("index " + std::to_string(f.erase_seq) + "\\n");
  REQUIRE(index != std::string::npos);
  const size_t hash_line = json.find("\\n", index) + 2;
  const size_t checkpoint = json.find("\\n\\n", index) + 4;
  REQUIRE(checkpoint > hash_line);
  const size_t size_line = json.find("\\n", checkpoint) + 2;
  const size_t root_line = json.find("\\n", size_line) + 2;

  SECTION("an altered proof hash that is not signed again fails on the signature") {
    std::string bad = json;
    FlipBase64(&bad, hash_line);
    DeletionReportFiles files = f.Build();
    const fs::path report = f.Write(files, "unsigned");
    Spit(report, bad);
    Status s = Verify(report);
    INFO(s.ToString());
    CHECK(s.IsCorruption());
    CHECK_THAT(s.message(),
               Catch::Matchers::StartsWith("report.json.sig: signature does not verify"));
  }
  SECTION("an altered proof hash, signed again, fails on the inclusion proof") {
    std::string bad = json;
    FlipBase64(&bad, hash_line);
    ReportCheck check;
    Status s = Verify(f.WriteResigned(bad, "proof"), nullptr, &check);
    INFO(s.ToString());
    CHECK(s.IsCorruption());
    CHECK_THAT(s.message(), Catch::Matchers::StartsWith("inclusion proof: "));
    CHECK(check.signature_ok);
    CHECK(check.checkpoint_ok);
    CHECK_FALSE(check.proof_ok);
  }
  SECTION("an altered checkpoint root, signed again, fails on the checkpoint") {
    std::string bad = json;
    FlipBase64(&bad, root_line);
    Status s = Verify(f.WriteResigned(bad, "root"));
    INFO(s.ToString());
    CHECK(s.IsCorruption());
    CHECK_THAT(s.message(), Catch::Matchers::StartsWith("checkpoint: "));
  }
  SECTION("an altered checkpoint size, signed again, fails on the checkpoint") {
    std::string bad = json;
    REQUIRE(bad[size_line] >= '1');
    REQUIRE(bad[size_line] <= '8');
    ++bad[size_line];
    Status s = Verify(f.WriteResigned(bad, "size"));
    INFO(s.ToString());
    CHECK(s.IsCorruption());
    CHECK_THAT(s.message(), Catch::Matchers::StartsWith("checkpoint: "));
  }
  SECTION("a changed request reference, signed again, fails on the event") {
    std::string bad = json;
    const size_t at = bad.find("REQ-2026-0042");
    REQUIRE(at != std::string::npos);
    bad[at + 12] = '3';
    ReportCheck check;
    Status s = Verify(f.WriteResigned(bad, "event"), nullptr, &check);
    INFO(s.ToString());
    CHECK(s.IsCorruption());
    CHECK_THAT(s.message(), Catch::Matchers::StartsWith("event: "));
    CHECK_THAT(s.message(), Catch::Matchers::Contains("request"));
    CHECK(check.proof_ok);
    CHECK_FALSE(check.event_ok);
  }
  SECTION("a shredded category left out, signed again, fails on the event") {
    DecodedReport decoded(json);
    auto original = decoded.get().getShredded();
    REQUIRE(original.size() >= 2);
    capnp::MallocMessageBuilder message;
    message.setRoot(decoded.get());
    auto root = message.getRoot<schema::DeletionReport>();
    auto fewer = root.initShredded(original.size() - 1);
    for (unsigned i = 0; i < fewer.size(); ++i) {
      fewer[i].setCategory(original[i].getCategory());
      fewer[i].setKeyId(original[i].getKeyId());
    }
    capnp::JsonCodec codec;
    codec.setPrettyPrint(true);
    std::string bad = codec.encode(root.asReader()).cStr();
    bad += "\n";
    Status s = Verify(f.WriteResigned(bad, "fewer"));
    INFO(s.ToString());
    CHECK(s.IsCorruption());
    CHECK_THAT(s.message(), Catch::Matchers::StartsWith("event: "));
    CHECK_THAT(s.message(), Catch::Matchers::Contains("shredded"));
  }
}

// Each claim a report makes about where it comes from, altered and signed again with the
// ledger's own key (what only the ledger's holder could do): still refused, naming the claim.
TEST_CASE("a deletion report signed again over altered claims of its origin fails, naming them") {
  ErasedSubject f;
  const std::string json = f.Build().json;
  auto replaced = [&](std::string_view from, std::string_view to) {
    return testing::ReplacedOnce(json, from, to);
  };
  const std::string seq = "\"seq\": \"" + std::to_string(f.erase_seq) + "\"";
  struct Case {
    const char* name;
    std::string json;
    Status::Code code;
    const char* reason;  // the start of the message
  };
  const std::vector<Case> cases = {
      {"another format", replaced("kirjuri.deletion-report/v1", "kirjuri.deletion-report/v9"),
       Status::Code::kInvalidArgument, "report.json: format is not 'kirjuri.deletion-report/v1'"},
      {"a seq that is no number", replaced(seq, "\"seq\": \"twelve\""),
       Status::Code::kInvalidArgument, "report.json: proof.seq is not a decimal number"},
      {"another seq", replaced(seq, "\"seq\": \"" + std::to_string(f.erase_seq + 1) + "\""),
       Status::Code::kCorruption, "inclusion proof: "},
      {"another origin", replaced("\"origin\": \"", "\"origin\": \"x"),
       Status::Code::kCorruption, "checkpoint: its origin is not the report's ledger.origin"},
      {"a public key that is no key",
       replaced("-----BEGIN PUBLIC KEY-----\\n", "-----BEGIN PUBLIC KEY-----\\nAAAA"),
       Status::Code::kCorruption,
       "report.json.sig: signature does not verify: report.json holds no valid "
       "ledger.publicKeyPem"},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.name) {
      ReportCheck check;
      Status s = Verify(f.WriteResigned(c.json, "claims"), nullptr, &check);
      INFO(s.ToString());
      CHECK(s.code() == c.code);
      CHECK_THAT(s.message(), Catch::Matchers::StartsWith(c.reason));
      CHECK_FALSE((check.proof_ok && check.event_ok));
    }
  }
  SECTION("pinned to the ledger's key, a report naming another key fails, its signature good") {
    const PublicKey pinned = f.ledger->public_key();
    const std::string other = PublicKeyPem(SigningKey::Generate().public_key());
    const std::string pem_key = "\"publicKeyPem\": \"";
    std::string bad = json;
    const size_t from = bad.find(pem_key);
    REQUIRE(from != std::string::npos);
    const size_t end = bad.find('"', from + pem_key.size());
    std::string escaped;
    for (char ch : other) escaped += ch == '\n' ? std::string("\\n") : std::string(1, ch);
    bad.replace(from + pem_key.size(), end - from - pem_key.size(), escaped);
    Status s = Verify(f.WriteResigned(bad, "named"), &pinned);
    INFO(s.ToString());
    CHECK(s.IsCorruption());
    CHECK(s.message() ==
          "report.json.sig: the report names a public key other than the pinned one");
  }
}

TEST_CASE("verifying a deletion report with a pinned key other than the ledger's fails") {
  ErasedSubject f;
  const fs::path report = f.Write(f.Build());
  const PublicKey other = SigningKey::Generate().public_key();
  Status s = Verify(report, &other);
  INFO(s.ToString());
  CHECK(s.IsCorruption());
  CHECK_THAT(s.message(), Catch::Matchers::StartsWith("report.json.sig: signature does not verify"));
}

TEST_CASE("a deletion report for a subject that was never erased is NotFound") {
  ErasedSubject f;
  std::vector<Appended> other;
  f.Append(R"({"register":"customer","subject":"new","type":"recorded","category":"profile",)"
           R"("actor":"emp-0007","purpose":"service_delivery","basis":"consent",)"
           R"("source":"web_form","data":{"name":"Test Person"}})",
           &other);
  REQUIRE(other.size() == 1);
  DeletionReportFiles files;
  CHECK(BuildDeletionReport(*f.ledger, other[0].subject, std::nullopt, &files).IsNotFound());
  // Nor does naming one of its events, or the erased subject's non-erasure event, make one.
  CHECK(BuildDeletionReport(*f.ledger, other[0].subject, other[0].seq, &files).IsNotFound());
  CHECK(BuildDeletionReport(*f.ledger, f.subject, 0, &files).IsNotFound());
  CHECK(BuildDeletionReport(*f.ledger, f.subject, 1000, &files).IsNotFound());
  // A subject the ledger has never seen.
  SubjectId unknown{};
  unknown[0] = 0x42;
  CHECK(BuildDeletionReport(*f.ledger, unknown, std::nullopt, &files).IsNotFound());
}

TEST_CASE("the HTML deletion report names the subject and the verification commands and holds no "
          "personal data") {
  ErasedSubject f;
  DeletionReportFiles files = f.Build();
  const fs::path report = f.Write(files);
  const std::string html = Slurp(report.parent_path() / "report.html");
  CHECK(html == files.html);
  CHECK_THAT(html, Catch::Matchers::StartsWith("<!DOCTYPE html>"));
  CHECK_THAT(html, Catch::Matchers::Contains(SubjectIdHex(f.subject)));
  CHECK_THAT(html, Catch::Matchers::Contains(kOpenSsl));
  CHECK_THAT(html, Catch::Matchers::Contains("kirjuri verify-report report.json"));
  CHECK_THAT(html, Catch::Matchers::Contains("REQ-2026-0042"));
  CHECK_THAT(html, Catch::Matchers::Contains("billing"));
  CHECK_THAT(html, Catch::Matchers::Contains("Accounting Act"));
  CHECK_THAT(html, Catch::Matchers::Contains(NoteVerifierKey(f.ledger->origin(), f.ledger->public_key())));
  CHECK_THAT(html, Catch::Matchers::Contains("How to verify this report"));
  // Self-contained: no scripts, no external style sheets or images.
  CHECK_THAT(html, !Catch::Matchers::Contains("<script"));
  CHECK_THAT(html, !Catch::Matchers::Contains("<link"));
  CHECK_THAT(html, !Catch::Matchers::Contains("src="));
  for (const char* p : kPersonal) {
    INFO(p);
    CHECK_THAT(html, !Catch::Matchers::Contains(p));
    CHECK_THAT(files.json, !Catch::Matchers::Contains(p));
  }
}

TEST_CASE("a deletion report after a retention run covers the retention expiry") {
  ErasedSubject f;
  int64_t later = 0;
  RequireOk(ParseRfc3339("2100-01-01", &later));
  std::vector<uint64_t> seqs;
  RequireOk(f.ledger->RunRetention(later, &seqs));
  REQUIRE(seqs.size() == 1);

  DeletionReportFiles files = f.Build();
  DecodedReport decoded(files.json);
  CHECK(std::string(decoded.get().getKind()) == "retention_expired");
  CHECK(std::string(decoded.get().getProof().getSeq()) == std::to_string(seqs[0]));
  REQUIRE(decoded.get().getShredded().size() == 1);
  CHECK(std::string(decoded.get().getShredded()[0].getCategory()) == "billing");
  ReportCheck check;
  Status s = Verify(f.Write(files, "retention"), nullptr, &check);
  INFO(s.ToString());
  CHECK(s.ok());
  CHECK(check.seq == seqs[0]);

  // The erasure's own report can still be made, against the newer checkpoint.
  DeletionReportFiles erasure = f.Build(f.erase_seq);
  CHECK(std::string(DecodedReport(erasure.json).get().getKind()) == "erasure");
  CHECK(Verify(f.Write(erasure, "erasure")).ok());
}

TEST_CASE("malformed deletion report files are refused without crashing") {
  ErasedSubject f;
  DeletionReportFiles files = f.Build();
  const fs::path report = f.Write(files);
  const fs::path sig = report.parent_path() / "report.json.sig";

  SECTION("a missing report, or its signature missing: not read, which is no verdict") {
    Status s = Verify(report.parent_path() / "nothing.json");
    CHECK(s.code() == Status::Code::kIOError);
    CHECK_THAT(s.message(), Catch::Matchers::StartsWith(
                                "cannot read " + (report.parent_path() / "nothing.json").string()));
    fs::remove(sig);
    s = Verify(report);
    CHECK(s.code() == Status::Code::kIOError);
    CHECK_THAT(s.message(), Catch::Matchers::StartsWith("cannot read " + sig.string()));
  }
  SECTION("a signature of the wrong length") {
    Spit(sig, "short");
    CHECK(Verify(report).IsInvalidArgument());
  }
  SECTION("a report that is not JSON") {
    Spit(report, "{\"format\": ");
    CHECK(Verify(report).IsInvalidArgument());
  }
  SECTION("a leaf that is not an event, signed again") {
    DecodedReport decoded(files.json);
    capnp::MallocMessageBuilder message;
    message.setRoot(decoded.get());
    auto root = message.getRoot<schema::DeletionReport>();
    root.getProof().setLeaf("AAAAAAAAAAA=");  // 8 bytes: a null root pointer
    capnp::JsonCodec codec;
    std::string bad = std::string(codec.encode(root.asReader()).cStr()) + "\n";
    Status s = Verify(f.WriteResigned(bad, "leaf"));
    INFO(s.ToString());
    CHECK(s.IsCorruption());
    CHECK_THAT(s.message(), Catch::Matchers::StartsWith("inclusion proof: "));
  }
}

TEST_CASE("kirjuri verify-report exits 0 for a report that verifies, 1 for one that does not, "
          "2 for one it cannot read",
          "[cli]") {
  ErasedSubject f;
  const fs::path report = f.Write(f.Build());
  const fs::path sig = report.parent_path() / "report.json.sig";
  auto verify_report = [&](const fs::path& file, bool json = false) {
    std::vector<std::string> args = {"verify-report", file.string()};
    if (json) args.insert(args.begin(), "--json");
    RunResult r = RunKirjuri(args, f.dir);
    UNSCOPED_INFO(Describe(r));
    return r;
  };

  RunResult r = verify_report(report);
  CHECK(r.code == 0);
  CHECK(r.out.starts_with("ok: "));

  // One character of the subject changed, the signature left as it was.
  std::string json = Slurp(report);
  const std::string hex = SubjectIdHex(f.subject);
  const size_t at = json.find(hex);
  REQUIRE(at != std::string::npos);
  json[at] = json[at] == '0' ? '1' : '0';
  Spit(report, json);
  r = verify_report(report);
  CHECK(r.code == 1);
  CHECK(r.err.starts_with("kirjuri: report does not verify: "));

  fs::remove(sig);
  r = verify_report(report);
  CHECK(r.code == 2);
  CHECK(r.err == "kirjuri: cannot read " + sig.string() + ": No such file or directory\n");
  r = verify_report(report, /*json=*/true);
  CHECK(r.code == 2);
  CHECK(r.out.starts_with(R"({"ok":false,"error":"cannot read )"));
}

TEST_CASE("a deletion report whose leaf is malformed is refused without crashing, even when its "
          "checkpoint is signed by the ledger key") {
  ErasedSubject f;
  // A forger holding the ledger key can make any leaf "included": a one-event tree whose root is
  // the leaf's hash. The leaf must then still be refused as an event, never crash the verifier.
  SigningKey key;
  RequireOk(SigningKey::ReadFile(f.dir / "data" / "ledger.key", &key));
  REQUIRE(key.public_key() == f.ledger->public_key());
  const std::string origin = f.ledger->origin();
  const std::string json = f.Build().json;

  auto forged_report = [&](const std::vector<uint8_t>& leaf) {
    Checkpoint cp{origin, 1, merkle::LeafHash(leaf)};
    TlogProof proof;
    proof.index = 0;
    proof.checkpoint_note = SignNote(CheckpointBody(cp), origin, key);
    DecodedReport decoded(json);
    capnp::MallocMessageBuilder message;
    message.setRoot(decoded.get());
    auto root = message.getRoot<schema::DeletionReport>();
    root.getProof().setSeq("0");
    root.getProof().setLeaf(Base64Encode(leaf));
    root.getProof().setTlogProof(FormatTlogProof(proof));
    capnp::JsonCodec codec;
    return std::string(codec.encode(root.asReader()).cStr()) + "\n";
  };

  // First, a well-formed forgery of the genuine leaf at index 0 of a one-event tree: it reaches
  // the event check (its seq is 3, the report now claims 0).
  DecodedReport genuine(json);
  std::vector<uint8_t> real_leaf;
  RequireOk(Base64Decode(std::string(genuine.get().getProof().getLeaf()), &real_leaf));
  Status s = Verify(f.WriteResigned(forged_report(real_leaf), "forged"));
  INFO(s.ToString());
  CHECK(s.IsCorruption());
  CHECK_THAT(s.message(), Catch::Matchers::StartsWith("event: "));

  // Then leaves that are no canonical SignedEvent: empty struct, truncations, random words, and
  // the genuine leaf with words overwritten.
  std::vector<std::vector<uint8_t>> leaves;
  leaves.push_back(std::vector<uint8_t>(8, 0));
  leaves.push_back(std::vector<uint8_t>(7, 0));
  leaves.push_back({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f});
  for (size_t n = 8; n < real_leaf.size(); n += 40) {
    leaves.emplace_back(real_leaf.begin(), real_leaf.begin() + static_cast<long>(n));
  }
  uint64_t state = 0x9e3779b97f4a7c15ULL;
  auto next = [&] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  for (int i = 0; i < 40; ++i) {
    std::vector<uint8_t> leaf(8 * (1 + next() % 32));
    for (auto& b : leaf) b = static_cast<uint8_t>(next());
    leaves.push_back(leaf);
    std::vector<uint8_t> damaged = real_leaf;
    const size_t word = next() % (damaged.size() / 8);
    for (size_t j = 0; j < 8; ++j) damaged[word * 8 + j] = static_cast<uint8_t>(next());
    leaves.push_back(damaged);
  }
  int index = 0;
  for (const auto& leaf : leaves) {
    ReportCheck check;
    Status r = Verify(f.WriteResigned(forged_report(leaf), "fuzz" + std::to_string(index++)),
                      nullptr, &check);
    INFO("leaf " << index << ": " << r.ToString());
    CHECK(r.IsCorruption());
    CHECK(check.proof_ok);
    CHECK_FALSE(check.event_ok);
    CHECK_THAT(r.message(), Catch::Matchers::StartsWith("event: "));
  }
}
