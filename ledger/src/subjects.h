// SubjectState: the log database's per-subject summary (column family subject_info, canonical
// schema::SubjectInfo). It is written in the same batch as each of the subject's events, so it
// is always exactly what the log says; it lets an append check a subject's register and erasure
// and an erasure find its counts and ranges in O(1), whatever the subject's number of events.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "kirjuri/ledger.h"
#include "kirjuri/schemas/event.capnp.h"
#include "kirjuri/status.h"

namespace kirjuri {

struct SubjectState {
  std::string register_name;
  uint64_t event_count = 0;
  uint64_t first_seq = 0;
  uint64_t last_seq = 0;
  int64_t erased_at_seq = -1;
  struct Category {
    uint64_t events = 0;
    int64_t last_occurred_at_micros = 0;
  };
  std::map<std::string, Category> categories;
  // Set by the person's rights (see schema::SubjectInfo): purposes with consent given and not
  // withdrawn; purposes objected to (marketing_objected: "marketing"; a later consent_given
  // for the purpose lifts it, as the views fold it); processing restricted.
  std::set<std::string, std::less<>> consents, objected;
  bool restricted = false;

  bool erased() const { return erased_at_seq >= 0; }
  // Counts one more event of the subject and applies what its type does to the rights.
  void Apply(uint64_t seq, schema::EventType type, std::string_view purpose,
             std::string_view category, int64_t occurred_at_micros);

  std::string Encode() const;  // canonical SubjectInfo bytes
  // Corruption if `bytes` is not a SubjectInfo.
  static Status Decode(std::string_view bytes, SubjectState* out);

  // The first part in which `other` differs ("the event count", "the consents", ...), or "" if
  // none does.
  std::string FirstDifference(const SubjectState& other) const;
};

// What of one event the summaries are folded from: its envelope's subject, seq, register, type,
// purpose, category and occurredAt.
struct SubjectFacts {
  bool has_subject = false;  // the envelope names a 16-byte subject
  SubjectId subject{};
  uint64_t seq = 0;
  schema::EventType type = schema::EventType::RECORDED;
  std::string register_name, purpose, category;
  int64_t occurred_at_micros = 0;

  // Throws kj::Exception if the envelope is malformed: read it only from a decoded event, or
  // guarded (DecodedLeaf::ReadSubjectFacts).
  static SubjectFacts From(schema::Envelope::Reader envelope);
};

// Folds one event, taken in log order, into the summaries: exactly what the ledger's appends,
// erasures and other events it writes itself leave in subject_info. One fold serves the one-time
// build for older ledgers and verify's check of the stored summaries.
void FoldSubject(const SubjectFacts& facts, std::map<SubjectId, SubjectState>* states);

}  // namespace kirjuri
