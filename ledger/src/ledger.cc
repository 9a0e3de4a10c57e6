// Ledger::Impl: the log on RocksDB. Layout in store_format.h; invariants in kirjuri/ledger.h.
#include "kirjuri/ledger.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/utilities/options_util.h>
#include <rocksdb/write_batch.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <mutex>
#include <system_error>
#include <thread>

#include "ledger_impl.h"
#include "event_codec.h"
#include "kirjuri/note.h"
#include "kirjuri/time.h"
#include "policy.h"
#include "store_format.h"
#include "worker_pool.h"

namespace kirjuri {
namespace fs = std::filesystem;

std::string SubjectIdHex(const SubjectId& id) { return HexEncode(id); }

Status ParseSubjectId(std::string_view hex, SubjectId* out) {
  std::vector<uint8_t> bytes;
  if (hex.size() != 32 || !HexDecode(hex, &bytes).ok() || bytes.size() != 16) {
    return Status::InvalidArgument("a subject id is 32 hex digits");
  }
  std::memcpy(out->data(), bytes.data(), 16);
  return Status::Ok();
}

Ledger::Ledger(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Ledger::~Ledger() = default;

Status Ledger::Init(const fs::path& dir, const InitOptions& options) {
  KIRJURI_RETURN_IF_ERROR(InitCrypto());
  std::error_code ec;
  if (fs::exists(dir / store::kLogDir, ec) || fs::exists(dir / store::kKeyFile, ec)) {
    return Status::FailedPrecondition(dir.string() + " already holds a ledger");
  }
  std::shared_ptr<const Policy> policy;
  std::string policy_json =
      options.policy_json.empty() ? std::string(DefaultPolicyJson()) : options.policy_json;
  KIRJURI_RETURN_IF_ERROR(Policy::Parse(policy_json, &policy));

  std::string origin = options.origin;
  if (origin.empty()) {
    std::array<uint8_t, 8> r;
    randombytes_buf(r.data(), r.size());
    origin = "kirjuri.local/" + HexEncode(r);
  }
  for (char c : origin) {
    if (static_cast<unsigned char>(c) <= ' ' || c == '+') {
      return Status::InvalidArgument("an origin has no spaces, control characters or '+'");
    }
  }

  fs::create_directories(dir, ec);
  if (ec) return Status::IOError("cannot create " + dir.string() + ": " + ec.message());
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);

  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->key = SigningKey::Generate();
  impl->origin = origin;
  Status s = impl->key.WriteFile(dir / store::kKeyFile);
  if (s.ok()) s = impl->OpenDb(/*create=*/true);
  if (s.ok()) {
    rocksdb::WriteBatch batch;
    batch.Put(impl->meta, std::string(store::kMetaFormat), std::string(store::kFormatVersion));
    batch.Put(impl->meta, std::string(store::kMetaOrigin), origin);
    batch.Put(impl->meta, std::string(store::kMetaPolicy), policy_json);
    batch.Put(impl->checkpoints, store::SeqKey(0),
              impl->SignCheckpoint(0, merkle::EmptyRoot()));
    rocksdb::WriteOptions wo;
    wo.sync = true;
    s = FromRocks(impl->db->Write(wo, &batch), "writing the new ledger");
  }
  if (!s.ok()) {
    // Leave nothing half-made behind: a later init must be able to start afresh.
    impl.reset();
    fs::remove_all(dir / store::kLogDir, ec);
    fs::remove(dir / store::kKeyFile, ec);
    return s;
  }
  spdlog::info("initialised ledger {} in {}", origin, dir.string());
  return Status::Ok();
}

Status Ledger::Open(const fs::path& dir, const OpenOptions& options, std::unique_ptr<Ledger>* out) {
  KIRJURI_RETURN_IF_ERROR(InitCrypto());
  std::error_code ec;
  if (!fs::exists(dir / store::kLogDir, ec)) {
    return Status::NotFound("no ledger in " + dir.string() + " (run `kirjuri init` first)");
  }
  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  KIRJURI_RETURN_IF_ERROR(SigningKey::ReadFile(dir / store::kKeyFile, &impl->key));
  KIRJURI_RETURN_IF_ERROR(impl->OpenDb(/*create=*/false));

  std::string format, policy_json;
  KIRJURI_RETURN_IF_ERROR(FromRocks(
      impl->db->Get(rocksdb::ReadOptions(), impl->meta, std::string(store::kMetaFormat), &format),
      "reading the ledger format"));
  if (format != store::kFormatVersion) {
    return Status::FailedPrecondition("unsupported ledger format '" + format + "'");
  }
  KIRJURI_RETURN_IF_ERROR(FromRocks(impl->db->Get(rocksdb::ReadOptions(), impl->meta,
                                                  std::string(store::kMetaOrigin), &impl->origin),
                                    "reading the origin"));
  KIRJURI_RETURN_IF_ERROR(FromRocks(impl->db->Get(rocksdb::ReadOptions(), impl->meta,
                                                  std::string(store::kMetaPolicy), &policy_json),
                                    "reading the policy"));
  KIRJURI_RETURN_IF_ERROR(Policy::Parse(policy_json, &impl->policy).Prefixed("stored policy"));

  unsigned threads = options.threads ? options.threads : std::thread::hardware_concurrency();
  impl->pool = std::make_unique<WorkerPool>(std::max(1u, threads));

  impl->health = impl->LoadAndCheck();
  if (!impl->health.ok()) {
    if (options.check_on_open) return impl->health;
    uint64_t n = 0;
    if (impl->ReadSize(&n).ok()) impl->size = n;
    spdlog::warn("ledger opened without its check: {}", impl->health.ToString());
  }
  spdlog::debug("opened ledger {} with {} events", impl->origin, impl->size.load());
  out->reset(new Ledger(std::move(impl)));
  return Status::Ok();
}

Status Ledger::ParseLines(std::string_view text, std::vector<NewEvent>* out) const {
  out->clear();
  uint64_t line_no = 0;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    NewEvent e;
    KIRJURI_RETURN_IF_ERROR(
        impl_->policy->ParseLine(line, &e).Prefixed("line " + std::to_string(line_no)));
    e.line = line_no;
    out->push_back(std::move(e));
  }
  return Status::Ok();
}

