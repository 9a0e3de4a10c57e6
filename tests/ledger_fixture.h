// A small fixture for ledger tests, in the LevelDB test style: a temporary directory holding the
// data directory (and, beside it, the default master key file), a ledger in it, short verbs to
// build and check it, and raw RocksDB access (with the ledger closed) to tamper with what is stored
// the way an attacker with write access to DATA/log would: RocksDB's own block checksums stay
// valid, only the ledger's checks can notice.
//
// The raw helpers spell the storage layout out themselves (column family names, 8-byte
// big-endian keys) rather than including the private store_format.h, so a change of the on-disk
// format is caught by the tests instead of followed by them.
#pragma once

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <stdlib.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kirjuri/ledger.h"
#include "test_util.h"
#include "kirjuri/schemas/event.capnp.h"

namespace kirjuri::test {

using testing::Describe;
using testing::ReadFile;
using testing::RunKirjuri;
using testing::RunResult;
using testing::TempDir;

namespace fs = std::filesystem;

// ---- the storage layout, as documented in store_format.h / schemas/FORMATS.md ----

inline constexpr const char* kEventsCf = "events";
inline constexpr const char* kTreeCf = "tree";
inline constexpr const char* kCheckpointsCf = "checkpoints";
inline constexpr const char* kSubjectsCf = "subjects";
inline constexpr const char* kSubjectInfoCf = "subject_info";
inline constexpr const char* kDefaultCf = "default";

inline std::string BigEndian64(uint64_t v) {
  std::string k(8, '\0');
  for (int i = 7; i >= 0; --i) {
    k[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return k;
}

inline uint64_t ReadBigEndian64(std::string_view s) {
  REQUIRE(s.size() >= 8);
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(s[i]);
  return v;
}

// events / checkpoints key.
inline std::string SeqKey(uint64_t seq) { return BigEndian64(seq); }

// tree key of the complete subtree of 2^level leaves starting at leaf index << level:
// end (exclusive), 8 bytes BE, then the level byte.
inline std::string NodeKey(int level, uint64_t index) {
  std::string k = BigEndian64((index + 1) << level);
  k.push_back(static_cast<char>(level));
  return k;
}

inline std::string SubjectKey(const SubjectId& subject, uint64_t seq) {
  return std::string(reinterpret_cast<const char*>(subject.data()), subject.size()) +
         BigEndian64(seq);
}

inline std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// ---- input ----

// The personal value the fixture puts into event n. Tests check error messages never echo it.
inline std::string PersonName(uint64_t n) { return "Test Person " + std::to_string(n); }

// One valid input line of `kirjuri append` under the shipped Almerin policy.
inline std::string ValidLine(uint64_t n, std::string_view subject = "new") {
  return std::string(R"({"register":"customer","subject":")") + std::string(subject) +
         R"(","type":"recorded","category":"profile","actor":"emp-0001",)"
         R"("purpose":"service_delivery","basis":"consent","source":"web_form",)"
         R"("data":{"name":")" +
         PersonName(n) + R"("}})";
}

inline std::string ValidLines(uint64_t first, uint64_t count) {
  std::string text;
  for (uint64_t i = 0; i < count; ++i) text += ValidLine(first + i) + "\n";
  return text;
}

// The same event, built directly.
inline NewEvent ValidEvent(uint64_t n) {
  NewEvent e;
  e.register_name = "customer";
  e.type = "recorded";
  e.category = "profile";
  e.actor = "emp-0001";
  e.purpose = "service_delivery";
  e.basis = "consent";
  e.source = "web_form";
  e.data = {{"name", "\"" + PersonName(n) + "\""}};
  return e;
}

