// KeyStore: data keys wrapped under the master key, blind indexes, and crypto-shredding.
//
// Exact bytes (all keys and values of DATA/keys; "||" is concatenation):
//   wrap(K, P, AD)       = nonce (24, random) || XChaCha20-Poly1305-IETF(K, nonce, P, AD) (P + 16)
//   default "check"      = wrap(master, 32 random bytes, "kirjuri/check/v1")
//   default "index_key"  = wrap(master, index key, "kirjuri/indexkey/v1")
//   datakeys  subject || category  ->  key id || wrap(master, data key,
//                                        "kirjuri/datakey/v1" || subject || category || key id)
//   blind     kind || blind || subject          -> empty
//   subject_blind  subject || kind || blind     -> empty
//   blind     = BLAKE2b-256(key = index key, "kirjuri/blind/v1" || kind || normalised value)
// The associated data binds a wrapped data key to its subject, category and id: an entry moved
// to another key (another subject or category) no longer opens. Subject (16) and key id (16) are
// fixed-length, so the associated data is unambiguous however long the category is.
//
// Locking: db_mu_ is held shared by every operation that reads or adds records, and exclusively
// by Shred and RotateMaster, which therefore run with no other RocksDB iterator or read in
// flight: nothing pins an obsolete file while they compact and purge, and the master key never
// changes under a reader. write_mu_ (taken after db_mu_) serialises the adding writers
// (GetOrCreate, AddIndex), so that "read, then create if missing" is atomic.
#include "key_store.h"


#include <fcntl.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/write_batch.h>
#include <sodium.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "kirjuri/crypto.h"
#include "kirjuri/rocks_util.h"

namespace kirjuri {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kMasterKeyMagic = "kirjuri-master-key-v1 ";
constexpr size_t kMaxMasterKeyFileBytes = 256;

constexpr const char* kDataKeysCf = "datakeys";
constexpr const char* kBlindCf = "blind";
constexpr const char* kSubjectBlindCf = "subject_blind";
constexpr std::string_view kCheckRecord = "check";
constexpr std::string_view kIndexKeyRecord = "index_key";
// Present from a master-key rotation's write until its purge is done (see RotateMaster).
constexpr std::string_view kPurgePendingRecord = "purge_pending";

constexpr std::string_view kDataKeyAd = "kirjuri/datakey/v1";
constexpr std::string_view kCheckAd = "kirjuri/check/v1";
constexpr std::string_view kIndexKeyAd = "kirjuri/indexkey/v1";
constexpr std::string_view kBlindDomain = "kirjuri/blind/v1";

constexpr size_t kKeyBytes = crypto_aead_xchacha20poly1305_ietf_KEYBYTES;
constexpr size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr size_t kTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;
constexpr size_t kWrappedBytes = kKeyBytes + kTagBytes;
constexpr size_t kSealedBytes = kNonceBytes + kWrappedBytes;  // nonce || wrapped
constexpr size_t kKeyIdBytes = 16;
constexpr size_t kSubjectBytes = 16;
constexpr size_t kBlindBytes = 32;
constexpr size_t kDataKeyValueBytes = kKeyIdBytes + kSealedBytes;
constexpr size_t kMaxCategoryBytes = 255;

static_assert(kKeyBytes == 32 && kNonceBytes == 24 && kWrappedBytes == 48);
static_assert(crypto_generichash_KEYBYTES_MAX >= kKeyBytes &&
              kBlindBytes <= crypto_generichash_BYTES_MAX);

// A 32-byte secret, wiped on destruction.
struct Secret32 {
  std::array<uint8_t, 32> bytes{};
  Secret32() = default;
  Secret32(const Secret32&) = delete;
  Secret32& operator=(const Secret32&) = delete;
  ~Secret32() { sodium_memzero(bytes.data(), bytes.size()); }
};

// Wipes a std::string holding secret material when it goes out of scope.
class StringWiper {
 public:
  explicit StringWiper(std::string* s) : s_(s) {}
  ~StringWiper() {
    if (!s_->empty()) sodium_memzero(s_->data(), s_->size());
  }
  StringWiper(const StringWiper&) = delete;
  StringWiper& operator=(const StringWiper&) = delete;

 private:
  std::string* s_;
};

std::string_view AsChars(std::span<const uint8_t> s) {
  return {reinterpret_cast<const char*>(s.data()), s.size()};
}

std::span<const uint8_t> AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// nonce || ciphertext of `plain` under `key` with associated data `ad`.
// `nonce`: kNonceBytes fresh random bytes; drawn here if null.
std::string Wrap(std::span<const uint8_t> key, std::span<const uint8_t> plain,
                 std::string_view ad, const uint8_t* given_nonce = nullptr) {
  std::string out(kNonceBytes + plain.size() + kTagBytes, '\0');
  auto* nonce = reinterpret_cast<unsigned char*>(out.data());
  if (given_nonce) {
    std::memcpy(nonce, given_nonce, kNonceBytes);
  } else {
    randombytes_buf(nonce, kNonceBytes);
  }
  unsigned long long ct_len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(nonce + kNonceBytes, &ct_len, plain.data(),
                                             plain.size(),
                                             reinterpret_cast<const unsigned char*>(ad.data()),
                                             ad.size(), /*nsec=*/nullptr, nonce, key.data());
  return out;
}

// Opens what Wrap made. False if it does not authenticate (wrong key, moved or damaged record).
// REQUIRES: sealed.size() == kSealedBytes.
bool Unwrap(std::span<const uint8_t> key, std::string_view sealed, std::string_view ad,
            std::array<uint8_t, 32>* out) {
  if (sealed.size() != kSealedBytes) return false;
  const auto* nonce = reinterpret_cast<const unsigned char*>(sealed.data());
  unsigned long long len = 0;
  int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
      out->data(), &len, /*nsec=*/nullptr, nonce + kNonceBytes, kWrappedBytes,
      reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nonce, key.data());
  if (rc != 0 || len != out->size()) {
    sodium_memzero(out->data(), out->size());
    return false;
  }
  return true;
}

std::string SubjectBytes(const SubjectId& subject) { return std::string(AsChars(subject)); }

std::string DataKeyRecordKey(const SubjectId& subject, std::string_view category) {
  std::string k = SubjectBytes(subject);
  k.append(category);
  return k;
}

std::string DataKeyAd(const SubjectId& subject, std::string_view category, const KeyId& id) {
  std::string ad(kDataKeyAd);
  ad.append(AsChars(subject)).append(category).append(AsChars(id));
  return ad;
}

