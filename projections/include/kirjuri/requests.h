// Answering people's requests: fulfilment does the work the request asks for, records it in the
// log, and closes the request naming the events that did it (Ledger::CloseRequest).
//
//   access         the export, as JSON (Art. 20) and as a readable page (Art. 15), into `out`
//   erasure        the erasure and its proof-of-deletion report, into `out`
//   objection      a marketing_objected event: direct marketing stops (views: at once)
//   restriction    a restricted event: processing stops but storage (views: at once)
//   rectification  a rectified event with the corrected values
//
// Thread-safety: as the Ledger's and the Views' methods it calls.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "kirjuri/ledger.h"
#include "kirjuri/views.h"

namespace kirjuri {

struct FulfilOptions {
  std::string ref;    // the open request
  std::string actor;  // who answers it
  // access: how the access log records the reading of the person's data (AccessRecord).
  std::string role = "local";
  std::string via = "cli";
  std::filesystem::path out;  // access and erasure: the directory the documents go to
  std::string lang = "en";    // access: the page's language ("fi" or "en")
  // rectification: the corrected values as a JSON object, and their category.
  std::string data_json;
  std::string category = "profile";
};

struct FulfilResult {
  std::vector<uint64_t> outcome_seqs;  // the events that did the work
  uint64_t closing_seq = 0;            // the requestFulfilled event
  std::vector<std::filesystem::path> files;  // documents written
};

// Does the request's work and closes it as fulfilled. An access request's export is a read of
// the person's data: its dataAccessed event (naming the request) is the request's outcome, as
// when the service answers it. `views` (may be null) are brought up to
// date afterwards, so an objection or a restriction takes effect in them at once (an error
// there is reported after the request is closed: the views catch up on their next open).
// FailedPrecondition if the request is not open; InvalidArgument if the work is refused (e.g.
// rectification data the policy does not allow), in which case the request stays open.
Status FulfilRequest(Ledger& ledger, Views* views, const FulfilOptions& options,
                     FulfilResult* out);

}  // namespace kirjuri
