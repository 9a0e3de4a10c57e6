// Tests for the key store (ledger/src/key_store.h): master key files, data keys, blind indexes,
// crypto-shredding and master key rotation — on a real RocksDB in temporary directories.
//
// The physical checks here are the test's own: it reads every file under the key store's
// directory itself and looks for the bytes that must be gone, rather than trusting
// ShredResult. Raw bytes are taken by opening the key store's RocksDB read-only while the
// KeyStore is closed; the column family names are spelt out here (not taken from the
// implementation), so a change of the layout is caught rather than followed.
#include "key_store.h"
#include "test_util.h"

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/options.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "kirjuri/crypto.h"

namespace kirjuri {
namespace {

using testing::ReadFile;
using testing::TempDir;

namespace fs = std::filesystem;

void WriteBytes(const fs::path& p, std::string_view bytes, mode_t mode) {
  {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  REQUIRE(::chmod(p.c_str(), mode) == 0);
}

mode_t ModeOf(const fs::path& p) {
  struct stat st;
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

// Every regular file under `dir`, path -> content.
std::map<fs::path, std::string> Snapshot(const fs::path& dir) {
  std::map<fs::path, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) files[e.path()] = ReadFile(e.path());
  }
  return files;
}

// The files under `dir` that contain `needle`, by file name.
std::vector<std::string> FilesContaining(const fs::path& dir, std::string_view needle) {
  std::vector<std::string> hits;
  for (const auto& [path, content] : Snapshot(dir)) {
    if (content.find(needle) != std::string::npos) hits.push_back(path.filename().string());
  }
  return hits;
}

std::string_view AsChars(std::span<const uint8_t> s) {
  return {reinterpret_cast<const char*>(s.data()), s.size()};
}

SubjectId MakeSubject(uint32_t n) {
  SubjectId s{};
  s[0] = 0x5a;
  std::memcpy(s.data() + 12, &n, sizeof n);
  return s;
}

std::string KeyBytes(const DataKey& k) { return std::string(AsChars(k.key)); }
std::string IdBytes(const KeyId& id) { return std::string(AsChars(id)); }

std::unique_ptr<KeyStore> CreateStore(const fs::path& dir, const MasterKey& master) {
  std::unique_ptr<KeyStore> ks;
  Status s = KeyStore::Create(dir, master, &ks);
  INFO(s.ToString());
  REQUIRE(s.ok());
  return ks;
}

std::unique_ptr<KeyStore> OpenStore(const fs::path& dir, const MasterKey& master) {
  std::unique_ptr<KeyStore> ks;
  Status s = KeyStore::Open(dir, master, &ks);
  INFO(s.ToString());
  REQUIRE(s.ok());
  return ks;
}

DataKey MustGetOrCreate(KeyStore& ks, const SubjectId& subject, const std::string& category) {
  std::vector<KeyRequest> req = {KeyRequest{subject, category}};
  std::vector<DataKey> keys;
  Status s = ks.GetOrCreate(req, &keys);
  INFO(s.ToString());
  REQUIRE(s.ok());
  REQUIRE(keys.size() == 1);
  return keys[0];
}

// The raw records of the key store in `dir` (which must not be open), column family -> key ->
// value. The layout as documented in key_store.h.
std::map<std::string, std::map<std::string, std::string>> RawRecords(const fs::path& dir) {
  const std::vector<std::string> names = {"default", "datakeys", "blind", "subject_blind"};
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& n : names) descriptors.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s =
      rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), dir.string(), descriptors, &handles, &raw);
  INFO(s.ToString());
  REQUIRE(s.ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  std::map<std::string, std::map<std::string, std::string>> out;
  for (size_t i = 0; i < names.size(); ++i) {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), handles[i]));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      out[names[i]][it->key().ToString()] = it->value().ToString();
    }
    REQUIRE(it->status().ok());
  }
  for (auto* h : handles) REQUIRE(db->DestroyColumnFamilyHandle(h).ok());
  REQUIRE(db->Close().ok());
  return out;
}

// Writes one raw record into the key store in `dir` (which must not be open).
void RawPut(const fs::path& dir, const std::string& cf, const std::string& key,
            const std::string& value) {
  const std::vector<std::string> names = {"default", "datakeys", "blind", "subject_blind"};
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& n : names) descriptors.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  REQUIRE(rocksdb::DB::Open(rocksdb::DBOptions(), dir.string(), descriptors, &handles, &raw).ok());
  std::unique_ptr<rocksdb::DB> db(raw);
  size_t i = 0;
  while (names[i] != cf) ++i;
  rocksdb::WriteOptions wo;
  wo.sync = true;
  REQUIRE(db->Put(wo, handles[i], key, value).ok());
  for (auto* h : handles) REQUIRE(db->DestroyColumnFamilyHandle(h).ok());
  REQUIRE(db->Close().ok());
}

std::string SubjectKey(const SubjectId& subject, std::string_view category) {
  return std::string(AsChars(subject)) + std::string(category);
}

// ---- master key files ---------------------------------------------------------------------

TEST_CASE("a master key file is written with mode 0600 and reads back as the same key") {
  TempDir tmp;
  const fs::path path = tmp / "master.key";
  MasterKey key = MasterKey::Generate();
  REQUIRE(key.WriteFile(path).ok());
  CHECK(ModeOf(path) == 0600);
  const std::string text = ReadFile(path);
  CHECK(text == "kirjuri-master-key-v1 " + Base64Encode(key.bytes()) + "\n");
  MasterKey back;
  REQUIRE(MasterKey::ReadFile(path, &back).ok());
  CHECK(std::equal(back.bytes().begin(), back.bytes().end(), key.bytes().begin()));
  CHECK_FALSE(
      std::equal(back.bytes().begin(), back.bytes().end(), MasterKey::Generate().bytes().begin()));
}

