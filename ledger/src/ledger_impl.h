// Ledger::Impl, shared by the files that implement Ledger (ledger.cc, verify.cc). Private.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/write_batch.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "event_codec.h"
#include "key_store.h"
#include "subjects.h"
#include "kirjuri/ledger.h"
#include "kirjuri/note.h"
#include "policy.h"
#include "kirjuri/rocks_util.h"
#include "kirjuri/time.h"
#include "store_format.h"
#include "worker_pool.h"

namespace kirjuri {
namespace fs = std::filesystem;
inline namespace ledger_internal {

inline std::span<const uint8_t> AsSpan(const rocksdb::Slice& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

inline rocksdb::DBOptions MakeDbOptions(bool create) {
  rocksdb::DBOptions o = BaseDbOptions(create);
  // Column families added by later versions are created when an older ledger is opened.
  o.create_missing_column_families = true;
  // Recovery stops at the first damaged WAL record; the check on open (latest checkpoint
  // against the log) notices if that shortened the log.
  o.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  o.keep_log_file_num = 5;
  return o;
}

inline const std::vector<std::string>& ColumnFamilyNames() {
  static const std::vector<std::string> names = {
      rocksdb::kDefaultColumnFamilyName, store::kEventsCf,   store::kTreeCf,
      store::kCheckpointsCf,             store::kSubjectsCf, store::kSubjectInfoCf};
  return names;
}

}  // namespace ledger_internal

// Reads the master key (`given`, or the default beside `data_dir`), creating the file first if
// `create` and it does not exist. The file must lie outside the data directory.
Status LoadMasterKeyFile(const fs::path& data_dir, const fs::path& given, bool create,
                         MasterKey* out);

// NodeSource over the tree column family.
class DbNodeSource : public merkle::NodeSource {
 public:
  DbNodeSource(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf) : db_(db), cf_(cf) {}
  Status GetNode(merkle::NodeId id, merkle::Hash* out) override {
    rocksdb::PinnableSlice value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf_, store::NodeKey(id), &value);
    if (s.IsNotFound()) {
      return Status::Corruption("tree node (level " + std::to_string(id.level) + ", index " +
                                std::to_string(id.index) + ") is missing");
    }
    KIRJURI_RETURN_IF_ERROR(FromRocks(s, "reading the tree"));
    if (value.size() != 32) return Status::Corruption("a tree node is not 32 bytes");
    std::memcpy(out->data(), value.data(), 32);
    return Status::Ok();
  }

 private:
  rocksdb::DB* db_;
  rocksdb::ColumnFamilyHandle* cf_;
};

struct Ledger::Impl {
  fs::path dir;
  rocksdb::Env* env = nullptr;  // OpenOptions::env (tests); null: the default
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::ColumnFamilyHandle* meta = nullptr;
  rocksdb::ColumnFamilyHandle* events = nullptr;
  rocksdb::ColumnFamilyHandle* tree = nullptr;
  rocksdb::ColumnFamilyHandle* checkpoints = nullptr;
  rocksdb::ColumnFamilyHandle* subjects = nullptr;
  rocksdb::ColumnFamilyHandle* subject_info = nullptr;
  std::unique_ptr<KeyStore> keys;
  bool seal = true;  // OpenOptions::seal
  bool enforce_rules = true;  // OpenOptions::enforce_rules
  SigningKey key;
  std::string origin;
  // The policy in force, swapped by ApplyPolicy; every policy ever loaded stays alive (guarded
  // by append_mu) so that a reader holding an older one is never left dangling.
  std::atomic<const Policy*> policy_now{nullptr};
  std::vector<std::shared_ptr<const Policy>> policies;
  const Policy* CurrentPolicy() const { return policy_now.load(); }
  void SetPolicy(std::shared_ptr<const Policy> p) {
    policies.push_back(std::move(p));
    policy_now = policies.back().get();
  }
  std::unique_ptr<WorkerPool> pool;