// A customer-register input line (`kirjuri append`'s JSON) about `subject` (hex, or "new"),
// with `data` (a JSON object) if given.
inline std::string CustomerLine(const std::string& subject, const std::string& type,
                                const std::string& category, const std::string& purpose,
                                const std::string& basis, const std::string& data = "") {
  std::string s = R"({"register":"customer","subject":")" + subject + R"(","type":")" + type +
                  R"(","category":")" + category + R"(","actor":"emp-0007","purpose":")" +
                  purpose + R"(","basis":")" + basis + R"(","source":"contact")";
  if (!data.empty()) s += ",\"data\":" + data;
  return s + "}\n";
}

// ---- raw RocksDB access to DATA/keys and DATA/log ----

// DATA/keys opened directly, its data keys as they are stored: subject (16) || category ->
// key id || wrapped key. Only while no Ledger has it open.
class RawKeyStore {
 public:
  explicit RawKeyStore(const fs::path& dir) {
    rocksdb::DBOptions options;
    std::vector<std::string> names;
    REQUIRE(rocksdb::DB::ListColumnFamilies(options, dir.string(), &names).ok());
    REQUIRE(std::find(names.begin(), names.end(), "datakeys") != names.end());
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const std::string& name : names) cfs.emplace_back(name, rocksdb::ColumnFamilyOptions());
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(options, dir.string(), cfs, &handles_, &raw);
    INFO(s.ToString());
    REQUIRE(s.ok());
    db_.reset(raw);
    for (auto* h : handles_) {
      if (h->GetName() == "datakeys") datakeys_ = h;
    }
  }
  ~RawKeyStore() {
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    db_->Close().PermitUncheckedError();
  }
  std::string Key(const SubjectId& subject, std::string_view category) const {
    return std::string(reinterpret_cast<const char*>(subject.data()), subject.size()) +
           std::string(category);
  }
  RawKeyStore(const RawKeyStore&) = delete;
  RawKeyStore& operator=(const RawKeyStore&) = delete;

  std::string Get(const SubjectId& subject, std::string_view category) {
    std::string v;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), datakeys_, Key(subject, category), &v);
    INFO(s.ToString());
    REQUIRE(s.ok());
    return v;
  }
  void Put(const SubjectId& subject, std::string_view category, std::string_view value) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    REQUIRE(db_->Put(wo, datakeys_, Key(subject, category), value).ok());
  }
  // Every data key of `subject`: category -> stored value.
  std::map<std::string, std::string> All(const SubjectId& subject) {
    const std::string prefix = Key(subject, "");
    std::map<std::string, std::string> out;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), datakeys_));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      out[it->key().ToString().substr(prefix.size())] = it->value().ToString();
    }
    REQUIRE(it->status().ok());
    return out;
  }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ColumnFamilyHandle* datakeys_ = nullptr;
};

