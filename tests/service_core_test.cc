// What `kirjuri serve` stands on, tested without the network: group commit (many callers, one
// synced write per batch, each caller's events still one atomic unit), the access log
// (dataAccessed events that change no view and no subject summary), bearer tokens (stored
// hashed), and the Service's role checks and redaction under the shipped Almerin policy.
#include <atomic>
#include <catch2/catch.hpp>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "kirjuri/group_commit.h"
#include "kirjuri/views.h"
#include "ledger_fixture.h"
#include "policy.h"  // DefaultPolicyJson
#include "service/service.h"

using namespace kirjuri;
using namespace kirjuri::test;

namespace {

// Submits `events` and waits for the acknowledgement.
std::pair<Status, std::vector<Appended>> SubmitAndWait(GroupCommitter& c,
                                                       std::vector<NewEvent> events) {
  std::promise<std::pair<Status, std::vector<Appended>>> p;
  auto f = p.get_future();
  c.Submit(std::move(events), [&p](const Status& s, std::vector<Appended> out) {
    p.set_value({s, std::move(out)});
  });
  return f.get();
}

// Every file under `dir`, concatenated (to look for bytes that must not be stored).
std::string AllBytes(const fs::path& dir) {
  std::string all;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) all += ReadFile(e.path());
  }
  return all;
}

class ServiceFixture : public LedgerFixture {
 public:
  ServiceFixture() {
    InitAndOpen();
    Status s = Views::Open(&ledger(), data(), nullptr, &views);
    REQUIRE(s.ok());
    service = std::make_unique<service::Service>(ledger(), *views);
  }
  ~ServiceFixture() {
    service.reset();
    views.reset();
  }

  service::Caller Caller(const std::string& role) {
    return service::Caller{"emp-" + role, role, "test"};
  }

  std::pair<Status, std::vector<Appended>> Append(const service::Caller& caller,
                                                  const std::string& lines) {
    std::promise<std::pair<Status, std::vector<Appended>>> p;
    auto f = p.get_future();
    service->Append(caller, lines, [&p](const Status& s, std::vector<Appended> out) {
      p.set_value({s, std::move(out)});
    });
    return f.get();
  }

  // dataAccessed events of `subject`, as (actor, purpose, categories).
  std::vector<std::tuple<std::string, std::string, std::vector<std::string>>> Accesses(
      const SubjectId& subject) {
    std::vector<std::tuple<std::string, std::string, std::vector<std::string>>> out;
    REQUIRE(ledger()
                .ReadSubjectEvents(subject,
                                   [&](const EventView& e) {
                                     auto ev = e.signed_event.getEvent();
                                     auto env = ev.getEnvelope();
                                     if (env.getType() != schema::EventType::DATA_ACCESSED) {
                                       return Status::Ok();
                                     }
                                     std::vector<std::string> cats;
                                     for (auto c : ev.getAccess().getCategories()) {
                                       cats.push_back(c);
                                     }
                                     out.emplace_back(env.getActor(), env.getPurpose(), cats);
                                     return Status::Ok();
                                   })
                .ok());
    return out;
  }

  std::unique_ptr<Views> views;
  std::unique_ptr<service::Service> service;
};

const std::string kCustomer =
    R"({"register":"customer","subject":"new","type":"recorded","category":"profile",)"
    R"("actor":"emp-1","purpose":"service_delivery","basis":"contract","source":"web_form",)"
    R"("data":{"name":"Aino Example","email":"aino@example.fi","city":"Oulu"}})";

std::string Usage(const std::string& subject) {
  return R"({"register":"customer","subject":")" + subject +
         R"(","type":"recorded","category":"usage","actor":"svc-learn",)"
         R"("purpose":"service_delivery","basis":"contract","source":"cookies",)"
         R"("data":{"kind":"login"}})";
}

}  // namespace