std::string DataKeyValue(const SubjectId& subject, std::string_view category, const DataKey& key,
                         std::span<const uint8_t> master, const uint8_t* nonce = nullptr) {
  std::string v(AsChars(key.id));
  v.append(Wrap(master, key.key, DataKeyAd(subject, category, key.id), nonce));
  return v;
}

Status CheckCategory(std::string_view category) {
  if (category.empty()) return Status::InvalidArgument("a data category must not be empty");
  if (category.size() > kMaxCategoryBytes) {
    return Status::InvalidArgument("a data category is longer than " +
                                   std::to_string(kMaxCategoryBytes) + " bytes");
  }
  return Status::Ok();
}

// Decodes a datakeys value into `out` (id and unwrapped key).
Status OpenDataKeyValue(std::string_view value, const SubjectId& subject, std::string_view category,
                        std::span<const uint8_t> master, DataKey* out) {
  // Built only for an error: every key an append or a read opens comes through here.
  auto where = [&] {
    return "key store: the data key of subject " + SubjectIdHex(subject) + ", category '" +
           std::string(category) + "'";
  };
  if (value.size() != kDataKeyValueBytes) return Status::Corruption(where() + " has a bad size");
  std::memcpy(out->id.data(), value.data(), kKeyIdBytes);
  if (!Unwrap(master, value.substr(kKeyIdBytes), DataKeyAd(subject, category, out->id),
              &out->key)) {
    return Status::Corruption(where() + " does not decrypt under the master key (damaged, or "
                              "moved from another subject or category)");
  }
  return Status::Ok();
}

std::string BlindRecordKey(BlindKind kind, const std::array<uint8_t, 32>& blind,
                           const SubjectId& subject) {
  std::string k(1, static_cast<char>(kind));
  k.append(AsChars(blind)).append(AsChars(subject));
  return k;
}

std::string SubjectBlindRecordKey(const SubjectId& subject, BlindKind kind,
                                  std::string_view blind) {
  std::string k = SubjectBytes(subject);
  k.push_back(static_cast<char>(kind));
  k.append(blind);
  return k;
}

bool IsAsciiSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

std::string_view TrimAscii(std::string_view v) {
  while (!v.empty() && IsAsciiSpace(v.front())) v.remove_prefix(1);
  while (!v.empty() && IsAsciiSpace(v.back())) v.remove_suffix(1);
  return v;
}

// A Finnish number after its country code 358, in national form: "0" and the rest. A "(0)"
// trunk prefix written after the country code ("+358 (0)40 ...") is not doubled.
std::string FinnishNational(std::string_view rest) {
  if (rest.empty()) return "";
  if (rest.front() == '0') return std::string(rest);
  return "0" + std::string(rest);
}

// ---- RocksDB ---------------------------------------------------------------------------------

const std::vector<std::string>& KeyStoreColumnFamilyNames() {
  static const std::vector<std::string> names = {rocksdb::kDefaultColumnFamilyName, kDataKeysCf,
                                                 kBlindCf, kSubjectBlindCf};
  return names;
}

rocksdb::DBOptions MakeKeyStoreDbOptions(bool create) {
  rocksdb::DBOptions o = BaseDbOptions(create);
  o.create_missing_column_families = create;
  // An archived WAL file would keep destroyed keys for good: no archive, ever.
  o.WAL_ttl_seconds = 0;
  o.WAL_size_limit_MB = 0;
  o.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  o.keep_log_file_num = 2;
  // Every MANIFEST write starts a new MANIFEST, holding a snapshot of the live files and then
  // the edit; the previous one becomes obsolete. A MANIFEST records each SST file's smallest and
  // largest key, and keys of the blind index hold blind values: without this, the boundary keys
  // of files a Shred compacted away would stay in an ever-growing MANIFEST. Edits are rare here
  // (flushes and compactions of a small database), so the extra writes cost little.
  o.max_manifest_file_size = 1;
  // Obsolete files are deleted by the thread that makes them obsolete (not in the background),
  // so that Shred's purge has finished when it returns.
  o.avoid_unnecessary_blocking_io = false;
  return o;
}

rocksdb::ColumnFamilyOptions MakeCfOptions() {
  rocksdb::ColumnFamilyOptions o;
  // Uncompressed, so that the physical check after shredding sees key bytes as they are.
  o.compression = rocksdb::kNoCompression;
  o.bottommost_compression = rocksdb::kNoCompression;
  o.compression_per_level.clear();
  o.enable_blob_files = false;
  // Writers put each batch's keys in key order (PutSorted), and one insert hint (the empty
  // prefix) lets the memtable start each insert from where the previous one ended: random keys
  // (subject ids, blinds) then cost a short walk instead of a search from the top. Inserts only.
  o.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(0));
  return o;
}

// The set of byte strings the physical check looks for; all at least 8 bytes long.
class NeedleSet {
 public:
  void Add(std::string_view needle) {
    if (needle.size() < 8) return;
    by_prefix_[Prefix(needle.data())].emplace_back(needle);
  }
  bool empty() const { return by_prefix_.empty(); }
  // True iff some needle occurs in `hay`.
  bool FoundIn(std::string_view hay) const {
    if (by_prefix_.empty()) return false;
    for (size_t i = 0; i + 8 <= hay.size(); ++i) {
      auto it = by_prefix_.find(Prefix(hay.data() + i));
      if (it == by_prefix_.end()) continue;
      for (const std::string& n : it->second) {
        if (hay.substr(i).starts_with(n)) return true;
      }
    }
    return false;
  }
  ~NeedleSet() {
    for (auto& [prefix, needles] : by_prefix_) {
      for (std::string& n : needles) sodium_memzero(n.data(), n.size());
    }
  }

 private:
  static uint64_t Prefix(const char* p) {
    uint64_t v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  std::unordered_map<uint64_t, std::vector<std::string>> by_prefix_;
};

// Adds what must not survive of a sealed value (nonce || wrapped): both halves.
void AddSealed(std::string_view sealed, NeedleSet* needles) {
  if (sealed.size() != kSealedBytes) return;
  needles->Add(sealed.substr(0, kNonceBytes));
  needles->Add(sealed.substr(kNonceBytes));
}

Status ReadWholeFile(const fs::path& path, std::string* out, bool* vanished) {
  *vanished = false;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) {
      *vanished = true;
      return Status::Ok();
    }
    return Status::IOError("physical check: open " + path.string() + ": " + std::strerror(errno));
  }
  out->clear();
  char buf[1 << 16];
  Status s;
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      s = Status::IOError("physical check: read " + path.string() + ": " + std::strerror(errno));
      break;
    }
    if (n == 0) break;
    out->append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return s;
}

}  // namespace