TEST_CASE("a master key file readable by group or others is refused") {
  TempDir tmp;
  const fs::path path = tmp / "master.key";
  MasterKey key = MasterKey::Generate();
  REQUIRE(key.WriteFile(path).ok());
  REQUIRE(::chmod(path.c_str(), 0644) == 0);
  MasterKey back;
  Status s = MasterKey::ReadFile(path, &back);
  CHECK(s.code() == Status::Code::kFailedPrecondition);
  CHECK(s.message().find(path.string()) != std::string::npos);
  CHECK(s.message().find("0644") != std::string::npos);
  CHECK(s.message().find(Base64Encode(key.bytes())) == std::string::npos);
}

TEST_CASE("writing a master key file over an existing file is refused and leaves it intact") {
  TempDir tmp;
  const fs::path path = tmp / "master.key";
  MasterKey first = MasterKey::Generate();
  REQUIRE(first.WriteFile(path).ok());
  const std::string before = ReadFile(path);
  Status s = MasterKey::Generate().WriteFile(path);
  CHECK(s.code() == Status::Code::kFailedPrecondition);
  CHECK(ReadFile(path) == before);
}

TEST_CASE("a file that is not a master key file is refused") {
  TempDir tmp;
  const fs::path path = tmp / "master.key";
  const std::string good_b64 = Base64Encode(MasterKey::Generate().bytes());
  for (const std::string& text :
       {std::string("garbage\n"), std::string(""), "kirjuri-master-key-v2 " + good_b64 + "\n",
        "kirjuri-master-key-v1 " + good_b64, "kirjuri-master-key-v1  " + good_b64 + "\n",
        "kirjuri-master-key-v1 " + good_b64 + "\n\n",
        "kirjuri-master-key-v1 " + Base64Encode(std::vector<uint8_t>(31, 7)) + "\n",
        std::string(10000, 'x')}) {
    CAPTURE(text.size());
    fs::remove(path);
    WriteBytes(path, text, 0600);
    MasterKey back;
    Status s = MasterKey::ReadFile(path, &back);
    CHECK(s.IsInvalidArgument());
    CHECK(s.message().find(path.string()) != std::string::npos);
    CHECK(s.message().find(good_b64) == std::string::npos);
  }
  MasterKey back;
  CHECK(MasterKey::ReadFile(tmp / "missing.key", &back).IsNotFound());
}

// ---- data keys ------------------------------------------------------------------------------

TEST_CASE("GetOrCreate creates a key once and returns the same key later and after reopening") {
  TempDir tmp;
  const fs::path dir = tmp / "keys";
  const MasterKey master = MasterKey::Generate();
  const SubjectId subject = MakeSubject(1);
  std::string id;
  std::string key;
  {
    auto ks = CreateStore(dir, master);
    DataKey first = MustGetOrCreate(*ks, subject, "contact");
    DataKey again = MustGetOrCreate(*ks, subject, "contact");
    CHECK(IdBytes(first.id) == IdBytes(again.id));
    CHECK(KeyBytes(first) == KeyBytes(again));
    DataKey got;
    REQUIRE(ks->Get(subject, "contact", &got).ok());
    CHECK(IdBytes(got.id) == IdBytes(first.id));
    CHECK(KeyBytes(got) == KeyBytes(first));
    id = IdBytes(first.id);
    key = KeyBytes(first);

    std::vector<std::pair<std::string, KeyId>> listed;
    REQUIRE(ks->List(subject, &listed).ok());
    REQUIRE(listed.size() == 1);
    CHECK(listed[0].first == "contact");
    CHECK(IdBytes(listed[0].second) == id);
  }
  auto ks = OpenStore(dir, master);
  DataKey got;
  REQUIRE(ks->Get(subject, "contact", &got).ok());
  CHECK(IdBytes(got.id) == id);
  CHECK(KeyBytes(got) == key);
  DataKey again = MustGetOrCreate(*ks, subject, "contact");
  CHECK(IdBytes(again.id) == id);
  CHECK(KeyBytes(again) == key);
}

TEST_CASE("GetOrCreate answers every request in order, one key per subject and category") {
  TempDir tmp;
  auto ks = CreateStore(tmp / "keys", MasterKey::Generate());
  const SubjectId a = MakeSubject(1);
  const SubjectId b = MakeSubject(2);
  std::vector<KeyRequest> req = {{a, "contact"}, {a, "health"}, {b, "contact"}, {a, "contact"}};
  std::vector<DataKey> keys;
  REQUIRE(ks->GetOrCreate(req, &keys).ok());
  REQUIRE(keys.size() == 4);
  CHECK(IdBytes(keys[0].id) == IdBytes(keys[3].id));
  CHECK(KeyBytes(keys[0]) == KeyBytes(keys[3]));
  std::set<std::string> ids = {IdBytes(keys[0].id), IdBytes(keys[1].id), IdBytes(keys[2].id)};
  std::set<std::string> secrets = {KeyBytes(keys[0]), KeyBytes(keys[1]), KeyBytes(keys[2])};
  CHECK(ids.size() == 3);
  CHECK(secrets.size() == 3);
  std::vector<std::pair<std::string, KeyId>> listed;
  REQUIRE(ks->List(a, &listed).ok());
  CHECK(listed.size() == 2);
  REQUIRE(ks->List(b, &listed).ok());
  CHECK(listed.size() == 1);
  REQUIRE(ks->List(MakeSubject(3), &listed).ok());
  CHECK(listed.empty());

  std::vector<KeyRequest> bad = {{a, ""}};
  CHECK(ks->GetOrCreate(bad, &keys).IsInvalidArgument());
}

