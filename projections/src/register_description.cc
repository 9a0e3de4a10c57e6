// The register description and the record of processing activities, generated from the policy.
// See kirjuri/register_description.h.
//
// Both documents are first laid out as a list of blocks (headings, paragraphs, lists, labelled
// items), then rendered as text or HTML from that one layout, so the two forms cannot drift apart.
#include "kirjuri/register_description.h"

#include <set>
#include <utility>
#include <vector>

#include "html.h"
#include "kirjuri/json.h"

namespace kirjuri {
namespace {

// ---- texts ----

using html::Pick;
using html::T;
using html::TermTitles;

std::string Join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out += sep;
    out += parts[i];
  }
  return out;
}

// The EU member states and the other EEA states (Iceland, Liechtenstein, Norway), ISO 3166-1
// alpha-2. A transfer to any other country is a transfer to a third country (GDPR chapter V).
const std::set<std::string, std::less<>>& EuEea() {
  static const auto* states = new std::set<std::string, std::less<>>{
      "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE", "IT",
      "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE", "IS", "LI", "NO"};
  return *states;
}

std::vector<std::string> AllowedCountries(schema::Policy::Reader p) {
  std::vector<std::string> out;
  for (auto c : p.getTransfers().getAllowedCountries()) out.emplace_back(c.cStr());
  return out;
}

std::vector<std::string> ThirdCountries(schema::Policy::Reader p) {
  std::vector<std::string> out;
  for (const std::string& c : AllowedCountries(p)) {
    if (!EuEea().count(c)) out.push_back(c);
  }
  return out;
}

// "Sepänkatu 4, 40100 Jyväskylä, Finland" -> its lines, as a letter's address is written.
std::vector<std::string> AddressLines(std::string_view address) {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos <= address.size()) {
    size_t end = address.find(", ", pos);
    if (end == std::string_view::npos) end = address.size();
    if (end > pos) lines.emplace_back(address.substr(pos, end - pos));
    pos = end + 2;
  }
  return lines;
}

// The data content line of a category: its fields' titles.
std::string FieldTitles(schema::Category::Reader c, Lang lang) {
  std::vector<std::string> titles;
  for (auto f : c.getFields()) titles.push_back(Pick(f.getTitle(), lang));
  return Join(titles, ", ");
}

// What the enforced retention duty says, in words: "6 years from the end of the year of the last
// such record", then the law.
std::string DutyText(schema::RetentionDuty::Reader d, Lang lang) {
  const std::string years = std::to_string(d.getYears());
  std::string when =
      d.getFromEndOfYear()
          ? T(lang, " vuotta viimeisimmän kirjauksen vuoden lopusta",
              " years from the end of the year of the last such record")
          : T(lang, " vuotta viimeisimmästä kirjauksesta", " years from the last such record");
  return T(lang, "Lakisääteinen säilytysvelvollisuus: ", "Retention required by law: ") + years +
         when + ". " + T(lang, "Peruste: ", "Legal reason: ") + Pick(d.getReason(), lang) + ".";
}

// ---- layout ----

struct Block {
  enum class Kind {
    kRegister,  // a register's title: starts its part of the document
    kHeading,
    kPara,
    kLines,  // lines kept apart, as an address
    kList,
    kTerms,  // labelled items: label, then one or more paragraphs
  };
  Kind kind;
  std::string text;
  std::vector<std::string> items;
  std::vector<std::pair<std::string, std::vector<std::string>>> terms;
};

class Layout {
 public:
  Layout(std::string title, std::string lead) : title_(std::move(title)), lead_(std::move(lead)) {}
  void Register(std::string label, std::string title) {
    blocks_.push_back({Block::Kind::kRegister, std::move(title), {std::move(label)}, {}});
  }
  void Heading(std::string text) {
    blocks_.push_back({Block::Kind::kHeading, std::move(text), {}, {}});
  }
  // Empty paragraphs are left out (an optional text the policy does not give).
  void Para(std::string text) {
    if (!text.empty()) blocks_.push_back({Block::Kind::kPara, std::move(text), {}, {}});
  }
  void Lines(std::vector<std::string> lines) {
    blocks_.push_back({Block::Kind::kLines, {}, std::move(lines), {}});
  }
  void List(std::vector<std::string> items) {
    if (!items.empty()) blocks_.push_back({Block::Kind::kList, {}, std::move(items), {}});
  }
  void Terms(std::vector<std::pair<std::string, std::vector<std::string>>> terms) {
    if (!terms.empty()) blocks_.push_back({Block::Kind::kTerms, {}, {}, std::move(terms)});
  }
  void Footer(std::string text) { footer_ = std::move(text); }

