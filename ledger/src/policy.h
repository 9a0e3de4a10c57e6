// Policy: the register policy in force (schemas/policy.capnp), and the checks every event must
// pass before it is appended. An event the register description does not allow is refused with
// a reason naming the rule, and nothing is written.
//
// Thread-safety: immutable after Parse; safe to share between threads.
#pragma once

#include <capnp/message.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "kirjuri/ledger.h"
#include "kirjuri/schemas/policy.capnp.h"
#include "kirjuri/status.h"
#include "subjects.h"

namespace kirjuri {

// The shipped Almerin policy (schemas/policies/almerin.json, embedded at build time).
std::string_view DefaultPolicyJson();

// The input vocabulary: snake_case type name <-> EventType. Only types other tools may write
// are accepted (not subjectErased). InvalidArgument for anything else.
Status ParseInputType(std::string_view name, schema::EventType* out);

// The vocabulary of ids that go into plaintext envelopes (actors, request references): letters,
// digits and -_.:/# only, so that a name or an email address cannot be put there.
Status CheckActor(std::string_view actor);
Status CheckRequestRef(std::string_view request);

struct RetentionRule {
  std::string reason;  // English text of the law
  uint32_t years = 0;
  bool from_end_of_year = false;
  // When data whose last event occurred at `last_micros` may be shredded.
  int64_t DueAfter(int64_t last_micros) const;
};

class Policy {
 public:
  // The declared registers, in name order.
  std::vector<std::string> RegisterNames() const;
  // The retention duty of (register, category), or nullptr if the category has none.
  const RetentionRule* RetentionFor(std::string_view register_name, std::string_view category) const;

  // Whether `register_name` declares `purpose`.
  bool HasPurpose(std::string_view register_name, std::string_view purpose) const;
  // Whether the policy declares a role called `role`.
  bool HasRole(std::string_view role) const;

  // InvalidArgument with a one-line reason if `json` is not a valid policy.
  static Status Parse(std::string_view json, std::shared_ptr<const Policy>* out);

  schema::Policy::Reader root() const { return message_->getRoot<schema::Policy>(); }

  // Checks an event's envelope and data against the policy: declared register, category,
  // purpose, source and basis; data fields allowed for the type and category; required fields.
  // The type is checked too (InvalidArgument if not input vocabulary); *type, if given, gets it.
  // `rules` false skips the transfer and disclosure rules (OpenOptions::enforce_rules).
  Status Check(const NewEvent& e, schema::EventType* type = nullptr, bool rules = true) const;

  // The rules that depend on what the person's rights have set (`state`: the subject's summary
  // as the events before this one left it). InvalidArgument naming the rule:
  //   restriction  while processing is restricted (Art. 18) only rectification, consent changes,
  //                objections and processing under a legal obligation are recorded;
  //   objection    nothing for a purpose the person objected to (a new consent_given for it is
  //                the person's own choice, and lifts the objection);
  //   disclosures  a disclosure on the basis of consent needs consent for its purpose, in force.
  Status CheckRights(const NewEvent& e, schema::EventType type, const SubjectState& state) const;

  // Decodes one input line (JSON) into *out and checks it. InvalidArgument otherwise, with a
  // reason that never quotes personal data.
  Status ParseLine(std::string_view line, NewEvent* out, bool enforce_rules = true) const;

 private:
  struct RegisterRules {
    std::set<std::string, std::less<>> purposes, sources;
    std::map<std::string, std::set<std::string, std::less<>>, std::less<>> category_fields;
    std::map<std::string, RetentionRule, std::less<>> retention;
  };
  std::unique_ptr<capnp::MallocMessageBuilder> message_;
  std::set<std::string, std::less<>> bases_;
  std::map<std::string, RegisterRules, std::less<>> registers_;
  // Transfers and disclosures (empty: the policy states no rule, nothing is checked).
  std::set<std::string, std::less<>> allowed_countries_, disclosure_bases_;
};

}  // namespace kirjuri
