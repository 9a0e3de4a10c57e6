// People's requests (issue 5): each step a signed event, deadlines under GDPR Art. 12(3), and
// fulfilment that does the work — an export, an erasure with its report, an objection or a
// restriction that the views show at once, a rectification.
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "kirjuri/requests.h"
#include "kirjuri/time.h"
#include "kirjuri/views.h"
#include "ledger_fixture.h"

using namespace kirjuri;
using namespace kirjuri::test;

namespace {

int64_t At(const char* rfc3339) {
  int64_t micros = 0;
  REQUIRE(ParseRfc3339(rfc3339, &micros).ok());
  return micros;
}

class RequestsFixture : public LedgerFixture {
 public:
  RequestsFixture() {
    InitAndOpen();
    std::vector<Appended> out;
    REQUIRE(AppendLines(
                R"({"register":"customer","subject":"new","type":"recorded","category":"profile","actor":"emp-1","purpose":"service_delivery","basis":"contract","source":"web_form","data":{"name":"Pyyntö Testinen","city":"Oulu"}})"
                "\n"
                R"({"register":"customer","subject":"new","type":"recorded","category":"billing","actor":"emp-1","purpose":"service_delivery","basis":"contract","source":"web_form","data":{"order_id":"ORD-PYYNTO"}})"
                "\n",
                &out)
                .ok());
    person = out[0].subject;
    REQUIRE(AppendLines(R"({"register":"customer","subject":")" + SubjectIdHex(person) +
                        R"(","type":"consent_given","category":"consents","actor":"emp-1","purpose":"marketing","basis":"consent","source":"web_form"})")
                .ok());
    REQUIRE(Views::Open(&ledger(), data(), nullptr, &views).ok());
  }
  ~RequestsFixture() { views.reset(); }

  RequestRecord Open(const std::string& kind, const std::string& ref, int64_t received = 0) {
    uint64_t seq = 0;
    Status s = ledger().OpenRequest(person, kind, ref, "dpo-01", received, &seq);
    INFO(s.ToString());
    REQUIRE(s.ok());
    RequestRecord r;
    REQUIRE(ledger().GetRequest(ref, &r).ok());
    return r;
  }
  FulfilResult Fulfil(const std::string& ref, const std::string& data = "") {
    FulfilOptions o;
    o.ref = ref;
    o.actor = "dpo-01";
    o.out = tmp().path() / ref;
    o.data_json = data;
    FulfilResult result;
    Status s = FulfilRequest(ledger(), views.get(), o, &result);
    INFO(s.ToString());
    REQUIRE(s.ok());
    return result;
  }
  SubjectView Now() {
    SubjectView v;
    REQUIRE(views->Get(person, 0, &v).ok());
    return v;
  }

  SubjectId person{};
  std::unique_ptr<Views> views;
};

}  // namespace

TEST_CASE("one month to answer: a request goes overdue after it and not before") {
  CHECK(AddMonths(At("2026-01-31T10:00:00Z"), 1) == At("2026-02-28T10:00:00Z"));
  CHECK(AddMonths(At("2028-01-31T10:00:00Z"), 1) == At("2028-02-29T10:00:00Z"));
  CHECK(AddMonths(At("2026-11-15T00:00:00Z"), 3) == At("2027-02-15T00:00:00Z"));

  RequestsFixture t;
  const int64_t received = NowMicros() - int64_t{3} * 86400 * 1000000;  // three days ago
  RequestRecord r = t.Open("access", "REQ-1", received);
  CHECK(r.state == "open");
  CHECK(r.received_at_micros == received);
  CHECK(r.due_at_micros == AddMonths(received, 1));
  CHECK_FALSE(r.Overdue(r.due_at_micros));
  CHECK(r.Overdue(r.due_at_micros + 1));

  // An extension moves the deadline, by two months at most in all, with a reason.
  uint64_t seq = 0;
  CHECK(t.ledger().ExtendRequest("REQ-1", 1, "", "dpo-01", &seq).IsInvalidArgument());
  REQUIRE(t.ledger().ExtendRequest("REQ-1", 1, "many requests this month", "dpo-01", &seq).ok());
  REQUIRE(t.ledger().GetRequest("REQ-1", &r).ok());
  CHECK(r.due_at_micros == AddMonths(received, 2));
  CHECK(t.ledger().ExtendRequest("REQ-1", 2, "more", "dpo-01", &seq).IsInvalidArgument());
  REQUIRE(t.ledger().ExtendRequest("REQ-1", 1, "complex request", "dpo-01", &seq).ok());
  REQUIRE(t.ledger().GetRequest("REQ-1", &r).ok());
  CHECK(r.due_at_micros == AddMonths(received, 3));
  CHECK(r.extended_months == 2);
  CHECK(r.seqs.size() == 3);

  // Too late to extend once the first month has passed.
  t.Open("objection", "REQ-OLD", AddMonths(NowMicros(), 0) - int64_t{40} * 86400 * 1000000);
  CHECK(t.ledger().ExtendRequest("REQ-OLD", 1, "late", "dpo-01", &seq).IsInvalidArgument());
  RequestRecord old;
  REQUIRE(t.ledger().GetRequest("REQ-OLD", &old).ok());
  CHECK(old.Overdue(NowMicros()));
}