  // Writers. Append is a pipeline (Ledger::Reserve, Ledger::Commit): a batch is checked and
  // numbered under append_mu, in order, then sealed and signed with no lock held, then written
  // under commit_mu once the log has reached its first number. So batch k+1 is signed while
  // batch k's write syncs. Every other writer (erasure, requests, the access log, policy
  // changes) takes LockForWrite(): append_mu with no batch in flight, so it may use size as the
  // next sequence number and write under append_mu alone.
  // Lock order: append_mu before commit_mu.
  std::mutex append_mu;
  Status health;                 // set on open only; appends refused unless OK
  bool read_only = false;        // OpenOptions::read_only: nothing may be written
  // Why a read-only open cannot go on: `why` needs a write first.
  Status NeedsWritableOpen(const std::string& why) const {
    return Status::FailedPrecondition("cannot open " + dir.string() + " read-only: " + why +
                                      "; open it writable once first");
  }
  std::atomic<uint64_t> size{0};
  // Guarded by commit_mu, or by append_mu with nothing in flight.
  merkle::Frontier frontier;
  std::mutex commit_mu;
  std::condition_variable committed_cv;  // size, in_flight or broken_from changed
  uint64_t in_flight = 0;                // reserved batches not yet written or failed; commit_mu
  // The first sequence number of a batch that failed (commit_mu): the batches reserved after
  // it fail too, and numbering restarts from size once none is left in flight.
  uint64_t broken_from = UINT64_MAX;
  // The checkpoint copy beside the log (KeepCheckpointCopy) and the tree size it covers.
  std::mutex copy_mu;
  uint64_t copy_size = 0;  // copy_mu
  // Guarded by append_mu: the next number to reserve, and the summaries of the subjects of
  // batches in flight as those batches leave them (with the end of the last such batch), for
  // checking the next batch against its real predecessors.
  uint64_t next_seq = 0;
  std::map<SubjectId, std::pair<SubjectState, uint64_t>> reserved_states;
  // Set when a write to the log or the key store failed: RocksDB then refuses every write until
  // it recovers, which the next append asks of both (ResumeWritesLocked) instead of failing on.
  std::atomic<bool> write_failed{false};
  std::mutex write_error_mu;
  Status write_error;  // the failed write's reason (write_error_mu)
  void WriteFailed(const Status& s) {
    std::lock_guard<std::mutex> lock(write_error_mu);
    write_error = s;
    write_failed = true;
  }
  // REQUIRES: append_mu held. OK once both stores write again; else the failed write's reason.
  // (After a full disk RocksDB recovers on its own once its space watcher sees room, and is
  // busy until then; other errors it may clear here.)
  Status ResumeWritesLocked() {
    if (!write_failed.load()) return Status::Ok();
    Status resumed = FromRocks(db->Resume(), "the log cannot write yet");
    if (resumed.ok()) resumed = keys->ResumeWrites();
    if (!resumed.ok()) {
      std::lock_guard<std::mutex> lock(write_error_mu);
      return write_error.ok() ? resumed : write_error;
    }
    write_failed = false;
    spdlog::info("the log and the key store write again");
    return Status::Ok();
  }

  // append_mu, held, once no reserved batch is in flight (it waits for them).
  std::unique_lock<std::mutex> LockForWrite() {
    std::unique_lock<std::mutex> lock(append_mu);
    std::unique_lock<std::mutex> c(commit_mu);
    committed_cv.wait(c, [&] { return in_flight == 0; });
    // If the stores cannot write yet, the writer's own write says so.
    (void)ResumeWritesLocked();
    return lock;
  }
  std::atomic<DerivedStore*> derived{nullptr};  // AttachDerivedStore
  // The latest event's recordedAt (guarded by append_mu): events are stamped with
  // RecordTimeLocked(), so recordedAt never decreases along the log even if the clock steps back.
  int64_t last_recorded_micros = 0;

  int64_t RecordTimeLocked() {
    last_recorded_micros = std::max(last_recorded_micros, NowMicros());
    return last_recorded_micros;
  }

  ~Impl() {
    keys.reset();
    static_cast<void>(CloseStore(&db, &handles, !read_only, "the log in " + dir.string()));
  }

  Status OpenDb(bool create) {
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
    for (const auto& name : ColumnFamilyNames()) {
      rocksdb::ColumnFamilyOptions cf;
      if (name == store::kSubjectsCf || name == store::kSubjectInfoCf) {
        // Keys start with random subject ids; appends put each batch's keys in key order, and
        // one insert hint (the empty prefix) lets the memtable start each insert where the
        // previous one ended instead of searching from the top. Affects inserts only.
        cf.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(0));
      }
      descriptors.emplace_back(name, cf);
    }
    rocksdb::DB* raw = nullptr;
    rocksdb::DBOptions options = MakeDbOptions(create);
    if (env) options.env = env;
    const std::string path = (dir / store::kLogDir).string();
    if (create) {
      // 0700 like the key store's, and made here: RocksDB would make it 0755 after logging an
      // error for the directory it had not found.
      if (::mkdir(path.c_str(), 0700) != 0) {
        return Status::IOError("cannot create " + path + ": " + std::strerror(errno));
      }
    } else {
      KIRJURI_RETURN_IF_ERROR(CheckTableFiles(path, "cannot open the log in " + dir.string()));
    }
    rocksdb::Status s =
        read_only ? rocksdb::DB::OpenForReadOnly(options, path, descriptors, &handles, &raw)
                  : rocksdb::DB::Open(options, path, descriptors, &handles, &raw);
    if (!s.ok()) return FromRocks(s, "cannot open the log in " + dir.string());
    db.reset(raw);
    meta = handles[0];
    events = handles[1];
    tree = handles[2];
    checkpoints = handles[3];
    subjects = handles[4];
    subject_info = handles[5];
    return Status::Ok();
  }

