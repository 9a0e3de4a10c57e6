#include "kirjuri/views.h"

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cctype>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <atomic>
#include <chrono>
#include <unordered_map>
#include <cstring>

#include "kirjuri/rocks_util.h"
#include "kirjuri/time.h"
#include "row_codec.h"

namespace kirjuri {
namespace {

namespace fs = std::filesystem;
using views_internal::DecodeRow;
using views_internal::EncodeRow;
using views_internal::OpenCategory;
using views_internal::RowData;
using views_internal::StripRow;

// DATA/views/ layout (column families):
//   default   "format"           kFormat: rows of another format are rebuilt, not read
//             "applied/<view>"   8-byte big-endian log size the view has applied
//   rows      register || 0x00 || subject (16)   canonical SubjectRow
//   audience  subject (16)                       register name
constexpr char kViewsDir[] = "views";
constexpr char kFormat[] = "kirjuri-views-v1";
constexpr char kRowsCf[] = "rows";
constexpr char kAudienceCf[] = "audience";
// Views are derived: their writes skip the write-ahead log, and the database flushes all its
// column families atomically (DBOptions::atomic_flush), so what survives a crash is the state
// after some complete batch — rows, audience and applied size together — and catch-up replays
// the rest from the log.
rocksdb::WriteOptions ViewWrite() {
  rocksdb::WriteOptions o;
  o.disableWAL = true;
  return o;
}

// Folds of at least this many events run their shares on all cores.
constexpr uint64_t kParallelFoldEvents = 20000;

// The pass (of `passes`) that folds `id`.
uint64_t Share(const SubjectId& id, uint64_t passes) {
  uint64_t v;
  std::memcpy(&v, id.data() + 8, sizeof v);
  return v % passes;
}

// A replayed view's categories that `only` does not accept, left out (as RowData::kOpen leaves
// them out of a stored row).
void LeaveOut(const CategoryFilter& only, SubjectView* view) {
  if (!only) return;
  std::erase_if(view->categories, [&](const auto& c) { return !only(c.first); });
}

std::string SubjectBytes(const SubjectId& id) {
  return std::string(reinterpret_cast<const char*>(id.data()), id.size());
}

std::string RowPrefix(std::string_view register_name) {
  std::string key(register_name);
  key.push_back('\0');
  return key;
}

std::string RowKey(std::string_view register_name, const SubjectId& id) {
  return RowPrefix(register_name) + SubjectBytes(id);
}

std::string AppliedKey(std::string_view view) { return "applied/" + std::string(view); }

std::string BigEndian(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i, v >>= 8) out[i] = static_cast<char>(v & 0xff);
  return out;
}

uint64_t FromBigEndian(std::string_view s) {
  uint64_t v = 0;
  for (char c : s) v = (v << 8) | static_cast<uint8_t>(c);
  return v;
}

SubjectId SubjectOf(const EventView& e) {
  SubjectId id{};
  auto s = e.signed_event.getEvent().getEnvelope().getSubject();
  if (s.size() == id.size()) std::copy(s.begin(), s.end(), id.begin());
  return id;
}

bool Passes(const SubjectView& v, const ViewFilter& f) {
  if (v.erased && !f.include_erased) return false;
  if (!f.city.empty() && v.ProfileText("city") != f.city) return false;
  if (!f.organisation.empty() && v.ProfileText("organisation") != f.organisation) return false;
  return true;
}

}  // namespace

Status ResolveAsOf(const Ledger& ledger, std::string_view text, uint64_t* size) {
  if (!text.empty() && std::all_of(text.begin(), text.end(),
                                   [](char c) { return std::isdigit(static_cast<uint8_t>(c)); })) {
    if (text.size() > 19) {
      return Status::InvalidArgument("as of " + std::string(text) +
                                     ": the sequence number is too big");
    }
    const uint64_t seq = std::stoull(std::string(text));
    if (seq >= ledger.size()) {
      return Status::InvalidArgument(
          "as of " + std::string(text) + ": " +
          (ledger.size() == 0 ? std::string("the log holds no event yet")
                              : "the log holds seq 0 to " + std::to_string(ledger.size() - 1)));
    }
    *size = seq + 1;
    return Status::Ok();
  }
  int64_t micros = 0;
  KIRJURI_RETURN_IF_ERROR(
      ParseRfc3339(text, &micros).Prefixed("as of '" + std::string(text) +
                                            "': neither a sequence number nor a time"));
  KIRJURI_RETURN_IF_ERROR(ledger.SizeAtTime(micros, size));
  if (*size == 0) {
    return Status::NotFound("as of " + std::string(text) +
                            ": the ledger had recorded no event by then");
  }
  return Status::Ok();
}

