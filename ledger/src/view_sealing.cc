// What projections/ needs from the ledger beyond reading events: deterministic sealing of view
// rows under the subjects' data keys, the policy's registers, time-to-size look-ups, and the
// attachment that lets erasure reach the views.
#include <sodium.h>

#include <cstring>

#include "ledger_impl.h"

namespace kirjuri {
namespace {

constexpr size_t kNonceBytes = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
constexpr size_t kTagBytes = crypto_aead_xchacha20poly1305_ietf_ABYTES;
// Subkey id and context for crypto_kdf: the nonce key is never the data key itself.
constexpr uint64_t kNonceSubkeyId = 1;
constexpr char kNonceKdfContext[crypto_kdf_CONTEXTBYTES + 1] = "kirjview";

// nonce = BLAKE2b-192(key = KDF(data key), len(context) as 8 bytes LE || context || plaintext).
// The length prefix keeps (context, plaintext) pairs from colliding by shifting bytes across.
void DeriveNonce(const DataKey& key, std::span<const uint8_t> context,
                 std::span<const uint8_t> plaintext, uint8_t nonce[kNonceBytes]) {
  uint8_t subkey[crypto_kdf_KEYBYTES];
  crypto_kdf_derive_from_key(subkey, sizeof subkey, kNonceSubkeyId, kNonceKdfContext,
                             key.key.data());
  crypto_generichash_state st;
  crypto_generichash_init(&st, subkey, sizeof subkey, kNonceBytes);
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = static_cast<uint8_t>(uint64_t{context.size()} >> (8 * i));
  crypto_generichash_update(&st, len, sizeof len);
  crypto_generichash_update(&st, context.data(), context.size());
  crypto_generichash_update(&st, plaintext.data(), plaintext.size());
  crypto_generichash_final(&st, nonce, kNonceBytes);
  sodium_memzero(subkey, sizeof subkey);
  sodium_memzero(&st, sizeof st);
}

}  // namespace

Status Ledger::SealForView(const SubjectId& subject, std::string_view category,
                           std::span<const uint8_t> context, std::span<const uint8_t> plaintext,
                           std::string* sealed) {
  DataKey key;
  Status s = impl_->keys->Get(subject, category, &key);
  if (s.IsNotFound()) {
    // No key: either shredded (the subject is erased, or a retained category came due) or
    // never made (data recorded before sealing). Only the latter may get one, under the append
    // lock so that an erasure cannot slip in between the check and the creation.
    auto lock = impl_->LockForWrite();
    SubjectState state;
    KIRJURI_RETURN_IF_ERROR(impl_->LoadSubject(subject, &state));
    std::string pending;
    if (state.erased() || impl_->db->Get(rocksdb::ReadOptions(), impl_->meta,
                                         store::PendingErasureKey(subject), &pending)
                              .ok()) {
      return Status::NotFound("subject " + SubjectIdHex(subject) + " is erased");
    }
    // (Keys are shredded only by erasure and by retention after it, so a living subject's
    // missing key was never made.)
    if (s = impl_->keys->Get(subject, category, &key); s.IsNotFound()) {
      std::vector<DataKey> created;
      KeyRequest request{subject, std::string(category), false};
      KIRJURI_RETURN_IF_ERROR(impl_->keys->GetOrCreate({&request, 1}, &created));
      key = std::move(created[0]);
    } else {
      KIRJURI_RETURN_IF_ERROR(s);
    }
  } else {
    KIRJURI_RETURN_IF_ERROR(s);
  }
  sealed->resize(kNonceBytes + plaintext.size() + kTagBytes);
  auto* out = reinterpret_cast<uint8_t*>(sealed->data());
  DeriveNonce(key, context, plaintext, out);
  crypto_aead_xchacha20poly1305_ietf_encrypt(out + kNonceBytes, nullptr, plaintext.data(),
                                             plaintext.size(), context.data(), context.size(),
                                             nullptr, out, key.key.data());
  return Status::Ok();
}

Status Ledger::OpenForView(const SubjectId& subject, std::string_view category,
                           std::span<const uint8_t> context, std::string_view sealed,
                           std::string* plaintext) const {
  if (sealed.size() < kNonceBytes + kTagBytes) {
    return Status::Corruption("a sealed view value is too short");
  }
  DataKey key;
  KIRJURI_RETURN_IF_ERROR(impl_->keys->Get(subject, category, &key));
  const auto* in = reinterpret_cast<const uint8_t*>(sealed.data());
  plaintext->resize(sealed.size() - kNonceBytes - kTagBytes);
  unsigned long long n = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<uint8_t*>(plaintext->data()), &n, nullptr, in + kNonceBytes,
          sealed.size() - kNonceBytes, context.data(), context.size(), in, key.key.data()) != 0) {
    plaintext->clear();
    return Status::Corruption("a sealed view value of subject " + SubjectIdHex(subject) +
                              " does not open with its " + std::string(category) + " key");
  }
  return Status::Ok();
}

Status Ledger::SizeAtTime(int64_t micros, uint64_t* size) const {
  // Binary search for the first event recorded after `micros`.
  uint64_t lo = 0, hi = this->size();
  while (lo < hi) {
    const uint64_t mid = lo + (hi - lo) / 2;
    int64_t recorded = 0;
    KIRJURI_RETURN_IF_ERROR(ReadEvents(mid, mid + 1, [&](const EventView& e) {
      recorded = e.signed_event.getEvent().getEnvelope().getRecordedAtMicros();
      return Status::Ok();
    }));
    if (recorded <= micros) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  *size = lo;
  return Status::Ok();
}

void Ledger::AttachDerivedStore(DerivedStore* store) { impl_->derived = store; }

std::vector<std::string> Ledger::RegisterNames() const { return impl_->CurrentPolicy()->RegisterNames(); }

schema::Policy::Reader Ledger::policy() const { return impl_->CurrentPolicy()->root(); }

}  // namespace kirjuri
