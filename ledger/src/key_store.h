// KeyStore: the data keys that seal personal data, and the blind indexes that find a person,
// in a RocksDB of their own under DATA/keys/ — apart from the log, so that erasure can destroy
// every physical copy of a subject's keys while the log stays untouched.
//
// Data keys: one XChaCha20-Poly1305 key per (subject, data category), created on first use,
// stored only wrapped (XChaCha20-Poly1305) under the master key. The master key is never stored
// in either database: it lives in a key file (mode 0600) outside the data directory.
// Blind indexes: keyed BLAKE2b of normalised email / username / phone, under an index key that
// is itself stored wrapped under the master key.
//
// Layout of DATA/keys (column families; schemas/FORMATS.md has the exact bytes):
//   default     "check"        wrapped 32 random bytes: proves a master key opens this store
//               "index_key"    the wrapped blind-index key
//   datakeys    subject (16) || category      key id (16) || nonce (24) || wrapped key (48)
//   blind       kind (1) || blind (32) || subject (16)    empty
//   subject_blind  subject (16) || kind (1) || blind (32) empty (to remove a subject's entries)
// Compression is off in this database, so that the physical check after shredding can look for
// key bytes in the files as they are.
//
// Thread-safety: all methods may be called concurrently.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <rocksdb/write_batch.h>

#include "kirjuri/ledger.h"
#include "kirjuri/status.h"

namespace kirjuri {

// The 32-byte master key. Its file is "kirjuri-master-key-v1 <base64>\n", mode 0600.
class MasterKey {
 public:
  MasterKey() = default;
  ~MasterKey();
  MasterKey(const MasterKey&);
  MasterKey& operator=(const MasterKey&);

  static MasterKey Generate();
  // Creates the key file (O_EXCL, 0600, fsync'd). FailedPrecondition if it exists.
  Status WriteFile(const std::filesystem::path& path) const;
  // NotFound if missing; FailedPrecondition if group/other may read it; InvalidArgument if it
  // is not a master key file. Messages name the path, never key bytes.
  static Status ReadFile(const std::filesystem::path& path, MasterKey* out);

  std::span<const uint8_t> bytes() const { return key_; }

 private:
  std::array<uint8_t, 32> key_{};
};

using KeyId = std::array<uint8_t, 16>;

// An unwrapped data key. Wiped on destruction.
struct DataKey {
  KeyId id{};
  std::array<uint8_t, 32> key{};
  ~DataKey();
};

enum class BlindKind : uint8_t { kEmail = 1, kUsername = 2, kPhone = 3 };

// Normalises a value for its blind index: email and username trimmed and lower-cased (ASCII);
// phone reduced to its digits, a leading "+358" or "00358" or "0" read as Finnish national
// form (so "+358 40 123 4567", "040-1234567" and "00358401234567" are one number).
std::string NormaliseForIndex(BlindKind kind, std::string_view value);

struct KeyRequest {
  SubjectId subject{};
  std::string category;
  // The subject's id was drawn in this very append, so no key can exist yet: the look-up is
  // skipped (a fresh 128-bit random id never collides in practice).
  bool new_subject = false;
};

struct IndexEntry {
  SubjectId subject{};
  BlindKind kind = BlindKind::kEmail;
  std::string value;  // as given; normalised by the key store
  bool new_subject = false;  // as in KeyRequest: nothing to look up
};

struct ShredResult {
  std::vector<std::pair<std::string, KeyId>> destroyed;  // category, key id
  uint64_t blind_entries_removed = 0;
  // The physical check: every file under DATA/keys/ was read and none holds a destroyed key's
  // id or wrapped bytes (nonce included) — nor, with remove_index, a removed blind value that no
  // other subject still has.
  uint64_t files_checked = 0;
  uint64_t bytes_checked = 0;
};

class KeyStore {
 public:
  // Creates a new key store in `dir` (must not exist yet) protected by `master`.
  // `env`: for tests only, the RocksDB Env to run on (null: the default), as OpenOptions::env.
  static Status Create(const std::filesystem::path& dir, const MasterKey& master,
                       std::unique_ptr<KeyStore>* out, rocksdb::Env* env = nullptr);
  // Opens an existing key store. NotFound if none; PermissionDenied-like InvalidArgument
  // "the master key does not open the key store in DIR" if `master` is the wrong key — and
  // nothing is written in that case.
  static Status Open(const std::filesystem::path& dir, const MasterKey& master,
                     std::unique_ptr<KeyStore>* out, rocksdb::Env* env = nullptr);
  // The same, read-only (OpenOptions::read_only): writes nothing, and every write fails.
  static Status OpenReadOnly(const std::filesystem::path& dir, const MasterKey& master,
                             std::unique_ptr<KeyStore>* out, rocksdb::Env* env = nullptr);
  ~KeyStore();

