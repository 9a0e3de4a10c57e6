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

#include "kirjuri/crypto.h"
#include "kirjuri/ledger.h"
#include "kirjuri/merkle.h"
#include "kirjuri/schemas/event.capnp.h"

namespace kirjuri {

struct EncodedEvent {
  std::string leaf;  // canonical SignedEvent bytes
  merkle::Hash leaf_hash{};
};

// Builds the event for `e` at `seq`, signs it and encodes it.
// REQUIRES: e passed Policy::Check; type is e.type parsed.
void EncodeEvent(const NewEvent& e, schema::EventType type, uint64_t seq, const SubjectId& subject,
                 int64_t recorded_at_micros, const SigningKey& key, EncodedEvent* out);

// A decoded leaf; keeps the words the reader points into.
class DecodedLeaf {
 public:
  // Corruption if `bytes` is not a canonical SignedEvent within the read limits.
  Status Decode(std::span<const uint8_t> bytes);
  schema::SignedEvent::Reader get() const { return root_; }

 private:
  kj::Array<capnp::word> words_;
  std::unique_ptr<capnp::SegmentArrayMessageReader> reader_;
  kj::ArrayPtr<const capnp::word> segments_[1];
  schema::SignedEvent::Reader root_;
};

// True iff the signature in `signed_event` is the ledger key's over its event.
bool CheckEventSignature(schema::SignedEvent::Reader signed_event, const PublicKey& key);

}  // namespace kirjuri
