#include "event_codec.h"

#include <sodium.h>

#include <array>
#include <cstring>

#include "store_format.h"

namespace kirjuri {
namespace {

// Limits for reading a stored event. An event is a few hundred bytes to a few kilobytes; the
// limits stop a crafted value from making the reader walk or allocate without bound.
constexpr size_t kMaxLeafBytes = 1 << 20;
constexpr int kNestingLimit = 16;

std::string SignedMessage(kj::ArrayPtr<const capnp::word> canonical_event) {
  auto bytes = canonical_event.asBytes();
  std::string msg(store::kEventSignaturePrefix);
  msg.append(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
  return msg;
}

std::span<const uint8_t> AsSpan(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

}  // namespace

namespace {

constexpr std::string_view kFieldAdPrefix = "kirjuri/field/v1\n";

// "kirjuri/field/v1\n" || canonical(SealContext) — see schemas/event.capnp.
std::string SealAd(schema::Envelope::Reader env, std::string_view field_category,
                   std::span<const uint8_t> key_id, std::string_view field) {
  capnp::MallocMessageBuilder message(64);
  auto ctx = message.initRoot<schema::SealContext>();
  ctx.setSeq(env.getSeq());
  ctx.setSubject(env.getSubject());
  ctx.setRegister(env.getRegister());
  ctx.setType(env.getType());
  ctx.setCategory(env.getCategory());
  ctx.setFieldCategory(kj::StringPtr(field_category.data(), field_category.size()));
  ctx.setKeyId(kj::arrayPtr(key_id.data(), key_id.size()));
  ctx.setField(kj::StringPtr(field.data(), field.size()));
  auto words = capnp::canonicalize(ctx.asReader());
  auto bytes = words.asBytes();
  std::string ad(kFieldAdPrefix);
  ad.append(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
  return ad;
}

void SealField(schema::Envelope::Reader env, const std::string& name, const std::string& category,
               const std::string& json_value, const DataKey& key, schema::Field::Builder field) {
  field.setName(name);
  field.setCategory(category);
  auto sealed = field.initSealed();
  sealed.setKeyId(kj::arrayPtr(key.id.data(), key.id.size()));
  std::array<uint8_t, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES> nonce;
  randombytes_buf(nonce.data(), nonce.size());
  sealed.setNonce(kj::arrayPtr(nonce.data(), nonce.size()));
  std::string ad = SealAd(env, category, key.id, name);
  auto ct = sealed.initCiphertext(
      static_cast<unsigned>(json_value.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES));
  unsigned long long ct_len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      ct.begin(), &ct_len, reinterpret_cast<const unsigned char*>(json_value.data()),
      json_value.size(), reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr,
      nonce.data(), key.key.data());
}

}  // namespace

void SignAndEncode(schema::Event::Reader event, const SigningKey& signer, EncodedEvent* out) {
  kj::Array<capnp::word> canonical_event = capnp::canonicalize(event);
  std::string to_sign = SignedMessage(canonical_event);
  Ed25519Signature sig = signer.Sign(AsSpan(to_sign));

  capnp::MallocMessageBuilder signed_message;
  auto signed_event = signed_message.initRoot<schema::SignedEvent>();
  signed_event.setEvent(event);
  signed_event.setSignature(kj::arrayPtr(sig.data(), sig.size()));
  kj::Array<capnp::word> leaf = capnp::canonicalize(signed_event.asReader());
  auto bytes = leaf.asBytes();
  out->leaf.assign(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
  out->leaf_hash = merkle::LeafHash(AsSpan(out->leaf));
}

void EncodeEvent(const NewEvent& e, schema::EventType type, uint64_t seq, const SubjectId& subject,
                 int64_t recorded_at_micros, const SealingKeys& keys, const SigningKey& signer,
                 EncodedEvent* out) {
  capnp::MallocMessageBuilder message;
  auto event = message.initRoot<schema::Event>();
  auto env = event.initEnvelope();
  env.setSeq(seq);
  env.setRecordedAtMicros(recorded_at_micros);
  env.setOccurredAtMicros(e.occurred_at_micros.value_or(recorded_at_micros));
  env.setRegister(e.register_name);
  env.setSubject(kj::arrayPtr(subject.data(), subject.size()));
  env.setType(type);
  env.setActor(e.actor);
  env.setPurpose(e.purpose);
  env.setBasis(e.basis);
  env.setSource(e.source);
  env.setCategory(e.category);
  if (keys.category) env.setKeyId(kj::arrayPtr(keys.category->id.data(), keys.category->id.size()));
  if (!e.request.empty()) env.setRequest(e.request);
  auto fields = event.initFields(static_cast<unsigned>(e.data.size() + (e.ip ? 1 : 0)));
  unsigned i = 0;
  // Without keys (OpenOptions::seal == false, for benchmarks) fields are stored as plain JSON.
  auto put = [&](const std::string& name, const std::string& category, const std::string& value,
                 const DataKey* key, schema::Field::Builder field) {
    if (key) {
      SealField(env.asReader(), name, category, value, *key, field);
    } else {
      field.setName(name);
      field.setCategory(category);
      field.setPlain(value);
    }
  };
  for (const auto& [name, value] : e.data) put(name, e.category, value, keys.category, fields[i++]);
  if (e.ip) put("ip", "network", *e.ip, keys.network, fields[i]);
  SignAndEncode(event.asReader(), signer, out);
}

Status OpenField(schema::Event::Reader event, schema::Field::Reader field, const DataKey& key,
                 std::string* json_value) {
  if (field.isPlain()) {
    *json_value = field.getPlain();
    return Status::Ok();
  }
  auto sealed = field.getSealed();
  auto nonce = sealed.getNonce();
  auto ct = sealed.getCiphertext();
  auto key_id = sealed.getKeyId();
  if (nonce.size() != crypto_aead_xchacha20poly1305_ietf_NPUBBYTES ||
      ct.size() < crypto_aead_xchacha20poly1305_ietf_ABYTES || key_id.size() != key.id.size() ||
      std::memcmp(key_id.begin(), key.id.data(), key.id.size()) != 0) {
    return Status::Corruption("a sealed field is malformed or names another key");
  }
  std::string ad = SealAd(event.getEnvelope(), field.getCategory().cStr(), key.id,
                          field.getName().cStr());
  std::string plain(ct.size() - crypto_aead_xchacha20poly1305_ietf_ABYTES, '\0');
  unsigned long long plain_len = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(plain.data()), &plain_len, nullptr, ct.begin(),
          ct.size(), reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nonce.begin(),
          key.key.data()) != 0) {
    return Status::Corruption("a sealed field does not open: altered, or moved from elsewhere");
  }
  plain.resize(plain_len);
  *json_value = std::move(plain);
  return Status::Ok();
}

Status DecodedLeaf::Decode(std::span<const uint8_t> bytes) {
  if (bytes.size() == 0 || bytes.size() % sizeof(capnp::word) != 0 ||
      bytes.size() > kMaxLeafBytes) {
    return Status::Corruption("stored event has an impossible size (" +
                              std::to_string(bytes.size()) + " bytes)");
  }
  words_ = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
  std::memcpy(words_.begin(), bytes.data(), bytes.size());
  segments_[0] = words_.asPtr();
  capnp::ReaderOptions options;
  // The limit counts every read, not just the first pass; readers of an event (export, verify,
  // the CLI) read parts of it several times. A canonical message cannot alias (isCanonical below
  // rejects it), so this only bounds repeated reads, never an amplification.
  options.traversalLimitInWords = words_.size() * 64 + 4096;
  options.nestingLimit = kNestingLimit;
  Status status;
  kj::Maybe<kj::Exception> error = kj::runCatchingExceptions([&] {
    reader_ = std::make_unique<capnp::SegmentArrayMessageReader>(
        kj::arrayPtr(segments_, 1), options);
    if (!reader_->isCanonical()) {
      status = Status::Corruption("stored event is not in canonical form");
      return;
    }
    root_ = reader_->getRoot<schema::SignedEvent>();
    // Touch what every caller relies on, so a malformed pointer fails here, not later.
    (void)root_.getEvent().getEnvelope().getSeq();
    (void)root_.getSignature();
  });
  KJ_IF_MAYBE(e, error) {
    (void)e;
    return Status::Corruption("stored event does not decode");
  }
  return status;
}

bool CheckEventSignature(schema::SignedEvent::Reader signed_event, const PublicKey& key) {
  bool ok = false;
  kj::Maybe<kj::Exception> error = kj::runCatchingExceptions([&] {
    auto sig = signed_event.getSignature();
    if (sig.size() != 64) return;
    kj::Array<capnp::word> canonical_event = capnp::canonicalize(signed_event.getEvent());
    std::string msg = SignedMessage(canonical_event);
    ok = VerifySignature(key, AsSpan(msg), std::span<const uint8_t>(sig.begin(), sig.size()));
  });
  return ok && error == nullptr;
}

}  // namespace kirjuri
