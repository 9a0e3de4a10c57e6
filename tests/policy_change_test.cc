// A policy change is itself a signed event (issue 5): it holds the new policy whole, chained to
// the one it replaces, and from then on appends are checked against it.
#include <algorithm>
#include <catch2/catch.hpp>
#include <string>

#include "kirjuri/crypto.h"
#include "kirjuri/views.h"
#include "ledger_fixture.h"
#include "policy.h"  // DefaultPolicyJson
#include "service/service.h"

using namespace kirjuri;
using namespace kirjuri::test;

namespace {

// The shipped policy with another version and, if `drop`, one country less.
std::string Changed(unsigned version, const std::string& drop = "") {
  std::string json = testing::ReplacedOnce(std::string(DefaultPolicyJson()), "\"version\": 2",
                                           "\"version\": " + std::to_string(version));
  if (!drop.empty()) json = testing::ReplacedOnce(json, "\"" + drop + "\",", "");
  return json;
}

// `json` (a policy) without the purpose "marketing" in `register_name`'s purposes (renamed
// "newsletter": declared, but no longer marketing).
std::string WithoutMarketing(std::string json, const std::string& register_name) {
  const size_t reg = json.find("\"name\": \"" + register_name + "\"");
  REQUIRE(reg != std::string::npos);
  const std::string purpose = "\"name\": \"marketing\"";
  const size_t at = json.find(purpose, reg);
  REQUIRE(at != std::string::npos);
  REQUIRE(json.find("\"purposes\"", reg) < at);
  json.replace(at, purpose.size(), "\"name\": \"newsletter\"");
  return json;
}

// A new person's profile, recorded in `register_name` for `purpose`.
std::string NewPerson(const std::string& register_name, const std::string& purpose,
                      const std::string& data) {
  return R"({"register":")" + register_name +
         R"(","subject":"new","type":"recorded","category":"profile","actor":"emp-1","purpose":")" +
         purpose + R"(","basis":"contract","source":"web_form","data":)" + data + "}";
}

std::string Consent(const SubjectId& id, const std::string& register_name) {
  return R"({"register":")" + register_name + R"(","subject":")" + SubjectIdHex(id) +
         R"(","type":"consent_given","category":"consents","actor":"emp-1","purpose":"marketing",)"
         R"("basis":"consent","source":"web_form","data":{"notice":"v1","method":"web_form"}})";
}

std::string Disclosure(const SubjectId& id, const std::string& country) {
  return R"({"register":"customer","subject":")" + SubjectIdHex(id) +
         R"(","type":"disclosed","category":"profile","actor":"emp-1","purpose":"events","basis":"legal_obligation","source":"contact","data":{"recipient":"Messut Oy","country":")" +
         country + R"("}})";
}

std::string Hex(capnp::Data::Reader d) { return HexEncode({d.begin(), d.size()}); }

}  // namespace