// DATA/log opened directly with all its column families (events, tree, checkpoints, subjects,
// default and any the ledger has added since). Only while no Ledger has it open.
class RawDb {
 public:
  explicit RawDb(const fs::path& log_dir) {
    rocksdb::DBOptions options;
    options.create_if_missing = false;
    options.paranoid_checks = true;
    options.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
    // Tampering needs no durability against power loss: the WAL (written, not synced) is
    // replayed by the next open. This keeps the many raw edits of the tests cheap.
    options.avoid_flush_during_shutdown = true;
    std::vector<std::string> names;
    rocksdb::Status listed = rocksdb::DB::ListColumnFamilies(options, log_dir.string(), &names);
    INFO(listed.ToString());
    REQUIRE(listed.ok());
    for (const char* required : {kDefaultCf, kEventsCf, kTreeCf, kCheckpointsCf, kSubjectsCf}) {
      INFO("column family " << required);
      REQUIRE(std::find(names.begin(), names.end(), required) != names.end());
    }
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const std::string& name : names) cfs.emplace_back(name, rocksdb::ColumnFamilyOptions());
    rocksdb::DB* raw = nullptr;
    rocksdb::Status s = rocksdb::DB::Open(options, log_dir.string(), cfs, &handles_, &raw);
    INFO(s.ToString());
    REQUIRE(s.ok());
    db_.reset(raw);
  }
  ~RawDb() {
    for (auto* h : handles_) db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    db_->Close().PermitUncheckedError();
  }
  RawDb(const RawDb&) = delete;
  RawDb& operator=(const RawDb&) = delete;

  rocksdb::ColumnFamilyHandle* cf(std::string_view name) const {
    for (auto* h : handles_) {
      if (h->GetName() == name) return h;
    }
    FAIL("no column family " << name);
    return nullptr;
  }

  std::optional<std::string> Get(std::string_view cf_name, std::string_view key) const {
    std::string value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(cf_name), key, &value);
    if (s.IsNotFound()) return std::nullopt;
    INFO(s.ToString());
    REQUIRE(s.ok());
    return value;
  }

  void Put(std::string_view cf_name, std::string_view key, std::string_view value) {
    rocksdb::WriteOptions wo;
    rocksdb::Status s = db_->Put(wo, cf(cf_name), key, value);
    INFO(s.ToString());
    REQUIRE(s.ok());
  }

  void Delete(std::string_view cf_name, std::string_view key) {
    rocksdb::WriteOptions wo;
    rocksdb::Status s = db_->Delete(wo, cf(cf_name), key);
    INFO(s.ToString());
    REQUIRE(s.ok());
  }

  std::vector<std::pair<std::string, std::string>> Scan(std::string_view cf_name) const {
    std::vector<std::pair<std::string, std::string>> out;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(cf_name)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      out.emplace_back(it->key().ToString(), it->value().ToString());
    }
    REQUIRE(it->status().ok());
    return out;
  }

 private:
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
};

// ---- the fixture ----

class LedgerFixture {
 public:
  LedgerFixture() : dir_("kirjuri-ledger-test") {}
  ~LedgerFixture() { Close(); }
  LedgerFixture(const LedgerFixture&) = delete;
  LedgerFixture& operator=(const LedgerFixture&) = delete;

  // The data directory (DATA): ledger.key and log/.
  fs::path data() const { return dir_.path() / "data"; }
  fs::path log_dir() const { return data() / "log"; }
  const TempDir& tmp() const { return dir_; }

  Status Init(const InitOptions& options = {}) { return Ledger::Init(data(), options); }

  // Init, REQUIRE it worked, and open.
  void InitAndOpen(const InitOptions& options = {}) {
    Status s = Init(options);
    INFO(s.ToString());
    REQUIRE(s.ok());
    s = Open();
    INFO(s.ToString());
    REQUIRE(s.ok());
  }

  Status Open(OpenOptions options = DefaultOpenOptions()) {
    Close();
    return Ledger::Open(data(), options, &ledger_);
  }
  // Close, then Open, REQUIRE it worked.
  void Reopen(OpenOptions options = DefaultOpenOptions()) {
    Status s = Open(options);
    INFO(s.ToString());
    REQUIRE(s.ok());
  }
  void Close() { ledger_.reset(); }
  bool is_open() const { return ledger_ != nullptr; }

  // Also called from tests' worker threads, so no Catch2 assertion here (they are not
  // thread-safe): a test that has no ledger open throws, which Catch2 reports as a failure.
  Ledger& ledger() {
    if (!ledger_) throw std::logic_error("the test's ledger is not open");
    return *ledger_;
  }

  // Appends n valid events in batches of at most `batch`, REQUIRE each append worked.
  std::vector<Appended> AppendN(uint64_t n, uint64_t batch = 1) {
    REQUIRE(batch > 0);
    std::vector<Appended> all;
    for (uint64_t done = 0; done < n;) {
      uint64_t count = std::min(batch, n - done);
      std::vector<NewEvent> events;
      for (uint64_t i = 0; i < count; ++i) events.push_back(ValidEvent(next_person_++));
      std::vector<Appended> out;
      Status s = ledger().Append(events, &out);
      INFO(s.ToString());
      REQUIRE(s.ok());
      REQUIRE(out.size() == count);
      all.insert(all.end(), out.begin(), out.end());
      done += count;
    }
    return all;
  }