// ---- MasterKey -------------------------------------------------------------------------------

MasterKey::~MasterKey() { sodium_memzero(key_.data(), key_.size()); }

MasterKey::MasterKey(const MasterKey& other) : key_(other.key_) {}

MasterKey& MasterKey::operator=(const MasterKey& other) {
  if (this != &other) {
    sodium_memzero(key_.data(), key_.size());
    key_ = other.key_;
  }
  return *this;
}

MasterKey MasterKey::Generate() {
  if (!InitCrypto().ok()) std::abort();
  MasterKey key;
  randombytes_buf(key.key_.data(), key.key_.size());
  return key;
}

Status MasterKey::WriteFile(const std::filesystem::path& path) const {
  KIRJURI_RETURN_IF_ERROR(InitCrypto());
  std::string b64 = Base64Encode(key_);
  StringWiper wipe_b64(&b64);
  std::string text;
  StringWiper wipe_text(&text);
  text.reserve(kMasterKeyMagic.size() + b64.size() + 1);
  text.append(kMasterKeyMagic).append(b64).push_back('\n');
  return WriteSecretFile(path, text);
}

Status MasterKey::ReadFile(const std::filesystem::path& path, MasterKey* out) {
  KIRJURI_RETURN_IF_ERROR(InitCrypto());
  std::string text;
  StringWiper wipe_text(&text);
  KIRJURI_RETURN_IF_ERROR(ReadSecretFile(path, kMaxMasterKeyFileBytes, &text));
  const Status bad = Status::InvalidArgument(
      "key file " + path.string() +
      " is not a Kirjuri master key file (expected one line 'kirjuri-master-key-v1 <base64>')");
  std::string_view body = text;
  if (!body.starts_with(kMasterKeyMagic)) return bad;
  body.remove_prefix(kMasterKeyMagic.size());
  if (!body.ends_with('\n')) return bad;
  body.remove_suffix(1);
  std::vector<uint8_t> key;
  Status s = Base64Decode(body, &key);
  const bool good = s.ok() && key.size() == 32;
  if (good) std::memcpy(out->key_.data(), key.data(), 32);
  if (!key.empty()) sodium_memzero(key.data(), key.size());
  return good ? Status::Ok() : bad;
}

DataKey::~DataKey() { sodium_memzero(key.data(), key.size()); }

// ---- NormaliseForIndex -------------------------------------------------------------------------

std::string NormaliseForIndex(BlindKind kind, std::string_view value) {
  value = TrimAscii(value);
  if (kind != BlindKind::kPhone) {
    std::string out(value);
    for (char& c : out) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
  }
  // Phone: the digits; whether the number was written with a leading "+" is decided by the
  // first character that is a digit or a "+" ("(+358) ..." counts).
  bool plus = false;
  std::string digits;
  for (char c : value) {
    if (c >= '0' && c <= '9') {
      digits.push_back(c);
    } else if (c == '+' && digits.empty()) {
      plus = true;
    }
  }
  if (digits.empty()) return "";
  std::string_view d = digits;
  if (plus) {
    if (d.starts_with("358")) return FinnishNational(d.substr(3));
    // Another country: the international form dialled from Finland, so "+46 70 ..." and
    // "0046 70 ..." are one number.
    return "00" + digits;
  }
  if (d.starts_with("00358")) return FinnishNational(d.substr(5));
  return digits;  // national form ("040...") or a number written without any prefix
}

// ---- KeyStore::Impl ----------------------------------------------------------------------------

struct KeyStore::Impl {
  fs::path dir;
  rocksdb::Env* env = nullptr;  // tests: see KeyStore::Open; null: the default
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::ColumnFamilyHandle* meta = nullptr;
  rocksdb::ColumnFamilyHandle* datakeys = nullptr;
  rocksdb::ColumnFamilyHandle* blind = nullptr;
  rocksdb::ColumnFamilyHandle* subject_blind = nullptr;
  bool writable = false;  // opened read-write (CloseDb flushes then)
  Secret32 index_key;  // set once by Load; constant afterwards

  mutable std::shared_mutex db_mu;  // see the file comment
  std::mutex write_mu;
  MasterKey master;  // guarded by db_mu (written only under an exclusive lock)

  // Unwrapped data keys recently read or created (subject || category -> key), so that reading
  // a person's events, or appending more of them, does not look up and unwrap the same key once
  // per event or batch. Only in memory, wiped on eviction (by DataKey's destructor). Filled under
  // db_mu held shared together with the read or the durable write it caches, and purged of a
  // subject under db_mu held exclusively by Shred, so a shredded key never outlives its record
  // here. Bounded: cleared whole when full.
  static constexpr size_t kKeyCacheEntries = 1 << 16;
  mutable std::mutex cache_mu;
  mutable std::unordered_map<std::string, DataKey> key_cache;  // guarded by cache_mu
  // Subjects created here (KeyRequest::new_subject: an id this process drew), every key of whom
  // was therefore created by GetOrCreate here and put in key_cache once stored: for them a key
  // missing from key_cache does not exist, and is created without a look-up. Cleared together
  // with key_cache. Guarded by cache_mu.
  std::unordered_set<SubjectId, SubjectIdHash> complete_subjects;

  ~Impl() { static_cast<void>(CloseDb()); }

  Status CloseDb() {
    meta = datakeys = blind = subject_blind = nullptr;
    return CloseStore(&db, &handles, writable, "the key store in " + dir.string());
  }

  // A key store opened read-only with `master` checked, or NotFound if `dir` holds none.
  static Status OpenReadOnly(const std::filesystem::path& dir, const MasterKey& master,
                             rocksdb::Env* env, std::unique_ptr<Impl>* out) {
    KIRJURI_RETURN_IF_ERROR(InitCrypto());
    std::error_code ec;
    if (!fs::is_directory(dir, ec) || !fs::exists(dir / "CURRENT", ec)) {
      return Status::NotFound("there is no key store in " + dir.string());
    }
    auto impl = std::make_unique<Impl>();
    impl->dir = dir;
    impl->env = env;
    KIRJURI_RETURN_IF_ERROR(impl->OpenDb(Mode::kReadOnly));
    KIRJURI_RETURN_IF_ERROR(impl->Load(master));
    *out = std::move(impl);
    return Status::Ok();
  }