struct Views::Impl : DerivedStore {
  Ledger* ledger = nullptr;
  fs::path dir;
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::ColumnFamilyHandle* meta = nullptr;
  rocksdb::ColumnFamilyHandle* rows = nullptr;
  rocksdb::ColumnFamilyHandle* audience = nullptr;
  std::vector<std::string> registers;
  ViewsOptions options;
  std::mutex write_mu;  // CatchUp and Rebuild

  ~Impl() override {
    static_cast<void>(CloseStore(&db, &handles, /*writable=*/true, "the views in " + dir.string()));
  }

  Status OpenDb() {
    rocksdb::DBOptions options = BaseDbOptions(true);
    options.error_if_exists = false;
    options.create_missing_column_families = true;
    options.keep_log_file_num = 2;
    options.atomic_flush = true;  // see ViewWrite()
    std::vector<rocksdb::ColumnFamilyDescriptor> descriptors = {
        {rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions()},
        {kRowsCf, PointLookupOptions()},  // each folded event looks up its person's row
        {kAudienceCf, rocksdb::ColumnFamilyOptions()}};
    rocksdb::DB* raw = nullptr;
    // Made here, 0700 like the ledger's other stores: RocksDB would make it 0755 after logging
    // an error for the directory it had not found.
    if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return Status::IOError("cannot create " + dir.string() + ": " + std::strerror(errno));
    }
    KIRJURI_RETURN_IF_ERROR(CheckTableFiles(dir, "cannot open the views in " + dir.string()));
    KIRJURI_RETURN_IF_ERROR(
        FromRocks(rocksdb::DB::Open(options, dir.string(), descriptors, &handles, &raw),
                  "cannot open the views in " + dir.string()));
    db.reset(raw);
    meta = handles[0];
    rows = handles[1];
    audience = handles[2];
    return Status::Ok();
  }

  // Erasure, before the event is signed: the row keeps its plaintext facts and loses every data
  // category; the audience entry goes. (Applying the erasure event then turns the row into ids
  // and dates, exactly as a rebuild would; until then, the categories' keys are already gone.)
  Status RemoveSubject(const SubjectId& subject, uint64_t* removed) override {
    SubjectSummary summary;
    KIRJURI_RETURN_IF_ERROR(ledger->GetSubject(subject, &summary));
    rocksdb::WriteBatch batch;
    const std::string key = RowKey(summary.register_name, subject);
    std::string row, stripped;
    rocksdb::Status s = db->Get(rocksdb::ReadOptions(), rows, key, &row);
    uint64_t n = 0;
    if (s.ok()) {
      KIRJURI_RETURN_IF_ERROR(StripRow(row, &stripped, &n));
      if (n) KIRJURI_RETURN_IF_ERROR(FromRocks(batch.Put(rows, key, stripped), "views"));
    } else if (!s.IsNotFound()) {
      return FromRocks(s, "reading the views");
    }
    std::string entry;
    s = db->Get(rocksdb::ReadOptions(), audience, SubjectBytes(subject), &entry);
    if (s.ok()) {
      ++n;
      KIRJURI_RETURN_IF_ERROR(FromRocks(batch.Delete(audience, SubjectBytes(subject)), "views"));
    } else if (!s.IsNotFound()) {
      return FromRocks(s, "reading the views");
    }
    KIRJURI_RETURN_IF_ERROR(FromRocks(db->Write(ViewWrite(), &batch), "writing the views"));
    *removed += n;
    return Status::Ok();
  }

  bool IsRegister(std::string_view view) const {
    return std::find(registers.begin(), registers.end(), view) != registers.end();
  }

  // nullopt if the view has never finished a rebuild.
  Status ReadApplied(std::string_view view, std::optional<uint64_t>* out) const {
    std::string value;
    rocksdb::Status s = db->Get(rocksdb::ReadOptions(), meta, AppliedKey(view), &value);
    if (s.IsNotFound()) {
      out->reset();
      return Status::Ok();
    }
    KIRJURI_RETURN_IF_ERROR(FromRocks(s, "reading the views"));
    if (value.size() != 8) return Status::Corruption("views: a damaged applied size");
    *out = FromBigEndian(value);
    return Status::Ok();
  }

  // The subject's row (with RowData::kOpen, as `only` asks).
  Status LoadRow(std::string_view register_name, const SubjectId& id, RowData data,
                 SubjectView* out, const CategoryFilter& only = nullptr) const {
    rocksdb::PinnableSlice value;
    rocksdb::Status s = db->Get(rocksdb::ReadOptions(), rows, RowKey(register_name, id), &value);
    if (s.IsNotFound()) return Status::NotFound("subject " + SubjectIdHex(id) + " has no row");
    KIRJURI_RETURN_IF_ERROR(FromRocks(s, "reading the views"));
    Status decoded = DecodeRow(*ledger, value.ToStringView(), data, out, only);
    if (!decoded.ok()) return decoded.Prefixed("views: subject " + SubjectIdHex(id));
    return Status::Ok();
  }

  // Drops a view's rows and its applied size (one write): until a rebuild finishes, the view
  // has no applied size and is rebuilt on the next open.
  Status Wipe(std::string_view view) {
    rocksdb::WriteBatch batch;
    if (view == kMarketingAudienceView) {
      KIRJURI_RETURN_IF_ERROR(
          FromRocks(batch.DeleteRange(audience, "", std::string(17, '\xff')), "views"));
    } else {
      std::string end = RowPrefix(view);
      end.back() = '\1';
      KIRJURI_RETURN_IF_ERROR(FromRocks(batch.DeleteRange(rows, RowPrefix(view), end), "views"));
    }
    KIRJURI_RETURN_IF_ERROR(FromRocks(batch.Delete(meta, AppliedKey(view)), "views"));
    return FromRocks(db->Write(ViewWrite(), &batch), "writing the views");
  }

  // Folds events [from, to) into the rows of `registers_to_write` (loading each subject's row
  // as it stands, or starting it), and, if `with_audience`, keeps the marketing audience too.
  // A long fold is split into shares of the people (their random ids hashed): each share is a
  // pass over the whole range that folds only its people, holds them in memory and writes each
  // row once at its end, so memory stays bounded and no row is read and sealed again mid-fold;
  // shares run on all cores at once.
  // REQUIRES: write_mu held; every written view has applied exactly `from` (so from == 0 means
  // they hold no row yet); with_audience only together with every register (the audience
  // follows the rows' state).
  Status Fold(uint64_t from, uint64_t to, const std::set<std::string>& registers_to_write,
              bool with_audience, const ProgressFn& progress) {
    std::vector<std::string> applied_keys;
    for (const std::string& r : registers_to_write) applied_keys.push_back(AppliedKey(r));
    if (with_audience) applied_keys.push_back(AppliedKey(kMarketingAudienceView));
    const uint64_t n = to - from;
    const uint64_t per_pass = std::max<uint64_t>(1, options.events_per_pass);
    const uint64_t threads = std::max(1u, std::thread::hardware_concurrency());
    uint64_t shares = n <= per_pass ? 1 : (n + per_pass - 1) / per_pass;
    if (n >= kParallelFoldEvents) shares = std::max(shares, threads);
    const bool fresh = from == 0;

    // Folds share `k` (of `shares`) and writes its rows; with one share, the applied size too.
    struct Person {
      SubjectView view;
      // In the audience before this fold, as its stored row said. The audience is written only
      // with every register's rows, in the same batch, so an entry exists exactly when the
      // stored row is in the audience (a fresh fold starts from a wiped audience). Erasure
      // removes the entry before its event is folded; folding that event then takes the row out.
      bool listed = false;
      // Categories of the stored row not opened yet (RowData::kSealed): most events change
      // one or two of a person's categories, and the others are written back as they were
      // read, so only those an event changes are opened, before it is folded.
      std::set<std::string, std::less<>> sealed;

      // Opens `category` if it is still sealed. A key shredded since the row was written: the
      // category is left out, as RowData::kOpen leaves it (the erasure comes next).
      Status Open(const Ledger& ledger, std::string_view category) {
        auto still = sealed.find(category);
        if (still == sealed.end()) return Status::Ok();
        sealed.erase(still);
        auto it = view.categories.find(std::string(category));
        if (it == view.categories.end()) return Status::Ok();  // dropped since (an erasure)
        Status s = OpenCategory(ledger, view, category, &it->second);
        if (s.IsNotFound()) {
          view.categories.erase(it);
          return Status::Ok();
        }
        return s.Prefixed("views: subject " + SubjectIdHex(view.subject));
      }
    };
    auto fold_share = [&](uint64_t k, std::atomic<uint64_t>* done) -> Status {
      std::unordered_map<SubjectId, Person, SubjectIdHash> people;
      std::vector<FieldValue> fields;
      KIRJURI_RETURN_IF_ERROR(ledger->ReadEvents(from, to, [&](const EventView& e) {
        if ((e.seq & 4095) == 0 && done) *done += 4096;
        auto env = e.signed_event.getEvent().getEnvelope();
        if (!ChangesView(env.getType())) return Status::Ok();
        const std::string register_name = env.getRegister();
        if (!registers_to_write.count(register_name)) return Status::Ok();
        const SubjectId id = SubjectOf(e);
        if (shares > 1 && Share(id, shares) != k) return Status::Ok();
        auto it = people.find(id);
        if (it == people.end()) {
          Person person;
          if (!fresh) {
            Status s = LoadRow(register_name, id, RowData::kSealed, &person.view);
            if (!s.ok() && !s.IsNotFound()) return s;
            person.listed = s.ok() && person.view.InMarketingAudience();
            for (const auto& [name, c] : person.view.categories) {
              if (!c.sealed.empty()) person.sealed.insert(name);
            }
          }
          it = people.emplace(id, std::move(person)).first;
        }
        KIRJURI_RETURN_IF_ERROR(ledger->ReadFields(e, &fields));
        // The categories SubjectView::Apply may change: the event's own (usage counts) and
        // those of its fields.
        Person& person = it->second;
        if (!person.sealed.empty()) {
          KIRJURI_RETURN_IF_ERROR(person.Open(*ledger, env.getCategory().cStr()));
          for (const FieldValue& f : fields) {
            KIRJURI_RETURN_IF_ERROR(person.Open(*ledger, f.category));
          }
        }
        person.view.Apply(e, fields);
        return Status::Ok();
      }));
      rocksdb::WriteBatch batch;
      std::string bytes;
      for (const auto& [id, person] : people) {
        const SubjectView& view = person.view;
        KIRJURI_RETURN_IF_ERROR(EncodeRow(*ledger, view, &bytes));
        KIRJURI_RETURN_IF_ERROR(
            FromRocks(batch.Put(rows, RowKey(view.register_name, id), bytes), "views"));
        if (!with_audience) continue;
        // No delete for someone who was not listed: most people never are, and each write is a
        // search of the memtable's skip list at random keys.
        if (view.InMarketingAudience()) {
          KIRJURI_RETURN_IF_ERROR(
              FromRocks(batch.Put(audience, SubjectBytes(id), view.register_name), "views"));
        } else if (person.listed) {
          KIRJURI_RETURN_IF_ERROR(FromRocks(batch.Delete(audience, SubjectBytes(id)), "views"));
        }
      }
      if (shares == 1) {
        for (const std::string& key : applied_keys) {
          KIRJURI_RETURN_IF_ERROR(FromRocks(batch.Put(meta, key, BigEndian(to)), "views"));
        }
      }
      return FromRocks(db->Write(ViewWrite(), &batch), "writing the views");
    };

    if (shares == 1) {
      KIRJURI_RETURN_IF_ERROR(fold_share(0, nullptr));
      if (progress) progress(n, n);
      return Status::Ok();
    }
    // Between the shares' writes the views are neither at `from` nor at `to`: without an
    // applied size, an interrupted fold is redone from scratch on the next open.
    rocksdb::WriteBatch unset;
    for (const std::string& key : applied_keys) {
      KIRJURI_RETURN_IF_ERROR(FromRocks(unset.Delete(meta, key), "views"));
    }
    KIRJURI_RETURN_IF_ERROR(FromRocks(db->Write(ViewWrite(), &unset), "writing the views"));
    std::atomic<uint64_t> next{0}, done{0}, finished{0};
    std::vector<Status> errors(threads);
    std::vector<std::thread> workers;
    for (uint64_t t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        for (uint64_t k = next++; k < shares && errors[t].ok(); k = next++) {
          errors[t] = fold_share(k, &done);
        }
        ++finished;
      });
    }
    // Progress from this thread only (the callback need not be thread-safe).
    while (progress && finished.load() < threads) {
      progress(std::min(done.load(), shares * n), shares * n);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    for (auto& w : workers) w.join();
    for (const Status& e : errors) KIRJURI_RETURN_IF_ERROR(e);
    rocksdb::WriteBatch applied;
    for (const std::string& key : applied_keys) {
      KIRJURI_RETURN_IF_ERROR(FromRocks(applied.Put(meta, key, BigEndian(to)), "views"));
    }
    KIRJURI_RETURN_IF_ERROR(FromRocks(db->Write(ViewWrite(), &applied), "writing the views"));
    if (progress) progress(shares * n, shares * n);
    return Status::Ok();
  }

  // Sets marketing_declared on `views` from the policy in force at the point they are of (0:
  // now). The fold leaves it true: a policy change is no event of the person's.
  Status MarkMarketing(uint64_t as_of_size, std::span<SubjectView> views) const {
    std::vector<std::string> declaring;
    KIRJURI_RETURN_IF_ERROR(ledger->RegistersDeclaring(kMarketingPurpose, as_of_size, &declaring));
    for (SubjectView& v : views) {
      v.marketing_declared = std::ranges::binary_search(declaring, v.register_name);
    }
    return Status::Ok();
  }

  // Every subject of the first `to` events, folded in memory; envelopes only unless
  // `with_data`. `register_name` empty: every register.
  Status FoldInMemory(uint64_t to, std::string_view register_name, bool with_data,
                      const ProgressFn& progress, std::map<SubjectId, SubjectView>* out) const {
    std::vector<FieldValue> fields;
    return ledger->ReadEvents(0, to, [&](const EventView& e) {
      if (progress && (e.seq & 1023) == 0) progress(e.seq, to);
      if (!ChangesView(e.signed_event.getEvent().getEnvelope().getType())) return Status::Ok();
      if (!register_name.empty() &&
          std::string_view(e.signed_event.getEvent().getEnvelope().getRegister().cStr()) != register_name) {
        return Status::Ok();
      }
      if (with_data) KIRJURI_RETURN_IF_ERROR(ledger->ReadFields(e, &fields));
      (*out)[SubjectOf(e)].Apply(e, with_data ? std::span<const FieldValue>(fields)
                                              : std::span<const FieldValue>());
      return Status::Ok();
    });
  }

  // The marketing audience from the log alone (envelopes only: the rule reads no field).
  // REQUIRES: write_mu held.
  Status RebuildAudience(const ProgressFn& progress) {
    KIRJURI_RETURN_IF_ERROR(Wipe(kMarketingAudienceView));
    const uint64_t to = ledger->size();
    std::map<SubjectId, SubjectView> all;
    KIRJURI_RETURN_IF_ERROR(FoldInMemory(to, "", false, progress, &all));
    rocksdb::WriteBatch batch;
    for (const auto& [id, view] : all) {
      if (!view.InMarketingAudience()) continue;
      KIRJURI_RETURN_IF_ERROR(
          FromRocks(batch.Put(audience, SubjectBytes(id), view.register_name), "views"));
    }
    KIRJURI_RETURN_IF_ERROR(FromRocks(
        batch.Put(meta, AppliedKey(kMarketingAudienceView), BigEndian(to)), "views"));
    return FromRocks(db->Write(ViewWrite(), &batch), "writing the views");
  }

  // REQUIRES: write_mu held.
  Status RebuildLocked(std::string_view view, const ProgressFn& progress) {
    const uint64_t size = ledger->size();
    if (view.empty()) {
      for (const std::string& r : registers) KIRJURI_RETURN_IF_ERROR(Wipe(r));
      KIRJURI_RETURN_IF_ERROR(Wipe(kMarketingAudienceView));
      return Fold(0, size, {registers.begin(), registers.end()}, true, progress);
    }
    if (view == kMarketingAudienceView) return RebuildAudience(progress);
    KIRJURI_RETURN_IF_ERROR(Wipe(view));
    return Fold(0, size, {std::string(view)}, false, progress);
  }

  // REQUIRES: write_mu held.
  Status CatchUpLocked(const ProgressFn& progress) {
    const uint64_t size = ledger->size();
    std::vector<std::string> views = registers;
    views.emplace_back(kMarketingAudienceView);
    auto read_all = [&](std::vector<std::optional<uint64_t>>* applied) -> Status {
      applied->assign(views.size(), std::nullopt);
      for (size_t i = 0; i < views.size(); ++i) {
        KIRJURI_RETURN_IF_ERROR(ReadApplied(views[i], &(*applied)[i]));
      }
      return Status::Ok();
    };
    std::vector<std::optional<uint64_t>> applied;
    KIRJURI_RETURN_IF_ERROR(read_all(&applied));
    // A view never finished, or ahead of the log (the data directory was put together from
    // copies of different ages) is rebuilt: all of them in one pass if none is usable.
    auto unusable = [&](const std::optional<uint64_t>& a) { return !a || *a > size; };
    if (std::all_of(applied.begin(), applied.end(), unusable)) return RebuildLocked("", progress);
    for (size_t i = 0; i < views.size(); ++i) {
      if (unusable(applied[i])) KIRJURI_RETURN_IF_ERROR(RebuildLocked(views[i], progress));
    }
    KIRJURI_RETURN_IF_ERROR(read_all(&applied));
    if (std::all_of(applied.begin(), applied.end(),
                    [&](const auto& a) { return *a == *applied[0]; })) {
      // The usual case: every view applied the same prefix; one pass brings them all up.
      if (*applied[0] == size) return Status::Ok();
      return Fold(*applied[0], size, {registers.begin(), registers.end()}, true, progress);
    }
    // Views at different points (after an interrupted rebuild): each register on its own, then
    // the audience from the log.
    for (size_t i = 0; i < registers.size(); ++i) {
      if (*applied[i] < size) {
        KIRJURI_RETURN_IF_ERROR(Fold(*applied[i], size, {registers[i]}, false, progress));
      }
    }
    if (*applied.back() != size) return RebuildAudience(progress);
    return Status::Ok();
  }
};

