// Ledger::Backup: a consistent copy of a live ledger, taken while another thread appends, that
// opens on its own with the same master key, verifies, and reads what the ledger held then —
// without the master key in it.
#include <sodium.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>
#include <thread>

#include "ledger_fixture.h"

using namespace kirjuri;
using namespace kirjuri::test;

namespace {

// Every byte of every regular file under `dir`, concatenated.
std::string AllBytes(const fs::path& dir) {
  std::string all;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::ifstream in(entry.path(), std::ios::binary);
    all.append(std::istreambuf_iterator<char>(in), {});
  }
  return all;
}

// The raw 32 bytes of a master key file ("kirjuri-master-key-v1 <base64>").
std::string MasterKeyBytes(const fs::path& file) {
  std::ifstream in(file);
  std::string tag, b64;
  in >> tag >> b64;
  std::string raw(32, '\0');
  size_t len = 0;
  REQUIRE(sodium_base642bin(reinterpret_cast<unsigned char*>(raw.data()), raw.size(), b64.data(),
                            b64.size(), nullptr, &len, nullptr,
                            sodium_base64_VARIANT_ORIGINAL) == 0);
  REQUIRE(len == 32);
  return raw;
}

}  // namespace

TEST_CASE("a backup taken while appends run opens on its own, verifies and reads as then",
          "[ledger]") {
  LedgerFixture f;
  f.InitAndOpen();
  const std::vector<Appended> people = f.AppendN(40, 10);
  uint64_t erased_seq = 0;
  REQUIRE(f.ledger().Erase({people[0].subject, "REQ-B1", "dpo-01", 0}, &erased_seq).ok());

  std::atomic<bool> stop{false};
  std::atomic<int> appended{0}, failures{0};
  std::thread writer([&] {
    for (uint64_t n = 1000; !stop; n += 20) {
      std::vector<NewEvent> events;
      for (uint64_t i = 0; i < 20; ++i) events.push_back(ValidEvent(n + i));
      std::vector<Appended> out;
      if (f.ledger().Append(events, &out).ok()) ++appended; else ++failures;
    }
  });
  while (appended < 3) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const fs::path backup = f.tmp().path() / "backup-1";
  BackupResult result;
  const Status s = f.ledger().Backup(backup, &result);
  const int before = appended;
  while (appended <= before && failures == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  stop = true;
  writer.join();
  INFO(s.ToString());
  REQUIRE(s.ok());
  REQUIRE(failures == 0);
  CHECK(result.size >= 41 + 3 * 20);
  CHECK(result.size < f.ledger().size());  // appends went on after it

  // What is in it: the log, the key store, the ledger key (0600); no views, no master key.
  CHECK(fs::is_directory(backup / "log"));
  CHECK(fs::is_directory(backup / "keys"));
  CHECK_FALSE(fs::exists(backup / "views"));
  CHECK((fs::status(backup).permissions() & (fs::perms::group_all | fs::perms::others_all)) ==
        fs::perms::none);
  CHECK((fs::status(backup / "ledger.key").permissions() &
         (fs::perms::group_all | fs::perms::others_all)) == fs::perms::none);
  const fs::path master = DefaultMasterKeyPath(f.data());
  CHECK(AllBytes(backup).find(MasterKeyBytes(master)) == std::string::npos);

  // It opens with the same master key as a ledger of its own, at the size it was taken at.
  OpenOptions options;
  options.master_key_file = master;
  std::unique_ptr<Ledger> copy;
  const Status opened = Ledger::Open(backup, options, &copy);
  INFO(opened.ToString());
  REQUIRE(opened.ok());
  CHECK(copy->size() == result.size);
  std::string note;
  REQUIRE(copy->LatestCheckpoint(&note).ok());
  CHECK(note == result.checkpoint);
  VerifyResult verified;
  const Status v = copy->Verify({}, &verified);
  INFO(v.ToString());
  CHECK(v.ok());
  CHECK(verified.events == result.size);

  // The data reads as it did: a kept person's name opens; the erased person stays erased.
  std::vector<FieldValue> fields;
  REQUIRE(copy->ReadSubjectEvents(people[1].subject, [&](const EventView& e) {
    return copy->ReadFields(e, &fields);
  }).ok());
  REQUIRE(fields.size() == 1);
  REQUIRE(fields[0].json);
  CHECK(*fields[0].json == "\"" + PersonName(1) + "\"");
  SubjectSummary erased;
  REQUIRE(copy->GetSubject(people[0].subject, &erased).ok());
  CHECK(erased.erased_at_seq == erased_seq);

  // A point in time: the live ledger goes on, the copy stays where it was.
  f.AppendN(5);
  CHECK(copy->size() == result.size);
}

TEST_CASE("a backup of a ledger with no event yet opens and verifies", "[ledger]") {
  LedgerFixture f;
  f.InitAndOpen();
  const fs::path backup = f.tmp().path() / "backup-empty";
  BackupResult result;
  REQUIRE(f.ledger().Backup(backup, &result).ok());
  CHECK(result.size == 0);
  OpenOptions options;
  options.master_key_file = DefaultMasterKeyPath(f.data());
  std::unique_ptr<Ledger> copy;
  const Status opened = Ledger::Open(backup, options, &copy);
  INFO(opened.ToString());
  REQUIRE(opened.ok());
  CHECK(copy->size() == 0);
  VerifyResult verified;
  CHECK(copy->Verify({}, &verified).ok());
}

TEST_CASE("a backup refuses a directory that exists, lies inside the data directory or has no "
          "parent, and writes nothing there",
          "[ledger]") {
  LedgerFixture f;
  f.InitAndOpen();
  f.AppendN(3);
  BackupResult r;
  const fs::path taken = f.tmp().path() / "taken";
  fs::create_directory(taken);
  CHECK(f.ledger().Backup(taken, &r).IsInvalidArgument());
  CHECK(fs::is_empty(taken));
  CHECK(f.ledger().Backup(f.data() / "backup", &r).IsInvalidArgument());
  CHECK_FALSE(fs::exists(f.data() / "backup"));
  CHECK(f.ledger().Backup(f.data() / "log" / "backup", &r).IsInvalidArgument());
  CHECK(f.ledger().Backup(f.tmp().path() / "no-such" / "backup", &r).IsInvalidArgument());
  CHECK_FALSE(fs::exists(f.tmp().path() / "no-such"));
  // The ledger is as it was.
  CHECK(f.ledger().size() == 3);
  VerifyResult verified;
  CHECK(f.ledger().Verify({}, &verified).ok());
}