  std::string Text() const;
  std::string Html(Lang lang) const;

 private:
  std::string title_, lead_, footer_;
  std::vector<Block> blocks_;
};

std::string Layout::Text() const {
  std::string out = title_ + "\n\n";
  if (!lead_.empty()) out += lead_ + "\n\n";
  for (const Block& b : blocks_) {
    switch (b.kind) {
      case Block::Kind::kRegister:
        out += "\n" + b.items[0] + "\n\n" + b.text + "\n\n";
        break;
      case Block::Kind::kHeading:
      case Block::Kind::kPara:
        out += b.text + "\n\n";
        break;
      case Block::Kind::kLines:
        for (const std::string& line : b.items) out += line + "\n";
        out += "\n";
        break;
      case Block::Kind::kList:
        for (const std::string& item : b.items) out += "- " + item + "\n";
        out += "\n";
        break;
      case Block::Kind::kTerms:
        for (const auto& [label, paras] : b.terms) {
          out += "- " + label + ": " + (paras.empty() ? "" : paras[0]) + "\n";
          for (size_t i = 1; i < paras.size(); ++i) out += "  " + paras[i] + "\n";
        }
        out += "\n";
        break;
    }
  }
  if (!footer_.empty()) out += footer_ + "\n";
  return out;
}

// Page-level additions to the shared stylesheet: each register starts a printed page.
constexpr std::string_view kDocumentCss = R"css(
section.register + section.register { margin-top: 3rem; }
section.register h2 { font-size: 1.45rem; border-bottom: 2px solid #1b1b1b; }
h3 { font-size: 1.05rem; margin: 1.5rem 0 .4rem; }
ul { padding-left: 1.4rem; }
dl.terms { grid-template-columns: 14rem 1fr; }
dd p { margin: 0 0 .3rem; }
@media print { section.register + section.register { break-before: page; margin-top: 0; } }
)css";

std::string Layout::Html(Lang lang) const {
  using html::Esc;
  std::string h;
  h += "<!DOCTYPE html>\n<html lang=\"" + T(lang, "fi", "en") + "\">\n<head>\n";
  h += "<meta charset=\"utf-8\">\n";
  h += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  h += "<title>" + Esc(title_) + "</title>\n";
  h += "<style>" + std::string(html::kCss) + std::string(kDocumentCss) + "</style>\n";
  h += "</head>\n<body>\n<main>\n<header>\n<h1>" + Esc(title_) + "</h1>\n";
  if (!lead_.empty()) h += "<p class=\"lead\">" + Esc(lead_) + "</p>\n";
  h += "</header>\n";
  bool in_section = false;
  for (const Block& b : blocks_) {
    switch (b.kind) {
      case Block::Kind::kRegister:
        if (in_section) h += "</section>\n";
        in_section = true;
        h += "<section class=\"register\">\n<h2 title=\"" + Esc(b.items[0]) + "\">" + Esc(b.text) +
             "</h2>\n";
        break;
      case Block::Kind::kHeading:
        h += "<h3>" + Esc(b.text) + "</h3>\n";
        break;
      case Block::Kind::kPara:
        h += "<p>" + Esc(b.text) + "</p>\n";
        break;
      case Block::Kind::kLines: {
        std::vector<std::string> lines;
        for (const std::string& line : b.items) lines.push_back(Esc(line));
        h += "<p>" + Join(lines, "<br>\n") + "</p>\n";
        break;
      }
      case Block::Kind::kList:
        h += "<ul>\n";
        for (const std::string& item : b.items) h += "<li>" + Esc(item) + "</li>\n";
        h += "</ul>\n";
        break;
      case Block::Kind::kTerms:
        h += "<dl class=\"terms\">\n";
        for (const auto& [label, paras] : b.terms) {
          h += "<dt>" + Esc(label) + "</dt><dd>";
          for (const std::string& p : paras) h += "<p>" + Esc(p) + "</p>";
          h += "</dd>\n";
        }
        h += "</dl>\n";
        break;
    }
  }
  if (in_section) h += "</section>\n";
  if (!footer_.empty()) h += "<footer>" + Esc(footer_) + "</footer>\n";
  h += "</main>\n</body>\n</html>\n";
  return h;
}

