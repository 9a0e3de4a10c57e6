// Projections: folds from the log's events to views that other tools query.
//
// For now one view, the register summary (events per register and type, subjects per register);
// the customer and partner views come with sealed personal data.
//
// Thread-safety: a RegisterSummary is a value; Fold is not synchronised.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "kirjuri/ledger.h"

namespace kirjuri {

struct RegisterSummary {
  uint64_t last_seq_applied = 0;
  uint64_t events_applied = 0;
  // register -> event type -> count
  std::map<std::string, std::map<std::string, uint64_t>> events;
  // register -> distinct subjects
  std::map<std::string, std::set<SubjectId>> subjects;

  // Applies one event. REQUIRES: events are applied in sequence order, each once.
  void Apply(const EventView& event);
};

// Folds the whole log (up to `as_of_size` events; 0 = all) into a summary.
Status BuildRegisterSummary(const Ledger& ledger, uint64_t as_of_size, RegisterSummary* out);

}  // namespace kirjuri