  enum class Mode { kCreate, kReadOnly, kReadWrite };

  Status OpenDb(Mode mode) {
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const auto& name : KeyStoreColumnFamilyNames()) descriptors.emplace_back(name, MakeCfOptions());
    rocksdb::DB* raw = nullptr;
    rocksdb::DBOptions options = MakeKeyStoreDbOptions(mode == Mode::kCreate);
    if (env) options.env = env;
    if (mode != Mode::kCreate) {
      KIRJURI_RETURN_IF_ERROR(CheckTableFiles(dir, "cannot open the key store in " + dir.string()));
    }
    rocksdb::Status s =
        mode == Mode::kReadOnly
            ? rocksdb::DB::OpenForReadOnly(options, dir.string(), descriptors, &handles, &raw)
            : rocksdb::DB::Open(options, dir.string(), descriptors, &handles, &raw);
    if (!s.ok()) return FromRocks(s, "cannot open the key store in " + dir.string());
    db.reset(raw);
    writable = mode != Mode::kReadOnly;
    meta = handles[0];
    datakeys = handles[1];
    blind = handles[2];
    subject_blind = handles[3];
    return Status::Ok();
  }

  // Checks that `master` opens this store and loads the index key. InvalidArgument if it is the
  // wrong key. Reads only.
  Status Load(const MasterKey& key) {
    std::string check;
    rocksdb::Status rs = db->Get(rocksdb::ReadOptions(), meta, kCheckRecord, &check);
    if (rs.IsNotFound()) {
      return Status::Corruption("the key store in " + dir.string() + " has no check value");
    }
    KIRJURI_RETURN_IF_ERROR(FromRocks(rs, "reading the key store in " + dir.string()));
    Secret32 plain;
    if (!Unwrap(key.bytes(), check, kCheckAd, &plain.bytes)) {
      return Status::InvalidArgument("the master key does not open the key store in " +
                                     dir.string() + " (wrong key file?)");
    }
    std::string wrapped_index_key;
    rs = db->Get(rocksdb::ReadOptions(), meta, kIndexKeyRecord, &wrapped_index_key);
    if (rs.IsNotFound()) {
      return Status::Corruption("the key store in " + dir.string() + " has no index key");
    }
    KIRJURI_RETURN_IF_ERROR(FromRocks(rs, "reading the key store in " + dir.string()));
    if (!Unwrap(key.bytes(), wrapped_index_key, kIndexKeyAd, &index_key.bytes)) {
      return Status::Corruption("the index key of the key store in " + dir.string() +
                                " does not decrypt under the master key");
    }
    master = key;
    return Status::Ok();
  }

  rocksdb::WriteOptions SyncWrite() const {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    return wo;
  }

  // True iff another subject than `subject` has the blind index entry `kind_blind`
  // (kind || blind): then the blind value stays in the store after `subject`'s is removed.
  bool BlindSharedWithOthers(std::string_view kind_blind, const SubjectId& subject) const {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), blind));
    for (it->Seek(kind_blind); it->Valid() && it->key().starts_with(kind_blind); it->Next()) {
      if (!it->key().ToStringView().substr(kind_blind.size()).starts_with(AsChars(subject))) {
        return true;
      }
    }
    return !it->status().ok();  // when in doubt, do not look for it
  }

  // Flushes every column family, compacts each one's whole key range down to the bottom level
  // (dropping deleted and overwritten values: no snapshot is ever taken), and deletes every file
  // that is then obsolete — old WAL files included. REQUIRES: db_mu held exclusively, so that no
  // read pins an obsolete file.
  Status CompactAndPurge(std::string_view what) {
    rocksdb::FlushOptions fo;
    fo.wait = true;
    fo.allow_write_stall = true;
    KIRJURI_RETURN_IF_ERROR(FromRocks(db->Flush(fo, handles), std::string(what) + ": flush"));
    rocksdb::CompactRangeOptions co;
    co.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    co.exclusive_manual_compaction = true;
    // The default column family last: it always holds a file (the check value and the index
    // key), so its forced compaction always writes one more MANIFEST edit, and the new MANIFEST
    // that edit starts (see max_manifest_file_size) snapshots the other column families after
    // their compaction: no boundary key of a deleted file survives in it.
    for (auto* h : {datakeys, blind, subject_blind, meta}) {
      KIRJURI_RETURN_IF_ERROR(FromRocks(db->CompactRange(co, h, nullptr, nullptr),
                                              std::string(what) + ": compaction"));
    }
    // Re-enabling file deletions scans the directory for every obsolete file and deletes it
    // before returning (avoid_unnecessary_blocking_io is off).
    KIRJURI_RETURN_IF_ERROR(
        FromRocks(db->DisableFileDeletions(), std::string(what) + ": purge"));
    KIRJURI_RETURN_IF_ERROR(
        FromRocks(db->EnableFileDeletions(/*force=*/true), std::string(what) + ": purge"));
    return Status::Ok();
  }

  // Finishes the purge of a master-key rotation that stopped after its write (the mark
  // kPurgePendingRecord is there): the copies wrapped under the old master key may still be in
  // the files, where the old key would open them. The physical check cannot be repeated (the old
  // wrapped bytes are gone from the store, as they should be); the purge itself is what removes
  // them. REQUIRES: db_mu held exclusively.
  Status FinishPendingPurge() {
    std::string mark;
    rocksdb::Status rs = db->Get(rocksdb::ReadOptions(), meta, kPurgePendingRecord, &mark);
    if (rs.IsNotFound()) return Status::Ok();
    KIRJURI_RETURN_IF_ERROR(FromRocks(rs, "reading the key store in " + dir.string()));
    spdlog::warn("the key store's last master-key rotation stopped before purging the copies "
                 "wrapped under the old master key: purging them now");
    KIRJURI_RETURN_IF_ERROR(CompactAndPurge("completing the interrupted rotation"));
    return ClearPurgePending("completing the interrupted rotation");
  }

  Status ClearPurgePending(std::string_view what) {
    return FromRocks(db->Delete(SyncWrite(), meta, kPurgePendingRecord),
                     std::string(what) + ": clearing the purge mark");
  }

  // Reads every regular file under `dir` and fails with Corruption naming the first one that
  // holds a needle. The message never holds the needle.
  Status PhysicalCheck(const NeedleSet& needles, std::string_view what, uint64_t* files,
                       uint64_t* bytes) const {
    std::error_code ec;
    std::vector<fs::path> paths;
    for (fs::recursive_directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->is_regular_file(ec)) paths.push_back(it->path());
    }
    if (ec) {
      return Status::IOError(std::string(what) + ": cannot list " + dir.string() + ": " +
                             ec.message());
    }
    std::sort(paths.begin(), paths.end());
    std::string content;
    for (const fs::path& p : paths) {
      bool vanished = false;
      KIRJURI_RETURN_IF_ERROR(ReadWholeFile(p, &content, &vanished));
      if (vanished) continue;  // RocksDB deleted it meanwhile (an old info log)
      ++*files;
      *bytes += content.size();
      if (needles.FoundIn(content)) {
        return Status::Corruption(std::string(what) + ": the physical check found " +
                                  "destroyed key material in " + p.string() +
                                  " after compaction; the key store directory needs inspection");
      }
    }
    return Status::Ok();
  }
};