TEST_CASE("a subject created here gets its later categories' keys without a look-up and keeps "
          "every key also after the in-memory keys are dropped") {
  TempDir tmp;
  const fs::path dir = tmp / "keys";
  const MasterKey master = MasterKey::Generate();
  const SubjectId subject = MakeSubject(1);
  std::string profile, usage;
  {
    auto ks = CreateStore(dir, master);
    std::vector<DataKey> keys;
    std::vector<KeyRequest> first = {KeyRequest{subject, "profile", /*new_subject=*/true}};
    REQUIRE(ks->GetOrCreate(first, &keys).ok());
    profile = KeyBytes(keys[0]);
    // A later append: the subject is known, its "usage" key does not exist yet.
    usage = KeyBytes(MustGetOrCreate(*ks, subject, "usage"));
    CHECK(usage != profile);
    CHECK(KeyBytes(MustGetOrCreate(*ks, subject, "profile")) == profile);
    CHECK(KeyBytes(MustGetOrCreate(*ks, subject, "usage")) == usage);

    // More new keys than the store keeps in memory: all of them are dropped from memory, and
    // the subject's keys must then come from the store again, never be made anew.
    std::vector<KeyRequest> many;
    for (uint32_t i = 0; i < (1u << 16); ++i) {
      many.push_back(KeyRequest{MakeSubject(1000 + i), "profile", /*new_subject=*/true});
    }
    REQUIRE(ks->GetOrCreate(many, &keys).ok());
    CHECK(KeyBytes(MustGetOrCreate(*ks, subject, "profile")) == profile);
    CHECK(KeyBytes(MustGetOrCreate(*ks, subject, "usage")) == usage);
  }
  auto ks = OpenStore(dir, master);
  DataKey k;
  REQUIRE(ks->Get(subject, "profile", &k).ok());
  CHECK(KeyBytes(k) == profile);
  REQUIRE(ks->Get(subject, "usage", &k).ok());
  CHECK(KeyBytes(k) == usage);
}

TEST_CASE("Get of a key that was never created is NotFound") {
  TempDir tmp;
  auto ks = CreateStore(tmp / "keys", MasterKey::Generate());
  MustGetOrCreate(*ks, MakeSubject(1), "contact");
  DataKey k;
  CHECK(ks->Get(MakeSubject(1), "health", &k).IsNotFound());
  CHECK(ks->Get(MakeSubject(2), "contact", &k).IsNotFound());
}

TEST_CASE("Create refuses an existing directory and Open of a missing key store is NotFound") {
  TempDir tmp;
  const MasterKey master = MasterKey::Generate();
  std::unique_ptr<KeyStore> ks;
  CHECK(KeyStore::Create(tmp.path(), master, &ks).code() == Status::Code::kFailedPrecondition);
  CHECK(KeyStore::Open(tmp / "nothing", master, &ks).IsNotFound());
  CHECK(KeyStore::Open(tmp.path(), master, &ks).IsNotFound());  // a directory, but no store
  CreateStore(tmp / "keys", master);
  CHECK(ModeOf(tmp / "keys") == 0700);
}

TEST_CASE("a wrapped data key moved to another subject does not open") {
  TempDir tmp;
  const fs::path dir = tmp / "keys";
  const MasterKey master = MasterKey::Generate();
  const SubjectId a = MakeSubject(1);
  const SubjectId b = MakeSubject(2);
  {
    auto ks = CreateStore(dir, master);
    MustGetOrCreate(*ks, a, "contact");
  }
  auto records = RawRecords(dir);
  const std::string value = records["datakeys"].at(SubjectKey(a, "contact"));
  RawPut(dir, "datakeys", SubjectKey(b, "contact"), value);
  RawPut(dir, "datakeys", SubjectKey(a, "health"), value);
  auto ks = OpenStore(dir, master);
  DataKey k;
  REQUIRE(ks->Get(a, "contact", &k).ok());
  Status s = ks->Get(b, "contact", &k);
  CHECK(s.IsCorruption());
  CHECK(ks->Get(a, "health", &k).IsCorruption());
}

// ---- the master key opening the store ---------------------------------------------------------

