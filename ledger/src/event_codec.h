// Building, signing, encoding and decoding of log entries (schema::SignedEvent).
//
// The leaf bytes are the canonical Cap'n Proto encoding of a SignedEvent: a single segment, no
// segment table, the root pointer first (capnp::canonicalize). Decoding accepts nothing else:
// a stored value that is not canonical is Corruption, so one event has exactly one byte form.
#pragma once

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/array.h>

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kirjuri/crypto.h"
#include "kirjuri/ledger.h"
#include "kirjuri/merkle.h"
#include "kirjuri/schemas/event.capnp.h"
#include "key_store.h"
#include "request_fold.h"
#include "subjects.h"

namespace kirjuri {

inline std::span<const uint8_t> AsSpan(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

struct EncodedEvent {
  std::string leaf;  // canonical SignedEvent bytes
  merkle::Hash leaf_hash{};
};

inline constexpr size_t kSealNonceBytes = 24;  // XChaCha20-Poly1305's

// The data keys an event's fields are sealed under: the envelope category's, and "network"'s
// for "ip". Null when the event has no field of that kind.
struct SealingKeys {
  const DataKey* category = nullptr;
  const DataKey* network = nullptr;
  // 2 * kSealNonceBytes fresh random bytes, the category group's nonce then the network group's,
  // used for this event only (the caller draws many at once). Null: drawn here.
  const uint8_t* nonces = nullptr;
};

// Builds the event for `e` at `seq` with every field sealed, signs it and encodes it.
// REQUIRES: e passed Policy::Check; `type` is e.type parsed. Fields whose key is null are
// stored unsealed (only with OpenOptions::seal == false, for benchmarks).
void EncodeEvent(const NewEvent& e, schema::EventType type, uint64_t seq, const SubjectId& subject,
                 int64_t recorded_at_micros, const SealingKeys& keys, const SigningKey& signer,
                 EncodedEvent* out);

// Signs and encodes an event built by the caller (Kirjuri's own events, such as erasures).
void SignAndEncode(schema::Event::Reader event, const SigningKey& signer, EncodedEvent* out);

// Opens a sealed group of `event` with `key`: *json_values gets one JSON text per name in
// group.getNames(). Corruption if it does not open: the ciphertext was altered, or moved from
// another event, category or key, or its names were changed.
Status OpenGroup(schema::Event::Reader event, schema::SealedGroup::Reader group,
                 const DataKey& key, std::vector<std::string>* json_values);

// A decoded leaf; keeps the words the reader points into.
class DecodedLeaf {
 public:
  // Corruption if `bytes` is not a canonical SignedEvent within the read limits. Decode reads
  // every field once, so that a malformed part fails here and never in a reader that trusts a
  // decoded event. DecodeLayout checks the canonical layout only: a caller that then finds the
  // ledger's signature valid (CheckEventSignature) may read the event as it would a decoded one,
  // since the ledger only signs events it built; otherwise it must not read fields.
  Status Decode(std::span<const uint8_t> bytes);
  Status DecodeLayout(std::span<const uint8_t> bytes);
  // After Decode or DecodeLayout: the envelope's sequence number and subject id (zeros unless
  // 16 bytes) alone, read as an event whose signature is not checked must be (a malformed
  // envelope is Corruption). For verify, which needs no more of an event than these.
  Status ReadEnvelope(uint64_t* seq, SubjectId* subject) const;
  // The same, guarded, for the envelope's part that the subject summaries are folded from, and
  // for what a request* event's record is folded from.
  Status ReadSubjectFacts(SubjectFacts* out) const;
  Status ReadRequestFacts(RequestFacts* out) const;
  schema::SignedEvent::Reader get() const { return root_; }

  // The message the event's signature is over: "kirjuri/event/v1\n" || canonical(event).
  // Taken straight from the stored bytes when they have the canonical layout (a canonical
  // SignedEvent holds its event as a contiguous pre-order run, followed by the 64-byte
  // signature), so verification need not re-encode; computed with capnp::canonicalize otherwise.
  std::string SignedMessage() const;
  // The shortcut alone: false (and *out untouched) if the stored layout is not the expected one.
  bool SignedMessageFromLayout(std::string* out) const;

 private:
  Status Decode(std::span<const uint8_t> bytes, bool deep);

  kj::Array<capnp::word> words_;
  std::unique_ptr<capnp::SegmentArrayMessageReader> reader_;
  kj::ArrayPtr<const capnp::word> segments_[1];
  schema::SignedEvent::Reader root_;
};

// True iff the leaf's signature is the ledger key's over its event.
bool CheckEventSignature(const DecodedLeaf& leaf, const PublicKey& key);

}  // namespace kirjuri