TEST_CASE("a policy change is a signed event, chained to the policy it replaces, and enforced") {
  LedgerFixture t;
  t.InitAndOpen();
  std::vector<Appended> out;
  REQUIRE(t.AppendLines(
              R"({"register":"customer","subject":"new","type":"recorded","category":"profile","actor":"emp-1","purpose":"service_delivery","basis":"contract","source":"web_form","data":{"name":"Politiikka Testinen"}})",
              &out)
              .ok());
  const SubjectId id = out[0].subject;
  REQUIRE(t.AppendLines(Disclosure(id, "SE")).ok());
  std::string initial;
  REQUIRE(t.ledger().PolicyJson(false, &initial).ok());

  const std::string next = Changed(3, "SE");
  const uint64_t size = t.ledger().size();
  uint64_t seq = 0;
  REQUIRE(t.ledger().ApplyPolicy(next, "dpo-01", &seq).ok());
  CHECK(seq == size);
  CHECK(t.ledger().policy().getVersion() == 3);
  REQUIRE(t.ledger().ReadEvents(seq, seq + 1, [&](const EventView& e) {
    auto event = e.signed_event.getEvent();
    CHECK(event.getEnvelope().getType() == schema::EventType::POLICY_CHANGED);
    CHECK(event.getEnvelope().getSubject().size() == 16);
    CHECK(std::string(event.getPolicyChange().getJson().cStr()) == next);
    CHECK(Hex(event.getPolicyChange().getSha256()) ==
          HexEncode(Sha256({reinterpret_cast<const uint8_t*>(next.data()), next.size()})));
    CHECK(Hex(event.getPolicyChange().getPreviousSha256()) ==
          HexEncode(Sha256({reinterpret_cast<const uint8_t*>(initial.data()), initial.size()})));
    return Status::Ok();
  }).ok());

  // Enforced from then on, also after a restart; the events before stay as they were.
  Status s = t.AppendLines(Disclosure(id, "SE"));
  CHECK(s.IsInvalidArgument());
  CHECK(s.message().find("rule transfers") != std::string::npos);
  t.Reopen();
  CHECK(t.ledger().policy().getVersion() == 3);
  CHECK(t.AppendLines(Disclosure(id, "SE")).IsInvalidArgument());
  CHECK(t.AppendLines(Disclosure(id, "FI")).ok());
  std::string kept;
  REQUIRE(t.ledger().PolicyJson(true, &kept).ok());
  CHECK(kept == initial);
  REQUIRE(t.ledger().PolicyJson(false, &kept).ok());
  CHECK(kept == next);
  VerifyResult result;
  CHECK(t.ledger().Verify({}, &result).ok());

  // The views and their point-in-time queries are not troubled by the ledger's own events.
  std::unique_ptr<Views> views;
  REQUIRE(Views::Open(&t.ledger(), t.data(), nullptr, &views).ok());
  std::vector<SubjectView> rows;
  REQUIRE(views->List("customer", ViewFilter{}, 0, &rows).ok());
  CHECK(rows.size() == 1);
  REQUIRE(views->MarketingAudience(t.ledger().size() - 1, &rows).ok());
  CHECK(rows.empty());
  views.reset();

  // The ledger itself is no person.
  uint64_t ignored = 0;
  CHECK(t.ledger().Erase({SubjectId{}, "REQ-0", "dpo-01", 0}, &ignored).IsInvalidArgument());
}

TEST_CASE("a policy change that does not parse, renames or does not raise the version writes nothing") {
  LedgerFixture t;
  t.InitAndOpen();
  uint64_t seq = 0;
  std::string renamed = Changed(3);
  renamed.replace(renamed.find("\"almerin\""), 9, "\"toinen\"");
  for (const std::string& bad : {std::string("{not json"), Changed(2), Changed(1), renamed,
                                 std::string(R"({"name":"almerin","version":9})")}) {
    INFO(bad.substr(0, 40));
    CHECK(t.ledger().ApplyPolicy(bad, "dpo-01", &seq).IsInvalidArgument());
    CHECK(t.ledger().size() == 0);
    CHECK(t.ledger().policy().getVersion() == 2);
  }
}

