// Ledger::Verify: the auditor's full check of a ledger, in one pass over the log.
//
// The events column family is read in chunks by the calling thread while the worker pool checks
// the chunk before (decode, canonical form, sequence, signature, leaf hash). The calling thread
// then folds the leaf hashes into the tree in order, comparing each completed node with the
// stored tree (one iterator, since tree keys sort in creation order) and each stored checkpoint
// with the recomputed root at its size, and folds each envelope into the subject summaries and
// each request* event into its request's record, compared with the stored ones at the end. The
// first fault, in log order, is reported. What needs nothing from the events (the subject
// index's sum, a read through the other column families, the key store) is checked on a thread
// of its own meanwhile.
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <array>
#include <deque>
#include <future>
#include <optional>

#include "fold_check.h"
#include "ledger_impl.h"

namespace kirjuri {
namespace {

constexpr size_t kChunk = 4096;  // events read at a time
constexpr size_t kGrain = 64;    // events a worker checks at a time

struct Item {
  std::optional<uint64_t> seq;  // nullopt: the key is not a sequence number
  std::string value;
  // Filled by a worker:
  merkle::Hash leaf_hash{};
  uint64_t index_hash = 0;  // IndexHash of the (subject, seq) entry the index must hold for it
  SubjectFacts facts;       // what the subject summaries fold (not with tree_only)
  std::optional<RequestFacts> request;  // a request* event's, for its record (not tree_only)
  std::string error;
};

// The subject index must hold exactly one entry per event. Both sides are summed (mod 2^64) as
// SipHash values of the entry's key under a key drawn for this run, so the comparison costs one
// pass over the index and an entry added, dropped or altered cannot be balanced by design.
using IndexHashKey = std::array<uint8_t, crypto_shorthash_KEYBYTES>;

uint64_t IndexHash(const IndexHashKey& key, std::string_view entry) {
  uint64_t h;
  crypto_shorthash(reinterpret_cast<unsigned char*>(&h),
                   reinterpret_cast<const unsigned char*>(entry.data()), entry.size(), key.data());
  return h;
}

std::string Seq(uint64_t seq) { return "seq " + std::to_string(seq); }

// The stored subject summaries (subject_info) against the fold of the log: appends check a
// person's register, erasure and rights against them, so a summary altered in the database
// (a consent added, an erasure undone) would let through what the log forbids.
Status CheckSubjectInfo(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* subject_info,
                        const rocksdb::ReadOptions& ro,
                        const std::map<SubjectId, SubjectState>& folded) {
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(ro, subject_info));
  auto key_of = [](std::string_view key, SubjectId* id) {
    if (key.size() != id->size()) {
      return Status::Corruption("subject_info: a key is not a subject id");
    }
    std::memcpy(id->data(), key.data(), id->size());
    return Status::Ok();
  };
  auto differs = [](std::string_view value, const SubjectState& want) -> std::string {
    SubjectState stored;
    if (!SubjectState::Decode(value, &stored).ok()) return "its encoding";
    return stored.FirstDifference(want);
  };
  auto fault = [](FoldMismatch kind, const SubjectId& id, const std::string& what) {
    switch (kind) {
      case FoldMismatch::kAdded:
        return Status::Corruption("subject_info holds a summary of subject " + SubjectIdHex(id) +
                                  ", who has no event in the log (a summary was added)");
      case FoldMismatch::kRemoved:
        return Status::Corruption("subject_info has no summary of subject " + SubjectIdHex(id) +
                                  " (it was removed)");
      case FoldMismatch::kAltered: break;
    }
    return Status::Corruption("subject_info: the summary of subject " + SubjectIdHex(id) +
                              " differs from the log in " + what +
                              " (altered: appends are checked against it)");
  };
  return CompareWithFold(*it, "", "reading subject_info", folded, key_of, differs, fault);
}

std::string NodeName(merkle::NodeId id) {
  return "tree node (level " + std::to_string(id.level) + ", index " + std::to_string(id.index) +
         ")";
}

}  // namespace