  // Returns the keys for `requests` (out[i] for requests[i]), creating the missing ones and
  // storing them — and the blind-index entries `index`, as AddIndexes would — durably, in one
  // synced write, before returning. REQUIRES: none of the subjects is erased (the ledger checks
  // that; the key store does not know).
  //
  // `keys_ready`, if given, is called once *out holds every key but before the new ones are
  // written, so that the caller can start sealing with them while the synced write runs (it must
  // not call the key store: the key store's writer lock is held). *out's
  // elements stay where they are until GetOrCreate returns. The new keys are durable only once
  // GetOrCreate has returned OK: nothing durable may refer to them before that, and nothing at
  // all if it fails.
  Status GetOrCreate(std::span<const KeyRequest> requests, std::vector<DataKey>* out,
                     std::span<const IndexEntry> index = {},
                     const std::function<void(const std::vector<DataKey>&)>& keys_ready = {});
  // The key for (subject, category) if it exists: NotFound once shredded (or never created).
  Status Get(const SubjectId& subject, std::string_view category, DataKey* out) const;
  // The categories that have a key for `subject`, with their key ids.
  Status List(const SubjectId& subject, std::vector<std::pair<std::string, KeyId>>* out) const;

  // BLAKE2b-256 keyed with the index key over NormaliseForIndex(kind, value).
  std::array<uint8_t, 32> Blind(BlindKind kind, std::string_view value) const;
  // Records that `subject` has `value` of `kind` (idempotent; synced).
  Status AddIndex(const SubjectId& subject, BlindKind kind, std::string_view value);
  // AddIndex for many entries in one synced write (nothing written if `entries` is empty).
  Status AddIndexes(std::span<const IndexEntry> entries);
  Status Find(BlindKind kind, std::string_view value, std::vector<SubjectId>* out) const;

  // Destroys the keys of `subject` for `categories` (those that exist) and, if `remove_index`,
  // all of the subject's blind-index entries; then flushes, compacts the key store down to the
  // bottom level and deletes obsolete files (no recycled or archived WAL), and reads every file
  // under DATA/keys/ to check that no destroyed key id or wrapped key remains. Corruption if the
  // check finds one. Costs the same whatever the subject's number of events.
  Status Shred(const SubjectId& subject, std::span<const std::string> categories,
               bool remove_index, ShredResult* out);

  // The auditor's check of the whole store: RocksDB's own checksums of every table file, and
  // every data key opening under the master key with the subject, category and id it is stored
  // under (the associated data binds them: a wrapped key moved from another subject or category,
  // replaced or damaged does not open). Corruption naming the file, or the subject and category
  // of the first bad key. *keys gets the number of data keys checked.
  Status Verify(uint64_t* keys) const;

  // RocksDB's sequence number of the last write: it only grows, survives reopening, and counts
  // synced writes only (every write here is synced, and RocksDB makes a write visible after its
  // log record is synced). A key store recovered short or restored from an older copy is below
  // a value read before.
  uint64_t LastWrite() const;

  // After a failed write (a full disk, say) RocksDB refuses every write until it has recovered:
  // tries that now. OK if it writes again (or had nothing to recover from).
  Status ResumeWrites();

  // Re-wraps every data key, the index key and the check value under `new_master` in one synced
  // write, then compacts so that no file holds a copy wrapped under the old key. Afterwards the
  // old master key opens nothing in this store.
  Status RotateMaster(const MasterKey& new_master);

  // A copy of the store as it is now in `dir` (CheckpointStore), readable with the same master
  // key. The caller keeps writers out meanwhile (Ledger::Backup holds its write lock).
  Status Checkpoint(const std::filesystem::path& dir) const;

 private:
  struct Impl;
  explicit KeyStore(std::unique_ptr<Impl> impl);
  struct Put;  // one record for a write batch (key_store.cc)
  // Adds the records for `entries` not yet indexed to *puts. REQUIRES: write_mu held.
  Status IndexPutsLocked(std::span<const IndexEntry> entries, std::vector<Put>* puts);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kirjuri
