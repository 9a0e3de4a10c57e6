#include <cstring>

#include "kirjuri/projections.h"

namespace kirjuri {

void RegisterSummary::Apply(const EventView& event) {
  auto env = event.signed_event.getEvent().getEnvelope();
  std::string reg = env.getRegister();
  ++events[reg][EventTypeName(env.getType())];
  SubjectId id{};
  auto subject = env.getSubject();
  if (subject.size() == id.size()) std::memcpy(id.data(), subject.begin(), id.size());
  subjects[reg].insert(id);
  last_seq_applied = event.seq;
  ++events_applied;
}

Status BuildRegisterSummary(const Ledger& ledger, uint64_t as_of_size, RegisterSummary* out) {
  *out = RegisterSummary{};
  uint64_t end = as_of_size ? as_of_size : ledger.size();
  return ledger.ReadEvents(0, end, [out](const EventView& e) {
    out->Apply(e);
    return Status::Ok();
  });
}

}  // namespace kirjuri
