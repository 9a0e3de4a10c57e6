// The JSON shapes of what the ledger shows to other tools: an event's envelope (`kirjuri log
// --json`, the change feed), and proofs. One line each; no personal data (an envelope lists
// its fields' names, never their values).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kirjuri/ledger.h"

namespace kirjuri {

// {"seq":…,"recorded_at":…,"register":…,"subject":…,"type":…,"category":…,"actor":…,
//  "purpose":…,"basis":…,"source":…,"key_id":…,["request":…,]"fields":[…][,"access":{…}]
//  [,"leaf":base64]}
std::string EnvelopeJson(const EventView& e, bool with_leaf);

// {"index":…,"tree_size":…,"leaf_hash":hex,"hashes":[hex…],"root":hex}
std::string InclusionProofJson(const InclusionProofResult& p);
// {"first":…,"second":…,"first_root":hex,"second_root":hex,"hashes":[hex…]}
std::string ConsistencyProofJson(const ConsistencyProofResult& p);

// [1,2,3]
std::string SeqsJson(const std::vector<uint64_t>& seqs);
// {"ref","subject","kind","received_at","due_at","extended_months","state"[,"closed_at"],
//  "overdue","seqs"}; overdue as of `now_micros`.
std::string RequestJson(const RequestRecord& r, int64_t now_micros);

}  // namespace kirjuri
