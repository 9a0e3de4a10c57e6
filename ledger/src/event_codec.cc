#include "event_codec.h"

#include <sodium.h>

#include <array>
#include <bit>
#include <cstring>
#include <iterator>
#include <memory>

#include "kirjuri/canonical.h"
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

// Reads every pointer of a stored event through the generated readers, so that anything a later
// reader could trip on throws here: a text without its NUL terminator, a pointer of the wrong
// kind, a list of the wrong element size. (isCanonical checks the layout only, not the types of
// what it points to; scalars cannot be wrong.) It must read every pointer field of every struct
// a SignedEvent reaches, the active member of a union only: event_codec_test plants a
// wrong-typed pointer in each such field the schema has, found by reflection, and expects
// Decode to refuse it. (Reading through the schema, capnp::DynamicStruct, did the same at
// several times the cost: a fifth of what catching up the views took.)
void ReadTexts(capnp::List<capnp::Text>::Reader list) {
  for (capnp::Text::Reader text : list) (void)text;
}

void ReadAll(schema::Envelope::Reader e) {
  (void)e.getRegister(), (void)e.getSubject(), (void)e.getActor(), (void)e.getPurpose();
  (void)e.getBasis(), (void)e.getSource(), (void)e.getCategory(), (void)e.getKeyId();
  (void)e.getRequest();
}

void ReadAll(schema::Field::Reader f) {
  (void)f.getName(), (void)f.getCategory();
  switch (f.which()) {
    case schema::Field::PLAIN: (void)f.getPlain(); break;
    case schema::Field::SEALED: {
      auto sealed = f.getSealed();
      (void)sealed.getKeyId(), (void)sealed.getNonce(), (void)sealed.getCiphertext();
      break;
    }
    default: break;  // a member added later: no pointer of ours
  }
}

void ReadAll(schema::SealedGroup::Reader g) {
  (void)g.getCategory(), (void)g.getKeyId(), (void)g.getNonce(), (void)g.getCiphertext();
  ReadTexts(g.getNames());
}

void ReadAll(schema::Erasure::Reader e) {
  for (auto k : e.getShredded()) (void)k.getCategory(), (void)k.getKeyId();
  for (auto r : e.getRetained()) (void)r.getCategory(), (void)r.getKeyId(), (void)r.getReason();
}

void ReadAll(schema::Event::Reader e) {
  ReadAll(e.getEnvelope());
  for (auto f : e.getFields()) ReadAll(f);
  ReadAll(e.getErasure());
  for (auto g : e.getSealed()) ReadAll(g);
  auto request = e.getRequestInfo();
  (void)request.getKind(), (void)request.getReason(), (void)request.getOutcomeSeqs();
  auto policy = e.getPolicyChange();
  (void)policy.getJson(), (void)policy.getSha256(), (void)policy.getPreviousSha256();
  (void)policy.getName();
  auto access = e.getAccess();
  ReadTexts(access.getCategories());
  (void)access.getVia(), (void)access.getOperation(), (void)access.getRole();
  auto token = e.getToken();
  (void)token.getId(), (void)token.getActor(), (void)token.getRole();
}

void ReadAll(schema::SignedEvent::Reader e) {
  ReadAll(e.getEvent());
  (void)e.getSignature();
}

}  // namespace