std::string FooterText(schema::Policy::Reader p, Lang lang) {
  return T(lang, "Laadittu rekisteripolitiikasta \u201d",
           "Generated from the register policy \u201c") +
         std::string(p.getName().cStr()) + T(lang, "\u201d, versio ", "\u201d, version ") +
         std::to_string(p.getVersion()) +
         T(lang, ", jonka mukaan Kirjuri tarkastaa jokaisen kirjauksen.",
           ", against which Kirjuri checks every record.");
}

std::string Render(const Layout& layout, Lang lang, DocFormat format) {
  if (format == DocFormat::kHtml) return layout.Html(lang);
  std::string text = layout.Text();
  if (format == DocFormat::kText) return text;
  return JsonWriter().String("lang", T(lang, "fi", "en")).String("document", text).Finish() + "\n";
}

// The controller block shared by both documents: name, business id, address lines.
std::vector<std::string> ControllerLines(schema::Controller::Reader c) {
  std::vector<std::string> lines = {c.getName(), c.getBusinessId()};
  for (std::string& line : AddressLines(c.getAddress().cStr())) lines.push_back(std::move(line));
  std::erase_if(lines, [](const std::string& s) { return s.empty(); });
  return lines;
}

std::vector<std::string> ContactLines(schema::Contact::Reader c) {
  std::vector<std::string> lines = {c.getName(), c.getEmail(), c.getPhone()};
  std::erase_if(lines, [](const std::string& s) { return s.empty(); });
  return lines;
}

// ---- JSON ----

std::string JsonArray(const std::vector<std::string>& values) {
  return "[" + Join(values, ",") + "]";
}

std::string TermsJson(capnp::List<schema::Term>::Reader terms, Lang lang) {
  std::vector<std::string> out;
  for (auto t : terms) {
    out.push_back(JsonWriter()
                      .String("name", t.getName().cStr())
                      .String("title", Pick(t.getTitle(), lang))
                      .Finish());
  }
  return JsonArray(out);
}

std::string ProcessingJson(schema::Policy::Reader p, Lang lang) {
  auto c = p.getController();
  auto contact = c.getContact();
  std::vector<std::string> bases;
  for (auto b : p.getDisclosures().getAllowedBases()) bases.emplace_back(b.cStr());
  const std::string transfers = JsonWriter()
                                    .String("text", Pick(p.getTransfers().getText(), lang))
                                    .StringArray("allowed_countries", AllowedCountries(p))
                                    .StringArray("third_countries", ThirdCountries(p))
                                    .Finish();
  std::vector<std::string> registers;
  for (auto r : p.getRegisters()) {
    std::vector<std::string> categories;
    for (auto cat : r.getCategories()) {
      JsonWriter w;
      w.String("name", cat.getName().cStr())
          .String("title", Pick(cat.getTitle(), lang))
          .Raw("fields", TermsJson(cat.getFields(), lang))
          .String("retention", Pick(cat.getRetention(), lang));
      if (cat.hasRetentionDuty()) {
        auto d = cat.getRetentionDuty();
        w.Raw("retention_duty", JsonWriter()
                                    .String("reason", Pick(d.getReason(), lang))
                                    .Number("years", d.getYears())
                                    .Bool("from_end_of_year", d.getFromEndOfYear())
                                    .Finish());
      }
      categories.push_back(w.Finish());
    }
    registers.push_back(JsonWriter()
                            .String("name", r.getName().cStr())
                            .String("title", Pick(r.getTitle(), lang))
                            .Raw("purposes", TermsJson(r.getPurposes(), lang))
                            .String("data_subjects", Pick(r.getSubjects(), lang))
                            .Raw("categories", JsonArray(categories))
                            .Raw("recipients", TermsJson(p.getDisclosures().getRecipients(), lang))
                            .StringArray("disclosure_bases", bases)
                            .String("disclosures", Pick(p.getDisclosures().getText(), lang))
                            .Raw("transfers", transfers)
                            .String("security", Pick(p.getSecurity(), lang))
                            .Finish());
  }
  return JsonWriter()
             .String("format", "kirjuri.processing-record/v1")
             .String("lang", T(lang, "fi", "en"))
             .Raw("policy", JsonWriter()
                                .String("name", p.getName().cStr())
                                .Number("version", p.getVersion())
                                .Finish())
             .Raw("controller", JsonWriter()
                                    .String("name", c.getName().cStr())
                                    .String("business_id", c.getBusinessId().cStr())
                                    .String("address", c.getAddress().cStr())
                                    .String("contact_role", c.getContactRole().cStr())
                                    .Raw("contact", JsonWriter()
                                                        .String("name", contact.getName().cStr())
                                                        .String("email", contact.getEmail().cStr())
                                                        .String("phone", contact.getPhone().cStr())
                                                        .Finish())
                                    .Finish())
             .Raw("registers", JsonArray(registers))
             .Finish() +
         "\n";
}

}  // namespace