TEST_CASE("a wrong master key does not open the key store and changes nothing in it") {
  TempDir tmp;
  const fs::path dir = tmp / "keys";
  const MasterKey master = MasterKey::Generate();
  const SubjectId subject = MakeSubject(7);
  DataKey created;
  std::vector<std::pair<std::string, KeyId>> listed_before;
  {
    auto ks = CreateStore(dir, master);
    created = MustGetOrCreate(*ks, subject, "contact");
    REQUIRE(ks->AddIndex(subject, BlindKind::kEmail, "aino@example.fi").ok());
    REQUIRE(ks->List(subject, &listed_before).ok());
  }
  const auto files_before = Snapshot(dir);
  const auto records_before = RawRecords(dir);
  REQUIRE((Snapshot(dir) == files_before));  // the raw read-only open wrote nothing either

  std::unique_ptr<KeyStore> ks;
  Status s = KeyStore::Open(dir, MasterKey::Generate(), &ks);
  CHECK(s.IsInvalidArgument());
  CHECK(s.message() ==
        "the master key does not open the key store in " + dir.string() + " (wrong key file?)");
  CHECK(ks == nullptr);
  // Not a byte written, not a file added or removed.
  CHECK((Snapshot(dir) == files_before));
  CHECK((RawRecords(dir) == records_before));

  ks = OpenStore(dir, master);
  std::vector<std::pair<std::string, KeyId>> listed;
  REQUIRE(ks->List(subject, &listed).ok());
  CHECK(listed == listed_before);
  DataKey got;
  REQUIRE(ks->Get(subject, "contact", &got).ok());
  CHECK(KeyBytes(got) == KeyBytes(created));
  std::vector<SubjectId> found;
  REQUIRE(ks->Find(BlindKind::kEmail, "aino@example.fi", &found).ok());
  CHECK(found == std::vector<SubjectId>{subject});
}

// ---- blind indexes -------------------------------------------------------------------------

TEST_CASE("NormaliseForIndex trims and lower-cases names and reads phone numbers in one form") {
  CHECK(NormaliseForIndex(BlindKind::kEmail, "  Aino.Virtanen@Example.FI \n") ==
        "aino.virtanen@example.fi");
  CHECK(NormaliseForIndex(BlindKind::kUsername, "\tAVirtanen ") == "avirtanen");
  // Non-ASCII bytes are kept as they are.
  CHECK(NormaliseForIndex(BlindKind::kUsername, "Äijä") == "\xc3\x84ij\xc3\xa4");
  for (const char* phone : {"+358 40 123 4567", "040-1234567", "00358401234567", "0401234567",
                            "+358 (0)40 123 4567", "(+358) 40 1234567", " 040 123 45 67 "}) {
    CAPTURE(phone);
    CHECK(NormaliseForIndex(BlindKind::kPhone, phone) == "0401234567");
  }
  CHECK(NormaliseForIndex(BlindKind::kPhone, "+46 70 123 45 67") == "0046701234567");
  CHECK(NormaliseForIndex(BlindKind::kPhone, "0046 70 123 45 67") == "0046701234567");
  CHECK(NormaliseForIndex(BlindKind::kPhone, "09 123 456") == "09123456");
  CHECK(NormaliseForIndex(BlindKind::kPhone, "no digits") == "");
  CHECK(NormaliseForIndex(BlindKind::kEmail, "   ") == "");
}

TEST_CASE("the blind index finds a subject by differently written forms of an email or phone") {
  TempDir tmp;
  auto ks = CreateStore(tmp / "keys", MasterKey::Generate());
  const SubjectId subject = MakeSubject(1);
  REQUIRE(ks->AddIndex(subject, BlindKind::kEmail, "Aino.Virtanen@Example.fi").ok());
  REQUIRE(ks->AddIndex(subject, BlindKind::kPhone, "+358 40 123 4567").ok());
  REQUIRE(ks->AddIndex(subject, BlindKind::kPhone, "040-1234567").ok());  // idempotent
  std::vector<SubjectId> found;
  for (const char* email : {"aino.virtanen@example.fi", " AINO.VIRTANEN@EXAMPLE.FI "}) {
    REQUIRE(ks->Find(BlindKind::kEmail, email, &found).ok());
    CHECK(found == std::vector<SubjectId>{subject});
  }
  for (const char* phone : {"+358 40 123 4567", "040-1234567", "00358401234567"}) {
    CAPTURE(phone);
    REQUIRE(ks->Find(BlindKind::kPhone, phone, &found).ok());
    CHECK(found == std::vector<SubjectId>{subject});
  }
  REQUIRE(ks->Find(BlindKind::kEmail, "someone.else@example.fi", &found).ok());
  CHECK(found.empty());
  REQUIRE(ks->Find(BlindKind::kPhone, "040-7654321", &found).ok());
  CHECK(found.empty());
  CHECK(ks->AddIndex(subject, BlindKind::kEmail, "  ").IsInvalidArgument());
  CHECK(ks->Blind(BlindKind::kEmail, "A@B.fi") == ks->Blind(BlindKind::kEmail, "a@b.fi"));
}

TEST_CASE("two subjects sharing an email are both found by it") {
  TempDir tmp;
  auto ks = CreateStore(tmp / "keys", MasterKey::Generate());
  const SubjectId a = MakeSubject(1);
  const SubjectId b = MakeSubject(2);
  REQUIRE(ks->AddIndex(a, BlindKind::kEmail, "perhe@example.fi").ok());
  REQUIRE(ks->AddIndex(b, BlindKind::kEmail, "Perhe@example.fi").ok());
  std::vector<SubjectId> found;
  REQUIRE(ks->Find(BlindKind::kEmail, "perhe@example.fi", &found).ok());
  std::set<SubjectId> got(found.begin(), found.end());
  CHECK(got == std::set<SubjectId>{a, b});
  CHECK(found.size() == 2);
}

