// Erasure by crypto-shredding, retention, master-key rotation, and reading sealed data.
//
// An erasure runs in three steps, so that a crash at any point leaves it either done or
// finishable, never half:
//   1. a PendingErasure record (what will be shredded, what retained and why) is written to the
//      log database's metadata, synced; from then on appends for the subject are refused;
//   2. the key store destroys the keys and proves that no file still holds them;
//   3. the subjectErased (or retentionExpired) event is appended, and in the same batch the
//      pending record is removed and retained keys are scheduled.
// Open() finishes any erasure whose record is still pending (steps 2 and 3 are idempotent).
#include <spdlog/spdlog.h>

#include <cstring>

#include "kirjuri/canonical.h"
#include "kirjuri/time.h"
#include "ledger_impl.h"
#include "strict_json.h"

namespace kirjuri {
namespace {

void SetShred(schema::PendingErasure::Builder plan,
              const std::vector<std::pair<std::string, KeyId>>& keys) {
  auto list = plan.initShred(static_cast<unsigned>(keys.size()));
  for (unsigned i = 0; i < keys.size(); ++i) {
    list[i].setCategory(keys[i].first);
    list[i].setKeyId(kj::arrayPtr(keys[i].second.data(), keys[i].second.size()));
  }
}

KeyId ToKeyId(capnp::Data::Reader d) {
  KeyId id{};
  if (d.size() == id.size()) std::memcpy(id.data(), d.begin(), id.size());
  return id;
}

}  // namespace

Status Ledger::Impl::BuildSubjectInfo() {
  spdlog::info("building the subject summaries from the log (once, for an older ledger)");
  std::map<SubjectId, SubjectState> states;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), events));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    DecodedLeaf leaf;
    KIRJURI_RETURN_IF_ERROR(leaf.Decode(AsSpan(it->value())));
    FoldSubject(SubjectFacts::From(leaf.get().getEvent().getEnvelope()), &states);
  }
  KIRJURI_RETURN_IF_ERROR(FromRocks(it->status(), "reading the log"));
  rocksdb::WriteBatch batch;
  for (const auto& [subject, state] : states) {
    batch.Put(subject_info, store::SubjectBytes(subject), state.Encode());
  }
  batch.Put(meta, std::string(store::kMetaSubjectInfoBuilt), "");
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(db->Write(wo, &batch), "writing subject_info");
}

Status Ledger::Impl::CompletePendingErasures() {
  std::vector<std::string> pending;
  std::unique_ptr<rocksdb::Iterator> it(db->NewIterator(rocksdb::ReadOptions(), meta));
  for (it->Seek(std::string(store::kPendingErasurePrefix));
       it->Valid() && it->key().starts_with(std::string(store::kPendingErasurePrefix));
       it->Next()) {
    pending.push_back(it->value().ToString());
  }
  KIRJURI_RETURN_IF_ERROR(FromRocks(it->status(), "reading pending erasures"));
  if (pending.empty()) return Status::Ok();
  if (read_only) return NeedsWritableOpen("an erasure interrupted by a crash is to be finished");
  auto lock = LockForWrite();
  for (const std::string& p : pending) {
    spdlog::warn("finishing an erasure that was interrupted");
    uint64_t seq;
    KIRJURI_RETURN_IF_ERROR(CompleteErasureLocked(p, &seq));
  }
  return Status::Ok();
}