Views::Views(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {
  impl_->ledger->AttachDerivedStore(impl_.get());
}
Views::~Views() { impl_->ledger->AttachDerivedStore(nullptr); }

Status Views::Open(Ledger* ledger, const fs::path& data_dir, ProgressFn progress,
                   std::unique_ptr<Views>* out, const ViewsOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->options = options;
  impl->ledger = ledger;
  impl->dir = data_dir / kViewsDir;
  impl->registers = ledger->RegisterNames();
  KIRJURI_RETURN_IF_ERROR(impl->OpenDb());
  std::string format;
  rocksdb::Status s = impl->db->Get(rocksdb::ReadOptions(), impl->meta, "format", &format);
  if (!s.ok() && !s.IsNotFound()) return FromRocks(s, "reading the views");
  if (s.IsNotFound() || format != kFormat) {
    // New, or written by another version: everything goes, and is rebuilt below.
    for (auto* cf : {impl->rows, impl->audience}) {
      KIRJURI_RETURN_IF_ERROR(FromRocks(
          impl->db->DeleteRange(ViewWrite(), cf, "", std::string(64, '\xff')),
          "resetting the views"));
    }
    rocksdb::WriteBatch batch;
    for (const std::string& r : impl->registers) batch.Delete(impl->meta, AppliedKey(r));
    batch.Delete(impl->meta, AppliedKey(kMarketingAudienceView));
    batch.Put(impl->meta, "format", kFormat);
    KIRJURI_RETURN_IF_ERROR(
        FromRocks(impl->db->Write(ViewWrite(), &batch), "writing the views"));
  }
  std::unique_ptr<Views> views(new Views(std::move(impl)));
  KIRJURI_RETURN_IF_ERROR(views->CatchUp(progress));
  *out = std::move(views);
  return Status::Ok();
}

std::vector<std::string> Views::Names() const {
  std::vector<std::string> names = impl_->registers;
  names.emplace_back(kMarketingAudienceView);
  return names;
}

Status Views::Applied(std::string_view view, uint64_t* size) const {
  if (view != kMarketingAudienceView && !impl_->IsRegister(view)) {
    return Status::NotFound("no view named '" + std::string(view) + "'");
  }
  std::optional<uint64_t> a;
  KIRJURI_RETURN_IF_ERROR(impl_->ReadApplied(view, &a));
  *size = a.value_or(0);
  return Status::Ok();
}

Status Views::CatchUp(ProgressFn progress) {
  std::lock_guard<std::mutex> lock(impl_->write_mu);
  return impl_->CatchUpLocked(progress);
}

Status Views::Rebuild(std::string_view view, ProgressFn progress) {
  if (!view.empty() && view != kMarketingAudienceView && !impl_->IsRegister(view)) {
    std::string known;
    for (const std::string& n : Names()) known += (known.empty() ? "" : ", ") + n;
    return Status::InvalidArgument("no view named '" + std::string(view) + "' (views: " + known +
                                   ")");
  }
  std::lock_guard<std::mutex> lock(impl_->write_mu);
  return impl_->RebuildLocked(view, progress);
}

Status Views::Get(const SubjectId& subject, uint64_t as_of_size, SubjectView* out,
                  const CategoryFilter& only) const {
  if (as_of_size != 0 && as_of_size < impl_->ledger->size()) {
    KIRJURI_RETURN_IF_ERROR(ReplaySubject(*impl_->ledger, subject, as_of_size, out));
    LeaveOut(only, out);
  } else {
    SubjectSummary summary;
    KIRJURI_RETURN_IF_ERROR(impl_->ledger->GetSubject(subject, &summary));
    KIRJURI_RETURN_IF_ERROR(
        impl_->LoadRow(summary.register_name, subject, RowData::kOpen, out, only));
  }
  return impl_->MarkMarketing(as_of_size, {out, 1});
}

Status Views::List(std::string_view register_name, const ViewFilter& filter, uint64_t as_of_size,
                   std::vector<SubjectView>* out, const CategoryFilter& only) const {
  out->clear();
  if (!impl_->IsRegister(register_name)) {
    return Status::InvalidArgument("no register named '" + std::string(register_name) + "'");
  }
  // As of a point: a page replays its people alone (each person of the register who had an
  // event by then, in id order, until the page is full: the same rows as a fold of the prefix);
  // a whole list folds the prefix once. A filter on city or organisation may make a page replay
  // every person of the register before it is full: that reads fewer events than the fold (a
  // person's replay reads their own events only), and takes less time on a large log, though
  // up to about twice the fold's on a small one (projections_bench, README).
  const bool as_of = as_of_size != 0 && as_of_size < impl_->ledger->size();
  if (as_of && filter.limit != 0) {
    KIRJURI_RETURN_IF_ERROR(impl_->ledger->ScanSubjects(
        filter.after, [&](const SubjectId& id, const SubjectSummary& summary, bool* more) {
          if (summary.register_name != register_name || summary.first_seq >= as_of_size) {
            return Status::Ok();
          }
          // Erased by then and not wanted: Passes would drop the replay.
          if (!filter.include_erased && summary.erased_at_seq &&
              *summary.erased_at_seq < as_of_size) {
            return Status::Ok();
          }
          SubjectView view;
          KIRJURI_RETURN_IF_ERROR(ReplaySubject(*impl_->ledger, id, as_of_size, &view));
          if (!Passes(view, filter)) return Status::Ok();
          LeaveOut(only, &view);
          out->push_back(std::move(view));
          *more = out->size() < filter.limit;
          return Status::Ok();
        }));
    return impl_->MarkMarketing(as_of_size, *out);
  }
  if (as_of) {
    std::map<SubjectId, SubjectView> all;
    KIRJURI_RETURN_IF_ERROR(impl_->FoldInMemory(as_of_size, register_name, true, nullptr, &all));
    for (auto it = filter.after ? all.upper_bound(*filter.after) : all.begin();
         it != all.end() && (filter.limit == 0 || out->size() < filter.limit); ++it) {
      if (!Passes(it->second, filter)) continue;
      LeaveOut(only, &it->second);
      out->push_back(std::move(it->second));
    }
    return impl_->MarkMarketing(as_of_size, *out);
  }
  // Filtering reads profile fields: the profile is opened too, and left out afterwards if
  // `only` does not want it.
  const bool filters = !filter.city.empty() || !filter.organisation.empty();
  const CategoryFilter open = !only || !filters ? only : [&](std::string_view c) {
    return c == "profile" || only(c);
  };
  const std::string prefix = RowPrefix(register_name);
  const std::string after = filter.after ? RowKey(register_name, *filter.after) : "";
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->rows));
  for (it->Seek(filter.after ? after : prefix);
       it->Valid() && it->key().starts_with(prefix) &&
       (filter.limit == 0 || out->size() < filter.limit);
       it->Next()) {
    if (filter.after && it->key() == after) continue;
    SubjectView view;
    KIRJURI_RETURN_IF_ERROR(
        DecodeRow(*impl_->ledger, it->value().ToStringView(), RowData::kOpen, &view, open)
            .Prefixed("views: " + std::string(register_name)));
    if (!Passes(view, filter)) continue;
    if (filters) LeaveOut(only, &view);
    out->push_back(std::move(view));
  }
  KIRJURI_RETURN_IF_ERROR(FromRocks(it->status(), "reading the views"));
  return impl_->MarkMarketing(0, *out);
}