Status ParseLang(std::string_view name, Lang* out) {
  if (name == "fi") {
    *out = Lang::kFi;
  } else if (name == "en") {
    *out = Lang::kEn;
  } else {
    return Status::InvalidArgument("language must be 'fi' or 'en'");
  }
  return Status::Ok();
}

std::string DescribeRegisters(schema::Policy::Reader p, Lang lang, DocFormat format) {
  auto controller = p.getController();
  Layout doc(T(lang, "Rekisteriseloste", "Register description"),
             std::string(controller.getName().cStr()));
  doc.Para(Pick(p.getIntroduction(), lang));
  for (auto r : p.getRegisters()) {
    doc.Register(T(lang, "Rekisterin nimi", "Name of the register"), Pick(r.getTitle(), lang));

    doc.Heading(T(lang, "Rekisterinpitäjä", "Controller"));
    doc.Lines(ControllerLines(controller));
    if (controller.hasContact()) {
      doc.Heading(T(lang, "Yhteyshenkilö", "Contact person"));
      doc.Lines(ContactLines(controller.getContact()));
    }
    if (r.hasSubjects()) {
      doc.Heading(T(lang, "Keitä rekisteri koskee", "Whom the register covers"));
      doc.Para(Pick(r.getSubjects(), lang));
    }

    doc.Heading(
        T(lang, "Henkilötietojen käsittelyn tarkoitus", "Purposes of processing personal data"));
    doc.Para(T(lang, "Henkilötietoja käsitellään seuraavissa tarkoituksissa:",
               "Personal data is processed for these purposes:"));
    doc.List(TermTitles(r.getPurposes(), lang));

    doc.Heading(T(lang, "Rekisterin tietosisältö", "Data content of the register"));
    doc.Para(T(lang, "Rekisteri voi pitää sisällään seuraavat tiedot:",
               "The register may hold the following data:"));
    std::vector<std::pair<std::string, std::vector<std::string>>> content, retention;
    for (auto c : r.getCategories()) {
      content.push_back({Pick(c.getTitle(), lang), {FieldTitles(c, lang)}});
      std::vector<std::string> kept;
      if (c.hasRetention()) kept.push_back(Pick(c.getRetention(), lang));
      if (c.hasRetentionDuty()) kept.push_back(DutyText(c.getRetentionDuty(), lang));
      if (!kept.empty()) retention.push_back({Pick(c.getTitle(), lang), std::move(kept)});
    }
    doc.Terms(std::move(content));
    if (!retention.empty()) {
      doc.Heading(T(lang, "Tietojen säilytysaika", "How long the data is kept"));
      doc.Terms(std::move(retention));
    }

    doc.Heading(T(lang, "Säännönmukaiset tietolähteet", "Regular sources of data"));
    doc.Para(T(lang, "Rekisterin tiedot saadaan seuraavista lähteistä:",
               "The data of the register comes from these sources:"));
    doc.List(TermTitles(r.getSources(), lang));

    if (p.hasTransfers()) {
      doc.Heading(T(lang, "Tietojen siirtäminen EU:n tai ETA:n ulkopuolelle",
                    "Transfers outside the EU or the EEA"));
      doc.Para(Pick(p.getTransfers().getText(), lang));
    }
    if (p.hasDisclosures()) {
      auto d = p.getDisclosures();
      doc.Heading(T(lang, "Tietojen säännönmukaiset luovutukset", "Regular disclosures of data"));
      doc.Para(Pick(d.getText(), lang));
      if (d.getRecipients().size() > 0) {
        doc.Para(T(lang, "Tietoja voidaan luovuttaa vain seuraaville vastaanottajille:",
                   "Data may be disclosed only to these recipients:"));
        doc.List(TermTitles(d.getRecipients(), lang));
      }
    }
    if (p.hasSecurity()) {
      doc.Heading(
          T(lang, "Rekisterin suojauksen periaatteet", "Principles of protecting the register"));
      doc.Para(Pick(p.getSecurity(), lang));
    }
    if (p.hasRights() || p.hasComplaint()) {
      doc.Heading(T(lang, "Rekisteröidyn oikeudet", "The rights of the people in the register"));
      doc.List(TermTitles(p.getRights(), lang));
      doc.Para(Pick(p.getComplaint(), lang));
    }
  }
  doc.Footer(FooterText(p, lang));
  return Render(doc, lang, format);
}