TEST_CASE("group commit: concurrent callers get gap-free, contiguous, durable appends") {
  LedgerFixture f;
  f.InitAndOpen();
  GroupCommitter committer(&f.ledger());
  constexpr int kThreads = 8, kPerThread = 25, kEventsEach = 3;
  std::vector<std::vector<std::vector<Appended>>> acks(kThreads);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::vector<NewEvent> events;
        for (int k = 0; k < kEventsEach; ++k) events.push_back(ValidEvent(t * 1000 + i * 10 + k));
        auto [s, out] = SubmitAndWait(committer, std::move(events));
        if (!s.ok() || out.size() != kEventsEach) ++failures;
        acks[t].push_back(std::move(out));
      }
    });
  }
  for (auto& th : threads) th.join();
  REQUIRE(failures == 0);
  std::set<uint64_t> seqs;
  for (const auto& per_thread : acks) {
    for (const auto& unit : per_thread) {
      // One caller's events are one unit: consecutive numbers.
      for (size_t k = 1; k < unit.size(); ++k) CHECK(unit[k].seq == unit[k - 1].seq + 1);
      for (const Appended& a : unit) seqs.insert(a.seq);
    }
  }
  const uint64_t total = kThreads * kPerThread * kEventsEach;
  REQUIRE(seqs.size() == total);
  CHECK(*seqs.begin() == 0);
  CHECK(*seqs.rbegin() == total - 1);
  const GroupCommitter::Stats stats = committer.stats();
  CHECK(stats.events == total);
  CHECK(stats.submissions == kThreads * kPerThread);
  CHECK(stats.batches <= stats.submissions);
  committer.Stop();
  f.Reopen();  // durable: the log reopens at the acknowledged size and verifies
  CHECK(f.ledger().size() == total);
  CHECK(f.Verify().first.ok());
}

TEST_CASE("group commit: a refused caller fails alone, with its own event number") {
  LedgerFixture f;
  f.InitAndOpen();
  auto existing = f.AppendN(1);
  uint64_t erased_seq = 0;
  REQUIRE(f.ledger().Erase({existing[0].subject, "REQ-1", "dpo-1", 0}, &erased_seq).ok());
  const uint64_t before = f.ledger().size();

  GroupCommitter committer(&f.ledger());
  // Queued back to back, so that most of them share a batch with the bad one.
  constexpr int kGood = 12;
  std::vector<std::promise<std::pair<Status, std::vector<Appended>>>> promises(kGood + 1);
  for (int i = 0; i <= kGood; ++i) {
    std::vector<NewEvent> events{ValidEvent(100 + i), ValidEvent(200 + i)};
    if (i == kGood / 2) events[1].subject = existing[0].subject;  // erased: refused
    committer.Submit(std::move(events), [&promises, i](const Status& s, std::vector<Appended> o) {
      promises[i].set_value({s, std::move(o)});
    });
  }
  for (int i = 0; i <= kGood; ++i) {
    auto [s, out] = promises[i].get_future().get();
    if (i == kGood / 2) {
      INFO(s.ToString());
      CHECK(s.IsInvalidArgument());
      CHECK(s.message().rfind("event 2:", 0) == 0);  // its own numbering, not the batch's
      CHECK(out.empty());
    } else {
      INFO(s.ToString());
      CHECK(s.ok());
      CHECK(out.size() == 2);
    }
  }
  committer.Stop();
  CHECK(f.ledger().size() == before + 2 * kGood);
  CHECK(f.Verify().first.ok());
}

TEST_CASE("group commit: Stop appends what is queued, then refuses") {
  LedgerFixture f;
  f.InitAndOpen();
  GroupCommitter committer(&f.ledger());
  std::atomic<int> ok{0};
  for (int i = 0; i < 200; ++i) {
    committer.Submit({ValidEvent(i)}, [&ok](const Status& s, std::vector<Appended>) {
      if (s.ok()) ++ok;
    });
  }
  committer.Stop();
  CHECK(ok == 200);
  CHECK(f.ledger().size() == 200);
  auto [s, out] = SubmitAndWait(committer, {ValidEvent(999)});
  CHECK(s.code() == Status::Code::kFailedPrecondition);
  CHECK(f.ledger().size() == 200);
}

