// The register description's promises enforced at append (issue 5): transfers stay in the
// EU/EEA, disclosures need consent or a legal obligation, an objection and a restriction stop
// processing. Every refusal names its rule and leaves the log exactly as it was.
#include <catch2/catch.hpp>
#include <string>

#include "ledger_fixture.h"

using namespace kirjuri;
using namespace kirjuri::test;

namespace {

std::string Disclosure(const std::string& subject, const std::string& country,
                       const std::string& basis, const std::string& purpose = "events") {
  return CustomerLine(subject, "disclosed", "profile", purpose, basis,
              R"({"recipient":"Tapahtumatoimisto Oy","country":")" + country + R"("})");
}

class RulesFixture : public LedgerFixture {
 public:
  RulesFixture() {
    InitAndOpen();
    std::vector<Appended> out;
    REQUIRE(AppendLines(CustomerLine("new", "recorded", "profile", "service_delivery", "contract",
                             R"({"name":"Sääntö Testinen"})"),
                        &out)
                .ok());
    id = SubjectIdHex(out[0].subject);
  }

  // Appends `lines`, which must be refused naming `rule`; the log must be exactly as before.
  void Refused(const std::string& lines, const std::string& rule) {
    const uint64_t size = ledger().size();
    std::string before;
    REQUIRE(ledger().LatestCheckpoint(&before).ok());
    Status s = AppendLines(lines);
    INFO(lines);
    CHECK(s.IsInvalidArgument());
    CHECK(s.message().find("rule " + rule + ":") != std::string::npos);
    CHECK(s.message().find("Sääntö") == std::string::npos);
    CHECK(s.message().find("Tapahtumatoimisto") == std::string::npos);
    CHECK(ledger().size() == size);
    std::string after;
    REQUIRE(ledger().LatestCheckpoint(&after).ok());
    CHECK(after == before);
  }
  void Accepted(const std::string& lines) {
    Status s = AppendLines(lines);
    INFO(lines << s.ToString());
    CHECK(s.ok());
  }

  std::string id;
};

}  // namespace

TEST_CASE("no disclosure leaves the EU/EEA, and none rests on a basis other than consent or law") {
  RulesFixture t;
  t.Refused(Disclosure(t.id, "US", "legal_obligation"), "transfers");
  t.Refused(Disclosure(t.id, "usa", "legal_obligation"), "transfers");
  t.Refused(Disclosure(t.id, "SE", "legitimate_interest"), "disclosures");
  t.Refused(Disclosure(t.id, "SE", "contract"), "disclosures");
  t.Accepted(Disclosure(t.id, "SE", "legal_obligation"));
  t.Accepted(Disclosure(t.id, "NO", "legal_obligation"));  // EEA
}

TEST_CASE("a disclosure on consent needs the person's consent for its purpose, in force") {
  RulesFixture t;
  t.Refused(Disclosure(t.id, "FI", "consent"), "disclosures");
  t.Accepted(CustomerLine(t.id, "consent_given", "consents", "marketing", "consent"));
  t.Refused(Disclosure(t.id, "FI", "consent", "events"), "disclosures");  // another purpose
  t.Accepted(CustomerLine(t.id, "consent_given", "consents", "events", "consent"));
  t.Accepted(Disclosure(t.id, "FI", "consent", "events"));
  t.Accepted(CustomerLine(t.id, "consent_withdrawn", "consents", "events", "consent"));
  t.Refused(Disclosure(t.id, "FI", "consent", "events"), "disclosures");
  // Within one append, in order: a consent given earlier in the same input counts.
  t.Accepted(CustomerLine(t.id, "consent_given", "consents", "events", "consent") +
             Disclosure(t.id, "FI", "consent", "events"));
}

TEST_CASE("while processing is restricted, only rights, rectification and legal duties are recorded") {
  RulesFixture t;
  const std::string usage = CustomerLine(t.id, "recorded", "usage", "service_delivery", "contract",
                                 R"({"kind":"exercise"})");
  t.Accepted(CustomerLine(t.id, "restricted", "profile", "service_delivery", "contract"));
  t.Refused(usage, "restriction");
  t.Refused(Disclosure(t.id, "FI", "consent"), "restriction");
  t.Accepted(CustomerLine(t.id, "rectified", "profile", "customer_relationship", "legitimate_interest",
                  R"({"city":"Oulu"})"));
  t.Accepted(CustomerLine(t.id, "recorded", "billing", "service_delivery", "legal_obligation",
                  R"({"invoice_number":"INV-1"})"));
  // The whole input is refused if any line breaks a rule, even one made so by an earlier line.
  t.Accepted(CustomerLine(t.id, "restriction_lifted", "profile", "service_delivery", "contract"));
  t.Refused(usage + CustomerLine(t.id, "restricted", "profile", "service_delivery", "contract") + usage,
            "restriction");
  t.Accepted(usage);
}

TEST_CASE("after an objection to direct marketing, nothing is recorded for marketing") {
  RulesFixture t;
  const std::string marketing = CustomerLine(t.id, "recorded", "profile", "marketing", "consent",
                                     R"({"title":"rehtori"})");
  t.Accepted(CustomerLine(t.id, "consent_given", "consents", "marketing", "consent"));
  t.Accepted(marketing);
  t.Accepted(CustomerLine(t.id, "marketing_objected", "consents", "marketing", "legitimate_interest"));
  t.Refused(marketing, "objection");
  t.Accepted(CustomerLine(t.id, "recorded", "profile", "service_delivery", "contract",
                  R"({"title":"rehtori"})"));  // other purposes go on
  // The person opting in again, explicitly, lifts the objection.
  t.Accepted(CustomerLine(t.id, "consent_given", "consents", "marketing", "consent"));
  t.Accepted(marketing);
}

TEST_CASE("the rights survive a restart: the rules hold across opens") {
  RulesFixture t;
  t.Accepted(CustomerLine(t.id, "restricted", "profile", "service_delivery", "contract"));
  t.Reopen();
  t.Refused(CustomerLine(t.id, "recorded", "usage", "service_delivery", "contract",
                 R"({"kind":"exercise"})"),
            "restriction");
}
