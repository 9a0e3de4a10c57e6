#include "kirjuri/subject_export.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "html.h"
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

// ---- the access page (ToHtml) ----

using html::Esc;
using html::Pick;
using html::T;
using html::TermTitles;
using html::TimeElement;

constexpr std::string_view kPageCss = R"css(
h3 { font-size: 1.05rem; margin: 1.5rem 0 .4rem; }
ul { padding-left: 1.4rem; }
p.note { font-size: .9rem; color: #444; margin: .3rem 0; }
)css";

// The entry of `list` (registers, categories, terms: anything with a name) named `name`.
template <typename List>
auto FindNamed(List list, std::string_view name) -> std::optional<decltype(list[0])> {
  for (auto item : list) {
    if (std::string_view(item.getName().cStr(), item.getName().size()) == name) return item;
  }
  return std::nullopt;
}

// The title of the term `name` in `terms`; the name itself if the policy has no such term.
std::string TermTitle(capnp::List<schema::Term>::Reader terms, std::string_view name, Lang lang) {
  auto term = FindNamed(terms, name);
  return term ? Pick(term->getTitle(), lang) : std::string(name);
}

// The keys of `held` in the order the policy's `list` names them, then any it does not name.
template <typename List, typename Map>
std::vector<std::string> InPolicyOrder(List list, const Map& held) {
  std::vector<std::string> out;
  for (auto item : list) {
    if (held.count(item.getName().cStr())) out.emplace_back(item.getName().cStr());
  }
  for (const auto& entry : held) {
    if (std::find(out.begin(), out.end(), entry.first) == out.end()) out.push_back(entry.first);
  }
  return out;
}

// A field's value as a person reads it: a JSON string without its quotes, other JSON as it is.
std::string ValueText(const std::string& json) {
  std::string text;
  return DecodeJsonString(json, &text) ? text : json;
}

struct Words {
  std::string_view name, fi, en;
};

// `name` in plain words from `table`; the name itself if the table lacks it.
template <size_t N>
std::string Plain(const Words (&table)[N], std::string_view name, Lang lang) {
  for (const Words& w : table) {
    if (w.name == name) return T(lang, w.fi, w.en);
  }
  return std::string(name);
}

// The event types (EventTypeName) in plain words.
constexpr Words kEventTypes[] = {
    {"recorded", "Tietoja kirjattiin", "Data recorded"},
    {"rectified", "Tietoja korjattiin", "Data corrected"},
    {"consent_given", "Suostumus annettiin", "Consent given"},
    {"consent_withdrawn", "Suostumus peruttiin", "Consent withdrawn"},
    {"marketing_objected", "Suoramarkkinointi kiellettiin", "Direct marketing forbidden"},
    {"restricted", "Käsittelyä rajoitettiin", "Processing restricted"},
    {"restriction_lifted", "Rajoitus poistettiin", "Restriction lifted"},
    {"disclosed", "Tietoja luovutettiin", "Data disclosed"},
    {"subject_erased", "Tiedot poistettiin", "Data erased"},
    {"retention_expired", "Säilytysaika päättyi, tiedot poistettiin",
     "Retention period ended, data erased"},
    {"request_received", "Pyyntö vastaanotettiin", "Request received"},
    {"request_extended", "Pyynnön määräaikaa jatkettiin", "Request deadline extended"},
    {"request_fulfilled", "Pyyntö toteutettiin", "Request carried out"},
    {"request_refused", "Pyyntö evättiin", "Request refused"},
    {"data_accessed", "Tietoja luettiin", "Data read"},
    {"token_issued", "Käyttöoikeustunniste annettiin", "Access token issued"},
    {"token_revoked", "Käyttöoikeustunniste peruttiin", "Access token revoked"},
};

// The lawful bases of GDPR Art. 6(1) the policies use, in plain words.
constexpr Words kBases[] = {
    {"consent", "Suostumus", "Consent"},
    {"contract", "Sopimus", "Contract"},
    {"legal_obligation", "Lakisääteinen velvoite", "Legal obligation"},
    {"legitimate_interest", "Oikeutettu etu", "Legitimate interest"},
    {"vital_interest", "Elintärkeä etu", "Vital interest"},
    {"public_task", "Yleinen etu tai julkinen valta", "Public task"},
};

std::string Bullets(const std::vector<std::string>& items) {
  std::string h = "<ul>\n";
  for (const std::string& item : items) h += "<li>" + Esc(item) + "</li>\n";
  return h + "</ul>\n";
}