namespace {

constexpr std::string_view kSealedAdPrefix = "kirjuri/sealed/v1\n";

// A std::string as a Cap'n Proto text, with its length: the implicit conversion calls strlen,
// which on the append path read every sealed value twice (a few percent of an append). The
// strings hold no NUL: field values are JSON text (which escapes it), the rest vocabulary.
capnp::Text::Reader AsText(const std::string& s) {
  return capnp::Text::Reader(s.c_str(), s.size());
}

// A zeroed first segment for a MallocMessageBuilder, reused by each thread: a builder of its own
// would calloc (and zero) a fresh segment for every event. The builder zeroes what it used when
// it is destroyed, as MallocMessageBuilder(ArrayPtr) requires — which also wipes the plaintext
// that sealing puts in one. Each use (`Slot`) has its own, because they nest.
enum class Slot { kEvent, kEventCanonical, kPlain, kPlainCanonical, kAd, kAdCanonical, kCount };
kj::ArrayPtr<capnp::word> Scratch(Slot slot) {
  // An event is ~130-160 words, its sealed groups' plaintexts and contexts a few dozen; more
  // spills over (a builder's next segment; CanonicalCopy's heap fallback).
  constexpr size_t kWords[] = {2048, 2048, 512, 512, 256, 256};
  static_assert(std::size(kWords) == static_cast<size_t>(Slot::kCount));
  const size_t i = static_cast<size_t>(slot);
  thread_local std::unique_ptr<capnp::word[]> buffers[static_cast<size_t>(Slot::kCount)];
  if (!buffers[i]) buffers[i].reset(new capnp::word[kWords[i]]());  // value-initialised: zero
  return kj::arrayPtr(buffers[i].get(), kWords[i]);
}

// "kirjuri/sealed/v1\n" || canonical(SealContext) — see schemas/event.capnp.
std::string SealAd(schema::Envelope::Reader env, std::string_view group_category,
                   std::span<const uint8_t> key_id, capnp::List<capnp::Text>::Reader names) {
  capnp::MallocMessageBuilder message(Scratch(Slot::kAd));
  auto ctx = message.initRoot<schema::SealContext>();
  ctx.setSeq(env.getSeq());
  ctx.setSubject(env.getSubject());
  ctx.setRegister(env.getRegister());
  ctx.setType(env.getType());
  ctx.setCategory(env.getCategory());
  ctx.setGroupCategory(kj::StringPtr(group_category.data(), group_category.size()));
  ctx.setKeyId(kj::arrayPtr(key_id.data(), key_id.size()));
  ctx.setNames(names);
  CanonicalCopy canonical(ctx.asReader(), Scratch(Slot::kAdCanonical));
  auto bytes = canonical.bytes();
  std::string ad;
  ad.reserve(kSealedAdPrefix.size() + bytes.size());
  ad.append(kSealedAdPrefix);
  ad.append(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
  return ad;
}

using NamedValue = std::pair<const std::string*, const std::string*>;

// Seals `fields` (name, JSON value) of one category together into `group`.
// `given_nonce`: kSealNonceBytes fresh random bytes, or null to draw them here.
void SealGroup(schema::Envelope::Reader env, const std::string& category,
               const std::vector<NamedValue>& fields, const DataKey& key,
               const uint8_t* given_nonce, schema::SealedGroup::Builder group) {
  static_assert(kSealNonceBytes == crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  group.setCategory(AsText(category));
  group.setKeyId(kj::arrayPtr(key.id.data(), key.id.size()));
  std::array<uint8_t, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES> nonce;
  if (given_nonce) {
    std::memcpy(nonce.data(), given_nonce, nonce.size());
  } else {
    randombytes_buf(nonce.data(), nonce.size());
  }
  group.setNonce(kj::arrayPtr(nonce.data(), nonce.size()));
  auto names = group.initNames(static_cast<unsigned>(fields.size()));
  capnp::MallocMessageBuilder plain_message(Scratch(Slot::kPlain));
  auto values = plain_message.initRoot<schema::FieldValues>().initValues(
      static_cast<unsigned>(fields.size()));
  for (unsigned i = 0; i < fields.size(); ++i) {
    names.set(i, AsText(*fields[i].first));
    values.set(i, AsText(*fields[i].second));
  }
  // The copy (and plain_message) zero their scratch when destroyed: no plaintext stays behind.
  CanonicalCopy plain_words(plain_message.getRoot<schema::FieldValues>().asReader(),
                            Scratch(Slot::kPlainCanonical));
  auto plain = plain_words.bytes();
  std::string ad = SealAd(env, category, key.id, names.asReader());
  auto ct = group.initCiphertext(
      static_cast<unsigned>(plain.size() + crypto_aead_xchacha20poly1305_ietf_ABYTES));
  unsigned long long ct_len = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      ct.begin(), &ct_len, plain.begin(), plain.size(),
      reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr, nonce.data(),
      key.key.data());
}

}  // namespace

static_assert(std::endian::native == std::endian::little,
              "LeafFromCanonicalEvent writes Cap'n Proto's little-endian words directly");

// canonical(SignedEvent { event, signature }) assembled from canonical(event), without building
// and canonicalising a second message. Canonical form lays a struct's pointed-to objects out in
// pointer order, each right after the last, so the leaf is:
//   [0]     root pointer: struct at offset 0, no data words, 2 pointers
//   [1]     pointer to the event: the event's own root pointer, its offset 0 -> 1 (skips [2])
//   [2]     byte-list pointer to the signature: 64 elements, in the last 8 words
//   [3..)   the event's words after its root pointer, unchanged (offsets inside are relative)
//   [n-8..) the signature
// (DecodedLeaf::SignedMessageFromLayout reads the same layout back.) False if the event's root
// pointer is not the plain struct pointer at offset 0 that canonical form gives a non-empty struct.
bool LeafFromCanonicalEvent(kj::ArrayPtr<const capnp::word> event, const Ed25519Signature& sig,
                            std::string* leaf) {
  constexpr size_t kWord = sizeof(capnp::word);
  if (event.size() < 2) return false;
  uint64_t root;
  std::memcpy(&root, event.begin(), kWord);
  if ((root & 3) != 0 || ((root >> 2) & 0x3fffffff) != 0 || (root >> 32) == 0) return false;
  const size_t body = event.size() - 1;  // the event's words after its root pointer
  const size_t n = 3 + body + 8;
  const uint64_t words[3] = {
      uint64_t{2} << 48,
      root | (uint64_t{1} << 2),
      uint64_t{1} | (uint64_t{n - 8 - 3} << 2) | (uint64_t{2} << 32) | (uint64_t{64} << 35),
  };
  leaf->resize(n * kWord);
  char* p = leaf->data();
  std::memcpy(p, words, sizeof words);
  std::memcpy(p + 3 * kWord, event.begin() + 1, body * kWord);
  std::memcpy(p + (3 + body) * kWord, sig.data(), sig.size());
  return true;
}

void SignAndEncode(schema::Event::Reader event, const SigningKey& signer, EncodedEvent* out) {
  CanonicalCopy canonical_event(event, Scratch(Slot::kEventCanonical));
  std::string to_sign = SignedMessage(canonical_event.words());
  Ed25519Signature sig = signer.Sign(AsSpan(to_sign));
  static_assert(sizeof(Ed25519Signature) == 64);
  if (LeafFromCanonicalEvent(canonical_event.words(), sig, &out->leaf)) {
    out->leaf_hash = merkle::LeafHash(AsSpan(out->leaf));
    return;
  }

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
  capnp::MallocMessageBuilder message(Scratch(Slot::kEvent));
  auto event = message.initRoot<schema::Event>();
  auto env = event.initEnvelope();
  env.setSeq(seq);
  env.setRecordedAtMicros(recorded_at_micros);
  env.setOccurredAtMicros(e.occurred_at_micros.value_or(recorded_at_micros));
  env.setRegister(AsText(e.register_name));
  env.setSubject(kj::arrayPtr(subject.data(), subject.size()));
  env.setType(type);
  env.setActor(AsText(e.actor));
  env.setPurpose(AsText(e.purpose));
  env.setBasis(AsText(e.basis));
  env.setSource(AsText(e.source));
  env.setCategory(AsText(e.category));
  if (keys.category) env.setKeyId(kj::arrayPtr(keys.category->id.data(), keys.category->id.size()));
  if (!e.request.empty()) env.setRequest(AsText(e.request));
  std::vector<NamedValue> own;
  for (const auto& [name, value] : e.data) own.emplace_back(&name, &value);
  static const std::string kIp = "ip", kNetwork = "network";
  std::vector<NamedValue> network;
  if (e.ip) network.emplace_back(&kIp, &*e.ip);
  if (keys.category || keys.network) {
    const unsigned groups = (keys.category && !own.empty()) + (keys.network && !network.empty());
    auto sealed = event.initSealed(groups);
    unsigned g = 0;
    if (keys.category && !own.empty()) {
      SealGroup(env.asReader(), e.category, own, *keys.category, keys.nonces, sealed[g++]);
    }
    if (keys.network && !network.empty()) {
      SealGroup(env.asReader(), kNetwork, network, *keys.network,
                keys.nonces ? keys.nonces + kSealNonceBytes : nullptr, sealed[g]);
    }
  } else {
    // Without keys (OpenOptions::seal == false, for benchmarks) fields are stored as plain JSON.
    auto fields = event.initFields(static_cast<unsigned>(own.size() + network.size()));
    unsigned i = 0;
    for (const auto& [name, value] : own) {
      fields[i].setName(AsText(*name));
      fields[i].setCategory(AsText(e.category));
      fields[i++].setPlain(AsText(*value));
    }
    for (const auto& [name, value] : network) {
      fields[i].setName(AsText(*name));
      fields[i].setCategory(AsText(kNetwork));
      fields[i++].setPlain(AsText(*value));
    }
  }
  SignAndEncode(event.asReader(), signer, out);
}

Status OpenGroup(schema::Event::Reader event, schema::SealedGroup::Reader group,
                 const DataKey& key, std::vector<std::string>* json_values) {
  auto nonce = group.getNonce();
  auto ct = group.getCiphertext();
  auto key_id = group.getKeyId();
  if (nonce.size() != crypto_aead_xchacha20poly1305_ietf_NPUBBYTES ||
      ct.size() < crypto_aead_xchacha20poly1305_ietf_ABYTES || key_id.size() != key.id.size() ||
      std::memcmp(key_id.begin(), key.id.data(), key.id.size()) != 0) {
    return Status::Corruption("a sealed group is malformed or names another key");
  }
  std::string ad = SealAd(event.getEnvelope(), group.getCategory().cStr(), key.id,
                          group.getNames());
  const size_t plain_size = ct.size() - crypto_aead_xchacha20poly1305_ietf_ABYTES;
  if (plain_size % sizeof(capnp::word) != 0) {
    return Status::Corruption("a sealed group has an impossible size");
  }
  auto words = kj::heapArray<capnp::word>(plain_size / sizeof(capnp::word));
  unsigned long long plain_len = 0;
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          reinterpret_cast<unsigned char*>(words.begin()), &plain_len, nullptr, ct.begin(),
          ct.size(), reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nonce.begin(),
          key.key.data()) != 0) {
    return Status::Corruption("a sealed group does not open: altered, or moved from elsewhere");
  }
  Status status;
  kj::Maybe<kj::Exception> error = kj::runCatchingExceptions([&] {
    kj::ArrayPtr<const capnp::word> segments[1] = {words.asPtr()};
    capnp::SegmentArrayMessageReader reader(kj::arrayPtr(segments, 1));
    auto values = reader.getRoot<schema::FieldValues>().getValues();
    if (values.size() != group.getNames().size()) {
      status = Status::Corruption("a sealed group's values do not match its names");
      return;
    }
    json_values->clear();
    for (auto v : values) json_values->emplace_back(v.cStr());
  });
  sodium_memzero(words.begin(), words.size() * sizeof(capnp::word));
  if (error != nullptr) return Status::Corruption("a sealed group's contents do not decode");
  return status;
}

