// Ledger::Impl: the log on RocksDB. Layout in store_format.h; invariants in kirjuri/ledger.h.
#include "kirjuri/ledger.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/utilities/options_util.h>
#include <rocksdb/write_batch.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <cstring>
#include <map>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_map>

#include "ledger_impl.h"
#include "event_codec.h"
#include "kirjuri/note.h"
#include "kirjuri/time.h"
#include "policy.h"
#include "store_format.h"
#include "strict_json.h"
#include "worker_pool.h"

namespace kirjuri {
namespace fs = std::filesystem;

namespace {

// The path of a RocksDB LOCK file under `dir` (the log's or the key store's) that a process,
// this one included, holds, or empty. RocksDB takes a POSIX lock on it while a database is open
// for writing. The kernel's lock table (/proc/locks) is read rather than the file opened and
// probed: closing any descriptor of a file drops this process's POSIX locks on it, RocksDB's
// included.
std::string LockedDatabase(const fs::path& dir) {
  std::ifstream table("/proc/locks");
  const std::string locks(std::istreambuf_iterator<char>(table), {});
  for (const char* db : {store::kLogDir, store::kKeysDir}) {
    const fs::path lock = dir / db / "LOCK";
    struct stat st {};
    if (::stat(lock.c_str(), &st) != 0) continue;
    // As the kernel writes a lock's file: major:minor in hex, then the inode.
    char id[64];
    std::snprintf(id, sizeof id, " %02x:%02x:%llu ", major(st.st_dev), minor(st.st_dev),
                  static_cast<unsigned long long>(st.st_ino));
    if (locks.find(id) != std::string::npos) return lock.string();
  }
  return {};
}

// What to do about a database that `holder` (a LOCK file) shows another process has open.
std::string LockedMessage(const std::string& holder, bool read_only) {
  return holder + " is locked by another process (kirjuri serve?): stop it, " +
         (read_only ? "" : "or ") +
         "run the command against it with --server ADDR --token T where the command has that "
         "form" +
         (read_only ? ", or open a copy read-only" : "");
}

// RocksDB's refusal to open a database for writing while another process holds it ("While lock
// file: …: Resource temporarily unavailable"), said as LockedMessage. Still an IOError: callers
// that wait for a killed writer to let go retry on that code.
Status ExplainLock(const fs::path& dir, Status s) {
  if (s.code() != Status::Code::kIOError || s.message().find("lock file") == std::string::npos ||
      s.message().find("current process") != std::string::npos) {
    return s;  // not a lock, or held by this very process
  }
  const std::string holder = LockedDatabase(dir);
  return holder.empty() ? s : Status::IOError(LockedMessage(holder, /*read_only=*/false));
}

}  // namespace

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

fs::path DefaultMasterKeyPath(const fs::path& data_dir) {
  fs::path dir = fs::absolute(data_dir).lexically_normal();
  if (dir.filename().empty()) dir = dir.parent_path();  // "data/" -> "data"
  return dir.parent_path() / (dir.filename().string() + ".kirjuri-master-key");
}

// The master key file must not live inside the data directory it opens: every copy of the
// directory (a backup) would carry the key, and destroying the key would no longer reach those
// copies. Paths are compared with symbolic links resolved, as far as they exist.
static Status CheckMasterKeyPlace(const fs::path& data_dir, const fs::path& given) {
  const fs::path path = given.empty() ? DefaultMasterKeyPath(data_dir) : given;
  std::error_code file_ec, dir_ec;
  const fs::path file = fs::weakly_canonical(fs::absolute(path), file_ec);
  const fs::path dir = fs::weakly_canonical(fs::absolute(data_dir), dir_ec);
  if (file_ec || dir_ec) {
    return Status::IOError("cannot resolve " + (file_ec ? path : data_dir).string() + ": " +
                           (file_ec ? file_ec : dir_ec).message());
  }
  if (file.lexically_normal().string().starts_with(dir.lexically_normal().string() + "/")) {
    return Status::InvalidArgument("the master key file must be kept outside the data directory");
  }
  return Status::Ok();
}

// Reads the master key, creating the file first if `create` and it does not exist. With
// `create` (a new ledger, a new key), a key file inside the data directory is refused even if
// it exists. Without, such a key (moved there by hand, or from before the refusal) still opens
// the ledger, with a warning each time: refusing it would lock its owner out of their data.
Status LoadMasterKeyFile(const fs::path& data_dir, const fs::path& given, bool create,
                     MasterKey* out) {
  fs::path path = given.empty() ? DefaultMasterKeyPath(data_dir) : given;
  std::error_code ec;
  if (create) {
    KIRJURI_RETURN_IF_ERROR(CheckMasterKeyPlace(data_dir, given));
  } else if (CheckMasterKeyPlace(data_dir, given).IsInvalidArgument()) {
    spdlog::warn("the master key {} is inside the data directory {}: every copy of the "
                 "directory carries the key that opens it; move the key elsewhere and give its "
                 "new place with --master-key",
                 path.string(), data_dir.string());
  }
  if (create && !fs::exists(path, ec)) {
    KIRJURI_RETURN_IF_ERROR(MasterKey::Generate().WriteFile(path));
    spdlog::info("created the master key {}: keep it apart from backups of {}", path.string(),
                 data_dir.string());
  }
  Status s = MasterKey::ReadFile(path, out);
  if (s.IsNotFound()) {
    return Status::NotFound("no master key at " + path.string() +
                            " (give --master-key FILE or KIRJURI_MASTER_KEY_FILE)");
  }
  return s;
}

Status Ledger::Init(const fs::path& dir, const InitOptions& options) {
  KIRJURI_RETURN_IF_ERROR(InitCrypto());
  std::error_code ec;
  if (fs::exists(dir / store::kLogDir, ec) || fs::exists(dir / store::kKeyFile, ec) ||
      fs::exists(dir / store::kKeysDir, ec)) {
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

  KIRJURI_RETURN_IF_ERROR(CheckMasterKeyPlace(dir, options.master_key_file));  // before any write
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError("cannot create " + dir.string() + ": " + ec.message());
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);

  MasterKey master;
  KIRJURI_RETURN_IF_ERROR(LoadMasterKeyFile(dir, options.master_key_file, /*create=*/true, &master));

  auto impl = std::make_unique<Impl>();
  impl->dir = dir;
  impl->key = SigningKey::Generate();
  impl->origin = origin;
  Status s = impl->key.WriteFile(dir / store::kKeyFile);
  if (s.ok()) s = KeyStore::Create(dir / store::kKeysDir, master, &impl->keys);
  if (s.ok()) s = impl->OpenDb(/*create=*/true);
  // The copy first: the empty tree's checkpoint holds for any log, and the metadata below says
  // that a copy exists.
  if (s.ok()) {
    s = ReplaceFileDurably(dir / store::kCheckpointFile,
                           impl->SignCheckpoint(0, merkle::EmptyRoot()));
  }
  if (s.ok()) {
    rocksdb::WriteBatch batch;
    batch.Put(impl->meta, std::string(store::kMetaFormat), std::string(store::kFormatVersion));
    batch.Put(impl->meta, std::string(store::kMetaOrigin), origin);
    batch.Put(impl->meta, std::string(store::kMetaPolicy), policy_json);
    batch.Put(impl->meta, std::string(store::kMetaSubjectInfoBuilt), "");
    batch.Put(impl->meta, std::string(store::kMetaCheckpointCopy), "");
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
    fs::remove_all(dir / store::kKeysDir, ec);
    fs::remove(dir / store::kKeyFile, ec);
    fs::remove(dir / store::kCheckpointFile, ec);
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
  impl->env = options.env;
  impl->read_only = options.read_only;
  KIRJURI_RETURN_IF_ERROR(SigningKey::ReadFile(dir / store::kKeyFile, &impl->key));
  // The key store first: a wrong master key must stop us before the log is opened for writing.
  MasterKey master;
  bool has_keys = fs::exists(dir / store::kKeysDir, ec);
  if (options.read_only) {
    // The key store is read before the log, and the log checked against it: a writer between
    // the two would make a sound ledger look damaged.
    if (std::string holder = LockedDatabase(dir); !holder.empty()) {
      return Status::FailedPrecondition(LockedMessage(holder, /*read_only=*/true));
    }
    if (!has_keys) return impl->NeedsWritableOpen("it was written before sealing");
  }
  // A ledger from before sealing has no key store yet: it gets one (and a master key) now.
  KIRJURI_RETURN_IF_ERROR(LoadMasterKeyFile(dir, options.master_key_file, /*create=*/!has_keys, &master));
  if (options.read_only) {
    KIRJURI_RETURN_IF_ERROR(
        KeyStore::OpenReadOnly(dir / store::kKeysDir, master, &impl->keys, options.env));
  } else if (has_keys) {
    KIRJURI_RETURN_IF_ERROR(ExplainLock(
        dir, KeyStore::Open(dir / store::kKeysDir, master, &impl->keys, options.env)));
  } else {
    KIRJURI_RETURN_IF_ERROR(KeyStore::Create(dir / store::kKeysDir, master, &impl->keys, options.env));
    spdlog::warn("{} had no key store (written before sealing): created one, with the master "
                 "key {}; keep that key apart from backups of the data directory",
                 dir.string(),
                 (options.master_key_file.empty() ? DefaultMasterKeyPath(dir)
                                                  : options.master_key_file).string());
  }
  KIRJURI_RETURN_IF_ERROR(ExplainLock(dir, impl->OpenDb(/*create=*/false)));

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
  std::shared_ptr<const Policy> stored;
  KIRJURI_RETURN_IF_ERROR(Policy::Parse(policy_json, &stored).Prefixed("stored policy"));
  impl->SetPolicy(std::move(stored));

  unsigned threads = options.threads ? options.threads : std::thread::hardware_concurrency();
  impl->pool = std::make_unique<WorkerPool>(std::max(1u, threads));
  impl->seal = options.seal;
  impl->enforce_rules = options.enforce_rules;

  impl->health = impl->LoadAndCheck();
  if (!impl->health.ok()) {
    if (options.check_on_open) return impl->health;
    uint64_t n = 0;
    if (impl->ReadSize(&n).ok()) impl->size = n;
    spdlog::warn("ledger opened without its check: {}", impl->health.ToString());
  } else {
    if (uint64_t n = impl->size.load(); n > 0) {
      rocksdb::PinnableSlice last;
      KIRJURI_RETURN_IF_ERROR(FromRocks(
          impl->db->Get(rocksdb::ReadOptions(), impl->events, store::SeqKey(n - 1), &last),
          "reading the log"));
      DecodedLeaf leaf;
      KIRJURI_RETURN_IF_ERROR(leaf.Decode(AsSpan(last)).Prefixed("seq " + std::to_string(n - 1)));
      impl->last_recorded_micros = leaf.get().getEvent().getEnvelope().getRecordedAtMicros();
    }
    std::string built;
    if (impl->db->Get(rocksdb::ReadOptions(), impl->meta,
                      std::string(store::kMetaSubjectInfoBuilt), &built).IsNotFound()) {
      if (impl->read_only) return impl->NeedsWritableOpen("its subject summaries are not built");
      KIRJURI_RETURN_IF_ERROR(impl->BuildSubjectInfo());
    }
    KIRJURI_RETURN_IF_ERROR(impl->CompletePendingErasures());
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
        impl_->CurrentPolicy()->ParseLine(line, &e, impl_->enforce_rules).Prefixed("line " + std::to_string(line_no)));
    e.line = line_no;
    out->push_back(std::move(e));
  }
  return Status::Ok();
}

// What Reserve settles about a batch, for Commit. Everything here is the batch's own; the
// shared state it was checked against is in Impl (next_seq, reserved_states).
struct Ledger::Reservation::State {
  Ledger::Impl* impl = nullptr;
  bool finished = false;  // committed, or failed and counted out of in_flight
  std::span<const NewEvent> events;
  std::vector<schema::EventType> types;
  std::vector<SubjectId> subject_ids;
  uint64_t base = 0;
  int64_t now = 0;
  // Each subject's summary before the batch (stored, or as earlier batches in flight leave it).
  std::map<SubjectId, SubjectState> states;
  std::vector<Impl::Pending> pending;  // envelopes now; `encoded` filled by Commit

