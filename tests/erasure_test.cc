// Sealed personal data and erasure by crypto-shredding, end to end through the Ledger API:
// nothing personal in any file of the data directory, ciphertexts bound to their place, erasure
// that really destroys keys and blocks new data, retention, rotation and a wrong master key.
#include <capnp/message.h>
#include <rocksdb/db.h>
#include <sys/stat.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "event_codec.h"
#include "kirjuri/ledger.h"
#include "kirjuri/subject_export.h"
#include "kirjuri/time.h"

namespace fs = std::filesystem;
using namespace kirjuri;

namespace {

class SealedLedger {
 public:
  SealedLedger() {
    char tmpl[] = "/tmp/kirjuri-erasure-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    root_ = tmpl;
    InitOptions init;
    init.master_key_file = master_key();
    REQUIRE(Ledger::Init(data(), init).ok());
    Open();
  }
  ~SealedLedger() {
    ledger.reset();
    fs::remove_all(root_);
  }
  fs::path data() const { return root_ / "data"; }
  fs::path master_key() const { return root_ / "master.key"; }

  void Open(const fs::path& key = {}) {
    ledger.reset();
    OpenOptions o;
    o.master_key_file = key.empty() ? master_key() : key;
    Status s = Ledger::Open(data(), o, &ledger);
    INFO(s.ToString());
    REQUIRE(s.ok());
  }

  // Appends JSON lines; returns the new subject ids in order.
  std::vector<SubjectId> Append(const std::string& lines) {
    std::vector<NewEvent> events;
    Status s = ledger->ParseLines(lines, &events);
    INFO(s.ToString());
    REQUIRE(s.ok());
    std::vector<Appended> out;
    s = ledger->Append(events, &out);
    INFO(s.ToString());
    REQUIRE(s.ok());
    std::vector<SubjectId> ids;
    for (const auto& a : out) ids.push_back(a.subject);
    return ids;
  }

  // Every file under `dir`, concatenated with its name.
  static std::map<std::string, std::string> Files(const fs::path& dir) {
    std::map<std::string, std::string> files;
    for (const auto& entry : fs::recursive_directory_iterator(dir)) {
      if (!entry.is_regular_file()) continue;
      std::ifstream in(entry.path(), std::ios::binary);
      files[entry.path().string()].assign(std::istreambuf_iterator<char>(in), {});
    }
    return files;
  }

  std::unique_ptr<Ledger> ledger;

 private:
  fs::path root_;
};

std::string Line(const std::string& subject, const std::string& type, const std::string& category,
                 const std::string& data, const std::string& extra = "") {
  std::string purpose = category == "billing" ? "service_delivery"
                        : type.starts_with("consent") ? "marketing"
                                                      : "service_delivery";
  return R"({"register":"customer","subject":")" + subject + R"(","type":")" + type +
         R"(","category":")" + category + R"(","actor":"emp-0007","purpose":")" + purpose +
         R"(","basis":"consent","source":"web_form","data":)" + data + extra + "}\n";
}

// Known, unique personal data: none of it may appear in any file of the data directory.
const char* const kPeople[][3] = {
    {"Ilmari Kirjurinen-Testi", "ilmari.kirjurinen@example.fi", "+358 40 765 4321"},
    {"Saara Sinettinen-Testi", "saara.sinettinen@example.fi", "050-9988776"},
    {"Oiva Salakirja-Testi", "oiva.salakirja@example.fi", "0405551234"},
};

std::vector<SubjectId> AddPeople(SealedLedger& t) {
  std::string lines;
  for (const auto& p : kPeople) {
    lines += Line("new", "recorded", "profile",
                  std::string(R"({"name":")") + p[0] + R"(","email":")" + p[1] +
                      R"(","phone":")" + p[2] + R"(","city":"Sysmä-Testikylä"})",
                  R"(,"ip":"198.51.100.77")");
  }
  std::vector<SubjectId> ids = t.Append(lines);
  std::string more;
  for (const SubjectId& id : ids) {
    more += Line(SubjectIdHex(id), "recorded", "billing",
                 R"({"order_id":"ORD-77-Testi","billing_address":"Kirjurinkuja 7 B 12"})");
    more += Line(SubjectIdHex(id), "consent_given", "consents", R"({"notice":"v1"})");
  }
  t.Append(more);
  return ids;
}

