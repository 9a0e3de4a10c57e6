// Policy changes: a new policy comes into force only with a signed event that holds it whole,
// chained by SHA-256 to the policy it replaces, so an auditor sees which policy was in force
// when. The policy in force is also kept in the meta column family for opening, written in the
// same batch as the event.
#include "kirjuri/crypto.h"
#include "ledger_impl.h"
#include "policy.h"

namespace kirjuri {

Status Ledger::PolicyJson(bool initial, std::string* out) const {
  rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), impl_->meta,
                                     std::string(store::kMetaInitialPolicy), out);
  if (initial && s.ok()) return Status::Ok();
  if (!s.IsNotFound()) KIRJURI_RETURN_IF_ERROR(FromRocks(s, "reading the policy"));
  // Never changed: the policy in force is the initial one.
  return FromRocks(impl_->db->Get(rocksdb::ReadOptions(), impl_->meta,
                                  std::string(store::kMetaPolicy), out),
                   "reading the policy");
}

Status Ledger::RegistersDeclaring(std::string_view purpose, uint64_t as_of_size,
                                  std::vector<std::string>* out) const {
  out->clear();
  const Policy* policy = impl_->CurrentPolicy();
  std::shared_ptr<const Policy> then;
  if (as_of_size != 0 && as_of_size < size()) {
    // The last policy change before that point, found through the ledger's own subject (the
    // all-zero id: policy changes and tokens only); none: the initial policy. With no change
    // since, it is the policy in force now, and nothing is parsed.
    std::string json;
    bool changed_since = false;
    KIRJURI_RETURN_IF_ERROR(ReadSubjectEvents(SubjectId{}, [&](const EventView& e) {
      auto event = e.signed_event.getEvent();
      if (event.getEnvelope().getType() != schema::EventType::POLICY_CHANGED) return Status::Ok();
      if (e.seq < as_of_size) {
        json = event.getPolicyChange().getJson().cStr();
      } else {
        changed_since = true;
      }
      return Status::Ok();
    }));
    if (changed_since) {
      if (json.empty()) KIRJURI_RETURN_IF_ERROR(PolicyJson(/*initial=*/true, &json));
      if (!Policy::Parse(json, &then).ok()) {
        return Status::Corruption("the policy in force as of " + std::to_string(as_of_size) +
                                  " events does not parse");
      }
      policy = then.get();
    }
  }
  for (std::string& r : policy->RegisterNames()) {
    if (policy->HasPurpose(r, purpose)) out->push_back(std::move(r));
  }
  return Status::Ok();
}

Status Ledger::ApplyPolicy(std::string_view json, std::string_view actor, uint64_t* seq) {
  KIRJURI_RETURN_IF_ERROR(CheckActor(actor));
  std::shared_ptr<const Policy> next;
  KIRJURI_RETURN_IF_ERROR(Policy::Parse(json, &next));
  auto now = next->root();
  auto lock = impl_->LockForWrite();
  KIRJURI_RETURN_IF_ERROR(impl_->health.Prefixed("the ledger is damaged, the policy stays"));
  auto in_force = impl_->CurrentPolicy()->root();
  if (now.getName() != in_force.getName()) {
    return Status::InvalidArgument("policy: a change keeps the name '" +
                                   std::string(in_force.getName().cStr()) + "'");
  }
  if (now.getVersion() <= in_force.getVersion()) {
    return Status::InvalidArgument("policy: the version must rise above " +
                                   std::to_string(in_force.getVersion()));
  }
  std::string previous;
  KIRJURI_RETURN_IF_ERROR(FromRocks(impl_->db->Get(rocksdb::ReadOptions(), impl_->meta,
                                                   std::string(store::kMetaPolicy), &previous),
                                    "reading the policy"));
  std::string initial;
  const bool first_change = impl_->db->Get(rocksdb::ReadOptions(), impl_->meta,
                                           std::string(store::kMetaInitialPolicy), &initial)
                                .IsNotFound();
  // Events about the ledger itself: the all-zero subject, no register.
  const SubjectId ledger_subject{};
  SubjectState state;
  if (Status s = impl_->LoadSubject(ledger_subject, &state); !s.ok() && !s.IsNotFound()) return s;
  capnp::MallocMessageBuilder message;
  auto event = impl_->StartInternalEventLocked(message, ledger_subject, state,
                                               schema::EventType::POLICY_CHANGED, actor, "");
  auto change = event.initPolicyChange();
  change.setJson(std::string(json));
  const Sha256Digest digest =
      Sha256({reinterpret_cast<const uint8_t*>(json.data()), json.size()});
  const Sha256Digest previous_digest =
      Sha256({reinterpret_cast<const uint8_t*>(previous.data()), previous.size()});
  change.setSha256(kj::arrayPtr(digest.data(), digest.size()));
  change.setPreviousSha256(kj::arrayPtr(previous_digest.data(), previous_digest.size()));
  change.setName(now.getName());
  change.setVersion(now.getVersion());
  KIRJURI_RETURN_IF_ERROR(impl_->CommitInternalLocked(
      event.asReader(), ledger_subject, state,
      [&](rocksdb::WriteBatch& batch) {
        if (first_change) batch.Put(impl_->meta, std::string(store::kMetaInitialPolicy), previous);
        batch.Put(impl_->meta, std::string(store::kMetaPolicy), rocksdb::Slice(json.data(), json.size()));
      },
      seq));
  impl_->SetPolicy(std::move(next));
  return Status::Ok();
}

}  // namespace kirjuri