Status Ledger::Impl::CompleteErasureLocked(const std::string& pending_bytes, uint64_t* event_seq) {
  auto words = kj::heapArray<capnp::word>(pending_bytes.size() / sizeof(capnp::word));
  if (pending_bytes.empty() || pending_bytes.size() % sizeof(capnp::word) != 0) {
    return Status::Corruption("a pending erasure record is malformed");
  }
  std::memcpy(words.begin(), pending_bytes.data(), pending_bytes.size());
  kj::ArrayPtr<const capnp::word> segments[1] = {words.asPtr()};
  capnp::SegmentArrayMessageReader reader(kj::arrayPtr(segments, 1));
  schema::PendingErasure::Reader plan;
  Status decoded;
  kj::Maybe<kj::Exception> error = kj::runCatchingExceptions([&] {
    plan = reader.getRoot<schema::PendingErasure>();
    if (plan.getSubject().size() != 16) decoded = Status::Corruption("bad subject");
  });
  if (error != nullptr || !decoded.ok()) {
    return Status::Corruption("a pending erasure record does not decode");
  }
  SubjectId subject{};
  std::memcpy(subject.data(), plan.getSubject().begin(), subject.size());
  SubjectState state;
  KIRJURI_RETURN_IF_ERROR(LoadSubject(subject, &state));

  // Step 2: destroy the keys and check that no file holds them any more.
  std::vector<std::string> categories;
  for (auto k : plan.getShred()) categories.push_back(k.getCategory());
  ShredResult shred;
  KIRJURI_RETURN_IF_ERROR(
      keys->Shred(subject, categories, plan.getRemoveIndex(), &shred)
          .Prefixed("erasure of " + SubjectIdHex(subject) + " is not complete (run it again)"));

  // Step 3: the derived stores (views) drop the person's data. Their failure does not stop the
  // erasure, a legal duty: they drop it anyway when they apply the event (their fold clears an
  // erased person), and the event then records only what was removed here.
  uint64_t view_entries = 0;
  if (DerivedStore* views = derived.load()) {
    if (Status s = views->RemoveSubject(subject, &view_entries); !s.ok()) {
      spdlog::warn("erasure of {}: the views could not remove the subject now ({}); they will "
                   "when they apply the erasure", SubjectIdHex(subject), s.message());
      view_entries = 0;
    }
  }

  // Step 4: the signed event that records it, with the pending record's removal.
  capnp::MallocMessageBuilder message;
  auto event = StartInternalEventLocked(message, subject, state, plan.getType(),
                                        plan.getActor().cStr(), plan.getRequest().cStr());
  auto erasure = event.initErasure();
  erasure.setRequestReceivedAtMicros(plan.getRequestReceivedAtMicros());
  erasure.setShredded(plan.getShred());
  const bool expiry = plan.getType() == schema::EventType::RETENTION_EXPIRED;
  if (!expiry) erasure.setRetained(plan.getRetained());
  uint64_t unreadable = 0;
  for (const auto& c : categories) {
    if (auto it = state.categories.find(c); it != state.categories.end()) {
      unreadable += it->second.events;
    }
  }
  erasure.setEventsUnreadable(unreadable);
  erasure.setFirstSeq(state.first_seq);
  erasure.setLastSeq(state.last_seq);
  erasure.setBlindIndexEntriesRemoved(shred.blind_entries_removed);
  erasure.setViewRowsRemoved(view_entries);
  erasure.setKeyStoreFilesChecked(shred.files_checked);
  erasure.setKeyStoreBytesChecked(shred.bytes_checked);

  const uint64_t seq = event.getEnvelope().getSeq();
  if (!expiry) state.erased_at_seq = static_cast<int64_t>(seq);
  KIRJURI_RETURN_IF_ERROR(CommitInternalLocked(event.asReader(), subject, state,
                                               [&](rocksdb::WriteBatch& batch) {
    batch.Delete(meta, store::PendingErasureKey(subject));
    for (auto r : plan.getRetained()) {
      std::string k = store::RetentionKey(r.getDueAtMicros(), subject, r.getCategory().cStr());
      if (expiry) {
        batch.Delete(meta, k);
      } else {
        batch.Put(meta, k, rocksdb::Slice());
      }
    }
  }, event_seq));
  spdlog::info("seq {}: {} of subject {}: {} keys shredded, {} files checked", seq,
               EventTypeName(plan.getType()), SubjectIdHex(subject), categories.size(),
               shred.files_checked);
  return Status::Ok();
}