Status Views::MarketingAudience(uint64_t as_of_size, std::vector<SubjectView>* out,
                                const CategoryFilter& only) const {
  out->clear();
  // Reading the audience serves marketing now: a person is listed only if the policy in force
  // declares the purpose for their register, now and (as of a point) then too. The stored
  // audience is the people's side of the rule alone, so a policy change needs no refold.
  std::vector<std::string> now;
  KIRJURI_RETURN_IF_ERROR(impl_->ledger->RegistersDeclaring(kMarketingPurpose, 0, &now));
  if (now.empty()) {
    return Status::FailedPrecondition(
        "the policy in force declares the purpose 'marketing' for no register: there is no "
        "marketing audience");
  }
  auto declared_now = [&](std::string_view r) { return std::ranges::binary_search(now, r); };
  if (as_of_size != 0 && as_of_size < impl_->ledger->size()) {
    // Who was in it is read from the envelopes (the rule reads no field); the data of those
    // who were, from their own events, only if a category of theirs is wanted.
    std::map<SubjectId, SubjectView> all;
    KIRJURI_RETURN_IF_ERROR(impl_->FoldInMemory(as_of_size, "", false, nullptr, &all));
    std::map<std::string, bool, std::less<>> wanted;  // register: does `only` want a category?
    for (auto r : impl_->ledger->policy().getRegisters()) {
      bool any = !only;
      for (auto c : r.getCategories()) any = any || only(c.getName().cStr());
      wanted[r.getName().cStr()] = any;
    }
    for (auto& [id, view] : all) {
      if (!view.InMarketingAudience() || !declared_now(view.register_name)) continue;
      if (auto w = wanted.find(view.register_name); w == wanted.end() || w->second) {
        KIRJURI_RETURN_IF_ERROR(ReplaySubject(*impl_->ledger, id, as_of_size, &view));
      }
      LeaveOut(only, &view);
      out->push_back(std::move(view));
    }
    KIRJURI_RETURN_IF_ERROR(impl_->MarkMarketing(as_of_size, *out));
    std::erase_if(*out, [](const SubjectView& v) { return !v.marketing_declared; });
    return Status::Ok();
  }
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->audience));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    SubjectId id{};
    if (it->key().size() != id.size()) return Status::Corruption("views: a damaged audience key");
    if (!declared_now(it->value().ToStringView())) continue;  // the value: the register
    std::copy(it->key().data(), it->key().data() + id.size(), id.begin());
    SubjectView view;
    KIRJURI_RETURN_IF_ERROR(
        impl_->LoadRow(it->value().ToStringView(), id, RowData::kOpen, &view, only));
    out->push_back(std::move(view));
  }
  return FromRocks(it->status(), "reading the views");
}

Status Views::Dump(std::string_view view, std::string* out) const {
  out->clear();
  uint64_t applied = 0;
  KIRJURI_RETURN_IF_ERROR(Applied(view, &applied));
  *out = BigEndian(applied);
  const bool audience = view == kMarketingAudienceView;
  const std::string prefix = audience ? "" : RowPrefix(view);
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(
      rocksdb::ReadOptions(), audience ? impl_->audience : impl_->rows));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    for (rocksdb::Slice s : {it->key(), it->value()}) {
      *out += BigEndian(s.size());
      out->append(s.data(), s.size());
    }
  }
  return FromRocks(it->status(), "reading the views");
}

}  // namespace kirjuri