TEST_CASE("the same string as an email and as a username does not collide in the blind index") {
  TempDir tmp;
  auto ks = CreateStore(tmp / "keys", MasterKey::Generate());
  const SubjectId a = MakeSubject(1);
  const SubjectId b = MakeSubject(2);
  REQUIRE(ks->AddIndex(a, BlindKind::kEmail, "aino@example.fi").ok());
  REQUIRE(ks->AddIndex(b, BlindKind::kUsername, "aino@example.fi").ok());
  CHECK(ks->Blind(BlindKind::kEmail, "aino@example.fi") !=
        ks->Blind(BlindKind::kUsername, "aino@example.fi"));
  std::vector<SubjectId> found;
  REQUIRE(ks->Find(BlindKind::kEmail, "aino@example.fi", &found).ok());
  CHECK(found == std::vector<SubjectId>{a});
  REQUIRE(ks->Find(BlindKind::kUsername, "aino@example.fi", &found).ok());
  CHECK(found == std::vector<SubjectId>{b});
  REQUIRE(ks->Find(BlindKind::kPhone, "aino@example.fi", &found).ok());
  CHECK(found.empty());
}

TEST_CASE("blind values depend on the store's index key and survive reopening") {
  TempDir tmp;
  const MasterKey master = MasterKey::Generate();
  std::array<uint8_t, 32> first;
  {
    auto ks = CreateStore(tmp / "keys", master);
    first = ks->Blind(BlindKind::kEmail, "aino@example.fi");
    auto other = CreateStore(tmp / "other", master);
    CHECK(other->Blind(BlindKind::kEmail, "aino@example.fi") != first);
  }
  auto ks = OpenStore(tmp / "keys", master);
  CHECK(ks->Blind(BlindKind::kEmail, "aino@example.fi") == first);
}

// ---- shredding ------------------------------------------------------------------------------

TEST_CASE("Shred destroys the keys of the given categories and keeps the others") {
  TempDir tmp;
  const fs::path dir = tmp / "keys";
  const MasterKey master = MasterKey::Generate();
  auto ks = CreateStore(dir, master);
  const SubjectId subject = MakeSubject(1);
  const SubjectId other = MakeSubject(2);
  DataKey contact = MustGetOrCreate(*ks, subject, "contact");
  DataKey health = MustGetOrCreate(*ks, subject, "health");
  DataKey kept = MustGetOrCreate(*ks, subject, "billing");
  DataKey other_contact = MustGetOrCreate(*ks, other, "contact");

  const std::vector<std::string> categories = {"contact", "health", "never-created"};
  ShredResult result;
  Status s = ks->Shred(subject, categories, /*remove_index=*/false, &result);
  INFO(s.ToString());
  REQUIRE(s.ok());
  REQUIRE(result.destroyed.size() == 2);
  std::map<std::string, std::string> destroyed;
  for (const auto& [category, id] : result.destroyed) destroyed[category] = IdBytes(id);
  CHECK(destroyed == std::map<std::string, std::string>{{"contact", IdBytes(contact.id)},
                                                        {"health", IdBytes(health.id)}});
  CHECK(result.files_checked > 0);
  CHECK(result.bytes_checked > 0);

  DataKey k;
  CHECK(ks->Get(subject, "contact", &k).IsNotFound());
  CHECK(ks->Get(subject, "health", &k).IsNotFound());
  REQUIRE(ks->Get(subject, "billing", &k).ok());
  CHECK(KeyBytes(k) == KeyBytes(kept));
  REQUIRE(ks->Get(other, "contact", &k).ok());
  CHECK(KeyBytes(k) == KeyBytes(other_contact));
  std::vector<std::pair<std::string, KeyId>> listed;
  REQUIRE(ks->List(subject, &listed).ok());
  REQUIRE(listed.size() == 1);
  CHECK(listed[0].first == "billing");

  // Shredding again finds nothing more to destroy and still passes its check.
  REQUIRE(ks->Shred(subject, categories, false, &result).ok());
  CHECK(result.destroyed.empty());

  // GetOrCreate keeps the keys it read or created in memory; a shredded one is gone from there
  // too: asking for it again makes a new key (the ledger never asks for an erased subject's).
  DataKey fresh = MustGetOrCreate(*ks, subject, "contact");
  CHECK(IdBytes(fresh.id) != IdBytes(contact.id));
  CHECK(KeyBytes(fresh) != KeyBytes(contact));
  CHECK(KeyBytes(MustGetOrCreate(*ks, subject, "billing")) == KeyBytes(kept));

  // And it stays shredded across reopening.
  ks.reset();
  ks = OpenStore(dir, master);
  CHECK(ks->Get(subject, "health", &k).IsNotFound());
  REQUIRE(ks->Get(subject, "contact", &k).ok());
  CHECK(KeyBytes(k) == KeyBytes(fresh));
  REQUIRE(ks->Get(subject, "billing", &k).ok());
}

TEST_CASE("Shred with remove_index removes the subject from the blind index, and only then") {
  TempDir tmp;
  auto ks = CreateStore(tmp / "keys", MasterKey::Generate());
  const SubjectId a = MakeSubject(1);
  const SubjectId b = MakeSubject(2);
  MustGetOrCreate(*ks, a, "contact");
  REQUIRE(ks->AddIndex(a, BlindKind::kEmail, "shared@example.fi").ok());
  REQUIRE(ks->AddIndex(a, BlindKind::kPhone, "040 1234567").ok());
  REQUIRE(ks->AddIndex(b, BlindKind::kEmail, "shared@example.fi").ok());
  const std::vector<std::string> categories = {"contact"};
  std::vector<SubjectId> found;

  ShredResult result;
  REQUIRE(ks->Shred(a, categories, /*remove_index=*/false, &result).ok());
  CHECK(result.blind_entries_removed == 0);
  REQUIRE(ks->Find(BlindKind::kPhone, "+358401234567", &found).ok());
  CHECK(found == std::vector<SubjectId>{a});

  REQUIRE(ks->Shred(a, categories, /*remove_index=*/true, &result).ok());
  CHECK(result.blind_entries_removed == 2);
  REQUIRE(ks->Find(BlindKind::kPhone, "+358401234567", &found).ok());
  CHECK(found.empty());
  REQUIRE(ks->Find(BlindKind::kEmail, "shared@example.fi", &found).ok());
  CHECK(found == std::vector<SubjectId>{b});
}