Status Ledger::Append(std::span<const NewEvent> events, std::vector<Appended>* out) {
  out->clear();
  if (events.empty()) return Status::Ok();
  auto where = [](const NewEvent& e, size_t i) {
    return e.line ? "line " + std::to_string(e.line) : "event " + std::to_string(i + 1);
  };
  std::vector<schema::EventType> types(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    KIRJURI_RETURN_IF_ERROR(impl_->policy->Check(events[i]).Prefixed(where(events[i], i)));
    KIRJURI_RETURN_IF_ERROR(ParseInputType(events[i].type, &types[i]));
  }

  std::lock_guard<std::mutex> lock(impl_->append_mu);
  KIRJURI_RETURN_IF_ERROR(impl_->health.Prefixed("the ledger is damaged, appends are refused"));
  const auto started = std::chrono::steady_clock::now();
  const uint64_t base = impl_->size.load();
  const int64_t now = NowMicros();

  std::vector<SubjectId> subject_ids(events.size());
  std::map<SubjectId, std::string> known;  // existing subject -> its register
  for (size_t i = 0; i < events.size(); ++i) {
    const NewEvent& e = events[i];
    if (!e.subject) {
      randombytes_buf(subject_ids[i].data(), subject_ids[i].size());
      continue;
    }
    subject_ids[i] = *e.subject;
    auto it = known.find(*e.subject);
    if (it == known.end()) {
      std::string reg;
      Status s = impl_->SubjectRegister(*e.subject, &reg);
      if (s.IsNotFound()) return Status::InvalidArgument(where(e, i) + ": " + s.message());
      KIRJURI_RETURN_IF_ERROR(s);
      it = known.emplace(*e.subject, reg).first;
    }
    if (it->second != e.register_name) {
      return Status::InvalidArgument(where(e, i) + ": subject " + SubjectIdHex(*e.subject) +
                                     " belongs to the " + it->second + " register");
    }
  }

  // Building and signing is ~all of the CPU cost of an append: spread it over the workers.
  std::vector<EncodedEvent> encoded(events.size());
  impl_->pool->ParallelFor(events.size(), 16, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      EncodeEvent(events[i], types[i], base + i, subject_ids[i], now, impl_->key, &encoded[i]);
    }
  });

  rocksdb::WriteBatch batch;
  merkle::Frontier frontier = impl_->frontier;
  for (size_t i = 0; i < events.size(); ++i) {
    const uint64_t seq = base + i;
    batch.Put(impl_->events, store::SeqKey(seq), encoded[i].leaf);
    batch.Put(impl_->subjects, store::SubjectKey(subject_ids[i], seq), rocksdb::Slice());
    frontier.Append(encoded[i].leaf_hash, [&](merkle::NodeId id, const merkle::Hash& h) {
      batch.Put(impl_->tree, store::NodeKey(id),
                rocksdb::Slice(reinterpret_cast<const char*>(h.data()), h.size()));
    });
  }
  const uint64_t new_size = base + events.size();
  batch.Put(impl_->checkpoints, store::SeqKey(new_size),
            impl_->SignCheckpoint(new_size, frontier.Root()));

  rocksdb::WriteOptions wo;
  wo.sync = true;
  KIRJURI_RETURN_IF_ERROR(FromRocks(impl_->db->Write(wo, &batch), "appending"));
  impl_->frontier = std::move(frontier);
  impl_->size = new_size;

  out->reserve(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    out->push_back(Appended{base + i, subject_ids[i]});
    // Envelope vocabulary and ids only: never a field value.
    spdlog::trace("seq {} subject {} {} {}/{}", base + i, SubjectIdHex(subject_ids[i]),
                  events[i].type, events[i].register_name, events[i].category);
  }
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count();
  spdlog::debug("appended {} events, seq {}..{}, in {} us", events.size(), base, new_size - 1,
                micros);
  return Status::Ok();
}