TEST_CASE("requests are signed events that name their reference, never accepted as input") {
  RequestsFixture t;
  const uint64_t size = t.ledger().size();
  t.Open("access", "REQ-2");
  REQUIRE(t.ledger().size() == size + 1);
  REQUIRE(t.ledger().ReadEvents(size, size + 1, [&](const EventView& e) {
    auto event = e.signed_event.getEvent();
    CHECK(event.getEnvelope().getType() == schema::EventType::REQUEST_RECEIVED);
    CHECK(std::string(event.getEnvelope().getRequest().cStr()) == "REQ-2");
    CHECK(std::string(event.getRequestInfo().getKind().cStr()) == "access");
    return Status::Ok();
  }).ok());
  VerifyResult result;
  CHECK(t.ledger().Verify({}, &result).ok());

  uint64_t seq = 0;
  CHECK(t.ledger().OpenRequest(t.person, "access", "REQ-2", "dpo-01", 0, &seq).IsInvalidArgument());
  CHECK(t.ledger().OpenRequest(t.person, "deletion", "REQ-3", "dpo-01", 0, &seq).IsInvalidArgument());
  SubjectId stranger{};
  stranger[0] = 1;
  CHECK(t.ledger().OpenRequest(stranger, "access", "REQ-4", "dpo-01", 0, &seq).IsNotFound());
  // The all-zero subject is the ledger itself (its policy changes), no person.
  CHECK(t.ledger().OpenRequest(SubjectId{}, "access", "REQ-5", "dpo-01", 0, &seq).IsInvalidArgument());
  for (const char* type : {"request_received", "request_fulfilled", "subject_erased",
                           "retention_expired", "policy_changed"}) {
    Status s = t.AppendLines(std::string(R"({"register":"customer","subject":")") +
                             SubjectIdHex(t.person) + R"(","type":")" + type +
                             R"(","category":"profile","actor":"emp-1","purpose":"service_delivery","basis":"contract","source":"contact"})");
    INFO(type);
    CHECK(s.IsInvalidArgument());
  }
  CHECK(t.ledger().size() == size + 1);
}

TEST_CASE("fulfilling an objection or a restriction takes effect in the views at once") {
  RequestsFixture t;
  CHECK(t.Now().InMarketingAudience());
  t.Open("objection", "REQ-O");
  FulfilResult o = t.Fulfil("REQ-O");
  REQUIRE(o.outcome_seqs.size() == 1);
  CHECK(t.Now().marketing_objected);
  CHECK_FALSE(t.Now().InMarketingAudience());
  RequestRecord r;
  REQUIRE(t.ledger().GetRequest("REQ-O", &r).ok());
  CHECK(r.state == "fulfilled");
  CHECK(r.seqs.back() == o.closing_seq);
  CHECK(r.seqs.back() > o.outcome_seqs[0]);

  t.Open("restriction", "REQ-R");
  t.Fulfil("REQ-R");
  CHECK(t.Now().restricted);
  // Closing twice is refused.
  FulfilOptions again;
  again.ref = "REQ-R";
  again.actor = "dpo-01";
  FulfilResult ignored;
  CHECK(FulfilRequest(t.ledger(), t.views.get(), again, &ignored).code() ==
        Status::Code::kFailedPrecondition);
}

