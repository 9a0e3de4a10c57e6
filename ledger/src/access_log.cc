// The access log (dataAccessed events) and the bearer tokens of `kirjuri serve`.
//
// Tokens are stored only as BLAKE2b hashes, under "token/" || hex(hash) in the log's default
// column family; a token is 32 random bytes, so a plain hash is enough (nothing to brute-force).
#include <capnp/message.h>
#include <sodium.h>

#include "kirjuri/crypto.h"
#include "ledger_impl.h"
#include "policy.h"

namespace kirjuri {
namespace {

constexpr std::string_view kTokenPrefix = "token/";
constexpr std::string_view kTokenTag = "kjr_";  // so that a token is recognisable in a leak scan

std::string TokenKey(std::string_view token) {
  std::array<uint8_t, 32> hash{};
  crypto_generichash(hash.data(), hash.size(), reinterpret_cast<const uint8_t*>(token.data()),
                     token.size(), nullptr, 0);
  return std::string(kTokenPrefix) + HexEncode(hash);
}

}  // namespace

Status Ledger::RecordAccesses(std::span<const AccessRecord> accesses,
                              std::vector<uint64_t>* seqs) {
  if (seqs) seqs->clear();
  const Policy& policy = *impl_->CurrentPolicy();
  for (const AccessRecord& a : accesses) {
    KIRJURI_RETURN_IF_ERROR(CheckActor(a.actor).Prefixed("access log"));
    if (!a.request.empty()) KIRJURI_RETURN_IF_ERROR(CheckRequestRef(a.request));
  }
  auto lock = impl_->LockForWrite();
  KIRJURI_RETURN_IF_ERROR(impl_->health.Prefixed("the ledger is damaged, appends are refused"));
  std::map<SubjectId, SubjectState> states;
  std::vector<Impl::Pending> pending;
  pending.reserve(accesses.size());
  const uint64_t base = impl_->size.load();
  for (const AccessRecord& a : accesses) {
    auto found = states.find(a.subject);
    if (found == states.end()) {
      SubjectState state;
      Status s = impl_->LoadSubject(a.subject, &state);
      if (s.IsNotFound()) continue;  // nothing of theirs was read
      KIRJURI_RETURN_IF_ERROR(s);
      found = states.emplace(a.subject, std::move(state)).first;
    }
    const SubjectState& state = found->second;
    if (!policy.HasPurpose(state.register_name, a.purpose)) {
      return Status::InvalidArgument("access log: purpose '" + a.purpose +
                                     "' is not declared by register '" + state.register_name +
                                     "'");
    }
    capnp::MallocMessageBuilder message;
    auto event = impl_->StartInternalEventLocked(message, a.subject, state,
                                                 schema::EventType::DATA_ACCESSED, a.actor,
                                                 a.request);
    auto env = event.getEnvelope();
    env.setSeq(base + pending.size());
    env.setPurpose(a.purpose);
    // The lawful basis of a read is that of the processing it serves; the access log itself
    // is kept because Art. 5(2) and 32 require it.
    env.setBasis("legal_obligation");
    auto access = event.initAccess();
    auto cats = access.initCategories(static_cast<unsigned>(a.categories.size()));
    for (unsigned i = 0; i < cats.size(); ++i) cats.set(i, a.categories[i]);
    access.setVia(a.via);
    access.setOperation(a.operation);
    access.setRole(a.role);
    Impl::Pending p;
    SignAndEncode(event.asReader(), impl_->key, &p.encoded);
    p.subject = a.subject;
    p.type = schema::EventType::DATA_ACCESSED;
    p.purpose = a.purpose;
    p.occurred_at_micros = env.getOccurredAtMicros();
    pending.push_back(std::move(p));
  }
  if (pending.empty()) return Status::Ok();
  KIRJURI_RETURN_IF_ERROR(impl_->CommitLocked(pending, states, nullptr));
  if (seqs) {
    for (uint64_t i = 0; i < pending.size(); ++i) seqs->push_back(base + i);
  }
  return Status::Ok();
}

Status Ledger::IssueToken(std::string_view actor, std::string_view role, std::string* token) {
  KIRJURI_RETURN_IF_ERROR(CheckActor(actor));
  if (!impl_->CurrentPolicy()->HasRole(role)) {
    std::string known;
    for (auto r : policy().getRoles()) known += (known.empty() ? "" : ", ") + std::string(r.getName().cStr());
    return Status::InvalidArgument("unknown role '" + std::string(role) + "' (the policy declares " +
                                   known + ")");
  }
  std::array<uint8_t, 32> secret{};
  randombytes_buf(secret.data(), secret.size());
  std::string t = std::string(kTokenTag) + HexEncode(secret);
  sodium_memzero(secret.data(), secret.size());
  const std::string value = std::string(role) + "\n" + std::string(actor) + "\n" +
                            std::to_string(NowMicros());
  rocksdb::WriteOptions wo;
  wo.sync = true;
  KIRJURI_RETURN_IF_ERROR(
      FromRocks(impl_->db->Put(wo, impl_->meta, TokenKey(t), value), "storing a token"));
  *token = std::move(t);
  return Status::Ok();
}

Status Ledger::Authenticate(std::string_view token, TokenInfo* out) const {
  if (token.size() != kTokenTag.size() + 64 || token.substr(0, kTokenTag.size()) != kTokenTag) {
    return Status::Unauthenticated("not a Kirjuri token");
  }
  std::string value;
  rocksdb::Status s = impl_->db->Get(rocksdb::ReadOptions(), impl_->meta, TokenKey(token), &value);
  if (s.IsNotFound()) return Status::Unauthenticated("unknown or revoked token");
  KIRJURI_RETURN_IF_ERROR(FromRocks(s, "reading tokens"));
  const size_t a = value.find('\n');
  const size_t b = a == std::string::npos ? a : value.find('\n', a + 1);
  if (b == std::string::npos) return Status::Corruption("a stored token record is damaged");
  TokenInfo info;
  info.role = value.substr(0, a);
  info.actor = value.substr(a + 1, b - a - 1);
  info.issued_at_micros = std::strtoll(value.c_str() + b + 1, nullptr, 10);
  *out = std::move(info);
  return Status::Ok();
}

Status Ledger::RevokeToken(std::string_view token) {
  TokenInfo info;
  KIRJURI_RETURN_IF_ERROR(Authenticate(token, &info));
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(impl_->db->Delete(wo, impl_->meta, TokenKey(token)), "revoking a token");
}

}  // namespace kirjuri