TEST_CASE("after Shred no file in the key store holds a destroyed key's id, nonce or wrapped key") {
  TempDir tmp;
  const fs::path dir = tmp / "keys";
  const MasterKey master = MasterKey::Generate();
  const SubjectId subject = MakeSubject(1);
  const SubjectId other = MakeSubject(2);
  // One key reaches an SST file (a reopen flushes the recovered WAL), one stays in the WAL and
  // the memtable: both must be gone afterwards.
  {
    auto ks = CreateStore(dir, master);
    MustGetOrCreate(*ks, subject, "contact");
    MustGetOrCreate(*ks, other, "contact");
    REQUIRE(ks->AddIndex(subject, BlindKind::kEmail, "aino@example.fi").ok());
    // A shared value stays indexed for the other subject: it is no leftover.
    REQUIRE(ks->AddIndex(subject, BlindKind::kEmail, "perhe@example.fi").ok());
    REQUIRE(ks->AddIndex(other, BlindKind::kEmail, "perhe@example.fi").ok());
  }
  {
    auto ks = OpenStore(dir, master);
    MustGetOrCreate(*ks, subject, "health");
  }
  // The raw values: key id (16) || nonce (24) || wrapped key (48).
  auto records = RawRecords(dir);
  std::vector<std::string> destroyed_values = {
      records["datakeys"].at(SubjectKey(subject, "contact")),
      records["datakeys"].at(SubjectKey(subject, "health"))};
  const std::string kept_value = records["datakeys"].at(SubjectKey(other, "contact"));
  for (const auto& v : destroyed_values) REQUIRE(v.size() == 88);

  auto ks = OpenStore(dir, master);
  std::vector<std::pair<std::string, KeyId>> listed;
  REQUIRE(ks->List(subject, &listed).ok());
  REQUIRE(listed.size() == 2);
  std::vector<std::string> needles;
  for (const auto& [category, id] : listed) needles.push_back(IdBytes(id));
  for (const auto& v : destroyed_values) {
    CHECK(std::find(needles.begin(), needles.end(), v.substr(0, 16)) != needles.end());
    needles.push_back(v.substr(16, 24));  // nonce
    needles.push_back(v.substr(40, 48));  // wrapped key
  }
  // The search can see them before shredding (compression is off): each is in some file.
  for (const auto& n : needles) CHECK_FALSE(FilesContaining(dir, n).empty());

  ShredResult result;
  const std::vector<std::string> categories = {"contact", "health"};
  Status s = ks->Shred(subject, categories, /*remove_index=*/true, &result);
  INFO(s.ToString());
  REQUIRE(s.ok());
  CHECK(result.destroyed.size() == 2);
  for (const auto& n : needles) {
    const auto hits = FilesContaining(dir, n);
    CAPTURE(hits);
    CHECK(hits.empty());
  }
  // What was not shredded is still physically there (so the search is not vacuous).
  CHECK_FALSE(FilesContaining(dir, kept_value.substr(0, 16)).empty());
  // Nor does any file hold the blind value of the removed index entry.
  const auto blind = ks->Blind(BlindKind::kEmail, "aino@example.fi");
  CAPTURE(FilesContaining(dir, AsChars(blind)));
  CHECK(FilesContaining(dir, AsChars(blind)).empty());
  CHECK(result.blind_entries_removed == 2);
  std::vector<SubjectId> found;
  REQUIRE(ks->Find(BlindKind::kEmail, "perhe@example.fi", &found).ok());
  CHECK(found == std::vector<SubjectId>{other});

  // Also true after closing (RocksDB writes its MANIFEST, OPTIONS and WAL on close and open).
  ks.reset();
  ks = OpenStore(dir, master);
  ks.reset();
  for (const auto& n : needles) CHECK(FilesContaining(dir, n).empty());
}

TEST_CASE("Shred reports Corruption naming a file that still holds a destroyed key") {
  TempDir tmp;
  const fs::path dir = tmp / "keys";
  auto ks = CreateStore(dir, MasterKey::Generate());
  const SubjectId subject = MakeSubject(1);
  DataKey k = MustGetOrCreate(*ks, subject, "contact");
  // A copy of the key id somewhere in the directory, as a stray backup would be.
  WriteBytes(dir / "stray-copy", "before" + IdBytes(k.id) + "after", 0600);
  ShredResult result;
  const std::vector<std::string> categories = {"contact"};
  Status s = ks->Shred(subject, categories, false, &result);
  CHECK(s.IsCorruption());
  CHECK(s.message().find("stray-copy") != std::string::npos);
  CHECK(s.message().find(HexEncode(k.id)) == std::string::npos);
  CHECK(s.message().find(IdBytes(k.id)) == std::string::npos);
  DataKey got;
  CHECK(ks->Get(subject, "contact", &got).IsNotFound());  // the keys are gone all the same
}

