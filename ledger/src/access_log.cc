// The access log (dataAccessed events) and the bearer tokens of `kirjuri serve` (with their
// tokenIssued and tokenRevoked events).
//
// Tokens are stored only as BLAKE2b hashes, under "token/" || hex(hash) in the log's default
// column family; a token is 32 random bytes, so a plain hash is enough (nothing to brute-force).
#include <capnp/message.h>
#include <sodium.h>

#include <algorithm>
#include <cctype>

#include "kirjuri/crypto.h"
#include "ledger_impl.h"
#include "policy.h"

namespace kirjuri {
namespace {

constexpr std::string_view kTokenPrefix = "token/";
constexpr std::string_view kTokenTag = "kjr_";  // so that a token is recognisable in a leak scan

constexpr size_t kTokenIdDigits = 16;

std::string TokenKey(std::string_view token) {
  std::array<uint8_t, 32> hash{};
  crypto_generichash(hash.data(), hash.size(), reinterpret_cast<const uint8_t*>(token.data()),
                     token.size(), nullptr, 0);
  return std::string(kTokenPrefix) + HexEncode(hash);
}

// A token's id from its stored key: the first digits of its hash.
std::string TokenIdOf(std::string_view key) {
  return std::string(key.substr(kTokenPrefix.size(), kTokenIdDigits));
}

// A token record's value: role "\n" actor "\n" issued-at micros.
std::string EncodeTokenValue(const TokenInfo& info) {
  return info.role + "\n" + info.actor + "\n" + std::to_string(info.issued_at_micros);
}

Status DecodeTokenValue(std::string_view value, TokenInfo* out) {
  const size_t a = value.find('\n');
  const size_t b = a == std::string_view::npos ? a : value.find('\n', a + 1);
  if (b == std::string_view::npos) return Status::Corruption("a stored token record is damaged");
  TokenInfo info;
  info.role = value.substr(0, a);
  info.actor = value.substr(a + 1, b - a - 1);
  info.issued_at_micros = std::strtoll(std::string(value.substr(b + 1)).c_str(), nullptr, 10);
  *out = std::move(info);
  return Status::Ok();
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

Status Ledger::Impl::CommitTokenChangeLocked(schema::EventType type, const TokenRecord& record,
                                             std::string_view by,
                                             const std::function<void(rocksdb::WriteBatch&)>& change) {
  KIRJURI_RETURN_IF_ERROR(health.Prefixed("the ledger is damaged, tokens stay as they are"));
  const SubjectId ledger_subject{};  // events about the ledger itself
  SubjectState state;
  if (Status s = LoadSubject(ledger_subject, &state); !s.ok() && !s.IsNotFound()) return s;
  capnp::MallocMessageBuilder message;
  auto event = StartInternalEventLocked(message, ledger_subject, state, type, by, "");
  auto token = event.initToken();
  token.setId(record.id);
  token.setActor(record.info.actor);
  token.setRole(record.info.role);
  uint64_t seq = 0;
  return CommitInternalLocked(event.asReader(), ledger_subject, state, change, &seq);
}

Status Ledger::IssueToken(std::string_view actor, std::string_view role, std::string_view by,
                          std::string* token, std::string* id) {
  KIRJURI_RETURN_IF_ERROR(CheckActor(actor));
  KIRJURI_RETURN_IF_ERROR(CheckActor(by).Prefixed("who issues the token"));
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
  const std::string key = TokenKey(t);
  TokenRecord record;
  record.id = TokenIdOf(key);
  record.info.actor = actor;
  record.info.role = role;
  record.info.issued_at_micros = NowMicros();
  const std::string value = EncodeTokenValue(record.info);
  auto lock = impl_->LockForWrite();
  KIRJURI_RETURN_IF_ERROR(impl_->CommitTokenChangeLocked(
      schema::EventType::TOKEN_ISSUED, record, by,
      [&](rocksdb::WriteBatch& batch) { batch.Put(impl_->meta, key, value); }));
  *token = std::move(t);
  if (id) *id = record.id;
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
  return DecodeTokenValue(value, out);
}

Status Ledger::ListTokens(std::vector<TokenRecord>* out) const {
  out->clear();
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->meta));
  for (it->Seek(std::string(kTokenPrefix)); it->Valid() && it->key().starts_with(kTokenPrefix);
       it->Next()) {
    TokenRecord r;
    r.id = TokenIdOf(it->key().ToStringView());
    KIRJURI_RETURN_IF_ERROR(DecodeTokenValue(it->value().ToStringView(), &r.info));
    out->push_back(std::move(r));
  }
  KIRJURI_RETURN_IF_ERROR(FromRocks(it->status(), "reading tokens"));
  std::stable_sort(out->begin(), out->end(), [](const TokenRecord& a, const TokenRecord& b) {
    return a.info.issued_at_micros < b.info.issued_at_micros;
  });
  return Status::Ok();
}

Status Ledger::RevokeToken(std::string_view token_or_id, std::string_view by,
                           TokenRecord* record) {
  KIRJURI_RETURN_IF_ERROR(CheckActor(by).Prefixed("who revokes the token"));
  std::string prefix;  // of the token's record key: the whole key, or "token/" || id
  if (token_or_id.starts_with(kTokenTag)) {
    // Looked up below with the ids: an unknown or malformed token finds no record.
    prefix = TokenKey(token_or_id);
  } else {
    if (token_or_id.size() != kTokenIdDigits ||
        !std::all_of(token_or_id.begin(), token_or_id.end(),
                     [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); })) {
      return Status::InvalidArgument("not a token (kjr_…) nor a token id (" +
                                     std::to_string(kTokenIdDigits) + " hex digits, `token list`)");
    }
    std::string lower(token_or_id);
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    prefix = std::string(kTokenPrefix) + lower;
  }
  // Found and revoked under the write lock: two revocations of one token make one event.
  auto lock = impl_->LockForWrite();
  std::string key;
  TokenRecord found;
  std::unique_ptr<rocksdb::Iterator> it(impl_->db->NewIterator(rocksdb::ReadOptions(), impl_->meta));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    if (!key.empty()) {
      return Status::FailedPrecondition("token id " + prefix.substr(kTokenPrefix.size()) +
                                        " names more than one token: revoke it by the token");
    }
    key = it->key().ToString();
    KIRJURI_RETURN_IF_ERROR(DecodeTokenValue(it->value().ToStringView(), &found.info));
  }
  KIRJURI_RETURN_IF_ERROR(FromRocks(it->status(), "reading tokens"));
  if (key.empty()) {
    if (token_or_id.starts_with(kTokenTag)) return Status::Unauthenticated("unknown or revoked token");
    return Status::NotFound("no token with id " + prefix.substr(kTokenPrefix.size()));
  }
  found.id = TokenIdOf(key);
  KIRJURI_RETURN_IF_ERROR(impl_->CommitTokenChangeLocked(
      schema::EventType::TOKEN_REVOKED, found, by,
      [&](rocksdb::WriteBatch& batch) { batch.Delete(impl_->meta, key); }));
  if (record) *record = std::move(found);
  return Status::Ok();
}

}  // namespace kirjuri