  // ParseLines then Append: what `kirjuri append` does.
  Status AppendLines(std::string_view text, std::vector<Appended>* out = nullptr) {
    std::vector<NewEvent> events;
    KIRJURI_RETURN_IF_ERROR(ledger().ParseLines(text, &events));
    std::vector<Appended> scratch;
    return ledger().Append(events, out ? out : &scratch);
  }

  std::pair<Status, VerifyResult> Verify(VerifyOptions options = {}) {
    VerifyResult result;
    Status s = ledger().Verify(options, &result);
    return {s, result};
  }
  std::pair<Status, VerifyResult> VerifyTreeOnly() {
    VerifyOptions options;
    options.tree_only = true;
    return Verify(options);
  }

  // ---- raw access; the ledger must be closed ----

  RawDb Raw() {
    REQUIRE_FALSE(is_open());
    return RawDb(log_dir());
  }

  std::optional<std::string> GetRaw(std::string_view cf, std::string_view key) {
    return Raw().Get(cf, key);
  }
  void PutRaw(std::string_view cf, std::string_view key, std::string_view value) {
    Raw().Put(cf, key, value);
  }
  void DeleteKey(std::string_view cf, std::string_view key) { Raw().Delete(cf, key); }
  std::vector<std::pair<std::string, std::string>> ScanRaw(std::string_view cf) {
    return Raw().Scan(cf);
  }

  // Decodes the stored SignedEvent at `seq`, lets `mutate` change it, re-canonicalises it
  // WITHOUT re-signing and stores it back. Returns the original value (for restoring).
  std::string RewriteEvent(uint64_t seq,
                           const std::function<void(schema::SignedEvent::Builder)>& mutate) {
    RawDb db = Raw();
    std::optional<std::string> value = db.Get(kEventsCf, SeqKey(seq));
    REQUIRE(value);
    REQUIRE(value->size() % sizeof(capnp::word) == 0);
    kj::Array<capnp::word> words = kj::heapArray<capnp::word>(value->size() / sizeof(capnp::word));
    std::memcpy(words.begin(), value->data(), value->size());
    // The canonical form is one segment without a segment table.
    kj::ArrayPtr<const capnp::word> segments[1] = {words.asPtr()};
    capnp::SegmentArrayMessageReader segment_reader(kj::arrayPtr(segments, 1));
    capnp::MallocMessageBuilder builder;
    builder.setRoot(segment_reader.getRoot<schema::SignedEvent>());
    auto root = builder.getRoot<schema::SignedEvent>();
    mutate(root);
    kj::Array<capnp::word> canonical = capnp::canonicalize(root.asReader());
    auto bytes = canonical.asBytes();
    std::string changed(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
    REQUIRE(changed != *value);  // the mutation must change something
    db.Put(kEventsCf, SeqKey(seq), changed);
    return *value;
  }

  void SwapEvents(uint64_t a, uint64_t b) {
    RawDb db = Raw();
    std::optional<std::string> va = db.Get(kEventsCf, SeqKey(a));
    std::optional<std::string> vb = db.Get(kEventsCf, SeqKey(b));
    REQUIRE(va);
    REQUIRE(vb);
    db.Put(kEventsCf, SeqKey(a), *vb);
    db.Put(kEventsCf, SeqKey(b), *va);
  }

  static OpenOptions DefaultOpenOptions() {
    OpenOptions o;
    o.threads = 2;
    return o;
  }
  static OpenOptions NoCheckOnOpen() {
    OpenOptions o = DefaultOpenOptions();
    o.check_on_open = false;
    return o;
  }

 private:
  TempDir dir_;
  std::unique_ptr<Ledger> ledger_;
  uint64_t next_person_ = 0;
};

}  // namespace kirjuri::test
