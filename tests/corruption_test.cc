// Damage to the files themselves (issue 7, item 4): bits flipped inside RocksDB's own files (the
// log's and the key store's table files and MANIFESTs, the log's write-ahead log), files cut short
// (a table file, the write-ahead log, the checkpoint copy beside the log), a key-store entry
// replaced, the key store's write-ahead log damaged and the key store restored from an older copy.
// Unlike the tamper tests of ledger_test.cc, which rewrite values through RocksDB with its
// checksums valid, these change bytes on disk the way a failing disk, a bad copy or a careless hand
// does. Each must be refused on open or by `verify`, naming the file, the sequence number or the
// subject; never a crash, never a shorter log taken for the whole one.
#include <rocksdb/db.h>
#include <rocksdb/metadata.h>
#include <rocksdb/options.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "kirjuri/ledger.h"
#include "ledger_fixture.h"

namespace kirjuri::test {
namespace {

using testing::CompleteLines;

bool Contains(std::string_view s, std::string_view part) {
  return s.find(part) != std::string_view::npos;
}

void RequireOk(const Status& s, std::string_view what) {
  INFO(what << ": " << s.ToString());
  REQUIRE(s.ok());
}

// The files of the RocksDB in `dir` whose name ends with `suffix`, by name.
std::vector<fs::path> FilesEnding(const fs::path& dir, std::string_view suffix) {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().filename().string().ends_with(suffix)) {
      out.push_back(entry.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

// The live table files of column family `cf` of the RocksDB in `dir` (opened read-only).
std::vector<fs::path> TableFilesOf(const fs::path& dir, std::string_view cf) {
  rocksdb::DBOptions options;
  std::vector<std::string> names;
  rocksdb::Status s = rocksdb::DB::ListColumnFamilies(options, dir.string(), &names);
  INFO(s.ToString());
  REQUIRE(s.ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const std::string& name : names) cfs.emplace_back(name, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  s = rocksdb::DB::OpenForReadOnly(options, dir.string(), cfs, &handles, &raw);
  INFO(s.ToString());
  REQUIRE(s.ok());
  std::vector<rocksdb::LiveFileMetaData> files;
  raw->GetLiveFilesMetaData(&files);
  for (auto* h : handles) raw->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  delete raw;
  std::vector<fs::path> out;
  for (const auto& f : files) {
    if (f.column_family_name == cf) out.push_back(fs::path(f.db_path) / fs::path(f.name).relative_path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void FlipBit(const fs::path& p, uint64_t offset, int bit) {
  std::fstream io(p, std::ios::binary | std::ios::in | std::ios::out);
  REQUIRE(io.good());
  io.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  io.read(&c, 1);
  REQUIRE(io.good());
  c = static_cast<char>(c ^ (1 << bit));
  io.seekp(static_cast<std::streamoff>(offset));
  io.write(&c, 1);
  REQUIRE(io.good());
}

void Truncate(const fs::path& p, uint64_t size) {
  REQUIRE(fs::file_size(p) > size);
  fs::resize_file(p, size);
}

// A refusal as promised: not OK, one line, no personal data, and naming `named`.
void CheckRefusal(const Status& s, std::string_view named) {
  INFO(s.ToString());
  CHECK_FALSE(s.ok());
  CHECK_FALSE(Contains(s.message(), "\n"));
  CHECK_FALSE(Contains(s.message(), "Test Person"));
  CHECK(Contains(s.message(), named));
}

// `kirjuri verify` on the fixture's ledger: exit 1 and a last line "kirjuri: <reason>" naming
// `named`. (Before it, the ledger may log at warning level that it was opened without its check
// on open, which `verify` skips so as to name the fault itself.)
void CheckVerifyCommandRefuses(const LedgerFixture& f, std::string_view named) {
  RunResult r = RunKirjuri({"--data", f.data().string(), "verify"}, f.tmp().path());
  INFO(Describe(r));
  CHECK(r.code == 1);
  const std::vector<std::string> lines = CompleteLines(r.err);
  REQUIRE_FALSE(lines.empty());
  CHECK(lines.back().starts_with("kirjuri: "));
  CHECK(Contains(lines.back(), named));
  for (size_t i = 0; i + 1 < lines.size(); ++i) {
    CHECK(Contains(lines[i], " warning ledger opened without its check: "));
  }
  CHECK_FALSE(Contains(r.err, "Test Person"));
}

// A ledger of `events` events in the fixture, closed, with everything in table files: each open
// flushes what the write-ahead log recovered, and nothing is written after the last one.
void MakeLedgerInTables(LedgerFixture& f, uint64_t events) {
  f.InitAndOpen();
  f.AppendN(events, 6);
  f.Reopen();
  f.Close();
}

// Open, then (if that worked) verify: the first refusal.
Status OpenAndVerify(LedgerFixture& f) {
  Status s = f.Open();
  if (s.ok()) s = f.Verify().first;
  f.Close();
  return s;
}

// Every stored event's bytes, and each one's personal data as it opens, in order.
std::vector<std::string> ReadAll(LedgerFixture& f) {
  f.Reopen();
  std::vector<std::string> out;
  RequireOk(f.ledger().ReadEvents(0, f.ledger().size(), [&](const EventView& e) {
    std::string item(reinterpret_cast<const char*>(e.leaf.data()), e.leaf.size());
    std::vector<FieldValue> values;
    KIRJURI_RETURN_IF_ERROR(f.ledger().ReadFields(e, &values));
    for (const FieldValue& v : values) item += "|" + v.name + "=" + v.json.value_or("(none)");
    out.push_back(std::move(item));
    return Status::Ok();
  }), "reading every event");
  f.Close();
  return out;
}

TEST_CASE("a bit flipped inside a table file of the log is named by verify: the file, not a "
          "forged event", "[corruption]") {
  LedgerFixture f;
  MakeLedgerInTables(f, 120);
  const std::vector<fs::path> tables = TableFilesOf(f.log_dir(), kEventsCf);
  REQUIRE(tables.size() == 1);
  const fs::path table = tables[0];
  // Inside the data blocks, which come first in a table file.
  FlipBit(table, fs::file_size(table) / 3, 5);

  Status s = f.Open();
  if (s.ok()) s = f.Verify().first;
  CHECK(s.IsCorruption());
  CheckRefusal(s, table.filename().string());
  f.Close();
  CheckVerifyCommandRefuses(f, table.filename().string());
}

// The offset of the last byte of table file `table`'s properties block, found without Kirjuri's
// code: RocksDB 7.8 writes that block (and its 5-byte trailer) just before the metaindex block,
// whose offset is the first varint after the checksum-type byte of the 53-byte footer. The last
// byte is the top byte of the block's restart count, whose top bit marks a block carrying a hash
// index: set, the parser reads a bucket count of 0 and RocksDB's assertion aborts the process.
uint64_t PropertiesBlockLastByte(const fs::path& table) {
  const std::string bytes = ReadFile(table);
  REQUIRE(bytes.size() > 53);
  uint64_t metaindex = 0;
  for (size_t i = bytes.size() - 52, shift = 0;; ++i, shift += 7) {
    metaindex |= static_cast<uint64_t>(bytes[i] & 0x7f) << shift;
    if ((bytes[i] & 0x80) == 0) break;
  }
  REQUIRE(metaindex > 64);
  const uint64_t last = metaindex - 5 - 1;
  // As RocksDB wrote it: the last property (rocksdb.raw.value.size, by name order; its name
  // delta-encoded) with its value, a restart offset or two, a restart count below 2^24, and the
  // trailer's "no compression".
  const size_t name = bytes.rfind("value.size", last);
  REQUIRE(name != std::string::npos);
  CHECK(name + 64 > last);
  CHECK(bytes[last] == 0);
  CHECK(bytes[last + 1] == 0);
  return last;
}

TEST_CASE("a bit flipped in a table file's properties block (which RocksDB parses before "
          "checking it) is refused on open, naming the file, never an abort", "[corruption]") {
  for (const char* store : {"log", "keys"}) {
    INFO("the store in " << store);
    LedgerFixture f;
    MakeLedgerInTables(f, 30);
    const std::vector<fs::path> tables = FilesEnding(f.data() / store, ".sst");
    REQUIRE_FALSE(tables.empty());
    const fs::path table = tables.back();
    FlipBit(table, PropertiesBlockLastByte(table), 7);

    Status s = f.Open();
    CHECK(s.IsCorruption());
    CheckRefusal(s, table.filename().string() + " is damaged: its properties block fails its "
                    "checksum");
    f.Close();
    CheckVerifyCommandRefuses(f, table.filename().string());
  }
}

TEST_CASE("bits flipped anywhere in the table files and MANIFESTs of the log and the key store "
          "are refused on open or by verify, never a crash", "[corruption]") {
  LedgerFixture pristine;
  MakeLedgerInTables(pristine, 60);
  // Read first: opening writes a new MANIFEST (and obsoletes the old one).
  const std::vector<std::string> events = ReadAll(pristine);
  REQUIRE(events.size() == 60);
  std::vector<fs::path> files;
  for (const char* store : {"log", "keys"}) {
    for (const fs::path& file : FilesEnding(pristine.data() / store, "")) {
      const std::string name = file.filename().string();
      if (name.ends_with(".sst") || name.starts_with("MANIFEST-")) {
        files.push_back(file.lexically_relative(pristine.data()));
      }
    }
  }
  // A table file per column family of each store, and their MANIFESTs.
  REQUIRE(files.size() >= 8);
  std::mt19937 rng(std::random_device{}());
  const int flips_per_file = testing::kSanitized ? 3 : 6;
  std::map<std::string, int> outcomes;
  for (const fs::path& original : files) {
    for (int i = 0; i < flips_per_file; ++i) {
      LedgerFixture f;
      fs::copy(pristine.data(), f.data(), fs::copy_options::recursive);
      fs::copy_file(DefaultMasterKeyPath(pristine.data()), DefaultMasterKeyPath(f.data()));
      const fs::path damaged = f.data() / original;
      const uint64_t offset =
          std::uniform_int_distribution<uint64_t>(0, fs::file_size(damaged) - 1)(rng);
      const int bit = std::uniform_int_distribution<int>(0, 7)(rng);
      INFO(original.string() << ": bit " << bit << " of byte " << offset << " of "
                              << fs::file_size(damaged));
      FlipBit(damaged, offset, bit);
      Status s = OpenAndVerify(f);
      INFO(s.ToString());
      if (s.ok()) {
        // A bit no data depends on (the padding of a table file's footer): accepted only if
        // the log reads exactly as before, which is what verify passing promises.
        CHECK(ReadAll(f) == events);
        ++outcomes["accepted: the log reads as before"];
      } else {
        CHECK_FALSE(Contains(s.message(), "\n"));
        CHECK((s.IsCorruption() || s.code() == Status::Code::kIOError));
        ++outcomes[s.IsCorruption() ? "refused: corruption" : "refused: other"];
      }
    }
  }
  for (const auto& [what, n] : outcomes) WARN(what << ": " << n);
}

TEST_CASE("a bit flipped in the write-ahead log, losing acknowledged appends, is refused on open "
          "and by verify, again and again", "[corruption]") {
  LedgerFixture f;
  f.InitAndOpen();
  f.AppendN(12, 6);
  f.Reopen();  // those 12 in table files; what follows stays in the write-ahead log
  f.AppendN(48, 6);
  f.Close();  // with the write-ahead log on, closing flushes nothing
  const std::vector<fs::path> wals = FilesEnding(f.log_dir(), ".log");
  REQUIRE(wals.size() == 1);
  const uint64_t wal_size = fs::file_size(wals[0]);
  REQUIRE(wal_size > 8 * 1024);
  FlipBit(wals[0], wal_size / 2, 3);

  for (int attempt = 0; attempt < 2; ++attempt) {
    INFO("attempt " << attempt);
    Status s = f.Open();
    CHECK(s.IsCorruption());
    CheckRefusal(s, "acknowledged events were lost");
    CHECK(Contains(s.message(), "covers 60"));
    f.Close();
    CheckVerifyCommandRefuses(f, "acknowledged events were lost");
  }
}

TEST_CASE("a write-ahead log cut short, losing acknowledged appends, is refused",
          "[corruption]") {
  LedgerFixture f;
  f.InitAndOpen();
  f.AppendN(30, 5);
  f.Close();
  const std::vector<fs::path> wals = FilesEnding(f.log_dir(), ".log");
  REQUIRE(wals.size() == 1);
  Truncate(wals[0], fs::file_size(wals[0]) * 3 / 5);
  Status s = f.Open();
  CHECK(s.IsCorruption());
  CheckRefusal(s, "acknowledged events were lost");
  CHECK(Contains(s.message(), "covers 30"));
  f.Close();
  CheckVerifyCommandRefuses(f, "acknowledged events were lost");
}

TEST_CASE("a bit flipped in the MANIFEST of the log is refused on open, naming it",
          "[corruption]") {
  LedgerFixture f;
  MakeLedgerInTables(f, 30);
  std::string manifest = ReadFile(f.log_dir() / "CURRENT");
  REQUIRE(manifest.ends_with('\n'));
  manifest.pop_back();
  REQUIRE(manifest.starts_with("MANIFEST-"));
  const fs::path path = f.log_dir() / manifest;
  FlipBit(path, fs::file_size(path) / 2, 1);
  Status s = f.Open();
  CHECK(s.IsCorruption());
  CheckRefusal(s, manifest);
  f.Close();
  CheckVerifyCommandRefuses(f, manifest);
}

TEST_CASE("a table file of the log cut short is refused on open, naming it", "[corruption]") {
  LedgerFixture f;
  MakeLedgerInTables(f, 60);
  const std::vector<fs::path> tables = TableFilesOf(f.log_dir(), kEventsCf);
  REQUIRE(tables.size() == 1);
  Truncate(tables[0], fs::file_size(tables[0]) / 2);
  Status s = f.Open();
  CHECK(s.IsCorruption());
  CheckRefusal(s, tables[0].filename().string());
  f.Close();
  CheckVerifyCommandRefuses(f, tables[0].filename().string());
}

TEST_CASE("the checkpoint copy beside the log cut short is refused on open and by verify",
          "[corruption]") {
  LedgerFixture f;
  f.InitAndOpen();
  f.AppendN(10, 2);
  f.Close();
  const fs::path copy = f.data() / "checkpoint";
  Truncate(copy, fs::file_size(copy) - 20);
  Status s = f.Open();
  CHECK(s.IsCorruption());
  CheckRefusal(s, "checkpoint");
  f.Close();
  CheckVerifyCommandRefuses(f, "checkpoint");
}

TEST_CASE("a bit flipped in the key store's write-ahead log, losing keys the log relies on, is "
          "refused on open and by verify", "[corruption]") {
  LedgerFixture f;
  f.InitAndOpen();
  f.AppendN(12, 6);
  f.Reopen();  // their keys in table files; the keys of what follows stay in the write-ahead log
  f.AppendN(48, 6);
  f.Close();
  const std::vector<fs::path> wals = FilesEnding(f.data() / "keys", ".log");
  REQUIRE(wals.size() == 1);
  const uint64_t wal_size = fs::file_size(wals[0]);
  REQUIRE(wal_size > 4 * 1024);
  // RocksDB's recovery stops at the damaged record and drops every write after it: without the
  // log's record of the key store, the people whose keys those were would read as erased.
  FlipBit(wals[0], wal_size / 2, 5);

  Status s = f.Open();
  CHECK(s.IsCorruption());
  CheckRefusal(s, "key store");
  CHECK(Contains(s.message(), "lost writes"));
  f.Close();
  CheckVerifyCommandRefuses(f, "lost writes the log relies on");
}

TEST_CASE("a key store restored from an older copy is refused on open and by verify, and the log's "
          "own copy still opens", "[corruption]") {
  LedgerFixture f;
  f.InitAndOpen();
  f.AppendN(10, 5);
  f.Close();
  const fs::path keys = f.data() / "keys", older = f.tmp().path() / "keys-older";
  fs::copy(keys, older, fs::copy_options::recursive);
  f.Reopen();
  f.AppendN(10, 5);
  f.Close();
  const fs::path newer = f.tmp().path() / "keys-newer";
  fs::rename(keys, newer);
  fs::copy(older, keys, fs::copy_options::recursive);

  Status s = f.Open();
  CHECK(s.IsCorruption());
  CheckRefusal(s, "restored from an older copy");
  f.Close();
  CheckVerifyCommandRefuses(f, "lost writes the log relies on");

  // Put back, the ledger opens and verifies: the check measures, it does not latch.
  fs::remove_all(keys);
  fs::rename(newer, keys);
  RequireOk(OpenAndVerify(f), "the key store put back");
}

TEST_CASE("a key-store entry replaced by another subject's wrapped key or by garbage is named by "
          "verify and on reading, with the subject and category", "[corruption]") {
  LedgerFixture f;
  f.InitAndOpen();
  const std::vector<Appended> appended = f.AppendN(8, 4);
  f.Close();
  const SubjectId victim = appended[2].subject;
  const SubjectId other = appended[5].subject;
  std::string replacement;
  {
    RawKeyStore keys(f.data() / "keys");
    const std::string original = keys.Get(victim, "profile");
    SECTION("by another subject's wrapped key") { replacement = keys.Get(other, "profile"); }
    SECTION("by garbage of the same size") {
      replacement = original;
      for (size_t i = 16; i < replacement.size(); ++i) replacement[i] = static_cast<char>(i * 7);
    }
    SECTION("cut short") { replacement = original.substr(0, original.size() - 5); }
    REQUIRE(replacement != original);
    keys.Put(victim, "profile", replacement);
  }
  const std::string victim_hex = SubjectIdHex(victim);

  f.Reopen();
  auto [verified, result] = f.Verify();
  CHECK(verified.IsCorruption());
  CheckRefusal(verified, victim_hex);
  CHECK(Contains(verified.message(), "'profile'"));
  CHECK(Contains(verified.message(), "key store"));
  // Reading the victim's data fails naming them; everyone else's still opens.
  RequireOk(f.ledger().ReadEvents(0, f.ledger().size(), [&](const EventView& e) {
    std::vector<FieldValue> values;
    Status s = f.ledger().ReadFields(e, &values);
    if (e.seq == appended[2].seq) {
      CHECK(s.IsCorruption());
      CheckRefusal(s, victim_hex);
    } else {
      RequireOk(s, "another subject's fields");
      CHECK(values.size() == 1);
      CHECK(values[0].json.has_value());
    }
    return Status::Ok();
  }), "reading the log");
  f.Close();
  CheckVerifyCommandRefuses(f, victim_hex);
}

}  // namespace
}  // namespace kirjuri::test