// ---- KeyStore --------------------------------------------------------------------------------

KeyStore::KeyStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
KeyStore::~KeyStore() = default;

Status KeyStore::Create(const std::filesystem::path& dir, const MasterKey& master,
                        std::unique_ptr<KeyStore>* out, rocksdb::Env* env) {
  KIRJURI_RETURN_IF_ERROR(InitCrypto());
  std::error_code ec;
  if (fs::exists(fs::symlink_status(dir, ec))) {
    return Status::FailedPrecondition("the key store directory " + dir.string() +
                                      " already exists");
  }
  // 0700: the directory holds wrapped keys only, but nobody else has any business in it.
  if (::mkdir(dir.c_str(), 0700) != 0) {
    const int err = errno;
    if (err == EEXIST) {
      return Status::FailedPrecondition("the key store directory " + dir.string() +
                                        " already exists");
    }
    return Status::IOError("cannot create the key store directory " + dir.string() + ": " +
                           std::strerror(err));
  }
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->env = env;
  Status s = impl->OpenDb(Impl::Mode::kCreate);
  if (s.ok()) {
    Secret32 check;
    randombytes_buf(check.bytes.data(), check.bytes.size());
    randombytes_buf(impl->index_key.bytes.data(), impl->index_key.bytes.size());
    rocksdb::WriteBatch batch;
    rocksdb::Status rs =
        batch.Put(impl->meta, kCheckRecord, Wrap(master.bytes(), check.bytes, kCheckAd));
    if (rs.ok()) {
      rs = batch.Put(impl->meta, kIndexKeyRecord,
                     Wrap(master.bytes(), impl->index_key.bytes, kIndexKeyAd));
    }
    if (rs.ok()) rs = impl->db->Write(impl->SyncWrite(), &batch);
    s = FromRocks(rs, "creating the key store in " + dir.string());
  }
  if (!s.ok()) {
    impl.reset();  // closes the database
    fs::remove_all(dir, ec);
    return s;
  }
  impl->master = master;
  out->reset(new KeyStore(std::move(impl)));
  return Status::Ok();
}

Status KeyStore::OpenReadOnly(const std::filesystem::path& dir, const MasterKey& master,
                              std::unique_ptr<KeyStore>* out, rocksdb::Env* env) {
  std::unique_ptr<Impl> impl;
  KIRJURI_RETURN_IF_ERROR(Impl::OpenReadOnly(dir, master, env, &impl));
  out->reset(new KeyStore(std::move(impl)));
  return Status::Ok();
}

Status KeyStore::Open(const std::filesystem::path& dir, const MasterKey& master,
                      std::unique_ptr<KeyStore>* out, rocksdb::Env* env) {
  // First read-only, which writes nothing at all (not even an info log): a wrong master key
  // leaves the directory exactly as it was.
  std::unique_ptr<Impl> impl;
  KIRJURI_RETURN_IF_ERROR(Impl::OpenReadOnly(dir, master, env, &impl));
  KIRJURI_RETURN_IF_ERROR(impl->CloseDb());
  KIRJURI_RETURN_IF_ERROR(impl->OpenDb(Impl::Mode::kReadWrite));
  // Again, on what the writable instance sees (the files could have changed in between).
  KIRJURI_RETURN_IF_ERROR(impl->Load(master));
  {
    std::unique_lock db_lock(impl->db_mu);
    KIRJURI_RETURN_IF_ERROR(impl->FinishPendingPurge());
  }
  out->reset(new KeyStore(std::move(impl)));
  return Status::Ok();
}

struct KeyStore::Put {
  rocksdb::ColumnFamilyHandle* cf;
  std::string key;
  std::string value;
};

namespace {

// Puts `puts` into `batch` sorted by key within each column family: random keys (subject ids,
// blinds) inserted in order cost RocksDB's memtable skip list far fewer cache misses than the
// same keys in request order. The batch is written as a unit either way.
template <typename PutT>
Status PutSorted(std::vector<PutT>& puts, rocksdb::WriteBatch* batch) {
  std::sort(puts.begin(), puts.end(), [](const PutT& a, const PutT& b) {
    if (a.cf != b.cf) return a.cf->GetID() < b.cf->GetID();
    return a.key < b.key;
  });
  for (const PutT& p : puts) {
    KIRJURI_RETURN_IF_ERROR(FromRocks(batch->Put(p.cf, p.key, p.value), "writing the key store"));
  }
  return Status::Ok();
}

}  // namespace