  // Takes the batch out of the pipeline; `failed` fails the batches reserved after it.
  // REQUIRES (FinishLocked): impl->commit_mu held.
  void FinishLocked(bool failed) {
    if (finished) return;
    finished = true;
    if (failed) impl->broken_from = std::min(impl->broken_from, base);
    --impl->in_flight;
    impl->committed_cv.notify_all();
  }
  void Finish(bool failed) {
    std::lock_guard<std::mutex> c(impl->commit_mu);
    FinishLocked(failed);
  }
};

Ledger::Reservation::Reservation(std::unique_ptr<State> state) : state_(std::move(state)) {}
Ledger::Reservation::~Reservation() {
  if (state_) state_->Finish(/*failed=*/true);
}
uint64_t Ledger::Reservation::first_seq() const { return state_->base; }
size_t Ledger::Reservation::size() const { return state_->events.size(); }

Status Ledger::Append(std::span<const NewEvent> events, std::vector<Appended>* out) {
  out->clear();
  std::unique_ptr<Reservation> r;
  KIRJURI_RETURN_IF_ERROR(Reserve(events, &r));
  return Commit(std::move(r), out);
}

Status Ledger::Reserve(std::span<const NewEvent> events, std::unique_ptr<Reservation>* out) {
  out->reset();
  if (events.empty()) return Status::Ok();  // *out stays null; Commit(null) appends nothing
  auto where = [](const NewEvent& e, size_t i) {
    return e.line ? "line " + std::to_string(e.line) : "event " + std::to_string(i + 1);
  };
  auto r = std::make_unique<Reservation::State>();
  r->impl = impl_.get();
  r->events = events;
  r->types.resize(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    KIRJURI_RETURN_IF_ERROR(
        impl_->CurrentPolicy()->Check(events[i], &r->types[i], impl_->enforce_rules)
            .Prefixed(where(events[i], i)));
  }

  std::lock_guard<std::mutex> lock(impl_->append_mu);
  KIRJURI_RETURN_IF_ERROR(impl_->health.Prefixed("the ledger is damaged, appends are refused"));
  if (impl_->read_only) {
    return Status::FailedPrecondition("the ledger was opened read-only: appends are refused");
  }
  {
    // A failed batch fails the ones after it; numbering restarts once they are all out.
    std::unique_lock<std::mutex> c(impl_->commit_mu);
    if (impl_->broken_from != UINT64_MAX) {
      impl_->committed_cv.wait(c, [&] { return impl_->in_flight == 0; });
      impl_->broken_from = UINT64_MAX;
    }
    if (impl_->in_flight == 0) {
      KIRJURI_RETURN_IF_ERROR(impl_->ResumeWritesLocked());
      impl_->next_seq = impl_->size.load();
      impl_->reserved_states.clear();  // (a failed batch's may be among them)
    }
  }
  // Summaries of written batches are in subject_info now.
  std::erase_if(impl_->reserved_states,
                [&](const auto& kv) { return kv.second.second <= impl_->size.load(); });
  const uint64_t base = impl_->next_seq;
  const int64_t now = impl_->RecordTimeLocked();
  r->base = base;
  r->now = now;

  // Subjects: new ones get random ids; existing ones must be in the same register and not
  // erased (nor being erased), so that a shredded key can never come back.
  std::vector<SubjectId>& subject_ids = r->subject_ids;
  subject_ids.resize(events.size());
  std::map<SubjectId, SubjectState>& states = r->states;
  // New subjects' ids, all from one call to the system's generator.
  randombytes_buf(subject_ids.data(), subject_ids.size() * sizeof(SubjectId));
  for (size_t i = 0; i < events.size(); ++i) {
    const NewEvent& e = events[i];
    if (!e.subject) {
      states[subject_ids[i]].register_name = e.register_name;
      continue;
    }
    subject_ids[i] = *e.subject;
    auto it = states.find(*e.subject);
    if (it == states.end()) {
      SubjectState state;
      if (auto reserved = impl_->reserved_states.find(*e.subject);
          reserved != impl_->reserved_states.end()) {
        state = reserved->second.first;
      } else {
        Status s = impl_->LoadSubject(*e.subject, &state);
        if (s.IsNotFound()) return Status::InvalidArgument(where(e, i) + ": " + s.message());
        KIRJURI_RETURN_IF_ERROR(s);
      }
      std::string pending;
      if (state.erased() || impl_->db->Get(rocksdb::ReadOptions(), impl_->meta,
                                           store::PendingErasureKey(*e.subject), &pending)
                                .ok()) {
        return Status::InvalidArgument(where(e, i) + ": subject " + SubjectIdHex(*e.subject) +
                                       " was erased; nothing more is recorded about them");
      }
      it = states.emplace(*e.subject, std::move(state)).first;
    }
    if (it->second.register_name != e.register_name) {
      return Status::InvalidArgument(where(e, i) + ": subject " + SubjectIdHex(*e.subject) +
                                     " belongs to the " + it->second.register_name + " register");
    }
  }

  // The rules that depend on the person's rights, in log order: each event against the state
  // that the events before it (stored, in flight, or earlier in this append) left.
  if (impl_->enforce_rules) {
    std::map<SubjectId, SubjectState> running = states;
    for (size_t i = 0; i < events.size(); ++i) {
      SubjectState& state = running[subject_ids[i]];
      KIRJURI_RETURN_IF_ERROR(impl_->CurrentPolicy()->CheckRights(events[i], r->types[i], state)
                                  .Prefixed(where(events[i], i) + ": subject " +
                                            SubjectIdHex(subject_ids[i])));
      state.Apply(base + i, r->types[i], events[i].purpose, events[i].category, now);
    }
  }

  r->pending.resize(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    Impl::Pending& p = r->pending[i];
    p.subject = subject_ids[i];
    p.type = r->types[i];
    p.purpose = events[i].purpose;
    p.category = events[i].category;
    p.occurred_at_micros = events[i].occurred_at_micros.value_or(now);
  }
  // The batch is in: the next one is numbered after it and checked against what it leaves.
  {
    std::map<SubjectId, SubjectState> after = states;
    Impl::AdvanceStates(base, r->pending, after);
    for (auto& [id, state] : after) {
      impl_->reserved_states[id] = {std::move(state), base + events.size()};
    }
  }
  impl_->next_seq = base + events.size();
  {
    std::lock_guard<std::mutex> c(impl_->commit_mu);
    ++impl_->in_flight;
  }
  out->reset(new Reservation(std::move(r)));
  return Status::Ok();
}

Status Ledger::Commit(std::unique_ptr<Reservation> reservation, std::vector<Appended>* out) {
  out->clear();
  if (!reservation) return Status::Ok();
  Reservation::State& r = *reservation->state_;
  const std::span<const NewEvent> events = r.events;
  const auto started = std::chrono::steady_clock::now();

  // Data keys, one per (subject, category) that this append seals something under; new ones
  // are stored durably in the key store before the log refers to them.
  std::vector<KeyRequest> requests;
  struct Want {
    const SubjectId* subject;
    std::string_view category;
    bool operator==(const Want& o) const { return *subject == *o.subject && category == o.category; }
  };
  struct WantHash {
    size_t operator()(const Want& w) const {
      return SubjectIdHash{}(*w.subject) ^ std::hash<std::string_view>{}(w.category);
    }
  };
  std::unordered_map<Want, size_t, WantHash> request_index;
  request_index.reserve(events.size());
  auto want = [&](size_t i, std::string_view category) {
    auto [it, inserted] = request_index.emplace(Want{&r.subject_ids[i], category}, requests.size());
    if (inserted) {
      requests.push_back(KeyRequest{r.subject_ids[i], std::string(category), !events[i].subject});
    }
    return static_cast<int64_t>(it->second);
  };
  // Each event's (category, network) key: an index in `requests`, or -1.
  std::vector<std::pair<int64_t, int64_t>> key_slots(events.size(), {-1, -1});
  for (size_t i = 0; i < events.size() && impl_->seal; ++i) {
    if (!events[i].data.empty()) key_slots[i].first = want(i, events[i].category);
    if (events[i].ip) key_slots[i].second = want(i, "network");
  }

  // Blind indexes for finding a person by email, username or phone.
  std::vector<IndexEntry> index_entries;
  for (size_t i = 0; i < events.size() && impl_->seal; ++i) {
    for (const auto& [name, value] : events[i].data) {
      using namespace std::string_view_literals;
      BlindKind kind;
      if (name == "email"sv) kind = BlindKind::kEmail;
      else if (name == "username"sv) kind = BlindKind::kUsername;
      else if (name == "phone"sv) kind = BlindKind::kPhone;
      else continue;
      std::string text;
      if (DecodeJsonString(value, &text) && !NormaliseForIndex(kind, text).empty()) {
        index_entries.push_back({r.subject_ids[i], kind, text, !events[i].subject});
      }
    }
  }
  // Building, sealing and signing is ~all of the CPU cost of an append: it runs on the workers
  // while this thread writes the new data keys and index entries to the key store (one synced
  // write). The log refers to those keys only once that write has succeeded.
  std::vector<Impl::Pending>& pending = r.pending;
  std::vector<DataKey> data_keys;
  std::unique_ptr<WorkerPool::Running> encoding;
  constexpr size_t kChunk = 16;  // events per task of the workers
  auto encode = [&](size_t begin, size_t end) {
    // Sealing nonces, two per event (its category's group, the network group), from one call
    // per task rather than two per event (a longer range, never given, draws them per group).
    std::array<uint8_t, kChunk * 2 * kSealNonceBytes> nonces;
    const bool drawn = impl_->seal && end - begin <= kChunk;
    if (drawn) randombytes_buf(nonces.data(), (end - begin) * 2 * kSealNonceBytes);
    for (size_t i = begin; i < end; ++i) {
      SealingKeys keys;
      if (key_slots[i].first >= 0) keys.category = &data_keys[key_slots[i].first];
      if (key_slots[i].second >= 0) keys.network = &data_keys[key_slots[i].second];
      if (drawn) keys.nonces = nonces.data() + (i - begin) * 2 * kSealNonceBytes;
      EncodeEvent(events[i], r.types[i], r.base + i, r.subject_ids[i], r.now, keys, impl_->key,
                  &pending[i].encoded);
    }
  };
  Status stored = impl_->keys->GetOrCreate(
      requests, &data_keys, index_entries, [&](const std::vector<DataKey>&) {
        encoding = impl_->pool->StartParallelFor(events.size(), kChunk, encode);
      });
  // The log's puts that need no encoded bytes, while the workers encode.
  rocksdb::WriteBatch batch;
  if (stored.ok()) impl_->IndexLocked(r.base, pending, r.states, &batch);
  // The workers write into `pending` and read data_keys: they finish before either is touched
  // again, on success or failure.
  if (encoding) encoding->Wait();
  if (!stored.ok()) {
    if (stored.code() == Status::Code::kIOError) impl_->WriteFailed(stored);
    r.Finish(/*failed=*/true);
    return stored;
  }
  if (!encoding) impl_->pool->ParallelFor(events.size(), kChunk, encode);  // keys_ready always runs on OK

  // The write, in turn: once every batch reserved before this one is written.
  std::string checkpoint;
  {
    std::unique_lock<std::mutex> c(impl_->commit_mu);
    impl_->committed_cv.wait(c, [&] {
      return impl_->size.load() == r.base || impl_->broken_from < r.base;
    });
    if (impl_->broken_from < r.base) {
      r.FinishLocked(/*failed=*/true);
      return Status::IOError("an append before this one failed to write; nothing of this one was written");
    }
    Status written = impl_->WriteLocked(pending, nullptr, &batch, &checkpoint);
    r.FinishLocked(/*failed=*/!written.ok());
    KIRJURI_RETURN_IF_ERROR(written);
  }
  // The next batch writes while this one's copy is kept: the acknowledgement still waits for it.
  impl_->KeepCheckpointCopy(r.base + events.size(), checkpoint);

  out->reserve(events.size());
  for (size_t i = 0; i < events.size(); ++i) out->push_back(Appended{r.base + i, r.subject_ids[i]});
  if (spdlog::should_log(spdlog::level::trace)) {
    for (size_t i = 0; i < events.size(); ++i) {
      // Envelope vocabulary and ids only: never a field value.
      spdlog::trace("seq {} subject {} {} {}/{}", r.base + i, SubjectIdHex(r.subject_ids[i]),
                    events[i].type, events[i].register_name, events[i].category);
    }
  }
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count();
  spdlog::debug("appended {} events, seq {}..{}, in {} us", events.size(), r.base,
                r.base + events.size() - 1, micros);
  return Status::Ok();
}

void Ledger::Impl::AdvanceStates(uint64_t base, const std::vector<Pending>& events,
                                 std::map<SubjectId, SubjectState>& states) {
  for (size_t i = 0; i < events.size(); ++i) {
    states[events[i].subject].Apply(base + i, events[i].type, events[i].purpose,
                                    events[i].category, events[i].occurred_at_micros);
  }
}

void Ledger::Impl::IndexLocked(uint64_t base, const std::vector<Pending>& events,
                               std::map<SubjectId, SubjectState>& states,
                               rocksdb::WriteBatch* batch) const {
  std::vector<std::string> index_keys;
  index_keys.reserve(events.size());
  for (size_t i = 0; i < events.size(); ++i) {
    index_keys.push_back(store::SubjectKey(events[i].subject, base + i));
  }
  AdvanceStates(base, events, states);
  // Subject ids are random: in key order their inserts cost RocksDB's memtable skip list far
  // fewer cache misses than in log order. (states, a std::map, is in key order already.)
  std::sort(index_keys.begin(), index_keys.end());
  for (const std::string& k : index_keys) batch->Put(subjects, k, rocksdb::Slice());
  for (const auto& [subject, state] : states) {
    batch->Put(subject_info, store::SubjectBytes(subject), state.Encode());
  }
}

Status Ledger::Impl::WriteLocked(const std::vector<Pending>& events,
                                 const std::function<void(rocksdb::WriteBatch&)>& extra,
                                 rocksdb::WriteBatch* batch, std::string* checkpoint) {
  const uint64_t base = size.load();
  merkle::Frontier f = frontier;
  for (size_t i = 0; i < events.size(); ++i) {
    batch->Put(this->events, store::SeqKey(base + i), events[i].encoded.leaf);
    f.Append(events[i].encoded.leaf_hash, [&](merkle::NodeId id, const merkle::Hash& h) {
      batch->Put(tree, store::NodeKey(id),
                 rocksdb::Slice(reinterpret_cast<const char*>(h.data()), h.size()));
    });
  }
  if (extra) extra(*batch);
  if (keys) {
    // Every key this batch's events need was written (synced) before now.
    std::string last_write(8, '\0');
    store::PutBigEndian64(keys->LastWrite(), last_write.data());
    batch->Put(meta, store::kMetaKeyStoreWrites, last_write);
  }
  const uint64_t new_size = base + events.size();
  *checkpoint = SignCheckpoint(new_size, f.Root());
  batch->Put(checkpoints, store::SeqKey(new_size), *checkpoint);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  if (Status s = FromRocks(db->Write(wo, batch), "appending"); !s.ok()) {
    WriteFailed(s);
    return s;
  }
  frontier = std::move(f);
  size = new_size;
  return Status::Ok();
}

Status Ledger::Impl::CommitLocked(std::vector<Pending>& events,
                                  std::map<SubjectId, SubjectState>& states,
                                  const std::function<void(rocksdb::WriteBatch&)>& extra) {
  rocksdb::WriteBatch batch;
  IndexLocked(size.load(), events, states, &batch);
  std::string checkpoint;
  KIRJURI_RETURN_IF_ERROR(WriteLocked(events, extra, &batch, &checkpoint));
  KeepCheckpointCopy(size.load(), checkpoint);
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
  const std::string prefix = store::SubjectBytes(subject);
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
    // The index is a convenience, not a source of truth: an entry that points at another
    // subject's event (a damaged or tampered index) must never hand one person's data to another.
    auto own = leaf.get().getEvent().getEnvelope().getSubject();
    if (own.size() != subject.size() ||
        std::memcmp(own.begin(), subject.data(), subject.size()) != 0) {
      return Status::Corruption("seq " + std::to_string(seq) + ": the subject index lists it for " +
                                SubjectIdHex(subject) + " but it belongs to another subject");
    }
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

namespace kirjuri {

Status Ledger::CheckExtends(std::string_view checkpoint_note, ExtendsResult* out) const {
  Checkpoint old;
  Status s = OpenCheckpoint(checkpoint_note, public_key(), &old);
  if (!s.ok()) {
    return Status::Corruption("the checkpoint is not signed by this ledger's key (" +
                              s.message() + ")");
  }
  if (old.origin != origin()) {
    return Status::Corruption("the checkpoint is of another log ('" + old.origin + "')");
  }
  const uint64_t now = size();
  if (old.size > now) {
    return Status::Corruption("the checkpoint covers " + std::to_string(old.size) +
                              " events but the log holds " + std::to_string(now) +
                              ": events were removed since");
  }
  ExtendsResult r;
  r.old_size = old.size;
  r.new_size = now;
  r.old_root = old.root;
  KIRJURI_RETURN_IF_ERROR(LatestCheckpoint(&r.new_checkpoint));
  Checkpoint latest;
  KIRJURI_RETURN_IF_ERROR(OpenCheckpoint(r.new_checkpoint, public_key(), &latest));
  r.new_root = latest.root;
  if (old.size == 0) {
    *out = std::move(r);
    return Status::Ok();
  }
  ConsistencyProofResult p;
  KIRJURI_RETURN_IF_ERROR(ProveConsistency(old.size, now, &p));
  if (p.first_root != old.root) {
    return Status::Corruption("the log's first " + std::to_string(old.size) +
                              " events no longer hash to the checkpoint's root: history was "
                              "rewritten since");
  }
  if (!merkle::VerifyConsistency(old.size, now, old.root, latest.root, p.hashes)) {
    return Status::Corruption("the consistency proof from the checkpoint to today's log fails");
  }
  r.proof = std::move(p.hashes);
  *out = std::move(r);
  return Status::Ok();
}

}  // namespace kirjuri