// One <dt>/<dd> pair; `value_html` is already HTML.
std::string Item(std::string_view label, std::string_view value_html) {
  return "<dt>" + Esc(label) + "</dt><dd>" + std::string(value_html) + "</dd>\n";
}

std::string Para(std::string_view text, std::string_view cls = {}) {
  if (text.empty()) return {};
  std::string open = cls.empty() ? "<p>" : "<p class=\"" + std::string(cls) + "\">";
  return open + Esc(text) + "</p>\n";
}

std::string Badge(bool good, std::string_view text) {
  return std::string("<span class=\"status ") + (good ? "ok" : "bad") + "\">" + Esc(text) +
         "</span>";
}

// Renders one SubjectExport as the person's page: one method per section, in page order.
class AccessPage {
 public:
  AccessPage(const SubjectExport& doc, schema::Policy::Reader policy, Lang lang)
      : doc_(doc), policy_(policy), lang_(lang) {
    if (auto r = FindNamed(policy.getRegisters(), doc.summary.register_name)) register_ = *r;
  }

  std::string Render() {
    Head();
    Controller();
    Record();
    Data();
    Consents();
    Flags();
    Processing();
    History();
    Rights();
    Foot();
    return std::move(h_);
  }

 private:
  std::string Say(std::string_view fi, std::string_view en) const { return T(lang_, fi, en); }
  void Heading(std::string_view fi, std::string_view en) {
    h_ += "</section>\n<section>\n<h2>" + Esc(Say(fi, en)) + "</h2>\n";
  }
  std::string RegisterTitle() const {
    std::string title = Pick(register_.getTitle(), lang_);
    return title.empty() ? doc_.summary.register_name : title;
  }
  std::string PurposeTitle(std::string_view name) const {
    return TermTitle(register_.getPurposes(), name, lang_);
  }
  std::string CategoryTitle(std::string_view name) const {
    auto c = FindNamed(register_.getCategories(), name);
    return c ? Pick(c->getTitle(), lang_) : std::string(name);
  }
  std::optional<int64_t> RecordedAt(uint64_t seq) const {
    for (const auto& item : doc_.history) {
      if (item.seq == seq) return item.recorded_at_micros;
    }
    return std::nullopt;
  }

  void Head() {
    const std::string title = Say("Sinua koskevat henkilötiedot", "Your personal data");
    h_ += "<!DOCTYPE html>\n<html lang=\"" + Say("fi", "en") + "\">\n<head>\n";
    h_ += "<meta charset=\"utf-8\">\n";
    h_ += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
    h_ += "<title>" + Esc(title) + "</title>\n";
    h_ += "<style>" + std::string(html::kCss) + std::string(kPageCss) + "</style>\n";
    h_ += "</head>\n<body>\n<main>\n<header>\n<h1>" + Esc(title) + "</h1>\n";
    h_ += Para(Say("Kopio kaikista tiedoista, joita ", "A copy of all the data ") +
                   std::string(policy_.getController().getName().cStr()) +
                   Say(" säilyttää sinusta rekisterissä \u201d",
                       " holds about you in the register \u201c") +
                   RegisterTitle() +
                   Say("\u201d (EU:n yleinen tietosuoja-asetus, 15 artikla).",
                       "\u201d (EU General Data Protection Regulation, Article 15)."),
               "lead");
    h_ += "</header>\n<section>\n";
  }

  void Controller() {
    auto c = policy_.getController();
    auto contact = c.getContact();
    h_ += "<h2>" + Esc(Say("Kuka tietojasi käsittelee", "Who holds your data")) + "</h2>\n";
    h_ += "<dl>\n" + Item(Say("Rekisterinpitäjä", "Controller"), Esc(c.getName().cStr()));
    if (c.getBusinessId().size()) {
      h_ += Item(Say("Y-tunnus", "Business ID"), Esc(c.getBusinessId().cStr()));
    }
    if (c.getAddress().size()) h_ += Item(Say("Osoite", "Address"), Esc(c.getAddress().cStr()));
    if (contact.getName().size()) {
      h_ += Item(Say("Yhteyshenkilö", "Contact person"), Esc(contact.getName().cStr()));
    }
    if (contact.getEmail().size()) {
      h_ += Item(Say("Sähköposti", "Email"), Esc(contact.getEmail().cStr()));
    }
    if (contact.getPhone().size()) {
      h_ += Item(Say("Puhelin", "Phone"), Esc(contact.getPhone().cStr()));
    }
    h_ += "</dl>\n";
    h_ +=
        Para(Say("Voit käyttää oikeuksiasi ottamalla yhteyttä "
                 "yhteyshenkilöön.",
                 "To use your rights, contact the contact person."));
  }

