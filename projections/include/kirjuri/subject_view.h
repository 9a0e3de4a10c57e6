// SubjectView: one person as the customer or partner view holds them, folded from their events
// by deterministic code: the current value of every field, consents per purpose, the flags that
// the person's rights set, and for customers a summary of service usage. It is both a row of
// the stored views (projections/views.h) and the answer to "what did we hold about this person
// after event N" (ReplaySubject), so that the two can never disagree.
//
// Rules of the fold, in log order:
//   recorded, rectified      each field's value replaces the one before (per category; "ip"
//                            belongs to "network"); a usage event also counts its "kind"
//   consent_given/withdrawn  the purpose's consent; its notice/method/text/reason fields are
//                            the consents category's fields
//   marketing_objected       objection to direct marketing; a later consent_given for
//                            "marketing" lifts it (the person opted in again, explicitly)
//   restricted / lifted      processing restricted (storage only) until lifted
//   subject_erased           everything but ids, sequence numbers and dates is dropped; the
//                            categories kept under a retention duty are listed with their due date
//                            (kWhatIsHeld: only the shredded categories turn into placeholders)
//   retention_expired        those categories leave the retained list (kWhatIsHeld: and turn
//                            into placeholders)
// Data whose key was shredded replays as an erased placeholder (FieldState::json == nullopt),
// never as an error and never silently missing.
//
// Thread-safety: a value.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kirjuri/ledger.h"

namespace kirjuri {

// The purpose of direct marketing, as the policy names it.
inline constexpr std::string_view kMarketingPurpose = "marketing";

struct FieldState {
  std::optional<std::string> json;  // the value as JSON text; nullopt: erased (key shredded)
  uint64_t seq = 0;                 // the event that set it
  int64_t at_micros = 0;            // that event's occurredAt
  std::string source, purpose;
  bool operator==(const FieldState&) const = default;
};

struct ConsentState {
  std::string purpose;
  bool given = false;  // false: withdrawn
  uint64_t seq = 0;
  int64_t at_micros = 0;
  std::string source, basis, actor;
  bool operator==(const ConsentState&) const = default;
};

struct CategoryView {
  std::map<std::string, FieldState> fields;  // field name -> current value
  std::map<std::string, uint64_t> usage;     // usage category: events per kind
  // The category's sealed bytes as stored in a view row, kept while nothing changed since the
  // row was read, so that writing the row back need not seal it again (sealing is deterministic:
  // the bytes would be the same). Every change clears it. Not part of the value.
  std::string sealed;
  // True if the category holds something and all of it is erased.
  bool erased() const;
  bool operator==(const CategoryView& o) const { return fields == o.fields && usage == o.usage; }
};

struct RetainedView {
  std::string reason;  // the law that requires keeping it
  int64_t due_at_micros = 0;
  bool operator==(const RetainedView&) const = default;
};

// What an erasure leaves in the fold.
enum class ErasureFold {
  kIdsAndDates,  // the views other tools query: an erased person is an id and dates
  kWhatIsHeld,   // an access request (Art. 15): what is still held, retained categories included
};

struct SubjectView {
  SubjectId subject{};
  std::string register_name;
  uint64_t first_seq = 0, last_seq = 0, event_count = 0;
  int64_t created_at_micros = 0, updated_at_micros = 0;  // occurredAt, first and latest
  bool erased = false;
  uint64_t erased_at_seq = 0;
  int64_t erased_at_micros = 0;
  bool restricted = false;
  int64_t restricted_at_micros = 0;
  bool marketing_objected = false;
  int64_t marketing_objected_at_micros = 0;
  int64_t last_activity_micros = 0;  // latest usage event, 0 if none
  std::map<std::string, ConsentState> consents;  // purpose -> latest change
  std::vector<ConsentState> consent_history;      // every change, in log order
  std::map<std::string, RetainedView> retained;   // category -> duty (after erasure)
  std::map<std::string, CategoryView> categories;
  // Whether the policy in force at the view's point declares the purpose "marketing" for the
  // person's register. Not folded from the person's events: Views sets it from the policy
  // (Ledger::RegistersDeclaring); true until something does.
  bool marketing_declared = true;

  // Folds one event in. REQUIRES: the subject's events, in log order, each once; `fields` as
  // Ledger::ReadFields gave them for the event (may be empty to fold envelopes only: every flag
  // and consent comes out the same, only field values and usage counts are left out).
  void Apply(const EventView& event, std::span<const FieldValue> fields,
             ErasureFold erasure = ErasureFold::kIdsAndDates);

  // May receive direct marketing now: the purpose declared (marketing_declared), consent for
  // "marketing" given and not withdrawn, no objection to direct marketing, processing not
  // restricted, not erased. (The Almerin policy declares no legitimate interest for direct
  // marketing, so consent is the only way in.) A purpose dropped from the policy and declared
  // again later brings back the people whose consent was never withdrawn.
  bool InMarketingAudience() const;

  // The value of a profile field as a plain string ("" if absent, erased or not a string):
  // for filters and tables.
  std::string ProfileText(std::string_view field) const;

  // The machine-readable view of the person (one JSON object); see README "Projections".
  std::string ToJson() const;

  bool operator==(const SubjectView&) const = default;

 private:
  // Turns the categories an erasure shredded into erased placeholders.
  void Shred(schema::Erasure::Reader erasure);
};

// Whether an event of `type` changes what a view holds of the person. Reads (dataAccessed, the
// access log) do not: folds skip them, so that looking at a person never changes their row.
inline bool ChangesView(schema::EventType type) {
  return type != schema::EventType::DATA_ACCESSED;
}

// The subject as it stood after the log's first `as_of_size` events (0 or >= size: now),
// replayed from the subject's own events (the subject index), so that the cost follows the
// subject's history, not the log's length. NotFound if the subject had no event by then.
Status ReplaySubject(const Ledger& ledger, const SubjectId& subject, uint64_t as_of_size,
                     SubjectView* out);

}  // namespace kirjuri