TEST_CASE("a rectification records the corrected values, and a refusal records its reason") {
  RequestsFixture t;
  t.Open("rectification", "REQ-C");
  t.Fulfil("REQ-C", R"({"city":"Kuopio"})");
  CHECK(t.Now().ProfileText("city") == "Kuopio");
  // Values the policy does not allow are refused, and the request stays open.
  t.Open("rectification", "REQ-D");
  {
    FulfilOptions none;
    none.ref = "REQ-D";
    none.actor = "dpo-01";
    FulfilResult ignored;
    const uint64_t size = t.ledger().size();
    Status s = FulfilRequest(t.ledger(), t.views.get(), none, &ignored);
    CHECK(s.message() == "a rectification records the corrected values: give --data");
    t.Open("access", "REQ-E");
    none.ref = "REQ-E";  // an access request's answer is a document: where does it go?
    s = FulfilRequest(t.ledger(), t.views.get(), none, &ignored);
    CHECK(s.message() == "an access request writes documents: give --out DIR");
    CHECK(t.ledger().size() == size + 1);  // the access request opened, nothing more
  }
  FulfilOptions bad;
  bad.ref = "REQ-D";
  bad.actor = "dpo-01";
  bad.data_json = R"({"password":"hunter2"})";
  FulfilResult ignored;
  CHECK(FulfilRequest(t.ledger(), t.views.get(), bad, &ignored).IsInvalidArgument());
  RequestRecord r;
  REQUIRE(t.ledger().GetRequest("REQ-D", &r).ok());
  CHECK(r.state == "open");
  uint64_t seq = 0;
  CHECK(t.ledger().CloseRequest("REQ-D", false, "", {}, "dpo-01", &seq).IsInvalidArgument());
  // An outcome that is not in the log is refused; the request stays open.
  const uint64_t past_end = t.ledger().size();
  const uint64_t outcome[] = {past_end};
  Status s = t.ledger().CloseRequest("REQ-D", true, "", outcome, "dpo-01", &seq);
  CHECK(s.IsInvalidArgument());
  CHECK(s.message().find("is not in the log") != std::string::npos);
  CHECK(t.ledger().size() == past_end);
  REQUIRE(t.ledger().CloseRequest("REQ-D", false, "the data was already correct", {}, "dpo-01",
                                  &seq).ok());
  REQUIRE(t.ledger().GetRequest("REQ-D", &r).ok());
  CHECK(r.state == "refused");
  // Closed is closed: no second answer, no later extension, nothing written.
  const uint64_t size = t.ledger().size();
  s = t.ledger().CloseRequest("REQ-D", false, "again", {}, "dpo-01", &seq);
  CHECK(s.code() == Status::Code::kFailedPrecondition);
  CHECK(s.message() == "request 'REQ-D' is already refused");
  CHECK(t.ledger().ExtendRequest("REQ-D", 1, "more time", "dpo-01", &seq).code() ==
        Status::Code::kFailedPrecondition);
  CHECK(t.ledger().size() == size);
  REQUIRE(t.ledger().GetRequest("REQ-D", &r).ok());
  CHECK(r.state == "refused");
}