TEST_CASE("the access log: signed dataAccessed events that change no view and no summary") {
  ServiceFixture f;
  std::vector<Appended> out;
  REQUIRE(f.AppendLines(kCustomer + "\n", &out).ok());
  const SubjectId id = out[0].subject;
  REQUIRE(f.views->CatchUp().ok());
  SubjectSummary before;
  REQUIRE(f.ledger().GetSubject(id, &before).ok());
  std::string row_before;
  REQUIRE(f.views->Dump("customer", &row_before).ok());

  AccessRecord a;
  a.subject = id;
  a.actor = "emp-0042";
  a.role = "staff";
  a.purpose = "customer_relationship";
  a.via = "cli";
  a.operation = "query";
  a.categories = {"profile"};
  AccessRecord unknown = a;
  unknown.subject[0] ^= 0xff;  // nobody: skipped
  std::vector<AccessRecord> records{a, unknown};
  std::vector<uint64_t> seqs;
  REQUIRE(f.ledger().RecordAccesses(records, &seqs).ok());
  REQUIRE(seqs.size() == 1);
  auto accesses = f.Accesses(id);
  REQUIRE(accesses.size() == 1);
  CHECK(std::get<0>(accesses[0]) == "emp-0042");
  CHECK(std::get<1>(accesses[0]) == "customer_relationship");
  CHECK(std::get<2>(accesses[0]) == std::vector<std::string>{"profile"});

  SubjectSummary after;
  REQUIRE(f.ledger().GetSubject(id, &after).ok());
  CHECK(after.event_count == before.event_count);
  REQUIRE(f.views->CatchUp().ok());
  std::string row_after;
  REQUIRE(f.views->Dump("customer", &row_after).ok());
  // Only the applied size moved (its 8 bytes are at the end of the dump); the rows did not.
  CHECK(row_after.size() == row_before.size());
  REQUIRE(f.views->Rebuild("").ok());
  std::string rebuilt;
  REQUIRE(f.views->Dump("customer", &rebuilt).ok());
  CHECK(rebuilt == row_after);
  CHECK(f.Verify().first.ok());

  // A purpose the register does not declare: refused, nothing written.
  const uint64_t size = f.ledger().size();
  a.purpose = "curiosity";
  Status s = f.ledger().RecordAccesses({&a, 1});
  CHECK(s.IsInvalidArgument());
  CHECK(f.ledger().size() == size);
}