TEST_CASE("Shred works in a key store holding the keys of 2000 other subjects") {
  TempDir tmp;
  const fs::path dir = tmp / "keys";
  const MasterKey master = MasterKey::Generate();
  auto ks = CreateStore(dir, master);
  constexpr uint32_t kSubjects = 2000;
  std::vector<KeyRequest> batch;
  std::vector<DataKey> keys;
  for (uint32_t i = 0; i < kSubjects; ++i) {
    batch.push_back({MakeSubject(i), "contact"});
    batch.push_back({MakeSubject(i), "health"});
    if (batch.size() >= 200) {
      REQUIRE(ks->GetOrCreate(batch, &keys).ok());
      batch.clear();
    }
    if (i % 500 == 0) {
      REQUIRE(ks->AddIndex(MakeSubject(i), BlindKind::kEmail,
                           "person" + std::to_string(i) + "@example.fi")
                  .ok());
    }
  }
  if (!batch.empty()) REQUIRE(ks->GetOrCreate(batch, &keys).ok());

  const SubjectId victim = MakeSubject(1234);
  DataKey victim_contact;
  REQUIRE(ks->Get(victim, "contact", &victim_contact).ok());
  DataKey sample_before;
  REQUIRE(ks->Get(MakeSubject(1235), "health", &sample_before).ok());
  CHECK_FALSE(FilesContaining(dir, IdBytes(victim_contact.id)).empty());

  ShredResult result;
  const std::vector<std::string> categories = {"contact", "health"};
  REQUIRE(ks->Shred(victim, categories, true, &result).ok());
  CHECK(result.destroyed.size() == 2);
  CHECK(FilesContaining(dir, IdBytes(victim_contact.id)).empty());

  DataKey k;
  CHECK(ks->Get(victim, "contact", &k).IsNotFound());
  REQUIRE(ks->Get(MakeSubject(1235), "health", &k).ok());
  CHECK(KeyBytes(k) == KeyBytes(sample_before));
  for (uint32_t i = 0; i < kSubjects; i += 97) {
    if (i == 1234) continue;
    CHECK(ks->Get(MakeSubject(i), "contact", &k).ok());
  }
  std::vector<SubjectId> found;
  REQUIRE(ks->Find(BlindKind::kEmail, "person1000@example.fi", &found).ok());
  CHECK(found == std::vector<SubjectId>{MakeSubject(1000)});
}

// ---- master key rotation --------------------------------------------------------------------

TEST_CASE("RotateMaster re-wraps every key so that only the new master key opens the store") {
  TempDir tmp;
  const fs::path dir = tmp / "keys";
  const MasterKey old_master = MasterKey::Generate();
  const MasterKey new_master = MasterKey::Generate();
  std::map<std::pair<uint32_t, std::string>, std::string> secrets;
  {
    auto ks = CreateStore(dir, old_master);
    for (uint32_t i = 0; i < 50; ++i) {
      for (const char* c : {"contact", "health"}) {
        secrets[{i, c}] = KeyBytes(MustGetOrCreate(*ks, MakeSubject(i), c));
      }
    }
    REQUIRE(ks->AddIndex(MakeSubject(3), BlindKind::kEmail, "aino@example.fi").ok());
  }
  // Everything wrapped under the old master key, as stored: nonces and ciphertexts.
  std::vector<std::string> old_bytes;
  {
    auto records = RawRecords(dir);
    for (const char* name : {"check", "index_key"}) {
      const std::string& v = records["default"].at(name);
      REQUIRE(v.size() == 72);
      old_bytes.push_back(v.substr(0, 24));
      old_bytes.push_back(v.substr(24));
    }
    REQUIRE(records["datakeys"].size() == 100);
    for (const auto& [key, v] : records["datakeys"]) {
      REQUIRE(v.size() == 88);
      old_bytes.push_back(v.substr(16, 24));
      old_bytes.push_back(v.substr(40));
    }
  }
  std::array<uint8_t, 32> blind_before;
  {
    auto ks = OpenStore(dir, old_master);
    blind_before = ks->Blind(BlindKind::kEmail, "aino@example.fi");
    for (const auto& n : {old_bytes.front(), old_bytes.back()}) {
      CHECK_FALSE(FilesContaining(dir, n).empty());
    }
    Status s = ks->RotateMaster(new_master);
    INFO(s.ToString());
    REQUIRE(s.ok());
    // The open store goes on working under the new key.
    DataKey k;
    REQUIRE(ks->Get(MakeSubject(7), "health", &k).ok());
    CHECK(KeyBytes(k) == secrets[{7, "health"}]);
    for (const auto& n : old_bytes) CHECK(FilesContaining(dir, n).empty());
  }
  std::unique_ptr<KeyStore> refused;
  CHECK(KeyStore::Open(dir, old_master, &refused).IsInvalidArgument());

  auto ks = OpenStore(dir, new_master);
  for (const auto& [which, secret] : secrets) {
    DataKey k;
    REQUIRE(ks->Get(MakeSubject(which.first), which.second, &k).ok());
    CHECK(KeyBytes(k) == secret);
  }
  CHECK(ks->Blind(BlindKind::kEmail, "aino@example.fi") == blind_before);
  std::vector<SubjectId> found;
  REQUIRE(ks->Find(BlindKind::kEmail, "aino@example.fi", &found).ok());
  CHECK(found == std::vector<SubjectId>{MakeSubject(3)});
  ks.reset();
  for (const auto& n : old_bytes) CHECK(FilesContaining(dir, n).empty());
}