uint64_t Ledger::size() const { return impl_->size.load(); }

Status Ledger::ReadEvents(uint64_t from, uint64_t to,
                          const std::function<Status(const EventView&)>& fn) const {
  to = std::min(to, size());
  if (from >= to) return Status::Ok();
  rocksdb::ReadOptions ro;
  std::string upper = store::SeqKey(to);
  rocksdb::Slice upper_slice(upper);
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(ro, impl_->events));
  uint64_t expected = from;
  for (it->Seek(store::SeqKey(from)); it->Valid(); it->Next()) {
    if (it->key().size() != 8) return Status::Corruption("events: a key is not a sequence number");
    uint64_t seq = store::GetBigEndian64(it->key().data());
    if (seq != expected) {
      return Status::Corruption("seq " + std::to_string(expected) + ": missing from the log");
    }
    DecodedLeaf leaf;
    KIRJURI_RETURN_IF_ERROR(leaf.Decode(AsSpan(it->value())).Prefixed("seq " + std::to_string(seq)));
    KIRJURI_RETURN_IF_ERROR(fn(EventView{seq, AsSpan(it->value()), leaf.get()}));
    ++expected;
  }
  KIRJURI_RETURN_IF_ERROR(FromRocks(it->status(), "reading the log"));
  if (expected != to) {
    return Status::Corruption("seq " + std::to_string(expected) + ": missing from the log");
  }
  return Status::Ok();
}

