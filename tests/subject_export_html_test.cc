// The person's own page of an access request (SubjectExport::ToHtml), rendered from a real
// ledger under the shipped Almerin policy: their values, escaped; the policy's titles and texts
// for their register; their consents and history; Finnish titles in Finnish; nothing of the
// values of an erased person.
#include <catch2/catch.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "kirjuri/json.h"
#include "kirjuri/subject_export.h"
#include "ledger_fixture.h"

using namespace kirjuri;
using kirjuri::test::LedgerFixture;

namespace {

// A name that breaks any page that prints it unescaped.
constexpr std::string_view kHostileName = R"(Ada <script>alert("x")</script> & "Co")";
constexpr std::string_view kEmail = "ada.kirjuri-testi@example.fi";
constexpr std::string_view kCity = "Sysmä-Testikylä";
constexpr std::string_view kIp = "198.51.100.23";
constexpr std::string_view kOrder = "ORD-4711-Testi";

// The HTML escaping the page must apply, written out independently of the code under test.
std::string Escaped(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

// One `kirjuri append` line for the customer register.
std::string Line(std::string_view subject, std::string_view type, std::string_view category,
                 std::string_view purpose, std::string_view data, std::string_view extra = "") {
  return std::string(R"({"register":"customer","subject":")") + std::string(subject) +
         R"(","type":")" + std::string(type) + R"(","category":")" + std::string(category) +
         R"(","actor":"emp-0007","purpose":")" + std::string(purpose) +
         R"(","basis":"consent","source":"web_form","data":)" + std::string(data) +
         std::string(extra) + "}\n";
}

class AccessPageTest {
 public:
  AccessPageTest() { f_.InitAndOpen(); }

  // Appends `lines`, REQUIRE it worked; the subject of the first event.
  SubjectId Append(const std::string& lines) {
    std::vector<Appended> out;
    Status s = f_.AppendLines(lines, &out);
    INFO(s.ToString());
    REQUIRE(s.ok());
    REQUIRE_FALSE(out.empty());
    return out.front().subject;
  }

  // A new customer with a profile (the hostile name), network data and a marketing consent;
  // with billing data too if `billing`. Four or five events.
  SubjectId AddCustomer(bool billing) {
    const std::string profile = JsonWriter()
                                    .String("name", kHostileName)
                                    .String("email", kEmail)
                                    .String("city", kCity)
                                    .Finish();
    const SubjectId id = Append(Line("new", "recorded", "profile", "service_delivery", profile,
                                     R"(,"ip":")" + std::string(kIp) + "\""));
    const std::string hex = SubjectIdHex(id);
    std::string more = Line(hex, "consent_given", "consents", "marketing", R"({"notice":"v1"})");
    if (billing) {
      more += Line(hex, "recorded", "billing", "service_delivery",
                   R"({"order_id":")" + std::string(kOrder) + R"(","amount":120})");
    }
    Append(more);
    return id;
  }

  void Erase(const SubjectId& id) {
    uint64_t seq = 0;
    Status s = f_.ledger().Erase({id, "REQ-77", "dpo-01", 0}, &seq);
    INFO(s.ToString());
    REQUIRE(s.ok());
  }

  std::string Page(const SubjectId& id, std::string_view lang) {
    SubjectExport doc;
    Status s = ExportSubject(f_.ledger(), id, &doc);
    INFO(s.ToString());
    REQUIRE(s.ok());
    return doc.ToHtml(policy(), lang);
  }

  schema::Policy::Reader policy() { return f_.ledger().policy(); }

  schema::Register::Reader Customer() {
    for (auto r : policy().getRegisters()) {
      if (std::string_view(r.getName().cStr()) == "customer") return r;
    }
    FAIL("the shipped policy has no customer register");
    return {};
  }

  schema::Category::Reader CustomerCategory(std::string_view name) {
    for (auto c : Customer().getCategories()) {
      if (std::string_view(c.getName().cStr()) == name) return c;
    }
    FAIL("no category " << name);
    return {};
  }

 private:
  LedgerFixture f_;
};