// A policy is held to its own rules before anything is written under it: at init nothing is made,
// and as a change the ledger stays as it was.
TEST_CASE("a policy that breaks its own rules is refused with the rule, at init and as a change") {
  std::string shipped = Changed(3);
  auto replaced = [&](std::string_view from, std::string_view to) {
    return testing::ReplacedOnce(shipped, from, to);
  };
  std::string no_bases = shipped;
  {
    const size_t from = no_bases.find("\"lawfulBases\": [");
    REQUIRE(from != std::string::npos);
    no_bases.replace(from, no_bases.find(']', from) + 1 - from, "\"lawfulBases\": []");
  }
  const std::string register_body =
      R"("purposes":[{"name":"p"}],"sources":[{"name":"s"}],)"
      R"("categories":[{"name":"profile","fields":[{"name":"f"}]}]})";
  auto minimal = [](const std::string& registers, const std::string& more = "") {
    return R"({"name":"almerin","version":3,"lawfulBases":["consent"],"registers":[)" +
           registers + "]" + more + "}";
  };
  struct Case {
    const char* name;
    std::string json;
    const char* reason;
  };
  const std::vector<Case> cases = {
      {"no name", replaced("\"name\": \"almerin\"", "\"name\": \"\""),
       "policy: 'name' is missing"},
      {"no lawful bases", no_bases, "policy: no lawful bases declared"},
      {"a register declared twice", replaced("\"name\": \"partner\"", "\"name\": \"customer\""),
       "policy: register 'customer' declared twice"},
      {"a retention duty of no years", replaced("\"years\": 6", "\"years\": 0"),
       "' needs a reason and a number of years"},
      {"a register without purposes",
       minimal(R"({"name":"customer","purposes":[],)" + register_body.substr(26)),
       "policy: register 'customer' needs purposes, sources and categories"},
      {"a register without a name", minimal("{" + register_body), "policy: a register has no name"},
      {"no registers", minimal(""), "policy: no registers declared"},
      {"disclosures on a basis it does not declare",
       minimal(R"({"name":"customer",)" + register_body,
               R"(,"disclosures":{"allowedBases":["vital_interest"]})"),
       "policy: disclosures allow the undeclared basis 'vital_interest'"},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION("at init: " << c.name) {
      LedgerFixture t;
      InitOptions options;
      options.policy_json = c.json;
      Status s = t.Init(options);
      INFO(s.ToString());
      CHECK(s.IsInvalidArgument());
      CHECK(s.message().find(c.reason) != std::string::npos);
      CHECK_FALSE(fs::exists(t.data()));
      CHECK_FALSE(fs::exists(DefaultMasterKeyPath(t.data())));
    }
    DYNAMIC_SECTION("as a change: " << c.name) {
      LedgerFixture t;
      t.InitAndOpen();
      uint64_t seq = 0;
      Status s = t.ledger().ApplyPolicy(c.json, "dpo-01", &seq);
      INFO(s.ToString());
      CHECK(s.IsInvalidArgument());
      CHECK(s.message().find(c.reason) != std::string::npos);
      CHECK(t.ledger().size() == 0);
      CHECK(t.ledger().policy().getVersion() == 2);
    }
  }
}