  void Record() {
    Heading("Tämä kirjaus", "This record");
    h_ += "<dl>\n" + Item(Say("Tunnisteesi", "Your id"),
                          "<code>" + Esc(SubjectIdHex(doc_.subject)) + "</code>");
    h_ += Item(Say("Rekisteri", "Register"), Esc(RegisterTitle()));
    if (!doc_.history.empty()) {
      h_ += Item(Say("Ensimmäinen kirjaus", "First recorded"),
                 TimeElement(doc_.history.front().recorded_at_micros, lang_));
      h_ += Item(Say("Viimeisin kirjaus", "Last recorded"),
                 TimeElement(doc_.history.back().recorded_at_micros, lang_));
    }
    h_ += Item(Say("Poistettu", "Erased"), ErasedText()) + "</dl>\n";
  }

  std::string ErasedText() const {
    if (!doc_.summary.erased_at_seq) return Badge(true, Say("Ei", "No"));
    std::string h = Badge(false, Say("Kyllä, tiedot on poistettu", "Yes, the data is erased"));
    if (auto at = RecordedAt(*doc_.summary.erased_at_seq)) {
      h += Say(" ", " on ") + TimeElement(*at, lang_);
    }
    return h;
  }

  void Data() {
    Heading("Sinusta tallennetut tiedot", "The data we hold about you");
    if (doc_.categories.empty()) {
      h_ += Para(Say("Sinusta ei ole tallennettu tietoja.", "We hold no data about you."));
    }
    for (const std::string& name : InPolicyOrder(register_.getCategories(), doc_.categories)) {
      Category(name, doc_.categories.at(name));
    }
  }

  void Category(const std::string& name, const SubjectExport::CategoryData& data) {
    auto policy_category = FindNamed(register_.getCategories(), name);
    schema::Category::Reader c = policy_category ? *policy_category : schema::Category::Reader();
    h_ += "<h3>" + Esc(CategoryTitle(name)) + "</h3>\n";
    if (data.erased) {
      h_ += "<p>" + Badge(false, Say("poistettu", "erased")) + " " +
            Esc(Say("Nämä tiedot on poistettu, eikä kukaan voi enää "
                    "lukea niitä.",
                    "This data was erased: no one can read it any more.")) +
            "</p>\n";
    } else {
      Values(c, data.current);
    }
    if (c.hasRetention()) {
      h_ += Para(Say("Säilytysaika: ", "How long it is kept: ") + Pick(c.getRetention(), lang_),
                 "note");
    }
    if (c.hasRetentionDuty()) {
      h_ += Para(Say("Laki velvoittaa säilyttämään: ", "The law requires keeping it: ") +
                     Pick(c.getRetentionDuty().getReason(), lang_),
                 "note");
    }
  }

  void Values(schema::Category::Reader c, const std::map<std::string, std::string>& current) {
    h_ += "<table>\n<thead><tr><th>" + Esc(Say("Tieto", "Item")) + "</th><th>" +
          Esc(Say("Arvo", "Value")) + "</th></tr></thead>\n<tbody>\n";
    for (const std::string& field : InPolicyOrder(c.getFields(), current)) {
      h_ += "<tr><td>" + Esc(TermTitle(c.getFields(), field, lang_)) + "</td><td>" +
            Esc(ValueText(current.at(field))) + "</td></tr>\n";
    }
    h_ += "</tbody>\n</table>\n";
  }

  void Consents() {
    Heading("Suostumuksesi", "Your consents");
    if (doc_.consents.empty()) {
      h_ += Para(Say("Suostumuksia ei ole kirjattu.", "No consents are recorded."));
      return;
    }
    h_ += "<table>\n<thead><tr><th>" + Esc(Say("Käyttötarkoitus", "Purpose")) + "</th><th>" +
          Esc(Say("Tila", "State")) + "</th><th>" + Esc(Say("Milloin", "When")) +
          "</th></tr></thead>\n<tbody>\n";
    for (const auto& [purpose, c] : doc_.consents) {
      h_ += "<tr><td>" + Esc(PurposeTitle(purpose)) + "</td><td>" +
            Badge(c.given, c.given ? Say("annettu", "given") : Say("peruttu", "withdrawn")) +
            "</td><td>" + TimeElement(c.at_micros, lang_) + "</td></tr>\n";
    }
    h_ += "</tbody>\n</table>\n";
  }

