#include "event_codec.h"

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

void EncodeEvent(const NewEvent& e, schema::EventType type, uint64_t seq, const SubjectId& subject,
                 int64_t recorded_at_micros, const SigningKey& key, EncodedEvent* out) {
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
  if (!e.request.empty()) env.setRequest(e.request);
  auto fields = event.initFields(static_cast<unsigned>(e.data.size() + (e.ip ? 1 : 0)));
  unsigned i = 0;
  for (const auto& [name, value] : e.data) {
    fields[i].setName(name);
    fields[i].setCategory(e.category);
    fields[i].setPlain(value);
    ++i;
  }
  if (e.ip) {
    fields[i].setName("ip");
    fields[i].setCategory("network");
    fields[i].setPlain(*e.ip);
  }

  kj::Array<capnp::word> canonical_event = capnp::canonicalize(event.asReader());
  std::string to_sign = SignedMessage(canonical_event);
  Ed25519Signature sig = key.Sign(AsSpan(to_sign));

  capnp::MallocMessageBuilder signed_message;
  auto signed_event = signed_message.initRoot<schema::SignedEvent>();
  signed_event.setEvent(event.asReader());
  signed_event.setSignature(kj::arrayPtr(sig.data(), sig.size()));
  kj::Array<capnp::word> leaf = capnp::canonicalize(signed_event.asReader());
  auto bytes = leaf.asBytes();
  out->leaf.assign(reinterpret_cast<const char*>(bytes.begin()), bytes.size());
  out->leaf_hash = merkle::LeafHash(AsSpan(out->leaf));
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
  options.traversalLimitInWords = words_.size() * 2 + 64;
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