Status DecodedLeaf::Decode(std::span<const uint8_t> bytes) { return Decode(bytes, /*deep=*/true); }
Status DecodedLeaf::DecodeLayout(std::span<const uint8_t> bytes) {
  return Decode(bytes, /*deep=*/false);
}

Status DecodedLeaf::Decode(std::span<const uint8_t> bytes, bool deep) {
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
    // Read it all once, so that a malformed part fails here, as Corruption, and never later in
    // a reader that trusts a decoded event (a kj::Exception there would escape a Status API).
    if (deep) ReadAll(root_);
  });
  KJ_IF_MAYBE(e, error) {
    (void)e;
    return Status::Corruption("stored event does not decode");
  }
  return status;
}

namespace {
// Runs `read` over a decoded event's parts; a kj::Exception (a part of the wrong kind, in an
// event whose signature is not checked) is Corruption saying `what` does not decode.
template <typename Fn>
Status ReadGuarded(const char* what, Fn&& read) {
  kj::Maybe<kj::Exception> error = kj::runCatchingExceptions(std::forward<Fn>(read));
  if (error != nullptr) return Status::Corruption(std::string(what) + " does not decode");
  return Status::Ok();
}
}  // namespace

Status DecodedLeaf::ReadEnvelope(uint64_t* seq, SubjectId* subject) const {
  *subject = SubjectId{};
  return ReadGuarded("stored event's envelope", [&] {
    auto env = root_.getEvent().getEnvelope();
    *seq = env.getSeq();
    auto id = env.getSubject();
    if (id.size() == subject->size()) std::memcpy(subject->data(), id.begin(), subject->size());
  });
}