TEST_CASE("tokens are stored hashed, name their actor and role, and can be revoked") {
  LedgerFixture f;
  f.InitAndOpen();
  std::string token;
  REQUIRE(f.ledger().IssueToken("crm-1", "staff", "dpo-1", &token).ok());
  TokenInfo info;
  REQUIRE(f.ledger().Authenticate(token, &info).ok());
  CHECK(info.actor == "crm-1");
  CHECK(info.role == "staff");
  CHECK(f.ledger().IssueToken("x-1", "janitor", "dpo-1", &token).IsInvalidArgument());
  CHECK(f.ledger().IssueToken("Aino Example", "staff", "dpo-1", &token).IsInvalidArgument());

  std::string other;
  REQUIRE(f.ledger().IssueToken("mailer-1", "marketing", "dpo-1", &other).ok());
  std::string forged = other;
  forged.back() = forged.back() == '0' ? '1' : '0';
  CHECK(f.ledger().Authenticate(forged, &info).code() == Status::Code::kUnauthenticated);
  CHECK(f.ledger().Authenticate("", &info).code() == Status::Code::kUnauthenticated);

  REQUIRE(f.ledger().RevokeToken(other, "dpo-1").ok());
  CHECK(f.ledger().Authenticate(other, &info).code() == Status::Code::kUnauthenticated);
  REQUIRE(f.ledger().Authenticate(token, &info).ok());

  // Listed by id, oldest first; revoked by that id too.
  std::string third, third_id;
  REQUIRE(f.ledger().IssueToken("crm-2", "auditor", "dpo-1", &third, &third_id).ok());
  std::vector<TokenRecord> listed;
  REQUIRE(f.ledger().ListTokens(&listed).ok());
  REQUIRE(listed.size() == 2);
  CHECK(listed[0].info.actor == "crm-1");
  CHECK(listed[1].id == third_id);
  CHECK(listed[1].info.role == "auditor");
  CHECK(listed[0].info.issued_at_micros <= listed[1].info.issued_at_micros);
  CHECK(f.ledger().RevokeToken("0123456789abcdef", "dpo-1").IsNotFound());
  CHECK(f.ledger().RevokeToken("xyz", "dpo-1").IsInvalidArgument());
  std::string upper = third_id;
  for (char& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  TokenRecord revoked;
  REQUIRE(f.ledger().RevokeToken(upper, "dpo-1", &revoked).ok());
  CHECK(revoked.id == third_id);
  CHECK(revoked.info.actor == "crm-2");
  CHECK(f.ledger().Authenticate(third, &info).code() == Status::Code::kUnauthenticated);
  REQUIRE(f.ledger().ListTokens(&listed).ok());
  CHECK(listed.size() == 1);

  // Each issue and revocation is a signed event about the ledger (the all-zero subject), naming
  // who did it and the token's id, holder and role, never the token.
  std::vector<std::tuple<schema::EventType, std::string, std::string, std::string>> changes;
  REQUIRE(f.ledger()
              .ReadEvents(0, f.ledger().size(),
                          [&](const EventView& e) {
                            auto env = e.signed_event.getEvent().getEnvelope();
                            CHECK(env.getSubject().size() == 16);
                            for (auto b : env.getSubject()) CHECK(b == 0);
                            CHECK(std::string(env.getActor().cStr()) == "dpo-1");
                            auto t = e.signed_event.getEvent().getToken();
                            changes.emplace_back(env.getType(), t.getId(), t.getActor(),
                                                 t.getRole());
                            return Status::Ok();
                          })
              .ok());
  using T = schema::EventType;
  REQUIRE(changes.size() == 5);  // three issued (the janitor's was refused), two revoked
  CHECK(std::get<0>(changes[0]) == T::TOKEN_ISSUED);
  CHECK(std::get<2>(changes[0]) == "crm-1");
  CHECK(std::get<3>(changes[0]) == "staff");
  CHECK(std::get<0>(changes[2]) == T::TOKEN_REVOKED);
  CHECK(std::get<2>(changes[2]) == "mailer-1");
  CHECK(std::get<0>(changes[4]) == T::TOKEN_REVOKED);
  CHECK(std::get<1>(changes[4]) == third_id);
  CHECK(std::get<1>(changes[3]) == third_id);
  auto [verified, result] = f.Verify();
  INFO(verified.ToString());
  CHECK(verified.ok());
  // Who issues or revokes is an id like any actor; a refused change writes nothing.
  const uint64_t size = f.ledger().size();
  CHECK(f.ledger().IssueToken("crm-3", "staff", "Aino Example", &third).IsInvalidArgument());
  CHECK(f.ledger().RevokeToken(token, "").IsInvalidArgument());
  CHECK(f.ledger().size() == size);
  REQUIRE(f.ledger().Authenticate(token, &info).ok());

  f.Close();
  const std::string stored = AllBytes(f.data());
  CHECK(stored.find(token) == std::string::npos);
  CHECK(stored.find(token.substr(4)) == std::string::npos);
}

TEST_CASE("the service: each policy role may do exactly its actions") {
  ServiceFixture f;
  using A = service::Action;
  // The shipped Almerin policy's roles.
  const std::map<std::string, std::set<A>> allowed = {
      {"dpo", {A::kAppend, A::kQuery, A::kMarketingAudience, A::kExport, A::kRequests, A::kErase,
               A::kProofs, A::kEnvelopes, A::kReports, A::kAudit, A::kTokens}},
      {"staff", {A::kAppend, A::kQuery, A::kExport, A::kRequests, A::kProofs}},
      {"marketing", {A::kMarketingAudience}},
      {"auditor", {A::kProofs, A::kEnvelopes, A::kReports, A::kAudit}},
      {"service", {A::kAppend}},
  };
  for (const auto& [role, actions] : allowed) {
    for (A a : {A::kAppend, A::kQuery, A::kMarketingAudience, A::kExport, A::kRequests,
                A::kErase, A::kProofs, A::kEnvelopes, A::kReports, A::kAudit, A::kTokens}) {
      INFO(role << " " << service::ActionName(a));
      Status s = f.service->Authorize(f.Caller(role), a);
      if (actions.count(a)) {
        CHECK(s.ok());
      } else {
        CHECK(s.code() == Status::Code::kPermissionDenied);
      }
    }
  }
  CHECK(f.service->Authorize(f.Caller("janitor"), A::kQuery).code() ==
        Status::Code::kPermissionDenied);
}

TEST_CASE("the service: envelopes come at most 10 000 a call, none for max 0, and next says "
          "where to go on") {
  ServiceFixture f;
  const uint64_t total = service::Service::kMaxEnvelopesPerCall + 5;
  f.AppendN(total, 1000);
  const service::Caller auditor = f.Caller("auditor");
  std::string ndjson;
  uint64_t next = 99;
  // max 0 asks for nothing (it once read one event).
  REQUIRE(f.service->Envelopes(auditor, 7, 0, &ndjson, &next).ok());
  CHECK(ndjson.empty());
  CHECK(next == 7);
  // A huge max is capped: the answer is built whole in memory.
  REQUIRE(f.service->Envelopes(auditor, 0, size_t{1} << 40, &ndjson, &next).ok());
  CHECK(testing::CompleteLines(ndjson).size() == service::Service::kMaxEnvelopesPerCall);
  CHECK(next == service::Service::kMaxEnvelopesPerCall);
  REQUIRE(f.service->Envelopes(auditor, next, size_t{1} << 40, &ndjson, &next).ok());
  CHECK(testing::CompleteLines(ndjson).size() == 5);
  CHECK(next == total);
  // Past the end, and near the top of the range (no overflow): nothing, next unchanged.
  REQUIRE(f.service->Envelopes(auditor, total + 3, 10, &ndjson, &next).ok());
  CHECK(ndjson.empty());
  CHECK(next == total + 3);
  REQUIRE(f.service->Envelopes(auditor, UINT64_MAX - 2, 10, &ndjson, &next).ok());
  CHECK(ndjson.empty());
  CHECK(next == UINT64_MAX - 2);
}

TEST_CASE("the service: appends keep to the role's categories, and reads are redacted and logged") {
  ServiceFixture f;
  auto [s, out] = f.Append(f.Caller("staff"), kCustomer + "\n");
  INFO(s.ToString());
  REQUIRE(s.ok());
  const SubjectId id = out[0].subject;
  const std::string hex = SubjectIdHex(id);

  // The learning service records usage, and nothing else.
  auto [u, u_out] = f.Append(f.Caller("service"), Usage(hex) + "\n");
  INFO(u.ToString());
  REQUIRE(u.ok());
  const uint64_t size = f.ledger().size();
  auto [p, p_out] = f.Append(f.Caller("service"), kCustomer + "\n");
  CHECK(p.code() == Status::Code::kPermissionDenied);
  auto [m, m_out] = f.Append(f.Caller("marketing"), Usage(hex) + "\n");
  CHECK(m.code() == Status::Code::kPermissionDenied);
  auto [bad, bad_out] = f.Append(f.Caller("staff"), "{\"register\":\"customer\"\n");
  CHECK(bad.IsInvalidArgument());
  CHECK(f.ledger().size() == size);

  // Staff read everything (their reads are logged, with the categories returned).
  std::string json;
  REQUIRE(f.service->GetSubject(f.Caller("staff"), "customer", hex, "", "", &json).ok());
  CHECK(json.find("Aino Example") != std::string::npos);
  CHECK(f.service->GetSubject(f.Caller("staff"), "partner", hex, "", "", &json).IsNotFound());
  CHECK(f.service->GetSubject(f.Caller("staff"), "customer", hex, "", "curiosity", &json)
            .IsInvalidArgument());
  CHECK(f.service->GetSubject(f.Caller("marketing"), "customer", hex, "", "", &json).code() ==
        Status::Code::kPermissionDenied);
  CHECK(f.service->GetSubject(f.Caller("auditor"), "customer", hex, "", "", &json).code() ==
        Status::Code::kPermissionDenied);

  std::string report;
  CHECK(f.service->Erase(f.Caller("staff"), hex, "", &report).code() ==
        Status::Code::kPermissionDenied);

  f.service->Shutdown();  // the access log is written before Shutdown returns
  auto accesses = f.Accesses(id);
  REQUIRE(accesses.size() == 1);
  CHECK(std::get<0>(accesses[0]) == "emp-staff");
  CHECK(std::get<1>(accesses[0]) == "service_delivery");
  CHECK(std::get<2>(accesses[0]) == std::vector<std::string>{"profile", "usage"});
  CHECK(f.Verify().first.ok());
}

TEST_CASE("the service: the marketing audience shows name and email only, each person logged") {
  ServiceFixture f;
  const std::string consent =
      R"({"register":"customer","subject":"SUBJ","type":"consent_given","category":"consents",)"
      R"("actor":"emp-1","purpose":"marketing","basis":"consent","source":"web_form",)"
      R"("data":{"notice":"v1","method":"web_form"}})";
  std::vector<SubjectId> ids;
  for (int i = 0; i < 3; ++i) {
    auto [s, out] = f.Append(f.Caller("staff"), kCustomer + "\n");
    REQUIRE(s.ok());
    ids.push_back(out[0].subject);
  }
  for (int i = 0; i < 2; ++i) {
    std::string line = consent;
    line.replace(line.find("SUBJ"), 4, SubjectIdHex(ids[i]));
    auto [s, out] = f.Append(f.Caller("staff"), line + "\n");
    INFO(s.ToString());
    REQUIRE(s.ok());
  }
  std::string ndjson;
  REQUIRE(f.service->MarketingAudience(f.Caller("marketing"), "", &ndjson).ok());
  CHECK(std::count(ndjson.begin(), ndjson.end(), '\n') == 2);
  CHECK(ndjson.find("aino@example.fi") != std::string::npos);
  CHECK(ndjson.find("Oulu") == std::string::npos);  // city: not what a mailer needs
  f.service->Shutdown();
  CHECK(f.Accesses(ids[0]).size() == 1);
  CHECK(std::get<1>(f.Accesses(ids[0])[0]) == "marketing");
  CHECK(f.Accesses(ids[2]).empty());
}

TEST_CASE("the service: a register's list comes in pages by subject id, filtered, each person "
          "read logged") {
  ServiceFixture f;
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    std::string line = kCustomer;
    if (i == 3) line.replace(line.find("Oulu"), 4, "Kemi");
    auto [s, out] = f.Append(f.Caller("staff"), line + "\n");
    REQUIRE(s.ok());
    ids.push_back(SubjectIdHex(out[0].subject));
  }
  const uint64_t four = f.ledger().size() - 1;  // the size before the last person
  const std::vector<std::string> appended = ids;
  std::sort(ids.begin(), ids.end());
  const service::Caller staff = f.Caller("staff");
  auto subjects = [](const std::string& ndjson) {
    std::vector<std::string> out;
    for (size_t at = ndjson.find("{\"subject\":\""); at != std::string::npos;
         at = ndjson.find("{\"subject\":\"", at + 1)) {
      out.push_back(ndjson.substr(at + 12, 32));
    }
    return out;
  };

  // Two by two, each page after the last subject of the one before: every person once, in order.
  ViewFilter page;
  page.limit = 2;
  std::vector<std::string> seen;
  for (int calls = 1;; ++calls) {
    REQUIRE(calls <= 3);
    std::string ndjson;
    REQUIRE(f.service->ListSubjects(staff, "customer", page, "", "", &ndjson).ok());
    const std::vector<std::string> got = subjects(ndjson);
    CHECK(std::count(ndjson.begin(), ndjson.end(), '\n') == static_cast<long>(got.size()));
    seen.insert(seen.end(), got.begin(), got.end());
    if (got.size() < page.limit) break;
    REQUIRE(service::Service::PageAfter(got.back(), &page).ok());
  }
  CHECK(seen == ids);

  // A filter, a point in the past, a page of none; what may not be asked.
  std::string ndjson;
  ViewFilter kemi;
  kemi.city = "Kemi";
  kemi.limit = 1000;
  REQUIRE(f.service->ListSubjects(staff, "customer", kemi, "", "", &ndjson).ok());
  CHECK(subjects(ndjson).size() == 1);
  CHECK(ndjson.find("Kemi") != std::string::npos);
  ViewFilter all;
  all.limit = 1000;
  REQUIRE(f.service->ListSubjects(staff, "customer", all, std::to_string(four - 1), "", &ndjson)
              .ok());
  CHECK(subjects(ndjson).size() == 4);
  // As of a point the list is folded from the log: the same pages.
  ViewFilter past;
  past.limit = 3;
  REQUIRE(f.service->ListSubjects(staff, "customer", past, std::to_string(four - 1), "", &ndjson)
              .ok());
  std::vector<std::string> then = subjects(ndjson);
  REQUIRE(then.size() == 3);
  REQUIRE(service::Service::PageAfter(then.back(), &past).ok());
  REQUIRE(f.service->ListSubjects(staff, "customer", past, std::to_string(four - 1), "", &ndjson)
              .ok());
  for (const std::string& hex : subjects(ndjson)) then.push_back(hex);
  std::vector<std::string> first_four(appended.begin(), appended.begin() + 4);
  std::sort(first_four.begin(), first_four.end());
  CHECK(then == first_four);
  REQUIRE(f.service->ListSubjects(staff, "customer", ViewFilter{}, "", "", &ndjson).ok());
  CHECK(ndjson.empty());
  CHECK(f.service->ListSubjects(staff, "customer", all, "", "curiosity", &ndjson)
            .IsInvalidArgument());
  CHECK(f.service->ListSubjects(staff, "supplier", all, "", "", &ndjson).IsInvalidArgument());
  CHECK(f.service->ListSubjects(f.Caller("marketing"), "customer", all, "", "", &ndjson).code() ==
        Status::Code::kPermissionDenied);
  CHECK(service::Service::PageAfter("not-an-id", &page).IsInvalidArgument());

  // Every person shown was logged, once per list that showed them: the pages (1), the lists as
  // of four people (2, the fifth not in them), and Kemi's person once more.
  f.service->Shutdown();
  for (size_t i = 0; i < appended.size(); ++i) {
    SubjectId id{};
    REQUIRE(ParseSubjectId(appended[i], &id).ok());
    const auto accesses = f.Accesses(id);
    INFO("person " << i);
    CHECK(accesses.size() == (i == 4 ? 1u : i == 3 ? 4u : 3u));
    for (const auto& [actor, purpose, categories] : accesses) {
      CHECK(actor == "emp-staff");
      CHECK(purpose == "service_delivery");
      CHECK(categories == std::vector<std::string>{"profile"});
    }
  }
}