// A FileSystem that, once Fill() is called, refuses to create table files: a disk that filled up
// between a write and the flush after it.
class NoNewTablesFs : public rocksdb::FileSystemWrapper {
 public:
  NoNewTablesFs() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  static const char* kClassName() { return "NoNewTablesFs"; }
  const char* Name() const override { return kClassName(); }
  void Fill() { full_ = true; }

  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& o,
                                    std::unique_ptr<rocksdb::FSWritableFile>* out,
                                    rocksdb::IODebugContext* dbg) override {
    if (full_ && name.ends_with(".sst")) {
      return rocksdb::IOStatus::NoSpace("while creating " + name + ": No space left on device");
    }
    return target()->NewWritableFile(name, o, out, dbg);
  }

 private:
  std::atomic<bool> full_{false};
};

TEST_CASE("a master-key rotation stopped after its write is purged by the next open: the old "
          "master key then opens nothing in the files") {
  TempDir tmp;
  const fs::path dir = tmp / "keys";
  const MasterKey old_master = MasterKey::Generate();
  const MasterKey new_master = MasterKey::Generate();
  std::map<uint32_t, std::string> secrets;
  {
    auto ks = CreateStore(dir, old_master);
    for (uint32_t i = 0; i < 20; ++i) secrets[i] = KeyBytes(MustGetOrCreate(*ks, MakeSubject(i), "contact"));
  }
  std::vector<std::string> old_bytes;  // nonces and ciphertexts wrapped under the old key
  auto records = RawRecords(dir);
  for (const auto& [key, v] : records["datakeys"]) {
    REQUIRE(v.size() == 88);
    old_bytes.push_back(v.substr(16, 24));
    old_bytes.push_back(v.substr(40));
  }
  REQUIRE(old_bytes.size() == 40);

  {
    auto nospace = std::make_shared<NoNewTablesFs>();
    std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(nospace);
    std::unique_ptr<KeyStore> ks;
    REQUIRE(KeyStore::Open(dir, old_master, &ks, env.get()).ok());
    nospace->Fill();
    // The re-wrapped keys are written; the flush that starts the purge cannot make its file.
    Status s = ks->RotateMaster(new_master);
    INFO(s.ToString());
    REQUIRE_FALSE(s.ok());
    ks.reset();
  }
  size_t left = 0;
  for (const auto& n : old_bytes) left += !FilesContaining(dir, n).empty();
  REQUIRE(left > 0);  // what the old master key would still open

  std::unique_ptr<KeyStore> refused;
  CHECK(KeyStore::Open(dir, old_master, &refused).IsInvalidArgument());
  {
    auto ks = OpenStore(dir, new_master);  // finishes the purge
    for (const auto& n : old_bytes) CHECK(FilesContaining(dir, n).empty());
    for (const auto& [i, secret] : secrets) {
      DataKey k;
      REQUIRE(ks->Get(MakeSubject(i), "contact", &k).ok());
      CHECK(KeyBytes(k) == secret);
    }
  }
  // Done once: the mark is gone with the purge.
  CHECK(RawRecords(dir)["default"].count("purge_pending") == 0);
}

// ---- concurrency ----------------------------------------------------------------------------

TEST_CASE("GetOrCreate from four threads on overlapping requests ends with one key each") {
  TempDir tmp;
  auto ks = CreateStore(tmp / "keys", MasterKey::Generate());
  constexpr int kThreads = 4;
  constexpr uint32_t kSubjects = 40;
  std::vector<std::map<std::pair<uint32_t, std::string>, std::string>> seen(kThreads);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (uint32_t round = 0; round < kSubjects; ++round) {
        // Each thread walks the subjects from a different start, two categories at a time,
        // and reads while others write.
        const uint32_t i = (round + static_cast<uint32_t>(t) * 7) % kSubjects;
        std::vector<KeyRequest> req = {{MakeSubject(i), "contact"},
                                       {MakeSubject(i), "health"},
                                       {MakeSubject((i + 1) % kSubjects), "contact"}};
        std::vector<DataKey> keys;
        if (!ks->GetOrCreate(req, &keys).ok() || keys.size() != 3) {
          ++failures;
          continue;
        }
        for (size_t j = 0; j < req.size(); ++j) {
          const auto key =
              std::make_pair(static_cast<uint32_t>(req[j].subject[12]), req[j].category);
          auto [it, inserted] = seen[t].emplace(key, KeyBytes(keys[j]));
          if (!inserted && it->second != KeyBytes(keys[j])) ++failures;
        }
        std::vector<SubjectId> found;
        if (!ks->Find(BlindKind::kEmail, "x@example.fi", &found).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  // Every thread saw the same key for each (subject, category), and the store holds just that.
  for (int t = 1; t < kThreads; ++t) CHECK(seen[t] == seen[0]);
  for (uint32_t i = 0; i < kSubjects; ++i) {
    std::vector<std::pair<std::string, KeyId>> listed;
    REQUIRE(ks->List(MakeSubject(i), &listed).ok());
    CHECK(listed.size() == 2);
    DataKey k;
    REQUIRE(ks->Get(MakeSubject(i), "contact", &k).ok());
    CHECK(KeyBytes(k) == seen[0].at({i, "contact"}));
  }
}

}  // namespace
}  // namespace kirjuri
