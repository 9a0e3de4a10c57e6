// The register description and the Art. 30 record, generated from the policy a real ledger
// enforces: every title the policy declares must be in the documents, in both languages, and the
// HTML must escape what it prints.
#include "kirjuri/register_description.h"

#include <capnp/compat/json.h>
#include <capnp/message.h>

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "kirjuri/json.h"
#include "ledger_fixture.h"

using namespace kirjuri;
using kirjuri::test::LedgerFixture;

namespace {

const Lang kLangs[] = {Lang::kFi, Lang::kEn};

std::string Pick(schema::LocalText::Reader t, Lang lang) {
  return lang == Lang::kFi ? t.getFi() : t.getEn();
}

std::string ShippedPolicyJson() {
  return kirjuri::testing::ReadFile(std::string(KIRJURI_SOURCE_DIR) +
                                    "/schemas/policies/almerin.json");
}

// The shipped policy with `from` replaced by `to` (REQUIRE: it occurs).
std::string PolicyWith(const std::string& from, const std::string& to) {
  std::string json = ShippedPolicyJson();
  size_t at = json.find(from);
  REQUIRE(at != std::string::npos);
  json.replace(at, from.size(), to);
  return json;
}

bool ValidJson(const std::string& text) {
  capnp::MallocMessageBuilder message;
  auto root = message.initRoot<capnp::JsonValue>();
  capnp::JsonCodec codec;
  return kj::runCatchingExceptions([&] {
           codec.decodeRaw(kj::ArrayPtr<const char>(text.data(), text.size()), root);
         }) == nullptr &&
         root.isObject();
}

#define CHECK_HAS(doc, text)                         \
  do {                                               \
    const std::string _needle = (text);              \
    INFO("looking for: " << _needle);                \
    CHECK((doc).find(_needle) != std::string::npos); \
  } while (0)

}  // namespace

TEST_CASE(
    "the register description holds every title and text of the shipped policy, in both "
    "languages") {
  LedgerFixture f;
  f.InitAndOpen();
  auto p = f.ledger().policy();
  REQUIRE(p.getRegisters().size() == 2);
  for (Lang lang : kLangs) {
    for (DocFormat format : {DocFormat::kText, DocFormat::kHtml}) {
      const std::string doc = DescribeRegisters(p, lang, format);
      INFO((lang == Lang::kFi ? "fi" : "en") << (format == DocFormat::kHtml ? " html" : " text"));
      // HTML escapes quotes; the shipped texts with a quote are compared escaped.
      auto esc = [&](std::string s) {
        if (format != DocFormat::kHtml) return s;
        std::string out;
        for (char c : s) {
          if (c == '\'')
            out += "&#39;";
          else if (c == '"')
            out += "&quot;";
          else
            out.push_back(c);
        }
        return out;
      };
      CHECK_HAS(doc, esc(Pick(p.getIntroduction(), lang)));
      auto c = p.getController();
      CHECK_HAS(doc, esc(c.getName()));
      CHECK_HAS(doc, esc(c.getBusinessId()));
      CHECK_HAS(doc, "40100 Jyväskylä");
      CHECK_HAS(doc, esc(c.getContact().getName()));
      CHECK_HAS(doc, esc(c.getContact().getEmail()));
      CHECK_HAS(doc, esc(c.getContact().getPhone()));
      CHECK_HAS(doc, esc(Pick(p.getTransfers().getText(), lang)));
      CHECK_HAS(doc, esc(Pick(p.getDisclosures().getText(), lang)));
      for (auto t : p.getDisclosures().getRecipients())
        CHECK_HAS(doc, esc(Pick(t.getTitle(), lang)));
      CHECK_HAS(doc, esc(Pick(p.getSecurity(), lang)));
      for (auto t : p.getRights()) CHECK_HAS(doc, esc(Pick(t.getTitle(), lang)));
      CHECK_HAS(doc, esc(Pick(p.getComplaint(), lang)));
      for (auto r : p.getRegisters()) {
        CHECK_HAS(doc, esc(Pick(r.getTitle(), lang)));
        CHECK_HAS(doc, esc(Pick(r.getSubjects(), lang)));
        for (auto t : r.getPurposes()) CHECK_HAS(doc, esc(Pick(t.getTitle(), lang)));
        for (auto t : r.getSources()) CHECK_HAS(doc, esc(Pick(t.getTitle(), lang)));
        for (auto cat : r.getCategories()) {
          // The category with its fields' titles, as one entry.
          std::string fields;
          for (auto field : cat.getFields()) {
            fields += (fields.empty() ? "" : ", ") + esc(Pick(field.getTitle(), lang));
          }
          if (format == DocFormat::kText) {
            CHECK_HAS(doc, "- " + Pick(cat.getTitle(), lang) + ": " + fields + "\n");
          } else {
            CHECK_HAS(doc,
                      "<dt>" + esc(Pick(cat.getTitle(), lang)) + "</dt><dd><p>" + fields + "</p>");
          }
          CHECK_HAS(doc, esc(Pick(cat.getRetention(), lang)));
          if (cat.hasRetentionDuty())
            CHECK_HAS(doc, esc(Pick(cat.getRetentionDuty().getReason(), lang)));
        }
      }
    }
  }
  // Each language's document is in that language only: no English heading in the Finnish one.
  const std::string fi = DescribeRegisters(p, Lang::kFi, DocFormat::kText);
  CHECK(fi.rfind("Rekisteriseloste\n", 0) == 0);
  CHECK(fi.find("Rekisterinpitäjä") != std::string::npos);
  CHECK(fi.find("Controller") == std::string::npos);
  CHECK(fi.find(Pick(p.getSecurity(), Lang::kEn)) == std::string::npos);
  const std::string en = DescribeRegisters(p, Lang::kEn, DocFormat::kText);
  CHECK(en.find("Rekisterinpitäjä") == std::string::npos);
  CHECK(en.find(Pick(p.getSecurity(), Lang::kFi)) == std::string::npos);
}