Status Ledger::Erase(const EraseRequest& request, uint64_t* event_seq) {
  KIRJURI_RETURN_IF_ERROR(CheckActor(request.actor));
  KIRJURI_RETURN_IF_ERROR(CheckRequestRef(request.request));
  if (request.subject == SubjectId{}) {
    return Status::InvalidArgument("the all-zero subject is the ledger itself, not a person");
  }
  Impl& impl = *impl_;
  auto lock = impl.LockForWrite();
  KIRJURI_RETURN_IF_ERROR(impl.health.Prefixed("the ledger is damaged, erasure is refused"));
  SubjectState state;
  KIRJURI_RETURN_IF_ERROR(impl.LoadSubject(request.subject, &state));
  if (state.erased()) {
    return Status::FailedPrecondition("subject " + SubjectIdHex(request.subject) +
                                      " was already erased (seq " +
                                      std::to_string(state.erased_at_seq) + ")");
  }
  std::string pending;
  if (impl.db->Get(rocksdb::ReadOptions(), impl.meta, store::PendingErasureKey(request.subject), &pending).ok()) {
    // An earlier attempt stopped half-way: finish what it planned.
    return impl.CompleteErasureLocked(pending, event_seq);
  }

  std::vector<std::pair<std::string, KeyId>> keys;
  KIRJURI_RETURN_IF_ERROR(impl.keys->List(request.subject, &keys));
  capnp::MallocMessageBuilder message;
  auto plan = message.initRoot<schema::PendingErasure>();
  plan.setSubject(kj::arrayPtr(request.subject.data(), request.subject.size()));
  plan.setType(schema::EventType::SUBJECT_ERASED);
  plan.setRequest(request.request);
  plan.setActor(request.actor);
  plan.setRequestReceivedAtMicros(request.received_at_micros ? request.received_at_micros
                                                             : NowMicros());
  plan.setRemoveIndex(true);
  std::vector<std::pair<std::string, KeyId>> shred;
  struct Kept {
    std::string category;
    KeyId id;
    const RetentionRule* rule;
    int64_t due;
  };
  std::vector<Kept> kept;
  for (const auto& [category, id] : keys) {
    const RetentionRule* rule = impl.CurrentPolicy()->RetentionFor(state.register_name, category);
    auto c = state.categories.find(category);
    if (rule && c != state.categories.end()) {
      kept.push_back({category, id, rule, rule->DueAfter(c->second.last_occurred_at_micros)});
    } else {
      shred.emplace_back(category, id);
    }
  }
  SetShred(plan, shred);
  auto kept_list = plan.initRetained(static_cast<unsigned>(kept.size()));
  for (unsigned i = 0; i < kept.size(); ++i) {
    kept_list[i].setCategory(kept[i].category);
    kept_list[i].setKeyId(kj::arrayPtr(kept[i].id.data(), kept[i].id.size()));
    kept_list[i].setReason(kept[i].rule->reason);
    kept_list[i].setDueAtMicros(kept[i].due);
  }
  std::string plan_bytes = CanonicalBytes(plan.asReader());
  rocksdb::WriteOptions wo;
  wo.sync = true;
  KIRJURI_RETURN_IF_ERROR(FromRocks(
      impl.db->Put(wo, impl.meta, store::PendingErasureKey(request.subject), plan_bytes), "recording the erasure"));
  return impl.CompleteErasureLocked(plan_bytes, event_seq);
}