void CheckNoPlaintext(const fs::path& dir) {
  const std::vector<std::string> needles = {
      kPeople[0][0], kPeople[0][1], kPeople[1][0], kPeople[1][1], kPeople[2][0], kPeople[2][1],
      "765 4321", "9988776", "Sysmä-Testikylä", "Kirjurinkuja 7 B 12", "198.51.100.77"};
  for (const auto& [name, bytes] : SealedLedger::Files(dir)) {
    for (const std::string& n : needles) {
      INFO("file " << name << " holds personal data in plaintext");
      CHECK(bytes.find(n) == std::string::npos);
    }
  }
}

}  // namespace

TEST_CASE("no personal data appears in plaintext in any file of the data directory") {
  SealedLedger t;
  std::vector<SubjectId> ids = AddPeople(t);
  t.ledger.reset();  // flushes nothing special: the WAL and SSTs are checked as they are
  CheckNoPlaintext(t.data());
  t.Open();
  uint64_t seq;
  REQUIRE(t.ledger->Erase({ids[0], "REQ-1", "dpo-01", 0}, &seq).ok());
  t.ledger.reset();
  CheckNoPlaintext(t.data());
}

TEST_CASE("sealed data reads back through the subject's keys, and find uses the blind index") {
  SealedLedger t;
  std::vector<SubjectId> ids = AddPeople(t);
  SubjectExport doc;
  REQUIRE(ExportSubject(*t.ledger, ids[1], &doc).ok());
  CHECK(doc.categories["profile"].current["email"] == "\"saara.sinettinen@example.fi\"");
  CHECK(doc.categories["network"].current["ip"] == "\"198.51.100.77\"");
  CHECK(doc.consents["marketing"].given);
  CHECK(doc.history.size() == 3);

  std::vector<SubjectId> found;
  REQUIRE(t.ledger->Find(IndexKind::kEmail, " Saara.Sinettinen@EXAMPLE.fi ", &found).ok());
  CHECK(found == std::vector<SubjectId>{ids[1]});
  REQUIRE(t.ledger->Find(IndexKind::kPhone, "+358 50 998 8776", &found).ok());
  CHECK(found == std::vector<SubjectId>{ids[1]});
  REQUIRE(t.ledger->Find(IndexKind::kEmail, "nobody@example.fi", &found).ok());
  CHECK(found.empty());
}

TEST_CASE("a ciphertext moved to another event fails to open, and so does any change to it") {
  SealedLedger t;
  std::vector<SubjectId> ids = AddPeople(t);
  // Two events of the same subject under the same key: the profile event (seq 0) and a later
  // profile rectification.
  t.Append(Line(SubjectIdHex(ids[0]), "rectified", "profile", R"({"city":"Muutettu-Testi"})"));
  const uint64_t last = t.ledger->size() - 1;

  capnp::MallocMessageBuilder first_copy, last_copy;
  REQUIRE(t.ledger->ReadEvents(0, 1, [&](const EventView& e) {
    first_copy.setRoot(e.signed_event);
    return Status::Ok();
  }).ok());
  REQUIRE(t.ledger->ReadEvents(last, last + 1, [&](const EventView& e) {
    last_copy.setRoot(e.signed_event);
    return Status::Ok();
  }).ok());
  auto first = first_copy.getRoot<schema::SignedEvent>();
  auto later = last_copy.getRoot<schema::SignedEvent>();

  std::vector<FieldValue> values;
  SECTION("the untouched event opens") {
    REQUIRE(t.ledger->ReadFields(EventView{last, {}, later.asReader()}, &values).ok());
    CHECK(values.at(0).json == std::optional<std::string>("\"Muutettu-Testi\""));
  }
  SECTION("sealed data moved from another event does not open") {
    // The first event's profile group (same subject, same key) put into the later event: the
    // envelope is bound as associated data, so it does not open there.
    auto from = first.getEvent().getSealed()[0];
    auto to = later.getEvent().getSealed()[0];
    to.setNonce(from.getNonce());
    to.setCiphertext(from.getCiphertext());
    CHECK(t.ledger->ReadFields(EventView{last, {}, later.asReader()}, &values).IsCorruption());
    to.setNames(from.getNames());  // even with the names it was sealed with
    CHECK(t.ledger->ReadFields(EventView{last, {}, later.asReader()}, &values).IsCorruption());
  }
  SECTION("renamed or reordered fields do not open") {
    auto names = first.getEvent().getSealed()[0].getNames();
    REQUIRE(names.size() >= 2);
    std::string a = names[0].cStr(), b = names[1].cStr();
    names.set(0, b);
    names.set(1, a);
    CHECK(t.ledger->ReadFields(EventView{0, {}, first.asReader()}, &values).IsCorruption());
    names.set(0, "title");
    names.set(1, a);
    CHECK(t.ledger->ReadFields(EventView{0, {}, first.asReader()}, &values).IsCorruption());
  }
  SECTION("a flipped ciphertext bit does not open") {
    auto ct = first.getEvent().getSealed()[0].getCiphertext();
    ct[3] ^= 0x01;
    CHECK(t.ledger->ReadFields(EventView{0, {}, first.asReader()}, &values).IsCorruption());
  }
}