TEST_CASE("the HTML pages escape what the policy says and stand alone") {
  LedgerFixture f;
  InitOptions options;
  options.policy_json =
      PolicyWith("\"name\": \"Almerin Oy\"", "\"name\": \"Almerin <b>Oy</b> & \\\"Co\\\"\"");
  f.InitAndOpen(options);
  for (Lang lang : kLangs) {
    for (const std::string& page :
         {DescribeRegisters(f.ledger().policy(), lang, DocFormat::kHtml),
          ProcessingRecord(f.ledger().policy(), lang, DocFormat::kHtml)}) {
      CHECK(page.rfind("<!DOCTYPE html>", 0) == 0);
      CHECK(page.find(lang == Lang::kFi ? "<html lang=\"fi\">" : "<html lang=\"en\">") !=
            std::string::npos);
      CHECK(page.find("Almerin &lt;b&gt;Oy&lt;/b&gt; &amp; &quot;Co&quot;") != std::string::npos);
      CHECK(page.find("<b>Oy</b>") == std::string::npos);
      // Self-contained: styles inline, nothing fetched.
      CHECK(page.find("<style>") != std::string::npos);
      CHECK(page.find("<link") == std::string::npos);
      CHECK(page.find("src=") == std::string::npos);
      CHECK(page.find("@media print") != std::string::npos);
      CHECK(page.find("</html>") != std::string::npos);
    }
  }
}