Status DecodedLeaf::ReadSubjectFacts(SubjectFacts* out) const {
  return ReadGuarded("stored event's envelope",
                     [&] { *out = SubjectFacts::From(root_.getEvent().getEnvelope()); });
}

Status DecodedLeaf::ReadRequestFacts(RequestFacts* out) const {
  return ReadGuarded("stored request event", [&] { *out = RequestFacts::From(root_.getEvent()); });
}

static_assert(std::endian::native == std::endian::little,
              "DecodedLeaf::SignedMessage reads Cap'n Proto's little-endian words directly");

std::string DecodedLeaf::SignedMessage() const {
  std::string msg;
  if (SignedMessageFromLayout(&msg)) return msg;
  return kirjuri::SignedMessage(capnp::canonicalize(root_.getEvent()));
}

bool DecodedLeaf::SignedMessageFromLayout(std::string* out) const {
  // words_: [0] root pointer -> SignedEvent {no data, 2 pointers} at [1];
  //         [1] struct pointer to the event at [3] (offset 1); [2] byte-list pointer, 64 bytes,
  //         to the signature in the last 8 words; the event's subtree fills [3, n - 8).
  const size_t n = words_.size();
  auto word = [&](size_t i) {
    uint64_t w;
    std::memcpy(&w, words_.begin() + i, sizeof w);
    return w;  // little-endian host, as Cap'n Proto's wire format (x86-64, aarch64)
  };
  if (n > 11) {
    const uint64_t root = word(0), event_ptr = word(1), sig_ptr = word(2);
    const uint64_t kSignedEventRoot = uint64_t{2} << 48;  // struct, offset 0, 0 data, 2 pointers
    const bool event_ok = (event_ptr & 3) == 0 && ((event_ptr >> 2) & 0x3fffffff) == 1;
    const uint64_t sig_offset = n - 11;  // target n - 8 = 2 + 1 + offset
    const bool sig_ok = (sig_ptr & 3) == 1 && ((sig_ptr >> 2) & 0x3fffffff) == sig_offset &&
                        ((sig_ptr >> 32) & 7) == 2 && (sig_ptr >> 35) == 64;
    if (root == kSignedEventRoot && event_ok && sig_ok) {
      const uint64_t event_root = event_ptr & ~(uint64_t{0x3fffffff} << 2);  // offset 0
      out->assign(store::kEventSignaturePrefix);
      out->append(reinterpret_cast<const char*>(&event_root), sizeof event_root);
      out->append(reinterpret_cast<const char*>(words_.begin() + 3),
                  (n - 11) * sizeof(capnp::word));
      return true;
    }
  }
  return false;
}

bool CheckEventSignature(const DecodedLeaf& leaf, const PublicKey& key) {
  bool ok = false;
  kj::Maybe<kj::Exception> error = kj::runCatchingExceptions([&] {
    auto sig = leaf.get().getSignature();
    if (sig.size() != 64) return;
    std::string msg = leaf.SignedMessage();
    ok = VerifySignature(key, AsSpan(msg), std::span<const uint8_t>(sig.begin(), sig.size()));
  });
  return ok && error == nullptr;
}

}  // namespace kirjuri