TEST_CASE("erasure shreds keys, keeps billing under its duty, and refuses new data") {
  SealedLedger t;
  std::vector<SubjectId> ids = AddPeople(t);
  const SubjectId erased = ids[0];
  const uint64_t before = t.ledger->size();
  uint64_t seq = 0;
  REQUIRE(t.ledger->Erase({erased, "REQ-2026-7", "dpo-01", 0}, &seq).ok());
  CHECK(seq == before);

  SECTION("the log keeps every event and still verifies") {
    VerifyResult r;
    CHECK(t.ledger->Verify(VerifyOptions(), &r).ok());
    CHECK(r.events == before + 1);
    uint64_t count = 0;
    REQUIRE(t.ledger->ReadSubjectEvents(erased, [&](const EventView&) {
      ++count;
      return Status::Ok();
    }).ok());
    CHECK(count == 4);  // profile, billing, consent, subjectErased
  }
  SECTION("export shows the person as erased, billing still readable") {
    SubjectExport doc;
    REQUIRE(ExportSubject(*t.ledger, erased, &doc).ok());
    CHECK(doc.summary.erased_at_seq == std::optional<uint64_t>(seq));
    CHECK(doc.categories["profile"].erased);
    CHECK(doc.categories["profile"].current.empty());
    CHECK(doc.categories["network"].erased);
    CHECK_FALSE(doc.categories["billing"].erased);
    CHECK(doc.categories["billing"].current["order_id"] == "\"ORD-77-Testi\"");
    // What reading the export read (its access record): never a category whose key is gone.
    const std::vector<std::string> read = doc.CategoryNames();
    CHECK(std::find(read.begin(), read.end(), "billing") != read.end());
    CHECK(std::find(read.begin(), read.end(), "profile") == read.end());
    CHECK(std::find(read.begin(), read.end(), "network") == read.end());
    // Other people are untouched.
    SubjectExport other;
    REQUIRE(ExportSubject(*t.ledger, ids[1], &other).ok());
    CHECK(other.categories["profile"].current.count("name") == 1);
  }
  SECTION("the blind index no longer finds the person") {
    std::vector<SubjectId> found;
    REQUIRE(t.ledger->Find(IndexKind::kEmail, kPeople[0][1], &found).ok());
    CHECK(found.empty());
  }
  SECTION("new data for the erased subject is refused, and so is a second erasure") {
    std::vector<NewEvent> events;
    REQUIRE(t.ledger->ParseLines(Line(SubjectIdHex(erased), "recorded", "profile",
                                      R"({"city":"Takaisin"})"),
                                 &events).ok());
    std::vector<Appended> out;
    Status s = t.ledger->Append(events, &out);
    CHECK(s.IsInvalidArgument());
    CHECK(s.message().find("erased") != std::string::npos);
    CHECK(t.ledger->size() == before + 1);
    uint64_t again;
    CHECK(t.ledger->Erase({erased, "REQ-2026-8", "dpo-01", 0}, &again).code() ==
          Status::Code::kFailedPrecondition);
    SubjectId unknown{};
    unknown[0] = 1;
    CHECK(t.ledger->Erase({unknown, "REQ-2026-9", "dpo-01", 0}, &again).IsNotFound());
  }
  SECTION("the erasure event names what was shredded and what was kept") {
    REQUIRE(t.ledger->ReadEvents(seq, seq + 1, [&](const EventView& e) {
      auto env = e.signed_event.getEvent().getEnvelope();
      CHECK(env.getType() == schema::EventType::SUBJECT_ERASED);
      CHECK(std::string(env.getRequest().cStr()) == "REQ-2026-7");
      auto erasure = e.signed_event.getEvent().getErasure();
      std::vector<std::string> shredded;
      for (auto k : erasure.getShredded()) shredded.push_back(k.getCategory());
      CHECK(shredded == std::vector<std::string>{"consents", "network", "profile"});
      REQUIRE(erasure.getRetained().size() == 1);
      CHECK(std::string(erasure.getRetained()[0].getCategory().cStr()) == "billing");
      CHECK(std::string(erasure.getRetained()[0].getReason().cStr()).find("1336/1997") !=
            std::string::npos);
      CHECK(erasure.getEventsUnreadable() == 2);
      CHECK(erasure.getKeyStoreFilesChecked() > 0);
      return Status::Ok();
    }).ok());
  }
  SECTION("retention run shreds billing only once it is due") {
    int64_t due = 0;
    REQUIRE(t.ledger->ReadEvents(seq, seq + 1, [&](const EventView& e) {
      due = e.signed_event.getEvent().getErasure().getRetained()[0].getDueAtMicros();
      return Status::Ok();
    }).ok());
    CHECK(due > NowMicros() + int64_t{5} * 365 * 86400 * 1000000);
    std::vector<uint64_t> seqs;
    REQUIRE(t.ledger->RunRetention(due - 1, &seqs).ok());
    CHECK(seqs.empty());
    REQUIRE(t.ledger->RunRetention(due, &seqs).ok());
    REQUIRE(seqs.size() == 1);
    SubjectExport doc;
    REQUIRE(ExportSubject(*t.ledger, erased, &doc).ok());
    CHECK(doc.categories["billing"].erased);
    REQUIRE(t.ledger->RunRetention(due + 1, &seqs).ok());
    CHECK(seqs.empty());  // nothing is shredded twice
    VerifyResult r;
    CHECK(t.ledger->Verify(VerifyOptions(), &r).ok());
  }
}