TEST_CASE("the service: a role that may not read the profile may not filter a list by it") {
  ServiceFixture f;
  auto [s, out] = f.Append(f.Caller("staff"), kCustomer + "\n");
  REQUIRE(s.ok());
  REQUIRE(f.Append(f.Caller("staff"), Usage(SubjectIdHex(out[0].subject)) + "\n").first.ok());
  // An analyst role (through a policy change): queries, and reads usage alone.
  std::string policy(DefaultPolicyJson());
  policy.replace(policy.find("\"version\": 2"), 12, "\"version\": 3");
  policy.insert(policy.find("\"roles\": [") + 10,
                R"({"name":"analyst","title":{"fi":"Analyytikko","en":"Analyst"},)"
                R"("actions":["query"],"readCategories":["usage"],"appendCategories":[]},)");
  uint64_t seq = 0;
  REQUIRE(f.ledger().ApplyPolicy(policy, "dpo-01", &seq).ok());
  ViewFilter oulu;
  oulu.city = "Oulu";
  oulu.limit = 10;
  std::string ndjson;
  Status refused = f.service->ListSubjects(f.Caller("analyst"), "customer", oulu, "", "", &ndjson);
  CHECK(refused.code() == Status::Code::kPermissionDenied);
  CHECK(ndjson.empty());
  ViewFilter all;
  all.limit = 10;
  REQUIRE(f.service->ListSubjects(f.Caller("analyst"), "customer", all, "", "", &ndjson).ok());
  CHECK(ndjson.find("\"subject\":") != std::string::npos);
  CHECK(ndjson.find("Aino Example") == std::string::npos);  // the profile is left out
  CHECK(ndjson.find("Oulu") == std::string::npos);
}
