// A policy change is itself a signed event (issue 5): it holds the new policy whole, chained to
// the one it replaces, and from then on appends are checked against it.
#include <catch2/catch.hpp>
#include <string>

#include "kirjuri/crypto.h"
#include "kirjuri/views.h"
#include "ledger_fixture.h"
#include "policy.h"  // DefaultPolicyJson

using namespace kirjuri;
using namespace kirjuri::test;

namespace {

// The shipped policy with another version and, if `drop`, one country less.
std::string Changed(unsigned version, const std::string& drop = "") {
  std::string json(DefaultPolicyJson());
  const std::string from = "\"version\": 2";
  REQUIRE(json.find(from) != std::string::npos);
  json.replace(json.find(from), from.size(), "\"version\": " + std::to_string(version));
  if (!drop.empty()) {
    const std::string entry = "\"" + drop + "\",";
    REQUIRE(json.find(entry) != std::string::npos);
    json.erase(json.find(entry), entry.size());
  }
  return json;
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