TEST_CASE("a wrong master key opens nothing and writes nothing") {
  SealedLedger t;
  AddPeople(t);
  t.ledger.reset();
  auto before = SealedLedger::Files(t.data());
  fs::path wrong = t.data().parent_path() / "wrong.key";
  {
    std::unique_ptr<Ledger> unused;
    InitOptions other;  // a ledger elsewhere makes a real, different master key file
    other.master_key_file = wrong;
    REQUIRE(Ledger::Init(t.data().parent_path() / "other", other).ok());
  }
  OpenOptions o;
  o.master_key_file = wrong;
  std::unique_ptr<Ledger> ledger;
  Status s = Ledger::Open(t.data(), o, &ledger);
  CHECK_FALSE(s.ok());
  CHECK(s.message().find("master key") != std::string::npos);
  CHECK(SealedLedger::Files(t.data()) == before);
  o.master_key_file = t.data().parent_path() / "missing.key";
  s = Ledger::Open(t.data(), o, &ledger);
  CHECK(s.IsNotFound());
  CHECK(SealedLedger::Files(t.data()) == before);
}

TEST_CASE("after master-key rotation only the new key opens the ledger, with the same data") {
  SealedLedger t;
  std::vector<SubjectId> ids = AddPeople(t);
  fs::path fresh = t.data().parent_path() / "fresh.key";
  REQUIRE(t.ledger->RotateMasterKey(fresh).ok());
  t.ledger.reset();
  OpenOptions o;
  o.master_key_file = t.master_key();
  std::unique_ptr<Ledger> ledger;
  CHECK_FALSE(Ledger::Open(t.data(), o, &ledger).ok());
  t.Open(fresh);
  SubjectExport doc;
  REQUIRE(ExportSubject(*t.ledger, ids[2], &doc).ok());
  CHECK(doc.categories["profile"].current["name"] == "\"Oiva Salakirja-Testi\"");
}

