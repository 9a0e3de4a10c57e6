#include "kirjuri/subject_view.h"

#include <algorithm>
#include <cstring>

#include "kirjuri/json.h"
#include "kirjuri/time.h"

namespace kirjuri {
namespace {

using T = schema::EventType;

// Whether an event type's data are the fields of its category (the rest carry data of their
// own, such as a disclosure's recipient, which is no field of the register).
bool SetsCategoryFields(T type) {
  return type == T::RECORDED || type == T::RECTIFIED || type == T::CONSENT_GIVEN ||
         type == T::CONSENT_WITHDRAWN;
}

std::string ConsentJson(const ConsentState& c) {
  return JsonWriter()
      .String("purpose", c.purpose)
      .String("state", c.given ? "given" : "withdrawn")
      .String("at", FormatRfc3339(c.at_micros))
      .Number("seq", c.seq)
      .String("source", c.source)
      .String("basis", c.basis)
      .String("actor", c.actor)
      .Finish();
}

}  // namespace

bool CategoryView::erased() const {
  if (fields.empty()) return false;
  return std::all_of(fields.begin(), fields.end(), [](const auto& f) { return !f.second.json; });
}

void SubjectView::Apply(const EventView& event, std::span<const FieldValue> fields,
                        ErasureFold erasure) {
  auto env = event.signed_event.getEvent().getEnvelope();
  if (!ChangesView(env.getType())) return;
  const int64_t at = env.getOccurredAtMicros();
  if (event_count == 0) {
    auto id = env.getSubject();
    if (id.size() == subject.size()) std::memcpy(subject.data(), id.begin(), subject.size());
    register_name = env.getRegister();
    first_seq = event.seq;
    created_at_micros = at;
  }
  ++event_count;
  last_seq = event.seq;
  updated_at_micros = std::max(updated_at_micros, at);

  const T type = env.getType();
  switch (type) {
    case T::CONSENT_GIVEN:
    case T::CONSENT_WITHDRAWN: {
      ConsentState c{env.getPurpose(), type == T::CONSENT_GIVEN, event.seq, at, env.getSource(),
                     env.getBasis(), env.getActor()};
      if (c.given && c.purpose == kMarketingPurpose) marketing_objected = false;
      consents[c.purpose] = c;
      consent_history.push_back(std::move(c));
      break;
    }
    case T::MARKETING_OBJECTED:
      if (!marketing_objected) marketing_objected_at_micros = at;
      marketing_objected = true;
      break;
    case T::RESTRICTED:
      if (!restricted) restricted_at_micros = at;
      restricted = true;
      break;
    case T::RESTRICTION_LIFTED:
      restricted = false;
      restricted_at_micros = 0;
      break;
    case T::SUBJECT_ERASED: {
      erased = true;
      erased_at_seq = event.seq;
      erased_at_micros = env.getRecordedAtMicros();
      retained.clear();
      for (auto r : event.signed_event.getEvent().getErasure().getRetained()) {
        retained[r.getCategory()] = RetainedView{r.getReason(), r.getDueAtMicros()};
      }
      if (erasure == ErasureFold::kWhatIsHeld) {
        Shred(event.signed_event.getEvent().getErasure());
        return;
      }
      // Only ids, sequence numbers and dates stay; what the erasure kept, and until when.
      restricted = marketing_objected = false;
      restricted_at_micros = marketing_objected_at_micros = last_activity_micros = 0;
      consents.clear();
      consent_history.clear();
      categories.clear();
      return;
    }
    case T::RETENTION_EXPIRED:
      for (auto k : event.signed_event.getEvent().getErasure().getShredded()) {
        retained.erase(k.getCategory());
      }
      if (erasure == ErasureFold::kWhatIsHeld) Shred(event.signed_event.getEvent().getErasure());
      return;
    default:
      break;
  }

  const bool own_fields = SetsCategoryFields(type);
  for (const FieldValue& f : fields) {
    // "ip" rides on any event; the other fields only on the types whose data they are.
    if (!own_fields && f.category == env.getCategory().cStr()) continue;
    CategoryView& c = categories[f.category];
    c.sealed.clear();
    c.fields[f.name] = FieldState{f.json, event.seq, at, env.getSource(), env.getPurpose()};
  }
  if (env.getCategory() == "usage" && type == T::RECORDED) {
    last_activity_micros = std::max(last_activity_micros, at);
    for (const FieldValue& f : fields) {
      std::string kind;
      if (f.name == "kind" && f.json && DecodeJsonString(*f.json, &kind)) {
        CategoryView& usage = categories["usage"];
        usage.sealed.clear();
        ++usage.usage[kind];
      }
    }
  }
}

void SubjectView::Shred(schema::Erasure::Reader erasure) {
  for (auto k : erasure.getShredded()) {
    auto c = categories.find(k.getCategory());
    if (c == categories.end()) continue;
    for (auto& [name, f] : c->second.fields) f.json.reset();
    c->second.usage.clear();
    c->second.sealed.clear();
  }
}

bool SubjectView::InMarketingAudience() const {
  auto c = consents.find(std::string(kMarketingPurpose));
  return marketing_declared && c != consents.end() && c->second.given && !marketing_objected &&
         !restricted && !erased;
}

std::string SubjectView::ProfileText(std::string_view field) const {
  auto cat = categories.find("profile");
  if (cat == categories.end()) return "";
  auto f = cat->second.fields.find(std::string(field));
  std::string text;
  if (f == cat->second.fields.end() || !f->second.json ||
      !DecodeJsonString(*f->second.json, &text)) {
    return "";
  }
  return text;
}

std::string SubjectView::ToJson() const {
  JsonWriter doc;
  doc.String("subject", SubjectIdHex(subject))
      .String("register", register_name)
      .Number("first_seq", first_seq)
      .Number("last_seq", last_seq)
      .Number("events", event_count)
      .String("created_at", FormatRfc3339(created_at_micros))
      .String("updated_at", FormatRfc3339(updated_at_micros))
      .Bool("erased", erased);
  if (erased) {
    doc.Number("erased_at_seq", erased_at_seq).String("erased_at", FormatRfc3339(erased_at_micros));
  }
  JsonWriter flags;
  flags.Bool("restricted", restricted);
  if (restricted) flags.String("restricted_since", FormatRfc3339(restricted_at_micros));
  flags.Bool("marketing_objected", marketing_objected);
  if (marketing_objected) {
    flags.String("marketing_objected_at", FormatRfc3339(marketing_objected_at_micros));
  }
  flags.Bool("in_marketing_audience", InMarketingAudience());
  std::string retained_json = "[";
  for (const auto& [category, r] : retained) {
    if (retained_json.size() > 1) retained_json += ",";
    retained_json += JsonWriter()
                         .String("category", category)
                         .String("reason", r.reason)
                         .String("due_at", FormatRfc3339(r.due_at_micros))
                         .Finish();
  }
  flags.Raw("retained", retained_json + "]");
  doc.Raw("flags", flags.Finish());

  JsonWriter data;
  for (const auto& [category, c] : categories) {
    JsonWriter cat;
    for (const auto& [name, f] : c.fields) {
      JsonWriter field;
      if (f.json) {
        field.Raw("value", *f.json);
      } else {
        field.Bool("erased", true);
      }
      field.Number("seq", f.seq)
          .String("at", FormatRfc3339(f.at_micros))
          .String("source", f.source)
          .String("purpose", f.purpose);
      cat.Raw(name, field.Finish());
    }
    data.Raw(category, cat.Finish());
  }
  doc.Raw("data", data.Finish());

  JsonWriter consents_json;
  for (const auto& [purpose, c] : consents) consents_json.Raw(purpose, ConsentJson(c));
  doc.Raw("consents", consents_json.Finish());
  std::string history = "[";
  for (const ConsentState& c : consent_history) {
    if (history.size() > 1) history += ",";
    history += ConsentJson(c);
  }
  doc.Raw("consent_history", history + "]");

  if (register_name == "customer" || categories.count("usage")) {
    JsonWriter usage, kinds;
    if (auto u = categories.find("usage"); u != categories.end()) {
      for (const auto& [kind, n] : u->second.usage) kinds.Number(kind, n);
    }
    usage.Raw("events_per_kind", kinds.Finish());
    if (last_activity_micros) usage.String("last_activity", FormatRfc3339(last_activity_micros));
    doc.Raw("usage", usage.Finish());
  }
  return doc.Finish();
}

Status ReplaySubject(const Ledger& ledger, const SubjectId& subject, uint64_t as_of_size,
                     SubjectView* out) {
  *out = SubjectView{};
  if (as_of_size == 0 || as_of_size > ledger.size()) as_of_size = ledger.size();
  std::vector<FieldValue> fields;
  bool stopped = false;
  Status s = ledger.ReadSubjectEvents(subject, [&](const EventView& e) {
    if (e.seq >= as_of_size) {
      stopped = true;
      return Status::FailedPrecondition("stop");  // the subject index is in log order
    }
    KIRJURI_RETURN_IF_ERROR(ledger.ReadFields(e, &fields));
    out->Apply(e, fields);
    return Status::Ok();
  });
  if (!stopped) KIRJURI_RETURN_IF_ERROR(s);
  if (out->event_count == 0) {
    return Status::NotFound("subject " + SubjectIdHex(subject) + " has no event in the first " +
                            std::to_string(as_of_size) + " of the log");
  }
  return Status::Ok();
}

}  // namespace kirjuri
