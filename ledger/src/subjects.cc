#include "subjects.h"


#include <cstring>

#include "kirjuri/canonical.h"
#include "kirjuri/schemas/event.capnp.h"

namespace kirjuri {

void SubjectState::Apply(uint64_t seq, schema::EventType type, std::string_view purpose,
                         std::string_view category, int64_t occurred_at_micros) {
  // Reads are logged under the person, but they change nothing the summary counts: erasure
  // reports and rights checks see the same subject whether or not anyone looked.
  if (type == schema::EventType::DATA_ACCESSED) return;
  if (event_count == 0) first_seq = seq;
  last_seq = seq;
  ++event_count;
  using T = schema::EventType;
  switch (type) {
    case T::CONSENT_GIVEN:
      consents.emplace(purpose);
      if (auto it = objected.find(purpose); it != objected.end()) objected.erase(it);
      break;
    case T::CONSENT_WITHDRAWN:
      if (auto it = consents.find(purpose); it != consents.end()) consents.erase(it);
      break;
    case T::MARKETING_OBJECTED: objected.emplace("marketing"); break;
    case T::RESTRICTED: restricted = true; break;
    case T::RESTRICTION_LIFTED: restricted = false; break;
    default: break;
  }
  if (category.empty()) return;
  Category& c = categories[std::string(category)];
  ++c.events;
  c.last_occurred_at_micros = std::max(c.last_occurred_at_micros, occurred_at_micros);
}

std::string SubjectState::Encode() const {
  capnp::MallocMessageBuilder message(64);
  auto info = message.initRoot<schema::SubjectInfo>();
  info.setRegister(register_name);
  info.setEventCount(event_count);
  info.setFirstSeq(first_seq);
  info.setLastSeq(last_seq);
  info.setErasedAtSeq(erased_at_seq);
  auto set_list = [](const std::set<std::string, std::less<>>& from,
                     capnp::List<capnp::Text>::Builder to) {
    unsigned i = 0;
    for (const std::string& v : from) to.set(i++, v);
  };
  set_list(consents, info.initConsents(static_cast<unsigned>(consents.size())));
  set_list(objected, info.initObjected(static_cast<unsigned>(objected.size())));
  info.setRestricted(restricted);
  auto cats = info.initCategories(static_cast<unsigned>(categories.size()));
  unsigned i = 0;
  for (const auto& [name, c] : categories) {
    cats[i].setName(name);
    cats[i].setEvents(c.events);
    cats[i].setLastOccurredAtMicros(c.last_occurred_at_micros);
    ++i;
  }
  return CanonicalBytes(info.asReader());
}

std::string SubjectState::FirstDifference(const SubjectState& o) const {
  if (register_name != o.register_name) return "the register";
  if (event_count != o.event_count) return "the event count";
  if (first_seq != o.first_seq || last_seq != o.last_seq) return "the first or last event";
  if (erased_at_seq != o.erased_at_seq) return "the erasure";
  if (consents != o.consents) return "the consents";
  if (objected != o.objected) return "the objections";
  if (restricted != o.restricted) return "the restriction";
  if (categories.size() != o.categories.size()) return "the categories";
  for (auto a = categories.begin(), b = o.categories.begin(); a != categories.end(); ++a, ++b) {
    if (a->first != b->first || a->second.events != b->second.events ||
        a->second.last_occurred_at_micros != b->second.last_occurred_at_micros) {
      return "the categories";
    }
  }
  return "";
}

SubjectFacts SubjectFacts::From(schema::Envelope::Reader env) {
  SubjectFacts f;
  auto id = env.getSubject();
  f.has_subject = id.size() == f.subject.size();
  if (f.has_subject) std::memcpy(f.subject.data(), id.begin(), f.subject.size());
  f.seq = env.getSeq();
  f.type = env.getType();
  f.register_name = env.getRegister();
  f.purpose = env.getPurpose();
  f.category = env.getCategory();
  f.occurred_at_micros = env.getOccurredAtMicros();
  return f;
}

void FoldSubject(const SubjectFacts& f, std::map<SubjectId, SubjectState>* states) {
  if (!f.has_subject) return;
  SubjectState& state = (*states)[f.subject];
  state.register_name = f.register_name;
  state.Apply(f.seq, f.type, f.purpose, f.category, f.occurred_at_micros);
  if (f.type == schema::EventType::SUBJECT_ERASED) state.erased_at_seq = static_cast<int64_t>(f.seq);
}

Status SubjectState::Decode(std::string_view bytes, SubjectState* out) {
  SubjectState s;
  KIRJURI_RETURN_IF_ERROR(ReadCanonical<schema::SubjectInfo>(
      bytes, "subject_info: a value",
      [&](schema::SubjectInfo::Reader info) {
        s.register_name = info.getRegister();
        s.event_count = info.getEventCount();
        s.first_seq = info.getFirstSeq();
        s.last_seq = info.getLastSeq();
        s.erased_at_seq = info.getErasedAtSeq();
        for (auto c : info.getCategories()) {
          s.categories[c.getName()] = Category{c.getEvents(), c.getLastOccurredAtMicros()};
        }
        for (auto p : info.getConsents()) s.consents.emplace(p.cStr());
        for (auto p : info.getObjected()) s.objected.emplace(p.cStr());
        s.restricted = info.getRestricted();
        return Status::Ok();
      },
      size_t{1} << 20));
  *out = std::move(s);
  return Status::Ok();
}

}  // namespace kirjuri