Status KeyStore::GetOrCreate(std::span<const KeyRequest> requests, std::vector<DataKey>* out,
                             std::span<const IndexEntry> index,
                             const std::function<void(const std::vector<DataKey>&)>& keys_ready) {
  for (const KeyRequest& r : requests) KIRJURI_RETURN_IF_ERROR(CheckCategory(r.category));
  std::shared_lock db_lock(impl_->db_mu);
  std::lock_guard write_lock(impl_->write_mu);
  const std::span<const uint8_t> master = impl_->master.bytes();
  // Filled in place (never reallocated below): keys_ready's caller may read the elements while
  // the write runs. Any earlier keys in *out are wiped by their destructors.
  out->clear();
  out->resize(requests.size());
  std::vector<DataKey>& keys = *out;
  // Each request's record key, built once; `first` refers to them.
  std::vector<std::string> record_keys;
  record_keys.reserve(requests.size());
  for (const KeyRequest& r : requests) record_keys.push_back(DataKeyRecordKey(r.subject, r.category));
  std::unordered_map<std::string_view, size_t> first;  // record key -> its first request
  first.reserve(requests.size());
  std::vector<size_t> created;  // first requests of keys that do not exist yet
  std::vector<size_t> opened;   // first requests of keys read from the store
  std::vector<std::pair<size_t, size_t>> copies;  // (request, its first) for repeated requests
  std::vector<size_t> lookups;  // first requests of subjects that may have keys
  {
    // Keys read or created recently are not looked up and unwrapped again: a person's events
    // tend to come together (an import, a session of usage events).
    std::lock_guard cache_lock(impl_->cache_mu);
    for (size_t i = 0; i < requests.size(); ++i) {
      auto [it, inserted] = first.emplace(record_keys[i], i);
      if (!inserted) {
        copies.emplace_back(i, it->second);
      } else if (requests[i].new_subject) {
        created.push_back(i);
      } else if (auto hit = impl_->key_cache.find(record_keys[i]); hit != impl_->key_cache.end()) {
        keys[i] = hit->second;
      } else if (impl_->complete_subjects.contains(requests[i].subject)) {
        created.push_back(i);
      } else {
        lookups.push_back(i);
      }
    }
  }
  // One batched look-up for all the keys that may exist.
  std::vector<rocksdb::Slice> slices;
  slices.reserve(lookups.size());
  for (size_t i : lookups) slices.emplace_back(record_keys[i]);
  std::vector<rocksdb::PinnableSlice> values(lookups.size());
  std::vector<rocksdb::Status> statuses(lookups.size());
  if (!lookups.empty()) {
    impl_->db->MultiGet(rocksdb::ReadOptions(), impl_->datakeys, lookups.size(), slices.data(),
                        values.data(), statuses.data());
  }
  for (size_t j = 0; j < lookups.size(); ++j) {
    const size_t i = lookups[j];
    const KeyRequest& r = requests[i];
    if (statuses[j].ok()) {
      KIRJURI_RETURN_IF_ERROR(
          OpenDataKeyValue(values[j].ToStringView(), r.subject, r.category, master, &keys[i]));
      opened.push_back(i);
    } else if (statuses[j].IsNotFound()) {
      created.push_back(i);
    } else {
      return FromRocks(statuses[j], "reading the key store");
    }
  }
  // The new keys' ids, keys and wrapping nonces, from one call to the system's generator rather
  // than three per key.
  constexpr size_t kPerKey = kKeyIdBytes + kKeyBytes + kNonceBytes;
  std::vector<uint8_t> fresh(created.size() * kPerKey);
  struct FreshWiper {
    std::vector<uint8_t>* v;
    ~FreshWiper() {
      if (!v->empty()) sodium_memzero(v->data(), v->size());
    }
  } wipe_fresh{&fresh};
  if (!fresh.empty()) randombytes_buf(fresh.data(), fresh.size());
  for (size_t k = 0; k < created.size(); ++k) {
    const uint8_t* r = fresh.data() + k * kPerKey;
    std::memcpy(keys[created[k]].id.data(), r, kKeyIdBytes);
    std::memcpy(keys[created[k]].key.data(), r + kKeyIdBytes, kKeyBytes);
  }
  for (const auto& [i, f] : copies) {
    keys[i].id = keys[f].id;
    keys[i].key = keys[f].key;
  }
  if (keys_ready) keys_ready(keys);

  // The wrapping, the blind indexes and the synced write overlap with whatever keys_ready began.
  std::vector<Put> puts;
  puts.reserve(created.size());
  for (size_t k = 0; k < created.size(); ++k) {
    const size_t i = created[k];
    const uint8_t* nonce = fresh.data() + k * kPerKey + kKeyIdBytes + kKeyBytes;
    puts.push_back({impl_->datakeys, record_keys[i],
                    DataKeyValue(requests[i].subject, requests[i].category, keys[i], master, nonce)});
  }
  KIRJURI_RETURN_IF_ERROR(IndexPutsLocked(index, &puts));
  if (!puts.empty()) {
    rocksdb::WriteBatch batch;
    KIRJURI_RETURN_IF_ERROR(PutSorted(puts, &batch));
    KIRJURI_RETURN_IF_ERROR(
        FromRocks(impl_->db->Write(impl_->SyncWrite(), &batch), "storing new data keys"));
  }
  // Cached only once stored: a key whose write failed never serves a later append. (db_mu is
  // held shared throughout, so no Shred of these subjects ran in between.)
  std::lock_guard cache_lock(impl_->cache_mu);
  if (impl_->key_cache.size() + opened.size() + created.size() > Impl::kKeyCacheEntries) {
    impl_->key_cache.clear();
    impl_->complete_subjects.clear();
  }
  for (size_t i : opened) impl_->key_cache[std::move(record_keys[i])] = keys[i];
  for (size_t i : created) {
    if (requests[i].new_subject) impl_->complete_subjects.insert(requests[i].subject);
    impl_->key_cache[std::move(record_keys[i])] = keys[i];
  }
  return Status::Ok();
}

Status KeyStore::Get(const SubjectId& subject, std::string_view category, DataKey* out) const {
  KIRJURI_RETURN_IF_ERROR(CheckCategory(category));
  std::shared_lock db_lock(impl_->db_mu);
  {
    std::lock_guard cache_lock(impl_->cache_mu);
    auto hit = impl_->key_cache.find(DataKeyRecordKey(subject, category));
    if (hit != impl_->key_cache.end()) {
      *out = hit->second;
      return Status::Ok();
    }
  }
  rocksdb::PinnableSlice value;
  rocksdb::Status rs = impl_->db->Get(rocksdb::ReadOptions(), impl_->datakeys,
                                      DataKeyRecordKey(subject, category), &value);
  if (rs.IsNotFound()) {
    return Status::NotFound("no data key for subject " + SubjectIdHex(subject) + ", category '" +
                            std::string(category) + "'");
  }
  KIRJURI_RETURN_IF_ERROR(FromRocks(rs, "reading the key store"));
  KIRJURI_RETURN_IF_ERROR(
      OpenDataKeyValue(value.ToStringView(), subject, category, impl_->master.bytes(), out));
  std::lock_guard cache_lock(impl_->cache_mu);
  if (impl_->key_cache.size() >= Impl::kKeyCacheEntries) {
    impl_->key_cache.clear();
    impl_->complete_subjects.clear();
  }
  impl_->key_cache[DataKeyRecordKey(subject, category)] = *out;
  return Status::Ok();
}