Status Ledger::Verify(const VerifyOptions& options, VerifyResult* result) const {
  *result = VerifyResult{};
  Impl& impl = *impl_;
  // The checkpoint copy beside the log is read before the snapshot: appends write it after their
  // batch, so it then covers no more than the snapshot holds (unless writes were lost).
  std::string copy_note;
  const Status copy_read = impl.ReadCheckpointCopy(&copy_note);
  const rocksdb::Snapshot* snapshot = impl.db->GetSnapshot();
  struct SnapshotRelease {
    rocksdb::DB* db;
    const rocksdb::Snapshot* s;
    ~SnapshotRelease() { db->ReleaseSnapshot(s); }
  } release{impl.db.get(), snapshot};

  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot;
  ro.fill_cache = false;
  ro.readahead_size = 4 << 20;
  // RocksDB's own block checksums are checked on every block read, so no damaged block is ever
  // parsed (the one block RocksDB parses first, a table file's properties, was checked before the
  // open: CheckTableFiles). If the checks below find a fault, a sweep of every table file's
  // checksums tells damage on disk (a flipped bit, a bad copy; named by file and offset) from an
  // altered event; if they find none, the read through the column families they do not check (on
  // the side thread below) names damage there.
  ro.verify_checksums = true;
  std::unique_ptr<rocksdb::Iterator> events(impl.db->NewIterator(ro, impl.events));
  std::unique_ptr<rocksdb::Iterator> tree(impl.db->NewIterator(ro, impl.tree));
  std::unique_ptr<rocksdb::Iterator> cps(impl.db->NewIterator(ro, impl.checkpoints));

  uint64_t total = 0;
  events->SeekToLast();
  if (events->Valid() && events->key().size() == 8) {
    total = store::GetBigEndian64(events->key().data()) + 1;
  }
  events->SeekToFirst();
  tree->SeekToFirst();
  cps->SeekToFirst();

  const PublicKey& pub = impl.key.public_key();
  merkle::Frontier frontier;
  Status fault;  // the first fault found by the fold

  auto fail_event = [&](uint64_t seq, const std::string& what) {
    if (fault.ok()) {
      fault = Status::Corruption(Seq(seq) + ": " + what);
      result->first_bad_seq = seq;
    }
  };

  // Checks every stored checkpoint whose size equals the tree's current size.
  auto check_checkpoints = [&]() {
    while (fault.ok() && cps->Valid()) {
      if (cps->key().size() != 8) {
        fault = Status::Corruption("checkpoints: a key is not a tree size");
        return;
      }
      uint64_t at = store::GetBigEndian64(cps->key().data());
      if (at > frontier.size()) return;
      std::string where = "checkpoint at tree size " + std::to_string(at);
      if (at < frontier.size()) {
        fault = Status::Corruption(where + ": out of order");
        return;
      }
      Checkpoint cp;
      Status s = OpenCheckpoint(cps->value().ToStringView(), pub, &cp);
      if (!s.ok()) {
        fault = Status::Corruption(where + ": " + s.message());
      } else if (cp.origin != impl.origin) {
        fault = Status::Corruption(where + ": origin '" + cp.origin + "' is not this ledger's");
      } else if (cp.size != at) {
        fault = Status::Corruption(where + ": the note says size " + std::to_string(cp.size));
      } else if (cp.root != frontier.Root()) {
        fault = Status::Corruption(where + ": root does not match the events");
      } else {
        ++result->checkpoints;
      }
      cps->Next();
    }
  };

  auto read_chunk = [&](std::vector<Item>* chunk) {
    chunk->clear();
    for (; events->Valid() && chunk->size() < kChunk; events->Next()) {
      Item item;
      if (events->key().size() == 8) item.seq = store::GetBigEndian64(events->key().data());
      item.value.assign(events->value().data(), events->value().size());
      chunk->push_back(std::move(item));
    }
  };

  IndexHashKey index_key;
  randombytes_buf(index_key.data(), index_key.size());
  uint64_t events_index_sum = 0;
  std::map<SubjectId, SubjectState> subjects;  // the log's fold (not with tree_only)
  std::map<std::string, RequestRecord> requests;  // the same for the request records

  // The checks that need nothing from the events run beside them, on a thread of their own, so
  // that they do not wait for the signature checks to end; their results are taken afterwards,
  // in the order faults are reported. The future is declared after the snapshot's release, so it
  // is joined before the snapshot goes.
  struct SideChecks {
    uint64_t index_entries = 0, index_sum = 0;  // the subject index, summed as the events are
    Status index;  // reading the subject index
    Status sweep;  // reading through the column families nothing else here reads
    Status keys;   // the key store: not behind the log, and every data key opens
  } side;
  auto side_work = [&impl, &ro, &options, &index_key, &side] {
    std::unique_ptr<rocksdb::Iterator> index(impl.db->NewIterator(ro, impl.subjects));
    for (index->SeekToFirst(); index->Valid(); index->Next()) {
      side.index_sum += IndexHash(index_key, index->key().ToStringView());
      ++side.index_entries;
    }
    side.index = FromRocks(index->status(), "reading the subject index");
    for (rocksdb::ColumnFamilyHandle* cf : impl.handles) {
      if (cf == impl.events || cf == impl.tree || cf == impl.checkpoints || cf == impl.subjects) {
        continue;
      }
      std::unique_ptr<rocksdb::Iterator> it(impl.db->NewIterator(ro, cf));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
      }
      if (!it->status().ok()) {
        side.sweep = FromRocks(it->status(), it->status().IsCorruption()
                                                 ? "the log's files are damaged"
                                                 : "reading the log");
        break;
      }
    }
    if (!options.tree_only && impl.keys) {
      side.keys = impl.CheckKeyStoreNotBehind(ro);
      uint64_t keys = 0;
      if (side.keys.ok()) side.keys = impl.keys->Verify(&keys);
    }
  };
  std::future<void> side_checks = std::async(std::launch::async, side_work);

  auto check_items = [&pub, &options, &index_key](Item* begin, Item* end) {
    for (Item* item = begin; item != end; ++item) {
      if (!item->seq) continue;
      item->leaf_hash = merkle::LeafHash(AsSpan(item->value));
      // Of each event only the envelope's seq and subject are read, guarded, and after its
      // signature where that is checked (DecodeLayout's contract); without one (--tree-only, or
      // before signatures_from) the tree and the signed checkpoints vouch for the rest.
      const bool check_signature = !options.tree_only && *item->seq >= options.signatures_from;
      DecodedLeaf leaf;
      SubjectId id{};
      uint64_t claimed = 0;
      Status s = leaf.DecodeLayout(AsSpan(item->value));
      if (s.ok() && check_signature && !CheckEventSignature(leaf, pub)) {
        item->error = "signature does not verify (the event was altered)";
        continue;
      }
      if (s.ok() && options.tree_only) {
        s = leaf.ReadEnvelope(&claimed, &id);
      } else if (s.ok()) {
        s = leaf.ReadSubjectFacts(&item->facts);
        claimed = item->facts.seq;
        id = item->facts.subject;
        if (s.ok() && RequestFacts::IsRequestEvent(item->facts.type)) {
          s = leaf.ReadRequestFacts(&item->request.emplace());
        }
      }
      if (!s.ok()) {
        item->error = s.message();
        continue;
      }
      item->index_hash = IndexHash(index_key, store::SubjectKey(id, *item->seq));
      if (claimed != *item->seq) {
        item->error = "holds the event signed for seq " + std::to_string(claimed) +
                      " (events reordered, copied or replaced)";
      }
    }
  };

  // A chunk read and handed to the workers. `running` is declared after `items` so that it is
  // destroyed first: its destructor waits for the checks that point into `items`.
  struct Chunk {
    std::vector<Item> items;
    std::unique_ptr<WorkerPool::Running> running;
  };
  // Reads the next chunk and starts its checks; false once the log is read to the end. Grains
  // are small and claimed one at a time, so a core never waits long for its partner at a
  // chunk's end, and the thread that waits for a chunk checks what no worker has claimed yet.
  std::deque<Chunk> in_flight;  // a deque keeps each chunk in place while it is checked
  auto start_chunk = [&]() {
    Chunk& chunk = in_flight.emplace_back();
    read_chunk(&chunk.items);
    if (chunk.items.empty()) {
      in_flight.pop_back();
      return false;
    }
    Item* base = chunk.items.data();
    chunk.running = impl.pool->StartParallelFor(
        chunk.items.size(), kGrain,
        [&check_items, base](size_t b, size_t e) { check_items(base + b, base + e); });
    return true;
  };

  auto fold = [&](std::vector<Item>& chunk) {
    for (Item& item : chunk) {
      if (!fault.ok()) return;
      const uint64_t expected = frontier.size();
      if (!item.seq) {
        fault = Status::Corruption("events: a key that is not a sequence number after " +
                                   (expected ? Seq(expected - 1) : std::string("the start")));
        return;
      }
      if (*item.seq != expected) {
        fail_event(expected, "missing (the log jumps to seq " + std::to_string(*item.seq) +
                                 "): an event was deleted");
        return;
      }
      if (!item.error.empty()) {
        fail_event(expected, item.error);
        return;
      }
      frontier.Append(item.leaf_hash, [&](merkle::NodeId id, const merkle::Hash& h) {
        if (!fault.ok()) return;
        std::string key = store::NodeKey(id);
        if (!tree->Valid() || tree->key() != rocksdb::Slice(key)) {
          fail_event(expected, NodeName(id) + " is missing from the stored tree");
          return;
        }
        if (tree->value().size() != 32 || std::memcmp(tree->value().data(), h.data(), 32) != 0) {
          fail_event(expected, id.level == 0 ? "leaf hash differs from the stored tree"
                                             : NodeName(id) + " differs from the stored tree");
          return;
        }
        tree->Next();
      });
      if (!fault.ok()) return;
      ++result->events;
      events_index_sum += item.index_hash;
      if (!options.tree_only) FoldSubject(item.facts, &subjects);
      if (item.request) FoldRequest(*item.request, &requests);
      check_checkpoints();
    }
  };

  check_checkpoints();  // the empty tree's checkpoint, written by init
  // Two chunks are in flight: the workers check the next while this thread folds the current
  // one and then reads a third.
  bool more = start_chunk() && start_chunk();
  uint64_t done = 0;
  while (!in_flight.empty() && fault.ok()) {
    Chunk& chunk = in_flight.front();
    chunk.running->Wait();
    fold(chunk.items);
    done += chunk.items.size();
    if (options.progress) options.progress(done, total);
    in_flight.pop_front();
    if (more && fault.ok()) more = start_chunk();
  }
  in_flight.clear();  // waits for every check still running (after a fault)
  if (fault.ok()) fault = FromRocks(events->status(), "reading the log");
  if (fault.ok()) fault = FromRocks(tree->status(), "reading the tree");
  if (fault.ok()) fault = FromRocks(cps->status(), "reading checkpoints");
  if (fault.ok() && cps->Valid()) {
    uint64_t at = cps->key().size() == 8 ? store::GetBigEndian64(cps->key().data()) : 0;
    fault = Status::Corruption("checkpoint at tree size " + std::to_string(at) +
                               " is beyond the log's " + std::to_string(frontier.size()) +
                               " events: events were removed from the end");
  }
  if (fault.ok() && tree->Valid()) {
    fault = Status::Corruption("the stored tree has nodes beyond the log's end");
  }
  if (fault.ok() && result->checkpoints > 0) {
    // Every append stores a checkpoint for its new size, so the last one covers the whole log.
    std::unique_ptr<rocksdb::Iterator> last(impl.db->NewIterator(ro, impl.checkpoints));
    last->SeekToLast();
    uint64_t at = last->Valid() && last->key().size() == 8
                      ? store::GetBigEndian64(last->key().data()) : 0;
    if (at != frontier.size()) {
      fault = Status::Corruption(Seq(at) + ": not covered by any checkpoint (events were added "
                                 "outside the ledger)");
      result->first_bad_seq = at;
    }
  } else if (fault.ok()) {
    fault = Status::Corruption("the ledger holds no checkpoint");
  }
  side_checks.wait();
  if (fault.ok()) fault = side.index;
  if (fault.ok() && (side.index_entries != result->events || side.index_sum != events_index_sum)) {
    fault = Status::Corruption(
        "the subject index does not match the events (" + std::to_string(side.index_entries) +
        " entries for " + std::to_string(result->events) +
        " events): an entry was added, removed or altered");
  }
  if (fault.ok() && !options.tree_only) {
    fault = CheckSubjectInfo(impl.db.get(), impl.subject_info, ro, subjects);
    if (fault.ok()) fault = CheckRequestRecords(impl.db.get(), impl.meta, ro, requests);
  }
  if (fault.ok()) {
    // The copy beside the log: missing only in ledgers written before it existed.
    Status copy = copy_read.ok() ? impl.CheckCheckpointNote(copy_note, frontier.size(), frontier)
                                 : copy_read;
    std::string flag;
    if (copy.IsNotFound() &&
        impl.db->Get(ro, impl.meta, store::kMetaCheckpointCopy, &flag).ok()) {
      copy = Status::Corruption(std::string(store::kCheckpointFile) +
                                " (the checkpoint kept beside the log) is missing");
    }
    if (!copy.IsNotFound()) fault = copy;
  }
  if (!fault.ok()) {
    if (rocksdb::Status disk = impl.db->VerifyChecksum(ro); disk.IsCorruption()) {
      fault = FromRocks(disk, "the log's files are damaged");
    }
  } else {
    fault = side.sweep;
  }
  if (fault.ok()) fault = side.keys;
  result->root = frontier.Root();
  if (fault.ok()) {
    spdlog::info("verified {} events and {} checkpoints", result->events, result->checkpoints);
  }
  return fault;
}

}  // namespace kirjuri