TEST_CASE("fulfilling access writes the export, and fulfilling erasure erases and writes the report") {
  RequestsFixture t;
  t.Open("access", "REQ-A");
  FulfilResult a = t.Fulfil("REQ-A");
  REQUIRE(a.files.size() == 2);
  const std::string page = ReadFile(t.tmp().path() / "REQ-A" / "export.html");
  CHECK(page.find("Pyyntö Testinen") != std::string::npos);
  CHECK(ReadFile(t.tmp().path() / "REQ-A" / "export.json").find("\"Oulu\"") != std::string::npos);
  // Reading the person's data to answer them is in the access log, and answered the request.
  REQUIRE(a.outcome_seqs.size() == 1);
  REQUIRE(t.ledger().ReadEvents(a.outcome_seqs[0], a.outcome_seqs[0] + 1, [&](const EventView& e) {
    auto event = e.signed_event.getEvent();
    CHECK(event.getEnvelope().getType() == schema::EventType::DATA_ACCESSED);
    CHECK(std::string(event.getEnvelope().getRequest().cStr()) == "REQ-A");
    CHECK(std::string(event.getEnvelope().getActor().cStr()) == "dpo-01");
    CHECK(std::string(event.getAccess().getOperation().cStr()) == "export");
    CHECK(std::string(event.getAccess().getVia().cStr()) == "cli");
    CHECK(event.getAccess().getCategories().size() > 0);
    return Status::Ok();
  }).ok());
  RequestRecord answered;
  REQUIRE(t.ledger().GetRequest("REQ-A", &answered).ok());
  CHECK(answered.state == "fulfilled");
  REQUIRE(t.ledger().ReadEvents(a.closing_seq, a.closing_seq + 1, [&](const EventView& e) {
    auto outcome = e.signed_event.getEvent().getRequestInfo().getOutcomeSeqs();
    REQUIRE(outcome.size() == 1);
    CHECK(outcome[0] == a.outcome_seqs[0]);
    return Status::Ok();
  }).ok());

  t.Open("erasure", "REQ-E");
  FulfilResult e = t.Fulfil("REQ-E");
  REQUIRE(e.outcome_seqs.size() == 1);
  SubjectSummary summary;
  REQUIRE(t.ledger().GetSubject(t.person, &summary).ok());
  REQUIRE(summary.erased_at_seq);
  CHECK(*summary.erased_at_seq == e.outcome_seqs[0]);
  CHECK(fs::exists(t.tmp().path() / "REQ-E" / "report.json"));
  CHECK(ReadFile(t.tmp().path() / "REQ-E" / "report.json").find("REQ-E") != std::string::npos);
  CHECK(t.Now().erased);

  // The person asks again: that erasure answers the new request, with its report as the proof.
  t.Open("erasure", "REQ-E2");
  const uint64_t before = t.ledger().size();
  FulfilResult again = t.Fulfil("REQ-E2");
  REQUIRE(again.outcome_seqs == e.outcome_seqs);
  CHECK(t.ledger().size() == before + 1);  // only the closing event: nothing was erased anew
  RequestRecord second;
  REQUIRE(t.ledger().GetRequest("REQ-E2", &second).ok());
  CHECK(second.state == "fulfilled");
  // The report is the first erasure's (it names the request that erasure answered).
  CHECK(ReadFile(t.tmp().path() / "REQ-E2" / "report.json").find("\"REQ-E\"") !=
        std::string::npos);
  VerifyResult verified;
  CHECK(t.ledger().Verify(VerifyOptions(), &verified).ok());
}

// A request's record says whether it is open, when it is due and which events answered it; the
// deadline checks and `request list` read it. verify folds the request events and compares, so
// that a record removed, added or altered in the database alone is named.
TEST_CASE("verify notices a request record added, removed or altered") {
  RequestsFixture f;
  f.Open("access", "REQ-A");
  f.Open("objection", "REQ-B");
  uint64_t seq = 0;
  REQUIRE(f.ledger().ExtendRequest("REQ-A", 1, "many systems to search", "dpo-01", &seq).ok());
  REQUIRE(f.ledger().CloseRequest("REQ-B", false, "no grounds given", {}, "dpo-01", &seq).ok());
  {
    auto [s, result] = f.Verify();
    INFO(s.ToString());
    REQUIRE(s.ok());
  }
  f.views.reset();
  f.Close();
  const std::optional<std::string> stored_b = f.GetRaw(kDefaultCf, "request/REQ-B");
  REQUIRE(stored_b);
  std::string expected;
  SECTION("a record removed") {
    f.DeleteKey(kDefaultCf, "request/REQ-A");
    expected = "request 'REQ-A' is missing";
  }
  SECTION("a record added") {
    f.PutRaw(kDefaultCf, "request/REQ-C", *stored_b);
    expected = "request 'REQ-C' has no event in the log";
  }
  SECTION("a record replaced by another's") {
    f.PutRaw(kDefaultCf, "request/REQ-A", *stored_b);
    expected = "request 'REQ-A' differs from the log in its subject or kind";
  }
  f.Reopen(LedgerFixture::NoCheckOnOpen());
  auto [s, result] = f.Verify();
  INFO(s.ToString());
  CHECK(s.IsCorruption());
  CHECK(s.message().find(expected) != std::string::npos);
}