std::string ProcessingRecord(schema::Policy::Reader p, Lang lang, DocFormat format) {
  if (format == DocFormat::kJson) return ProcessingJson(p, lang);
  auto controller = p.getController();
  Layout doc(T(lang, "Seloste käsittelytoimista (EU:n yleinen tietosuoja-asetus, 30 artikla)",
               "Record of processing activities (GDPR Article 30)"),
             std::string(controller.getName().cStr()));
  doc.Heading(T(lang, "Rekisterinpitäjä", "Controller"));
  doc.Lines(ControllerLines(controller));
  if (controller.hasContact()) {
    doc.Heading(T(lang, "Yhteyshenkilö", "Contact person"));
    doc.Lines(ContactLines(controller.getContact()));
  }
  const std::vector<std::string> third = ThirdCountries(p);
  for (auto r : p.getRegisters()) {
    doc.Register(T(lang, "Rekisteri", "Register"), Pick(r.getTitle(), lang));

    doc.Heading(T(lang, "Käsittelyn tarkoitukset", "Purposes of the processing"));
    doc.List(TermTitles(r.getPurposes(), lang));

    doc.Heading(T(lang, "Rekisteröityjen ryhmät", "Categories of data subjects"));
    doc.Para(Pick(r.getSubjects(), lang));

    doc.Heading(T(lang, "Henkilötietoryhmät", "Categories of personal data"));
    std::vector<std::pair<std::string, std::vector<std::string>>> content, limits;
    for (auto c : r.getCategories()) {
      content.push_back({Pick(c.getTitle(), lang), {FieldTitles(c, lang)}});
      std::vector<std::string> kept;
      if (c.hasRetention()) kept.push_back(Pick(c.getRetention(), lang));
      if (c.hasRetentionDuty()) kept.push_back(DutyText(c.getRetentionDuty(), lang));
      limits.push_back({Pick(c.getTitle(), lang), std::move(kept)});
    }
    doc.Terms(std::move(content));

    doc.Heading(T(lang, "Vastaanottajaryhmät", "Categories of recipients"));
    doc.List(TermTitles(p.getDisclosures().getRecipients(), lang));
    doc.Para(Pick(p.getDisclosures().getText(), lang));

    doc.Heading(T(lang, "Siirrot kolmansiin maihin", "Transfers to third countries"));
    if (third.empty()) {
      doc.Para(T(lang, "Ei siirtoja: tietoja luovutetaan vain EU:n ja ETA:n alueelle.",
                 "None: data is disclosed only within the EU/EEA."));
    } else {
      doc.Para(T(lang, "Kolmannet maat, joihin tietoja voidaan siirtää: ",
                 "Third countries data may be transferred to: ") +
               Join(third, ", "));
    }
    doc.Para(Pick(p.getTransfers().getText(), lang));
    doc.Para(T(lang, "Sallitut maat: ", "Allowed countries: ") + Join(AllowedCountries(p), ", "));

    doc.Heading(T(lang, "Poistamisen määräajat", "Time limits for erasure"));
    doc.Terms(std::move(limits));

    doc.Heading(T(lang, "Tekniset ja organisatoriset turvatoimet",
                  "Technical and organisational security measures"));
    doc.Para(Pick(p.getSecurity(), lang));
  }
  doc.Footer(FooterText(p, lang));
  return Render(doc, lang, format);
}

}  // namespace kirjuri