// The part of `page` from the <h2> whose text is `heading` to the next <h2> (or the end).
std::string Section(const std::string& page, std::string_view heading) {
  const size_t start = page.find("<h2>" + std::string(heading) + "</h2>");
  INFO("section " << heading);
  REQUIRE(start != std::string::npos);
  const size_t end = page.find("<h2>", start + 4);
  return page.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

size_t Count(const std::string& text, std::string_view needle) {
  size_t n = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

#define CHECK_HAS(text, needle)                       \
  do {                                                \
    const std::string _needle(needle);                \
    INFO("looking for: " << _needle);                 \
    CHECK((text).find(_needle) != std::string::npos); \
  } while (0)

#define CHECK_LACKS(text, needle)                     \
  do {                                                \
    const std::string _needle(needle);                \
    INFO("must not hold: " << _needle);               \
    CHECK((text).find(_needle) == std::string::npos); \
  } while (0)

}  // namespace

TEST_CASE("the access page shows the person's values, escaped, with the policy's field titles") {
  AccessPageTest t;
  const SubjectId id = t.AddCustomer(/*billing=*/true);
  const std::string page = t.Page(id, "en");

  CHECK(page.starts_with("<!DOCTYPE html>\n<html lang=\"en\">"));
  CHECK_HAS(page, "<style>");
  CHECK_HAS(page, SubjectIdHex(id));
  CHECK_HAS(page, "Almerin Oy customer register");
  CHECK_HAS(page, "Almerin Oy");
  CHECK_HAS(page, "teemu.laitinen@almerin.com");

  const std::string data = Section(page, "The data we hold about you");
  CHECK_HAS(data, Escaped(kHostileName));
  CHECK_HAS(data, "<td>Name</td><td>" + Escaped(kHostileName) + "</td>");
  CHECK_HAS(data, "<td>Email</td><td>" + std::string(kEmail) + "</td>");
  CHECK_HAS(data, "<td>City</td><td>" + std::string(kCity) + "</td>");
  CHECK_HAS(data, "<td>IP address</td><td>" + std::string(kIp) + "</td>");
  CHECK_HAS(data, "<td>Order number</td><td>" + std::string(kOrder) + "</td>");
  CHECK_HAS(data, "<td>Amount</td><td>120</td>");        // JSON that is not a string, as it is
  CHECK_LACKS(data, "\"" + std::string(kEmail) + "\"");  // strings without their JSON quotes
  CHECK_LACKS(page, "<script");
  CHECK_LACKS(page, "</script>");
}

TEST_CASE("the access page names every purpose, source and recipient of the person's register") {
  AccessPageTest t;
  const std::string page = t.Page(t.AddCustomer(/*billing=*/true), "en");
  for (auto purpose : t.Customer().getPurposes()) {
    CHECK_HAS(page, Escaped(purpose.getTitle().getEn().cStr()));
  }
  for (auto source : t.Customer().getSources()) {
    CHECK_HAS(page, Escaped(source.getTitle().getEn().cStr()));
  }
  auto disclosures = t.policy().getDisclosures();
  for (auto recipient : disclosures.getRecipients()) {
    CHECK_HAS(page, Escaped(recipient.getTitle().getEn().cStr()));
  }
  CHECK_HAS(page, Escaped(disclosures.getText().getEn().cStr()));
  CHECK_HAS(page, Escaped(t.policy().getTransfers().getText().getEn().cStr()));
  for (auto right : t.policy().getRights()) {
    CHECK_HAS(page, Escaped(right.getTitle().getEn().cStr()));
  }
  CHECK_HAS(page, Escaped(t.policy().getComplaint().getEn().cStr()));
}

TEST_CASE("the access page gives each held category's retention, and the law for billing") {
  AccessPageTest t;
  const std::string data =
      Section(t.Page(t.AddCustomer(/*billing=*/true), "en"), "The data we hold about you");
  CHECK_HAS(data, Escaped(t.CustomerCategory("profile").getRetention().getEn().cStr()));
  CHECK_HAS(data, Escaped(t.CustomerCategory("billing").getRetention().getEn().cStr()));
  const std::string reason = t.CustomerCategory("billing").getRetentionDuty().getReason().getEn();
  REQUIRE(reason.find("Accounting Act") != std::string::npos);
  CHECK_HAS(data, Escaped(reason));
  // Only categories that hold something are shown.
  CHECK_LACKS(data, Escaped(t.CustomerCategory("feedback").getRetention().getEn().cStr()));
}

TEST_CASE("the access page shows the consent given, the flags and one history row per event") {
  AccessPageTest t;
  const std::string page = t.Page(t.AddCustomer(/*billing=*/true), "en");

  const std::string consents = Section(page, "Your consents");
  CHECK_HAS(consents, "<td>Marketing, including direct marketing</td>");
  CHECK_HAS(consents, ">given</span>");

  const std::string flags = Section(page, "Restrictions and objections");
  CHECK_HAS(flags, "<dt>Direct marketing forbidden</dt><dd>No</dd>");

  const std::string history = Section(page, "The history of your data");
  CHECK(Count(history, "<tr>") == 1 + 3);  // the header, then profile, consent, billing
  CHECK_HAS(history,
            "<td>Data recorded</td><td>Profile</td>"
            "<td>Providing and carrying out the service</td><td>Consent</td>"
            "<td>Contact form on the website</td><td>emp-0007</td>");
  CHECK_HAS(history,
            "<td>Consent given</td><td>Consents</td>"
            "<td>Marketing, including direct marketing</td>");
  CHECK_HAS(history, "<td>Billing, payment, cancellation and order data</td>");
  CHECK_HAS(history, "<time datetime=\"");
}

TEST_CASE("the Finnish access page uses the policy's Finnish titles and texts") {
  AccessPageTest t;
  const SubjectId id = t.AddCustomer(/*billing=*/true);
  const std::string page = t.Page(id, "fi");

  CHECK(page.starts_with("<!DOCTYPE html>\n<html lang=\"fi\">"));
  CHECK_HAS(page, "Almerin Oy:n asiakasrekisteri");
  for (auto purpose : t.Customer().getPurposes()) {
    CHECK_HAS(page, Escaped(purpose.getTitle().getFi().cStr()));
    CHECK_LACKS(page, Escaped(purpose.getTitle().getEn().cStr()));
  }
  for (auto source : t.Customer().getSources()) {
    CHECK_HAS(page, Escaped(source.getTitle().getFi().cStr()));
  }
  CHECK_HAS(page, "<td>Nimi</td><td>" + Escaped(kHostileName) + "</td>");
  CHECK_HAS(page, "<h3>Perustiedot</h3>");
  CHECK_HAS(page,
            Escaped(t.CustomerCategory("billing").getRetentionDuty().getReason().getFi().cStr()));
  CHECK_HAS(page, Escaped(t.policy().getComplaint().getFi().cStr()));
  CHECK_LACKS(page, "<h3>Profile</h3>");

  // Any other language is English.
  CHECK(t.Page(id, "sv") == t.Page(id, "en"));
}

TEST_CASE("an erased person's access page says the data is erased and holds none of it") {
  AccessPageTest t;
  const SubjectId id = t.AddCustomer(/*billing=*/false);
  t.Erase(id);
  const std::string page = t.Page(id, "en");

  CHECK_HAS(Section(page, "This record"), "Yes, the data is erased");
  const std::string data = Section(page, "The data we hold about you");
  CHECK_HAS(data, "<h3>Profile</h3>\n<p><span class=\"status bad\">erased</span>");
  CHECK_HAS(data, "<h3>Network data</h3>\n<p><span class=\"status bad\">erased</span>");
  for (std::string_view value : {kHostileName, kEmail, kCity, kIp}) {
    CHECK_LACKS(page, Escaped(value));
    CHECK_LACKS(page, value);
  }
  CHECK_LACKS(page, "Ada");
  CHECK_HAS(Section(page, "The history of your data"), "<td>Data erased</td>");
}

TEST_CASE("data kept by law after an erasure stays on the access page with the law's reason") {
  AccessPageTest t;
  const SubjectId id = t.AddCustomer(/*billing=*/true);
  t.Erase(id);
  const std::string data = Section(t.Page(id, "en"), "The data we hold about you");
  CHECK_HAS(data, "<td>Order number</td><td>" + std::string(kOrder) + "</td>");
  CHECK_HAS(data,
            Escaped(t.CustomerCategory("billing").getRetentionDuty().getReason().getEn().cStr()));
  CHECK_HAS(data, "<h3>Profile</h3>\n<p><span class=\"status bad\">erased</span>");
  CHECK_LACKS(data, Escaped(kHostileName));
}