TEST_CASE(
    "the record of processing activities holds every register's purposes, categories, recipients "
    "and retention") {
  LedgerFixture f;
  f.InitAndOpen();
  auto p = f.ledger().policy();
  for (Lang lang : kLangs) {
    const std::string text = ProcessingRecord(p, lang, DocFormat::kText);
    const std::string json = ProcessingRecord(p, lang, DocFormat::kJson);
    REQUIRE(ValidJson(json));
    CHECK_HAS(json, "\"format\":\"kirjuri.processing-record/v1\"");
    CHECK_HAS(text, p.getController().getName().cStr());
    CHECK_HAS(text, p.getController().getContact().getEmail().cStr());
    CHECK_HAS(json, "\"business_id\":\"2723215-1\"");
    for (auto r : p.getRegisters()) {
      CHECK_HAS(text, Pick(r.getTitle(), lang));
      CHECK_HAS(text, Pick(r.getSubjects(), lang));
      CHECK_HAS(json, "\"name\":\"" + std::string(r.getName().cStr()) + "\"");
      for (auto t : r.getPurposes()) {
        CHECK_HAS(text, Pick(t.getTitle(), lang));
        CHECK_HAS(json, "{\"name\":\"" + std::string(t.getName().cStr()) +
                            "\",\"title\":" + JsonWriter::Quote(Pick(t.getTitle(), lang)) + "}");
      }
      for (auto cat : r.getCategories()) {
        CHECK_HAS(text, Pick(cat.getTitle(), lang));
        CHECK_HAS(text, Pick(cat.getRetention(), lang));
        CHECK_HAS(json, JsonWriter::Quote(Pick(cat.getRetention(), lang)));
        if (cat.hasRetentionDuty()) {
          CHECK_HAS(text, Pick(cat.getRetentionDuty().getReason(), lang));
          CHECK_HAS(json, "\"retention_duty\":{\"reason\":" +
                              JsonWriter::Quote(Pick(cat.getRetentionDuty().getReason(), lang)) +
                              ",\"years\":6,\"from_end_of_year\":true}");
        }
      }
    }
    for (auto t : p.getDisclosures().getRecipients()) {
      CHECK_HAS(text, Pick(t.getTitle(), lang));
      CHECK_HAS(json, JsonWriter::Quote(Pick(t.getTitle(), lang)));
    }
    CHECK_HAS(text, Pick(p.getSecurity(), lang));
    // The shipped transfer rule allows only EU/EEA states: no third country.
    CHECK_HAS(json, "\"third_countries\":[]");
    CHECK_HAS(text,
              lang == Lang::kFi ? "Ei siirtoja" : "None: data is disclosed only within the EU/EEA");
    CHECK_HAS(text, "FI, FR, DE");
  }
}

TEST_CASE(
    "a transfer rule that allows a country outside the EU/EEA is named as a third-country "
    "transfer") {
  LedgerFixture f;
  InitOptions options;
  options.policy_json = PolicyWith("\"NO\"\n", "\"NO\", \"US\"\n");
  f.InitAndOpen(options);
  const std::string text = ProcessingRecord(f.ledger().policy(), Lang::kEn, DocFormat::kText);
  CHECK(text.find("Third countries data may be transferred to: US") != std::string::npos);
  CHECK(text.find("None: data is disclosed only within") == std::string::npos);
  const std::string json = ProcessingRecord(f.ledger().policy(), Lang::kEn, DocFormat::kJson);
  CHECK(json.find("\"third_countries\":[\"US\"]") != std::string::npos);
}

TEST_CASE(
    "kirjuri describe and report processing print what the library generates from the ledger's "
    "policy") {
  using kirjuri::testing::RunKirjuri;
  using kirjuri::testing::SplitArgs;
  LedgerFixture f;
  f.InitAndOpen();
  const std::string fi = DescribeRegisters(f.ledger().policy(), Lang::kFi, DocFormat::kText);
  const std::string en_html = DescribeRegisters(f.ledger().policy(), Lang::kEn, DocFormat::kHtml);
  const std::string record = ProcessingRecord(f.ledger().policy(), Lang::kEn, DocFormat::kText);
  const std::string record_json =
      ProcessingRecord(f.ledger().policy(), Lang::kFi, DocFormat::kJson);
  f.Close();
  const std::string k = "--data " + f.data().string() + " ";
  auto run = [&](const std::string& args) {
    auto r = RunKirjuri(SplitArgs(k + args), f.tmp().path());
    INFO("kirjuri " << args << "\n" << kirjuri::test::Describe(r));
    REQUIRE(r.code == 0);
    return r.out;
  };
  CHECK(run("describe") == fi);
  CHECK(run("describe --lang fi") == fi);
  CHECK(run("describe --lang en --html") == en_html);
  CHECK(run("report processing") == record);
  CHECK(run("report processing --lang fi --json") == record_json);
  CHECK(ValidJson(run("describe --lang en --json")));
  auto bad = RunKirjuri(SplitArgs(k + "describe --lang sv"), f.tmp().path());
  CHECK(bad.code != 0);
  CHECK(bad.out.empty());
}