Status KeyStore::List(const SubjectId& subject,
                      std::vector<std::pair<std::string, KeyId>>* out) const {
  std::shared_lock db_lock(impl_->db_mu);
  const std::string prefix = SubjectBytes(subject);
  std::vector<std::pair<std::string, KeyId>> result;
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->datakeys));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->key().size() == prefix.size() || it->value().size() != kDataKeyValueBytes) {
      return Status::Corruption("key store: a data key record of subject " + SubjectIdHex(subject) +
                                " is malformed");
    }
    KeyId id;
    std::memcpy(id.data(), it->value().data(), id.size());
    result.emplace_back(std::string(it->key().ToStringView().substr(prefix.size())), id);
  }
  KIRJURI_RETURN_IF_ERROR(FromRocks(it->status(), "reading the key store"));
  *out = std::move(result);
  return Status::Ok();
}

std::array<uint8_t, 32> KeyStore::Blind(BlindKind kind, std::string_view value) const {
  std::string normalised = NormaliseForIndex(kind, value);
  StringWiper wipe(&normalised);
  const uint8_t kind_byte = static_cast<uint8_t>(kind);
  crypto_generichash_state state;
  crypto_generichash_init(&state, impl_->index_key.bytes.data(), impl_->index_key.bytes.size(),
                          kBlindBytes);
  crypto_generichash_update(&state, AsBytes(kBlindDomain).data(), kBlindDomain.size());
  crypto_generichash_update(&state, &kind_byte, 1);
  crypto_generichash_update(&state, AsBytes(normalised).data(), normalised.size());
  std::array<uint8_t, 32> out;
  crypto_generichash_final(&state, out.data(), out.size());
  sodium_memzero(&state, sizeof state);
  return out;
}

Status KeyStore::AddIndex(const SubjectId& subject, BlindKind kind, std::string_view value) {
  const IndexEntry entry{subject, kind, std::string(value)};
  return AddIndexes(std::span<const IndexEntry>(&entry, 1));
}

Status KeyStore::AddIndexes(std::span<const IndexEntry> entries) {
  std::shared_lock db_lock(impl_->db_mu);
  std::lock_guard write_lock(impl_->write_mu);
  std::vector<Put> puts;
  KIRJURI_RETURN_IF_ERROR(IndexPutsLocked(entries, &puts));
  if (puts.empty()) return Status::Ok();
  rocksdb::WriteBatch batch;
  KIRJURI_RETURN_IF_ERROR(PutSorted(puts, &batch));
  return FromRocks(impl_->db->Write(impl_->SyncWrite(), &batch), "storing blind index entries");
}

Status KeyStore::IndexPutsLocked(std::span<const IndexEntry> entries, std::vector<Put>* puts) {
  for (const IndexEntry& e : entries) {
    if (NormaliseForIndex(e.kind, e.value).empty()) {
      return Status::InvalidArgument("an index value is empty once normalised");
    }
  }
  std::set<std::string> seen;
  for (const IndexEntry& e : entries) {
    const std::array<uint8_t, 32> b = Blind(e.kind, e.value);
    std::string reverse_key = SubjectBlindRecordKey(e.subject, e.kind, AsChars(b));
    if (!seen.insert(reverse_key).second) continue;
    std::string ignored;
    rocksdb::Status rs =
        e.new_subject
            ? rocksdb::Status::NotFound()
            : impl_->db->Get(rocksdb::ReadOptions(), impl_->subject_blind, reverse_key, &ignored);
    if (rs.ok()) continue;  // already indexed
    if (!rs.IsNotFound()) return FromRocks(rs, "reading the key store");
    puts->push_back({impl_->blind, BlindRecordKey(e.kind, b, e.subject), std::string()});
    puts->push_back({impl_->subject_blind, std::move(reverse_key), std::string()});
  }
  return Status::Ok();
}

Status KeyStore::Find(BlindKind kind, std::string_view value, std::vector<SubjectId>* out) const {
  out->clear();
  if (NormaliseForIndex(kind, value).empty()) return Status::Ok();
  const std::array<uint8_t, 32> b = Blind(kind, value);
  std::string prefix(1, static_cast<char>(kind));
  prefix.append(AsChars(b));
  std::shared_lock db_lock(impl_->db_mu);
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->blind));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->key().size() != prefix.size() + kSubjectBytes) {
      return Status::Corruption("key store: a blind index record is malformed");
    }
    SubjectId subject;
    std::memcpy(subject.data(), it->key().data() + prefix.size(), subject.size());
    out->push_back(subject);
  }
  return FromRocks(it->status(), "reading the key store");
}

Status KeyStore::Shred(const SubjectId& subject, std::span<const std::string> categories,
                       bool remove_index, ShredResult* out) {
  for (const std::string& c : categories) KIRJURI_RETURN_IF_ERROR(CheckCategory(c));
  const std::set<std::string> unique(categories.begin(), categories.end());
  std::unique_lock db_lock(impl_->db_mu);
  Impl& s = *impl_;
  {
    std::lock_guard cache_lock(s.cache_mu);
    for (const std::string& category : unique) s.key_cache.erase(DataKeyRecordKey(subject, category));
  }
  ShredResult result;
  NeedleSet needles;
  rocksdb::WriteBatch batch;
  for (const std::string& category : unique) {
    const std::string record_key = DataKeyRecordKey(subject, category);
    std::string value;
    rocksdb::Status rs = s.db->Get(rocksdb::ReadOptions(), s.datakeys, record_key, &value);
    if (rs.IsNotFound()) continue;
    KIRJURI_RETURN_IF_ERROR(FromRocks(rs, "shred: reading the key store"));
    if (value.size() != kDataKeyValueBytes) {
      return Status::Corruption("shred: the data key of subject " + SubjectIdHex(subject) +
                                ", category '" + category + "' has a bad size");
    }
    KeyId id;
    std::memcpy(id.data(), value.data(), id.size());
    needles.Add(std::string_view(value).substr(0, kKeyIdBytes));
    AddSealed(std::string_view(value).substr(kKeyIdBytes), &needles);
    sodium_memzero(value.data(), value.size());
    KIRJURI_RETURN_IF_ERROR(
        FromRocks(batch.Delete(s.datakeys, record_key), "shred: deleting a data key"));
    result.destroyed.emplace_back(category, id);
  }
  if (remove_index) {
    const std::string prefix = SubjectBytes(subject);
    std::unique_ptr<rocksdb::Iterator> it(
        s.db->NewIterator(rocksdb::ReadOptions(), s.subject_blind));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      const std::string_view key = it->key().ToStringView();
      if (key.size() != kSubjectBytes + 1 + kBlindBytes) {
        return Status::Corruption("shred: a blind index record of subject " +
                                  SubjectIdHex(subject) + " is malformed");
      }
      std::string forward(key.substr(kSubjectBytes));  // kind || blind
      if (!s.BlindSharedWithOthers(forward, subject)) needles.Add(forward.substr(1));
      forward.append(prefix);
      rocksdb::Status rs = batch.Delete(s.blind, forward);
      if (rs.ok()) rs = batch.Delete(s.subject_blind, key);
      KIRJURI_RETURN_IF_ERROR(FromRocks(rs, "shred: deleting a blind index entry"));
      ++result.blind_entries_removed;
    }
    KIRJURI_RETURN_IF_ERROR(FromRocks(it->status(), "shred: reading the key store"));
  }
  if (batch.Count() > 0) {
    KIRJURI_RETURN_IF_ERROR(
        FromRocks(s.db->Write(s.SyncWrite(), &batch), "shred: deleting keys"));
  }
  // Always compact and check, whether or not anything was deleted now: a Shred that failed
  // after its write is completed by calling it again.
  KIRJURI_RETURN_IF_ERROR(s.CompactAndPurge("shred"));
  KIRJURI_RETURN_IF_ERROR(
      s.PhysicalCheck(needles, "shred", &result.files_checked, &result.bytes_checked));
  *out = std::move(result);
  return Status::Ok();
}