  std::string SignCheckpoint(uint64_t tree_size, const merkle::Hash& root) const {
    return SignNote(CheckpointBody(Checkpoint{origin, tree_size, root}), origin, key);
  }

  // Number of events: one past the last key of the events column family.
  Status ReadSize(uint64_t* out) const {
    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), events));
    it->SeekToLast();
    KIRJURI_RETURN_IF_ERROR(FromRocks(it->status(), "reading the log"));
    if (!it->Valid()) {
      *out = 0;
      return Status::Ok();
    }
    if (it->key().size() != 8) return Status::Corruption("events: a key is not a sequence number");
    *out = store::GetBigEndian64(it->key().data()) + 1;
    return Status::Ok();
  }

  // Writes the checkpoint copy beside the log (store::kCheckpointFile). It is written after the
  // batch it signs is synced, so it never covers more than the log holds unless writes are lost;
  // failing to write it loses nothing (the copy lags), so it is logged, not returned.
  //
  // The directory is not fsync'd: a crash may then leave the previous copy, which covers less
  // and so still holds; the file itself is synced before the rename, so it is never half.
  //
  // Any thread, no lock needed: the append pipeline writes its batch's copy after letting the
  // next batch write, so two may race here; the copy only moves forward (a batch finding a
  // later batch's copy in place leaves it).
  void KeepCheckpointCopy(uint64_t tree_size, const std::string& note) {
    std::lock_guard lock(copy_mu);
    if (tree_size < copy_size) return;
    Status s = ReplaceFileDurably(dir / store::kCheckpointFile, note, /*sync_dir=*/false);
    if (!s.ok()) {
      spdlog::error("the checkpoint copy lags the log: {}", s.ToString());
      return;
    }
    copy_size = tree_size;
  }

  // Checks the checkpoint copy against the log of `n` events whose frontier is `f`: NotFound if
  // there is none (ledgers older than it); Corruption if it is not this ledger's, covers more
  // events than the log holds, or disagrees with the log's tree at its size.
  // The copy's text; NotFound if there is none.
  Status ReadCheckpointCopy(std::string* note) const {
    const fs::path path = dir / store::kCheckpointFile;
    std::error_code ec;
    if (!fs::exists(path, ec)) return Status::NotFound("no checkpoint copy");
    std::ifstream in(path, std::ios::binary);
    note->assign(std::istreambuf_iterator<char>(in), {});
    if (!in.good() && !in.eof()) return Status::IOError("cannot read " + path.string());
    return Status::Ok();
  }
  // REQUIRES: `note` was read before the log state (n, f) was (a concurrent append writes its
  // copy only after its batch, so a copy read first never covers more than a later state).
  Status CheckCheckpointCopy(uint64_t n, const merkle::Frontier& f) const {
    std::string note;
    KIRJURI_RETURN_IF_ERROR(ReadCheckpointCopy(&note));
    return CheckCheckpointNote(note, n, f);
  }
  Status CheckCheckpointNote(const std::string& note, uint64_t n, const merkle::Frontier& f) const {
    Checkpoint cp;
    Status s = OpenCheckpoint(note, key.public_key(), &cp);
    if (!s.ok() || cp.origin != origin) {
      return Status::Corruption(std::string(store::kCheckpointFile) +
                                ": not a checkpoint of this ledger");
    }
    if (cp.size > n) {
      return Status::Corruption("the log holds " + std::to_string(n) + " events but " +
                                store::kCheckpointFile + " (kept beside it) covers " +
                                std::to_string(cp.size) +
                                ": acknowledged events were lost (a cut write-ahead log, or the "
                                "log restored from an older copy)");
    }
    merkle::Hash root = f.Root();
    if (cp.size == 0) {
      root = merkle::EmptyRoot();
    } else if (cp.size < n) {
      DbNodeSource nodes(db.get(), tree);
      KIRJURI_RETURN_IF_ERROR(merkle::RangeHash(nodes, 0, cp.size, &root));
    }
    if (root != cp.root) {
      return Status::Corruption(std::string(store::kCheckpointFile) + " (kept beside the log) "
                                "does not match the log's tree at its size: the log was rewritten");
    }
    return Status::Ok();
  }

  // Corruption if the key store is behind what the log recorded of it at its latest append
  // (store::kMetaKeyStoreWrites): keys the log relies on were lost, and the people they open
  // would otherwise read as erased. OK for ledgers written before the record existed.
  Status CheckKeyStoreNotBehind(const rocksdb::ReadOptions& ro) const {
    if (!keys) return Status::Ok();
    std::string recorded;
    rocksdb::Status s = db->Get(ro, meta, store::kMetaKeyStoreWrites, &recorded);
    if (s.IsNotFound()) return Status::Ok();
    KIRJURI_RETURN_IF_ERROR(FromRocks(s, "reading metadata"));
    if (recorded.size() != 8) return Status::Corruption("the log's record of the key store is damaged");
    const uint64_t expected = store::GetBigEndian64(recorded.data());
    if (const uint64_t found = keys->LastWrite(); found < expected) {
      return Status::Corruption(
          "the key store in " + (dir / store::kKeysDir).string() + " lost writes the log relies "
          "on (it ends at write " + std::to_string(found) + ", the log saw it at " +
          std::to_string(expected) + "): a damaged write-ahead log, or restored from an older copy");
    }
    return Status::Ok();
  }

  // Rebuilds the frontier from stored nodes and checks it against the latest checkpoint, and the
  // key store against the log's record of it.
  Status LoadAndCheck() {
    uint64_t n = 0;
    KIRJURI_RETURN_IF_ERROR(ReadSize(&n));
    std::vector<merkle::Hash> roots;
    for (merkle::NodeId id : merkle::Frontier::RootIds(n)) {
      std::string value;
      rocksdb::Status s = db->Get(rocksdb::ReadOptions(), tree, store::NodeKey(id), &value);
      if (s.IsNotFound() || value.size() != 32) {
        return Status::Corruption("tree node (level " + std::to_string(id.level) + ", index " +
                                  std::to_string(id.index) + ") is missing or damaged");
      }
      KIRJURI_RETURN_IF_ERROR(FromRocks(s, "reading the tree"));
      merkle::Hash h;
      std::memcpy(h.data(), value.data(), 32);
      roots.push_back(h);
    }
    merkle::Frontier f;
    KIRJURI_RETURN_IF_ERROR(merkle::Frontier::FromRoots(n, std::move(roots), &f));

    std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), checkpoints));
    it->SeekToLast();
    KIRJURI_RETURN_IF_ERROR(FromRocks(it->status(), "reading checkpoints"));
    if (!it->Valid()) return Status::Corruption("the ledger holds no checkpoint");
    Checkpoint cp;
    KIRJURI_RETURN_IF_ERROR(
        OpenCheckpoint(it->value().ToStringView(), key.public_key(), &cp)
            .Prefixed("latest checkpoint"));
    if (cp.origin != origin) return Status::Corruption("latest checkpoint: wrong origin");
    if (cp.size != n) {
      return Status::Corruption("latest checkpoint is for " + std::to_string(cp.size) +
                                " events but the log holds " + std::to_string(n) +
                                (cp.size > n ? " (events were removed)" : ""));
    }
    if (cp.root != f.Root()) {
      return Status::Corruption("latest checkpoint's root does not match the stored tree");
    }
    if (Status copy = CheckCheckpointCopy(n, f); copy.IsNotFound()) {
      std::string flag;
      if (db->Get(rocksdb::ReadOptions(), meta, store::kMetaCheckpointCopy, &flag).ok()) {
        return Status::Corruption(std::string(store::kCheckpointFile) +
                                  " (the checkpoint kept beside the log) is missing");
      }
      // A ledger from before the copy existed: it starts keeping one now.
      if (read_only) return NeedsWritableOpen("it has no checkpoint copy yet");
      KeepCheckpointCopy(n, it->value().ToString());
      rocksdb::WriteOptions wo;
      wo.sync = true;
      KIRJURI_RETURN_IF_ERROR(FromRocks(
          db->Put(wo, meta, std::string(store::kMetaCheckpointCopy), ""), "writing metadata"));
    } else if (!copy.ok()) {
      return copy;
    }
    KIRJURI_RETURN_IF_ERROR(CheckKeyStoreNotBehind(rocksdb::ReadOptions()));
    frontier = std::move(f);
    size = n;
    return Status::Ok();
  }

  // The subject's summary; NotFound if it has no event.
  Status LoadSubject(const SubjectId& subject, SubjectState* out) const {
    std::string value;
    rocksdb::Status s =
        db->Get(rocksdb::ReadOptions(), subject_info, store::SubjectBytes(subject), &value);
    if (s.IsNotFound()) {
      return Status::NotFound("subject " + SubjectIdHex(subject) + " is not in the ledger");
    }
    KIRJURI_RETURN_IF_ERROR(FromRocks(s, "reading subject_info"));
    return SubjectState::Decode(value, out);
  }

  // Rebuilds subject_info from the log (ledgers written before it existed). One pass.
  Status BuildSubjectInfo();

  // An event to commit, already encoded, with what the commit must record about it.
  struct Pending {
    EncodedEvent encoded;
    SubjectId subject{};
    schema::EventType type = schema::EventType::RECORDED;
    std::string purpose;
    std::string category;
    int64_t occurred_at_micros = 0;
  };
  // Writes `events` (sequence numbers size..size+n-1) with their subject index and summaries,
  // tree nodes and a checkpoint, plus `extra`, in one synced batch. REQUIRES: LockForWrite held;
  // `states` holds the current summary of every subject in `events` (updated here).
  Status CommitLocked(std::vector<Pending>& events, std::map<SubjectId, SubjectState>& states,
                      const std::function<void(rocksdb::WriteBatch&)>& extra);
  // CommitLocked in two steps, so that Append can do the first while its events are still being
  // encoded. IndexLocked adds to `batch` what needs only events[i].subject, category and
  // occurred_at_micros (numbered from `base`): the subject-index entries and the updated
  // summaries (in `states`); it reads nothing shared. WriteLocked adds the events themselves,
  // their tree nodes, `extra` and the checkpoint, and writes `batch` synced, numbered from
  // size. REQUIRES (WriteLocked): commit_mu held with size at the batch's first number, or
  // LockForWrite's lock.
  void IndexLocked(uint64_t base, const std::vector<Pending>& events,
                   std::map<SubjectId, SubjectState>& states, rocksdb::WriteBatch* batch) const;
  // Applies `events`, numbered from `base`, to their subjects' summaries in `states` (which
  // holds each one's summary before them): what IndexLocked writes, and what the append
  // pipeline remembers for the batches after.
  static void AdvanceStates(uint64_t base, const std::vector<Pending>& events,
                            std::map<SubjectId, SubjectState>& states);
  // *checkpoint gets the new checkpoint: the caller passes it to KeepCheckpointCopy, which it
  // may do after releasing its lock.
  Status WriteLocked(const std::vector<Pending>& events,
                     const std::function<void(rocksdb::WriteBatch&)>& extra,
                     rocksdb::WriteBatch* batch, std::string* checkpoint);

  // Events Kirjuri writes itself (erasure, requests): the envelope of a new event about
  // `subject` at the next sequence number, recorded now, basis legal_obligation.
  // REQUIRES: LockForWrite held.
  schema::Event::Builder StartInternalEventLocked(capnp::MessageBuilder& message,
                                                  const SubjectId& subject,
                                                  const SubjectState& state,
                                                  schema::EventType type, std::string_view actor,
                                                  std::string_view request);
  // Signs and commits it, with `extra`, in one synced batch; `state` is the subject's summary
  // before it. *seq gets its number. REQUIRES: LockForWrite held.
  Status CommitInternalLocked(schema::Event::Reader event, const SubjectId& subject,
                              const SubjectState& state,
                              const std::function<void(rocksdb::WriteBatch&)>& extra,
                              uint64_t* seq);
  // A tokenIssued or tokenRevoked event about `record` by `by`, committed with `change` (the
  // token record's put or delete) in one batch (access_log.cc). REQUIRES: LockForWrite held.
  Status CommitTokenChangeLocked(schema::EventType type, const TokenRecord& record,
                                 std::string_view by,
                                 const std::function<void(rocksdb::WriteBatch&)>& change);

  // Moves an open request on by one step (requests.cc): extended by `months`, or closed
  // (fulfilled with `outcome`, or refused), with `reason`.
  Status AdvanceRequest(std::string_view ref, schema::EventType type, unsigned months,
                        std::string_view reason, std::span<const uint64_t> outcome,
                        std::string_view actor, uint64_t* seq);

  // Erasure steps, shared by Erase, RunRetention and the completion of interrupted erasures.
  // REQUIRES: LockForWrite held.
  Status CompleteErasureLocked(const std::string& pending_bytes, uint64_t* event_seq);
  Status CompletePendingErasures();
};


}  // namespace kirjuri