  void Flags() {
    Heading("Rajoitukset ja kiellot", "Restrictions and objections");
    h_ += "<dl>\n" +
          Item(Say("Käsittelyä rajoitettu (tiedot vain säilytetään)",
                   "Processing restricted (the data is only stored)"),
               Esc(doc_.restricted ? Say("Kyllä", "Yes") : Say("Ei", "No"))) +
          Item(Say("Suoramarkkinointi kielletty", "Direct marketing forbidden"),
               Esc(doc_.marketing_objected ? Say("Kyllä", "Yes") : Say("Ei", "No"))) +
          "</dl>\n";
  }

  void Processing() {
    Heading("Miksi ja mistä tietojasi käsitellään",
            "Why we process your data, and where it comes from");
    h_ += "<h3>" + Esc(Say("Käsittelyn tarkoitukset", "Purposes of processing")) + "</h3>\n";
    h_ += Bullets(TermTitles(register_.getPurposes(), lang_));
    h_ += "<h3>" + Esc(Say("Tietolähteet", "Where the data comes from")) + "</h3>\n";
    h_ += Bullets(TermTitles(register_.getSources(), lang_));
    auto d = policy_.getDisclosures();
    h_ += "<h3>" + Esc(Say("Kenelle tietoja voidaan luovuttaa", "Who the data may be given to")) +
          "</h3>\n";
    h_ += Bullets(TermTitles(d.getRecipients(), lang_)) + Para(Pick(d.getText(), lang_));
    h_ += "<h3>" +
          Esc(Say("Siirrot EU:n ja ETA:n ulkopuolelle", "Transfers outside the EU and the EEA")) +
          "</h3>\n";
    h_ += Para(Pick(policy_.getTransfers().getText(), lang_));
  }

  void History() {
    Heading("Tietojesi historia", "The history of your data");
    h_ += Para(Say("Jokainen kirjaus sinua koskevista tiedoista, kirjausjärjestyksessä.",
                   "Every record made about you, in the order it was made."));
    h_ += "<table>\n<thead><tr>";
    for (const std::string& th :
         {Say("Aika", "Time"), Say("Tapahtuma", "Event"), Say("Tietoryhmä", "Category"),
          Say("Tarkoitus", "Purpose"), Say("Oikeusperuste", "Lawful basis"), Say("Lähde", "Source"),
          Say("Tekijä", "Done by")}) {
      h_ += "<th>" + Esc(th) + "</th>";
    }
    h_ += "</tr></thead>\n<tbody>\n";
    for (const SubjectExport::HistoryItem& item : doc_.history) HistoryRow(item);
    h_ += "</tbody>\n</table>\n";
  }

  void HistoryRow(const SubjectExport::HistoryItem& item) {
    const auto cell = [](const std::string& text) { return "<td>" + Esc(text) + "</td>"; };
    h_ += "<tr><td>" + TimeElement(item.recorded_at_micros, lang_) + "</td>" +
          cell(Plain(kEventTypes, item.type, lang_)) +
          cell(item.category.empty() ? "" : CategoryTitle(item.category)) +
          cell(item.purpose.empty() ? "" : PurposeTitle(item.purpose)) +
          cell(Plain(kBases, item.basis, lang_)) +
          cell(item.source.empty() ? "" : TermTitle(register_.getSources(), item.source, lang_)) +
          cell(item.actor) + "</tr>\n";
  }

  void Rights() {
    Heading("Oikeutesi", "Your rights");
    h_ += Bullets(TermTitles(policy_.getRights(), lang_));
    h_ += Para(Pick(policy_.getComplaint(), lang_));
  }

  void Foot() {
    h_ += "</section>\n<footer>" +
          Esc(Say("Laadittu rekisteripolitiikasta \u201d", "Made from the register policy \u201c") +
              std::string(policy_.getName().cStr()) + Say("\u201d, versio ", "\u201d, version ") +
              std::to_string(policy_.getVersion()) + ".") +
          "</footer>\n</main>\n</body>\n</html>\n";
  }

  const SubjectExport& doc_;
  schema::Policy::Reader policy_;
  schema::Register::Reader register_;  // the person's register; empty if the policy lacks it
  Lang lang_;
  std::string h_;
};

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

std::vector<std::string> SubjectExport::CategoryNames() const {
  std::vector<std::string> names;
  for (const auto& [name, c] : categories) {
    if (!c.erased) names.push_back(name);
  }
  return names;
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

std::string SubjectExport::ToHtml(schema::Policy::Reader policy, std::string_view lang) const {
  return AccessPage(*this, policy, lang == "fi" ? Lang::kFi : Lang::kEn).Render();
}

}  // namespace kirjuri
