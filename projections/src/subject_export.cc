#include "kirjuri/subject_export.h"

#include <algorithm>

#include "kirjuri/json.h"
#include "kirjuri/subject_view.h"
#include "kirjuri/time.h"

namespace kirjuri {
namespace {

std::string FieldsJson(const std::vector<FieldValue>& fields) {
  JsonWriter w;
  for (const FieldValue& f : fields) {
    if (f.json) {
      w.Raw(f.name, *f.json);
    } else {
      w.Raw(f.name, "{\"erased\":true}");
    }
  }
  return w.Finish();
}

}  // namespace

Status ExportSubject(const Ledger& ledger, const SubjectId& subject, SubjectExport* out) {
  *out = SubjectExport{};
  out->subject = subject;
  KIRJURI_RETURN_IF_ERROR(ledger.GetSubject(subject, &out->summary));
  // The current state is the views' fold (one set of rules), keeping what is still held.
  SubjectView view;
  KIRJURI_RETURN_IF_ERROR(ledger.ReadSubjectEvents(subject, [&](const EventView& e) {
    auto env = e.signed_event.getEvent().getEnvelope();
    SubjectExport::HistoryItem item;
    item.seq = e.seq;
    item.recorded_at_micros = env.getRecordedAtMicros();
    item.occurred_at_micros = env.getOccurredAtMicros();
    item.type = EventTypeName(env.getType());
    item.category = env.getCategory();
    item.purpose = env.getPurpose();
    item.basis = env.getBasis();
    item.source = env.getSource();
    item.actor = env.getActor();
    item.request = env.getRequest();
    KIRJURI_RETURN_IF_ERROR(ledger.ReadFields(e, &item.fields));
    view.Apply(e, item.fields, ErasureFold::kWhatIsHeld);
    out->history.push_back(std::move(item));
    return Status::Ok();
  }));
  for (const auto& [name, c] : view.categories) {
    SubjectExport::CategoryData& data = out->categories[name];
    data.erased = std::any_of(c.fields.begin(), c.fields.end(),
                              [](const auto& f) { return !f.second.json; });
    for (const auto& [field, f] : c.fields) {
      if (f.json && !data.erased) data.current[field] = *f.json;
    }
  }
  for (const auto& [purpose, c] : view.consents) {
    out->consents[purpose] = {c.given, c.at_micros, c.seq};
  }
  out->marketing_objected = view.marketing_objected;
  out->restricted = view.restricted;
  return Status::Ok();
}

std::string SubjectExport::ToJson() const {
  JsonWriter doc;
  doc.String("format", "kirjuri.subject-export/v1")
      .String("subject", SubjectIdHex(subject))
      .String("register", summary.register_name)
      .Bool("erased", summary.erased_at_seq.has_value());
  if (summary.erased_at_seq) doc.Number("erased_at_seq", *summary.erased_at_seq);
  JsonWriter cats;
  for (const auto& [name, c] : categories) {
    JsonWriter cw;
    cw.Bool("erased", c.erased);
    JsonWriter cur;
    for (const auto& [field, value] : c.current) cur.Raw(field, value);
    cw.Raw("current", cur.Finish());
    cats.Raw(name, cw.Finish());
  }
  doc.Raw("categories", cats.Finish());
  JsonWriter consents_json;
  for (const auto& [purpose, c] : consents) {
    consents_json.Raw(purpose, JsonWriter()
                                   .String("state", c.given ? "given" : "withdrawn")
                                   .String("at", FormatRfc3339(c.at_micros))
                                   .Number("seq", c.seq)
                                   .Finish());
  }
  doc.Raw("consents", consents_json.Finish());
  doc.Bool("marketing_objected", marketing_objected).Bool("restricted", restricted);
  std::string history_json = "[";
  for (size_t i = 0; i < history.size(); ++i) {
    const HistoryItem& h = history[i];
    JsonWriter w;
    w.Number("seq", h.seq)
        .String("recorded_at", FormatRfc3339(h.recorded_at_micros))
        .String("occurred_at", FormatRfc3339(h.occurred_at_micros))
        .String("type", h.type)
        .String("category", h.category)
        .String("purpose", h.purpose)
        .String("basis", h.basis)
        .String("source", h.source)
        .String("actor", h.actor);
    if (!h.request.empty()) w.String("request", h.request);
    w.Raw("data", FieldsJson(h.fields));
    if (i) history_json += ",";
    history_json += w.Finish();
  }
  doc.Raw("history", history_json + "]");
  return doc.Finish();
}

}  // namespace kirjuri