TEST_CASE("a purpose the policy no longer declares: the marketing audience leaves that register") {
  LedgerFixture t;
  t.InitAndOpen();
  std::vector<Appended> out;
  REQUIRE(t.AppendLines(
              NewPerson("customer", "service_delivery", R"({"name":"Asiakas Testinen"})") + "\n" +
                  NewPerson("partner", "partnership", R"({"name":"Kumppani Testinen"})"),
              &out)
              .ok());
  const SubjectId customer = out[0].subject, partner = out[1].subject;
  REQUIRE(t.AppendLines(Consent(customer, "customer") + "\n" + Consent(partner, "partner")).ok());
  const uint64_t before = t.ledger().size();
  std::unique_ptr<Views> views;
  REQUIRE(Views::Open(&t.ledger(), t.data(), nullptr, &views).ok());
  auto audience = [&](uint64_t as_of) {
    std::vector<SubjectView> rows;
    Status s = views->MarketingAudience(as_of, &rows);
    INFO(s.ToString());
    REQUIRE(s.ok());
    std::vector<std::string> registers;
    for (const SubjectView& v : rows) registers.push_back(v.register_name);
    std::sort(registers.begin(), registers.end());  // rows come in subject id order
    return registers;
  };
  auto listed = [&](const SubjectId& id, uint64_t as_of) {
    SubjectView v;
    REQUIRE(views->Get(id, as_of, &v).ok());
    return v.InMarketingAudience();
  };
  CHECK(audience(0) == std::vector<std::string>{"customer", "partner"});

  // The customer register no longer declares marketing: nobody of it is in the audience, now;
  // as of before the change they were, but a read now serves marketing now, which the register
  // no longer declares, so an audience as of then lists the partner alone too.
  uint64_t seq = 0;
  REQUIRE(t.ledger().ApplyPolicy(WithoutMarketing(Changed(3), "customer"), "dpo-01", &seq).ok());
  std::vector<std::string> declaring;
  REQUIRE(t.ledger().RegistersDeclaring("marketing", 0, &declaring).ok());
  CHECK(declaring == std::vector<std::string>{"partner"});
  REQUIRE(t.ledger().RegistersDeclaring("marketing", before, &declaring).ok());
  CHECK(declaring == std::vector<std::string>{"customer", "partner"});
  REQUIRE(views->CatchUp().ok());
  CHECK(audience(0) == std::vector<std::string>{"partner"});
  CHECK(audience(before) == std::vector<std::string>{"partner"});
  CHECK_FALSE(listed(customer, 0));
  CHECK(listed(customer, before));  // the person as they stood then
  CHECK(listed(partner, 0));
  std::vector<SubjectView> rows;
  REQUIRE(views->List("customer", ViewFilter{}, 0, &rows).ok());
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].ToJson().find("\"in_marketing_audience\":false") != std::string::npos);

  // Neither register: there is no audience to read, said in one line; a rebuild changes nothing.
  const std::string neither = WithoutMarketing(WithoutMarketing(Changed(4), "customer"), "partner");
  REQUIRE(t.ledger().ApplyPolicy(neither, "dpo-01", &seq).ok());
  const uint64_t without = t.ledger().size();
  REQUIRE(views->Rebuild("").ok());
  Status s = views->MarketingAudience(0, &rows);
  CHECK(s.code() == Status::Code::kFailedPrecondition);
  CHECK(s.message() == "the policy in force declares the purpose 'marketing' for no register: "
                       "there is no marketing audience");
  CHECK(views->MarketingAudience(before, &rows).code() == Status::Code::kFailedPrecondition);
  CHECK_FALSE(listed(partner, 0));

  // Declared again (the consents were never withdrawn): both are back, and as of the point
  // where neither register declared it, nobody was in it.
  REQUIRE(t.ledger().ApplyPolicy(Changed(5), "dpo-01", &seq).ok());
  REQUIRE(views->CatchUp().ok());
  CHECK(audience(0) == std::vector<std::string>{"customer", "partner"});
  CHECK(audience(without).empty());
  CHECK(audience(before) == std::vector<std::string>{"customer", "partner"});

  // After a restart, from the policies in the log.
  views.reset();
  t.Reopen();
  REQUIRE(t.ledger().RegistersDeclaring("marketing", without, &declaring).ok());
  CHECK(declaring.empty());
  REQUIRE(t.ledger().RegistersDeclaring("marketing", before + 1, &declaring).ok());
  CHECK(declaring == std::vector<std::string>{"partner"});
}

TEST_CASE("a purpose the policy no longer declares: the service reads nobody for it") {
  LedgerFixture t;
  t.InitAndOpen();
  std::vector<Appended> out;
  REQUIRE(t.AppendLines(NewPerson("customer", "service_delivery",
                                  R"({"name":"Asiakas Testinen","email":"asiakas@example.fi"})"),
                        &out)
              .ok());
  REQUIRE(t.AppendLines(Consent(out[0].subject, "customer")).ok());
  std::unique_ptr<Views> views;
  REQUIRE(Views::Open(&t.ledger(), t.data(), nullptr, &views).ok());
  const service::Caller mailer{"mailer-01", "marketing", "test"};
  std::string ndjson;
  {
    service::Service svc(t.ledger(), *views);
    REQUIRE(svc.MarketingAudience(mailer, "", &ndjson).ok());
    CHECK(ndjson.find("asiakas@example.fi") != std::string::npos);
  }
  const uint64_t before = t.ledger().size();  // the read above is in the access log
  CHECK(before == 3);
  uint64_t seq = 0;
  REQUIRE(t.ledger()
              .ApplyPolicy(WithoutMarketing(WithoutMarketing(Changed(3), "customer"), "partner"),
                           "dpo-01", &seq)
              .ok());
  {
    service::Service svc(t.ledger(), *views);
    Status s = svc.MarketingAudience(mailer, "", &ndjson);
    CHECK(service::HttpStatus(s) == 409);
    CHECK(svc.MarketingAudience(mailer, std::to_string(before - 1), &ndjson).code() ==
          Status::Code::kFailedPrecondition);
  }  // Shutdown writes what the access log gathered
  CHECK(t.ledger().size() == before + 1);  // the policy change alone
}