TEST_CASE("after erasure no file under DATA/keys holds the subject's key ids") {
  SealedLedger t;
  std::vector<SubjectId> ids = AddPeople(t);
  uint64_t seq;
  REQUIRE(t.ledger->Erase({ids[2], "REQ-3", "dpo-01", 0}, &seq).ok());
  std::vector<std::string> shredded_ids;
  REQUIRE(t.ledger->ReadEvents(seq, seq + 1, [&](const EventView& e) {
    for (auto k : e.signed_event.getEvent().getErasure().getShredded()) {
      shredded_ids.emplace_back(reinterpret_cast<const char*>(k.getKeyId().begin()),
                                k.getKeyId().size());
    }
    return Status::Ok();
  }).ok());
  REQUIRE(shredded_ids.size() == 3);
  t.ledger.reset();
  for (const auto& [name, bytes] : SealedLedger::Files(t.data() / "keys")) {
    for (const std::string& id : shredded_ids) {
      INFO("file " << name << " still holds a shredded key id");
      CHECK(bytes.find(id) == std::string::npos);
    }
  }
}

TEST_CASE("an erasure interrupted after its plan was recorded is finished on the next open") {
  SealedLedger t;
  std::vector<SubjectId> ids = AddPeople(t);
  const SubjectId subject = ids[1];
  // The profile key id, from the sealed field of the subject's first event.
  std::string profile_key;
  REQUIRE(t.ledger->ReadSubjectEvents(subject, [&](const EventView& e) {
    auto env = e.signed_event.getEvent().getEnvelope();
    if (std::string(env.getCategory().cStr()) == "profile") {
      profile_key.assign(reinterpret_cast<const char*>(env.getKeyId().begin()),
                         env.getKeyId().size());
    }
    return Status::Ok();
  }).ok());
  REQUIRE(profile_key.size() == 16);
  const uint64_t size = t.ledger->size();
  t.ledger.reset();

  // What Erase writes before it destroys anything, as a crash right after it would leave it.
  capnp::MallocMessageBuilder message;
  auto plan = message.initRoot<schema::PendingErasure>();
  plan.setSubject(kj::arrayPtr(subject.data(), subject.size()));
  plan.setType(schema::EventType::SUBJECT_ERASED);
  plan.setRequest("REQ-CRASH");
  plan.setActor("dpo-01");
  plan.setRequestReceivedAtMicros(NowMicros());
  plan.setRemoveIndex(true);
  auto shred = plan.initShred(1);
  shred[0].setCategory("profile");
  shred[0].setKeyId(kj::arrayPtr(reinterpret_cast<const uint8_t*>(profile_key.data()), 16));
  auto words = capnp::canonicalize(plan.asReader());
  {
    rocksdb::Options options;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    std::vector<std::string> names;
    REQUIRE(rocksdb::DB::ListColumnFamilies(options, (t.data() / "log").string(), &names).ok());
    for (const auto& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    rocksdb::DB* raw = nullptr;
    REQUIRE(rocksdb::DB::Open(options, (t.data() / "log").string(), cfs, &handles, &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    std::string key = "pending-erasure/" + std::string(reinterpret_cast<const char*>(subject.data()), 16);
    auto bytes = words.asBytes();
    REQUIRE(db->Put(rocksdb::WriteOptions(), handles[0], key,
                    rocksdb::Slice(reinterpret_cast<const char*>(bytes.begin()), bytes.size()))
                .ok());
    for (auto* h : handles) REQUIRE(db->DestroyColumnFamilyHandle(h).ok());
  }

  t.Open();
  CHECK(t.ledger->size() == size + 1);
  SubjectSummary summary;
  REQUIRE(t.ledger->GetSubject(subject, &summary).ok());
  CHECK(summary.erased_at_seq == std::optional<uint64_t>(size));
  SubjectExport doc;
  REQUIRE(ExportSubject(*t.ledger, subject, &doc).ok());
  CHECK(doc.categories["profile"].erased);
  VerifyResult r;
  CHECK(t.ledger->Verify(VerifyOptions(), &r).ok());
  t.Open();  // and only once
  CHECK(t.ledger->size() == size + 1);
}