Status Ledger::RunRetention(int64_t now_micros, std::vector<uint64_t>* event_seqs) {
  event_seqs->clear();
  Impl& impl = *impl_;
  auto lock = impl.LockForWrite();
  KIRJURI_RETURN_IF_ERROR(impl.health.Prefixed("the ledger is damaged, retention is refused"));
  // Gather what has come due, per subject (each subject gets one event).
  struct Due {
    std::string category;
    int64_t due;
  };
  std::map<SubjectId, std::vector<Due>> due;
  const std::string prefix(store::kRetentionPrefix);
  std::unique_ptr<rocksdb::Iterator> it(impl.db->NewIterator(rocksdb::ReadOptions(), impl.meta));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    rocksdb::Slice k = it->key();
    if (k.size() <= prefix.size() + 24) return Status::Corruption("a malformed retention entry");
    int64_t at = static_cast<int64_t>(store::GetBigEndian64(k.data() + prefix.size()));
    if (at > now_micros) break;  // keys sort by due date
    SubjectId subject;
    std::memcpy(subject.data(), k.data() + prefix.size() + 8, 16);
    due[subject].push_back(
        {std::string(k.data() + prefix.size() + 24, k.size() - prefix.size() - 24), at});
  }
  KIRJURI_RETURN_IF_ERROR(FromRocks(it->status(), "reading the retention schedule"));
  for (const auto& [subject, items] : due) {
    std::vector<std::pair<std::string, KeyId>> keys;
    KIRJURI_RETURN_IF_ERROR(impl.keys->List(subject, &keys));
    capnp::MallocMessageBuilder message;
    auto plan = message.initRoot<schema::PendingErasure>();
    plan.setSubject(kj::arrayPtr(subject.data(), subject.size()));
    plan.setType(schema::EventType::RETENTION_EXPIRED);
    plan.setRequest("retention");
    plan.setActor("kirjuri-retention");
    plan.setRequestReceivedAtMicros(now_micros);
    plan.setRemoveIndex(false);
    std::vector<std::pair<std::string, KeyId>> shred;
    for (const Due& d : items) {
      for (const auto& [category, id] : keys) {
        if (category == d.category) shred.emplace_back(category, id);
      }
    }
    SetShred(plan, shred);
    auto expired = plan.initRetained(static_cast<unsigned>(items.size()));
    for (unsigned i = 0; i < items.size(); ++i) {
      expired[i].setCategory(items[i].category);
      expired[i].setDueAtMicros(items[i].due);
    }
    std::string plan_bytes = CanonicalBytes(plan.asReader());
    rocksdb::WriteOptions wo;
    wo.sync = true;
    KIRJURI_RETURN_IF_ERROR(FromRocks(
        impl.db->Put(wo, impl.meta, store::PendingErasureKey(subject), plan_bytes), "recording the expiry"));
    uint64_t seq;
    KIRJURI_RETURN_IF_ERROR(impl.CompleteErasureLocked(plan_bytes, &seq));
    event_seqs->push_back(seq);
  }
  return Status::Ok();
}

Status Ledger::RotateMasterKey(const fs::path& new_key_file) {
  MasterKey fresh;
  KIRJURI_RETURN_IF_ERROR(LoadMasterKeyFile(impl_->dir, new_key_file, /*create=*/true, &fresh));
  auto lock = impl_->LockForWrite();
  return impl_->keys->RotateMaster(fresh);
}

Status Ledger::ReadFields(const EventView& event, std::vector<FieldValue>* out) const {
  out->clear();
  auto e = event.signed_event.getEvent();
  SubjectId subject{};
  auto s = e.getEnvelope().getSubject();
  if (s.size() != subject.size()) return Status::Corruption("an event without a subject id");
  std::memcpy(subject.data(), s.begin(), subject.size());
  for (auto field : e.getFields()) {
    // Unsealed fields: ledgers written before sealing.
    if (!field.isPlain()) return Status::Corruption("seq " + std::to_string(event.seq) +
                                                   ": a field in an unknown form");
    out->push_back(FieldValue{field.getName(), field.getCategory(),
                              std::string(field.getPlain().cStr())});
  }
  for (auto group : e.getSealed()) {
    DataKey key;
    Status st = impl_->keys->Get(subject, group.getCategory().cStr(), &key);
    // A group sealed under a key that was later shredded and re-created cannot happen (erased
    // subjects take no new data, retained keys are never re-created), so a different key id is
    // corruption, not erasure.
    if (st.ok() && ToKeyId(group.getKeyId()) != key.id) {
      return Status::Corruption("seq " + std::to_string(event.seq) +
                                ": sealed data names a key the key store does not hold");
    }
    std::vector<std::string> values;
    if (st.ok()) {
      KIRJURI_RETURN_IF_ERROR(
          OpenGroup(e, group, key, &values).Prefixed("seq " + std::to_string(event.seq)));
    } else if (!st.IsNotFound()) {
      return st;
    }
    auto names = group.getNames();
    for (unsigned i = 0; i < names.size(); ++i) {
      FieldValue v{names[i], group.getCategory(), std::nullopt};
      if (st.ok()) v.json = std::move(values[i]);  // NotFound: shredded, the value is erased
      out->push_back(std::move(v));
    }
  }
  return Status::Ok();
}