uint64_t KeyStore::LastWrite() const {
  std::shared_lock db_lock(impl_->db_mu);
  return impl_->db->GetLatestSequenceNumber();
}

Status KeyStore::ResumeWrites() {
  std::shared_lock db_lock(impl_->db_mu);
  std::lock_guard write_lock(impl_->write_mu);
  return FromRocks(impl_->db->Resume(), "the key store cannot write yet");
}

Status KeyStore::Verify(uint64_t* keys) const {
  *keys = 0;
  std::shared_lock db_lock(impl_->db_mu);
  const std::string where = "the key store in " + impl_->dir.string();
  if (rocksdb::Status disk = impl_->db->VerifyChecksum(); !disk.ok()) {
    return FromRocks(disk, disk.IsCorruption() ? where + " is damaged" : "reading " + where);
  }
  rocksdb::ReadOptions ro;
  ro.fill_cache = false;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro, impl_->datakeys));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string_view key = it->key().ToStringView();
    if (key.size() <= kSubjectBytes) {
      return Status::Corruption(where + ": a data key record is malformed");
    }
    SubjectId subject;
    std::memcpy(subject.data(), key.data(), subject.size());
    DataKey data_key;
    KIRJURI_RETURN_IF_ERROR(OpenDataKeyValue(it->value().ToStringView(), subject,
                                             key.substr(kSubjectBytes), impl_->master.bytes(),
                                             &data_key));
    ++*keys;
  }
  return FromRocks(it->status(), "reading " + where);
}

Status KeyStore::Checkpoint(const std::filesystem::path& dir) const {
  std::shared_lock db_lock(impl_->db_mu);
  return CheckpointStore(impl_->db.get(), dir, "the key store");
}

Status KeyStore::RotateMaster(const MasterKey& new_master) {
  std::unique_lock db_lock(impl_->db_mu);
  Impl& s = *impl_;
  const std::span<const uint8_t> old_key = s.master.bytes();
  const std::span<const uint8_t> new_key = new_master.bytes();
  NeedleSet needles;
  rocksdb::WriteBatch batch;

  // The check value and the index key.
  for (const auto& [record, ad] :
       {std::pair{kCheckRecord, kCheckAd}, std::pair{kIndexKeyRecord, kIndexKeyAd}}) {
    std::string sealed;
    KIRJURI_RETURN_IF_ERROR(
        FromRocks(s.db->Get(rocksdb::ReadOptions(), s.meta, record, &sealed),
                        "rotate: reading the key store"));
    Secret32 plain;
    if (!Unwrap(old_key, sealed, ad, &plain.bytes)) {
      return Status::Corruption("rotate: the key store's '" + std::string(record) +
                                "' record does not decrypt under the current master key");
    }
    AddSealed(sealed, &needles);
    KIRJURI_RETURN_IF_ERROR(FromRocks(
        batch.Put(s.meta, record, Wrap(new_key, plain.bytes, ad)), "rotate: re-wrapping"));
  }

  // Every data key.
  std::unique_ptr<rocksdb::Iterator> it(s.db->NewIterator(rocksdb::ReadOptions(), s.datakeys));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const std::string_view key = it->key().ToStringView();
    if (key.size() <= kSubjectBytes) {
      return Status::Corruption("rotate: a data key record is malformed");
    }
    SubjectId subject;
    std::memcpy(subject.data(), key.data(), subject.size());
    const std::string_view category = key.substr(kSubjectBytes);
    const std::string_view value = it->value().ToStringView();
    DataKey data_key;
    KIRJURI_RETURN_IF_ERROR(
        OpenDataKeyValue(value, subject, category, old_key, &data_key).Prefixed("rotate"));
    AddSealed(value.substr(kKeyIdBytes), &needles);
    KIRJURI_RETURN_IF_ERROR(FromRocks(
        batch.Put(s.datakeys, key, DataKeyValue(subject, category, data_key, new_key)),
        "rotate: re-wrapping"));
  }
  KIRJURI_RETURN_IF_ERROR(FromRocks(it->status(), "rotate: reading the key store"));
  it.reset();  // no iterator may pin a file during the compaction below

  // The re-wrapped keys and the mark that their purge is pending, in one write: if the purge
  // does not happen now (a crash, a full disk), the next writable open does it (Open).
  KIRJURI_RETURN_IF_ERROR(
      FromRocks(batch.Put(s.meta, kPurgePendingRecord, "rotate"), "rotate: re-wrapping"));
  KIRJURI_RETURN_IF_ERROR(
      FromRocks(s.db->Write(s.SyncWrite(), &batch), "rotate: writing re-wrapped keys"));
  s.master = new_master;
  uint64_t files = 0;
  uint64_t bytes = 0;
  KIRJURI_RETURN_IF_ERROR(s.CompactAndPurge("rotate"));
  KIRJURI_RETURN_IF_ERROR(s.PhysicalCheck(needles, "rotate", &files, &bytes));
  return s.ClearPurgePending("rotate");
}

}  // namespace kirjuri