Status Ledger::ReadSubjectEvents(const SubjectId& subject,
                                 const std::function<Status(const EventView&)>& fn) const {
  std::string prefix(reinterpret_cast<const char*>(subject.data()), subject.size());
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->subjects));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (it->key().size() != 24) return Status::Corruption("subjects: a malformed key");
    uint64_t seq = store::GetBigEndian64(it->key().data() + 16);
    rocksdb::PinnableSlice value;
    rocksdb::Status s =
        impl_->db->Get(rocksdb::ReadOptions(), impl_->events, store::SeqKey(seq), &value);
    if (s.IsNotFound()) {
      return Status::Corruption("seq " + std::to_string(seq) + ": indexed but missing from the log");
    }
    KIRJURI_RETURN_IF_ERROR(FromRocks(s, "reading an event"));
    DecodedLeaf leaf;
    KIRJURI_RETURN_IF_ERROR(leaf.Decode(AsSpan(value)).Prefixed("seq " + std::to_string(seq)));
    KIRJURI_RETURN_IF_ERROR(fn(EventView{seq, AsSpan(value), leaf.get()}));
  }
  return FromRocks(it->status(), "reading the subject index");
}

Status Ledger::LatestCheckpoint(std::string* note) const {
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->checkpoints));
  it->SeekToLast();
  KIRJURI_RETURN_IF_ERROR(FromRocks(it->status(), "reading checkpoints"));
  if (!it->Valid()) return Status::NotFound("the ledger holds no checkpoint");
  *note = it->value().ToString();
  return Status::Ok();
}

Status Ledger::CheckpointAt(uint64_t tree_size, std::string* note) const {
  if (tree_size > size()) {
    return Status::InvalidArgument("tree size " + std::to_string(tree_size) +
                                   " is beyond the log (" + std::to_string(size()) + " events)");
  }
  rocksdb::Status s =
      impl_->db->Get(rocksdb::ReadOptions(), impl_->checkpoints, store::SeqKey(tree_size), note);
  if (s.ok()) return Status::Ok();
  if (!s.IsNotFound()) return FromRocks(s, "reading checkpoints");
  // No append ended at this size: sign a checkpoint for the tree as it stood then. It states a
  // fact about an earlier prefix, so it is consistent with every other checkpoint.
  DbNodeSource nodes(impl_->db.get(), impl_->tree);
  merkle::Hash root = merkle::EmptyRoot();
  if (tree_size > 0) KIRJURI_RETURN_IF_ERROR(merkle::RangeHash(nodes, 0, tree_size, &root));
  *note = impl_->SignCheckpoint(tree_size, root);
  return Status::Ok();
}

Status Ledger::ProveInclusion(uint64_t index, uint64_t tree_size, InclusionProofResult* out) const {
  if (tree_size == 0) tree_size = size();
  if (tree_size > size()) {
    return Status::InvalidArgument("tree size " + std::to_string(tree_size) +
                                   " is beyond the log (" + std::to_string(size()) + " events)");
  }
  if (index >= tree_size) {
    return Status::InvalidArgument("seq " + std::to_string(index) + " is not in a tree of " +
                                   std::to_string(tree_size) + " events");
  }
  DbNodeSource nodes(impl_->db.get(), impl_->tree);
  out->index = index;
  out->tree_size = tree_size;
  KIRJURI_RETURN_IF_ERROR(nodes.GetNode(merkle::NodeId{0, index}, &out->leaf_hash));
  KIRJURI_RETURN_IF_ERROR(merkle::InclusionProof(nodes, index, tree_size, &out->hashes));
  return merkle::RangeHash(nodes, 0, tree_size, &out->root);
}

Status Ledger::ProveConsistency(uint64_t first, uint64_t second,
                                ConsistencyProofResult* out) const {
  if (second == 0) second = size();
  if (first == 0 || first > second || second > size()) {
    return Status::InvalidArgument("a consistency proof needs 0 < old size <= new size <= " +
                                   std::to_string(size()));
  }
  DbNodeSource nodes(impl_->db.get(), impl_->tree);
  out->first = first;
  out->second = second;
  KIRJURI_RETURN_IF_ERROR(merkle::RangeHash(nodes, 0, first, &out->first_root));
  KIRJURI_RETURN_IF_ERROR(merkle::RangeHash(nodes, 0, second, &out->second_root));
  return merkle::ConsistencyProof(nodes, first, second, &out->hashes);
}

const PublicKey& Ledger::public_key() const { return impl_->key.public_key(); }
const std::string& Ledger::origin() const { return impl_->origin; }

}  // namespace kirjuri