Status Ledger::Find(IndexKind kind, std::string_view value, std::vector<SubjectId>* out) const {
  BlindKind k = kind == IndexKind::kEmail      ? BlindKind::kEmail
                : kind == IndexKind::kUsername ? BlindKind::kUsername
                                               : BlindKind::kPhone;
  return impl_->keys->Find(k, value, out);
}

namespace {

SubjectSummary SummaryOf(const SubjectState& state) {
  SubjectSummary out;
  out.register_name = state.register_name;
  out.event_count = state.event_count;
  out.first_seq = state.first_seq;
  out.last_seq = state.last_seq;
  if (state.erased()) out.erased_at_seq = static_cast<uint64_t>(state.erased_at_seq);
  return out;
}

}  // namespace

Status Ledger::GetSubject(const SubjectId& subject, SubjectSummary* out) const {
  SubjectState state;
  KIRJURI_RETURN_IF_ERROR(impl_->LoadSubject(subject, &state));
  *out = SummaryOf(state);
  return Status::Ok();
}

Status Ledger::ScanSubjects(
    const std::optional<SubjectId>& after,
    const std::function<Status(const SubjectId&, const SubjectSummary&, bool* more)>& fn) const {
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->subject_info));
  const std::string from = after ? store::SubjectBytes(*after) : std::string();
  bool more = true;
  for (it->Seek(from); more && it->Valid(); it->Next()) {
    if (after && it->key() == from) continue;
    SubjectId id{};
    if (it->key().size() != id.size()) {
      return Status::Corruption("subject_info: a key is not a subject id");
    }
    std::copy(it->key().data(), it->key().data() + id.size(), id.begin());
    SubjectState state;
    KIRJURI_RETURN_IF_ERROR(SubjectState::Decode(it->value().ToStringView(), &state)
                                .Prefixed("subject_info of " + SubjectIdHex(id)));
    KIRJURI_RETURN_IF_ERROR(fn(id, SummaryOf(state), &more));
  }
  return FromRocks(it->status(), "reading subject_info");
}

Ed25519Signature Ledger::SignDocument(std::span<const uint8_t> document) const {
  return impl_->key.Sign(document);
}

}  // namespace kirjuri

namespace kirjuri {

Status Ledger::RetentionDue(int64_t until_micros, std::vector<RetentionItem>* out) const {
  out->clear();
  const std::string prefix(store::kRetentionPrefix);
  std::unique_ptr<rocksdb::Iterator> it(
      impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->meta));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    rocksdb::Slice k = it->key();
    if (k.size() <= prefix.size() + 24) return Status::Corruption("a malformed retention entry");
    RetentionItem item;
    item.due_at_micros = static_cast<int64_t>(store::GetBigEndian64(k.data() + prefix.size()));
    if (item.due_at_micros > until_micros) break;  // keys sort by due date
    std::memcpy(item.subject.data(), k.data() + prefix.size() + 8, 16);
    item.category.assign(k.data() + prefix.size() + 24, k.size() - prefix.size() - 24);
    out->push_back(std::move(item));
  }
  return FromRocks(it->status(), "reading the retention schedule");
}

Status Ledger::DataKeys(const SubjectId& subject,
                        std::vector<std::pair<std::string, std::string>>* out) const {
  std::vector<std::pair<std::string, KeyId>> keys;
  KIRJURI_RETURN_IF_ERROR(impl_->keys->List(subject, &keys));
  out->clear();
  for (const auto& [category, id] : keys) out->emplace_back(category, HexEncode(id));
  return Status::Ok();
}

}  // namespace kirjuri
