// Old data stays readable: a ledger written by the first version is opened, verified and read by
// this one. tests/compat/ledger-v1/README.md says how it was made and what it holds.
#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "kirjuri/ledger.h"
#include "kirjuri/note.h"
#include "kirjuri/subject_export.h"

namespace fs = std::filesystem;
using namespace kirjuri;

namespace {

// A private copy of the stored ledger (opening it lets RocksDB write new files).
fs::path CopyOfV1Ledger() {
  char tmpl[] = "/tmp/kirjuri-compat-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  fs::path dir = fs::path(tmpl) / "data";
  fs::copy(fs::path(KIRJURI_SOURCE_DIR) / "tests/compat/ledger-v1", dir, fs::copy_options::recursive);
  // Git does not keep file modes; the ledger refuses a key file others can read.
  fs::permissions(dir / "ledger.key", fs::perms::owner_read | fs::perms::owner_write,
                  fs::perm_options::replace);
  return dir;
}

}  // namespace

TEST_CASE("a ledger written by the first version opens, verifies and reads") {
  fs::path dir = CopyOfV1Ledger();
  std::unique_ptr<Ledger> ledger;
  REQUIRE(Ledger::Open(dir, OpenOptions(), &ledger).ok());
  CHECK(ledger->size() == 18);
  CHECK(ledger->origin() == "kirjuri.test/compat-v1");

  VerifyResult result;
  Status s = ledger->Verify(VerifyOptions(), &result);
  INFO(s.ToString());
  REQUIRE(s.ok());
  CHECK(result.events == 18);
  CHECK(result.checkpoints == 3);
  CHECK(HexEncode(result.root) ==
        "d771bf9834980e44b1d1a0d9b2b862bfc43db0f48b63173d2c89081dd0b02b18");

  SubjectId subject;
  REQUIRE(ParseSubjectId("a6bba7dd60ab32178092ad7a3696d86d", &subject).ok());
  std::vector<uint64_t> seqs;
  std::vector<std::string> types;
  REQUIRE(ledger
              ->ReadSubjectEvents(subject,
                                  [&](const EventView& e) {
                                    seqs.push_back(e.seq);
                                    types.push_back(EventTypeName(
                                        e.signed_event.getEvent().getEnvelope().getType()));
                                    return Status::Ok();
                                  })
              .ok());
  CHECK(seqs == std::vector<uint64_t>{0, 6, 7, 8});
  CHECK(types == std::vector<std::string>{"recorded", "consent_given", "recorded", "recorded"});

  std::string note;
  REQUIRE(ledger->LatestCheckpoint(&note).ok());
  Checkpoint cp;
  REQUIRE(OpenCheckpoint(note, ledger->public_key(), &cp).ok());
  CHECK(cp.size == 18);
  CHECK(cp.root == result.root);
  ledger.reset();
  fs::remove_all(dir.parent_path());
}

TEST_CASE("a first-version ledger takes new appends that continue its tree") {
  fs::path dir = CopyOfV1Ledger();
  std::unique_ptr<Ledger> ledger;
  REQUIRE(Ledger::Open(dir, OpenOptions(), &ledger).ok());
  std::vector<NewEvent> events;
  REQUIRE(ledger
              ->ParseLines(R"({"register":"partner","subject":"new","type":"recorded",)"
                           R"("category":"profile","actor":"emp-0001","purpose":"partnership",)"
                           R"("basis":"legitimate_interest","source":"meeting",)"
                           R"("data":{"organisation":"Esimerkki Oy"}})",
                           &events)
              .ok());
  std::vector<Appended> appended;
  REQUIRE(ledger->Append(events, &appended).ok());
  CHECK(appended.at(0).seq == 18);
  ConsistencyProofResult proof;
  REQUIRE(ledger->ProveConsistency(18, 19, &proof).ok());
  CHECK(HexEncode(proof.first_root) ==
        "d771bf9834980e44b1d1a0d9b2b862bfc43db0f48b63173d2c89081dd0b02b18");
  CHECK(merkle::VerifyConsistency(18, 19, proof.first_root, proof.second_root, proof.hashes));
  VerifyResult result;
  CHECK(ledger->Verify(VerifyOptions(), &result).ok());
  ledger.reset();
  fs::remove_all(dir.parent_path());
}

TEST_CASE("a sealed ledger written by the first version opens, verifies and reads its data") {
  char tmpl[] = "/tmp/kirjuri-compat2-XXXXXX";
  REQUIRE(mkdtemp(tmpl) != nullptr);
  const fs::path root(tmpl);
  fs::copy(fs::path(KIRJURI_SOURCE_DIR) / "tests/compat/ledger-v2-sealed", root / "v2",
           fs::copy_options::recursive);
  for (const fs::path& key : {root / "v2/master.key", root / "v2/ledger/ledger.key"}) {
    fs::permissions(key, fs::perms::owner_read | fs::perms::owner_write, fs::perm_options::replace);
  }
  OpenOptions options;
  options.master_key_file = root / "v2/master.key";
  std::unique_ptr<Ledger> ledger;
  Status s = Ledger::Open(root / "v2/ledger", options, &ledger);
  INFO(s.ToString());
  REQUIRE(s.ok());
  VerifyResult result;
  REQUIRE(ledger->Verify(VerifyOptions(), &result).ok());
  CHECK(result.events == 13);
  CHECK(result.checkpoints == 4);
  CHECK(HexEncode(result.root) ==
        "58be21867022f8d95e2de503bb01be82092cf38f4cbe93aa6a4c7862ffcf7f36");

  SubjectId kept, erased;
  REQUIRE(ParseSubjectId("45148b8ce4d1027a45479e34502c3a58", &kept).ok());
  REQUIRE(ParseSubjectId("c509777b41181e801af7bd6390005261", &erased).ok());
  SubjectExport doc;
  REQUIRE(ExportSubject(*ledger, kept, &doc).ok());
  CHECK(doc.categories["profile"].current["email"] == "\"eetu.virtanen1@example.fi\"");
  CHECK(doc.categories["network"].current["ip"] == "\"192.0.2.2\"");
  REQUIRE(ExportSubject(*ledger, erased, &doc).ok());
  CHECK(doc.summary.erased_at_seq == std::optional<uint64_t>(12));
  CHECK(doc.categories["profile"].erased);
  CHECK(doc.categories["profile"].current.empty());
  CHECK_FALSE(doc.categories["billing"].erased);
  CHECK(doc.categories["billing"].current["order_id"] == "\"ORD-1000\"");
  ledger.reset();
  fs::remove_all(root);
}
