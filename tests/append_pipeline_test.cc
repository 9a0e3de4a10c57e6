// The append pipeline (Ledger::Reserve, Ledger::Commit): batches are numbered in the order they
// are reserved and written in that order whichever thread commits them; each is checked against
// the batches in flight before it; a batch that fails takes the later ones with it and leaves
// the log as it was; and many threads appending at once leave a gap-free log whose subject
// summaries count every event.
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "ledger_fixture.h"

using namespace kirjuri;
using namespace kirjuri::test;

namespace {

std::vector<NewEvent> Parse(Ledger& ledger, const std::string& lines) {
  std::vector<NewEvent> events;
  Status s = ledger.ParseLines(lines, &events);
  INFO(s.ToString());
  REQUIRE(s.ok());
  return events;
}

std::unique_ptr<Ledger::Reservation> Reserve(Ledger& ledger, const std::vector<NewEvent>& events) {
  std::unique_ptr<Ledger::Reservation> r;
  Status s = ledger.Reserve(events, &r);
  INFO(s.ToString());
  REQUIRE(s.ok());
  REQUIRE(r);
  return r;
}

}  // namespace

TEST_CASE("pipelined batches are written in the order they were reserved") {
  LedgerFixture f;
  f.InitAndOpen();
  std::vector<NewEvent> a = {ValidEvent(1), ValidEvent(2)}, b = {ValidEvent(3)};
  auto ra = Reserve(f.ledger(), a);
  auto rb = Reserve(f.ledger(), b);
  CHECK(ra->first_seq() == 0);
  CHECK(rb->first_seq() == 2);

  // B is committed first, on another thread: it is sealed and signed, then waits for A.
  std::vector<Appended> out_b;
  Status sb;
  std::atomic<bool> b_done{false};
  std::thread t([&] {
    sb = f.ledger().Commit(std::move(rb), &out_b);
    b_done = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK_FALSE(b_done);
  CHECK(f.ledger().size() == 0);  // nothing of B is written before A

  std::vector<Appended> out_a;
  Status sa = f.ledger().Commit(std::move(ra), &out_a);
  t.join();
  REQUIRE(sa.ok());
  REQUIRE(sb.ok());
  REQUIRE(out_a.size() == 2);
  REQUIRE(out_b.size() == 1);
  CHECK(out_a[0].seq == 0);
  CHECK(out_a[1].seq == 1);
  CHECK(out_b[0].seq == 2);
  CHECK(f.ledger().size() == 3);
  CHECK(f.Verify().first.ok());
  f.Reopen();
  CHECK(f.ledger().size() == 3);
  CHECK(f.Verify().first.ok());
  SubjectSummary summary;
  REQUIRE(f.ledger().GetSubject(out_b[0].subject, &summary).ok());
  CHECK(summary.first_seq == 2);
}

TEST_CASE("a batch is checked against the batches in flight before it") {
  LedgerFixture f;
  f.InitAndOpen();
  std::vector<Appended> out;
  REQUIRE(f.AppendLines(CustomerLine("new", "recorded", "profile", "service_delivery", "contract",
                             R"({"name":"Putki Testinen"})"),
                        &out)
              .ok());
  const std::string id = SubjectIdHex(out[0].subject);
  REQUIRE(f.AppendLines(CustomerLine(id, "consent_given", "consents", "marketing", "consent")).ok());
  const std::string marketing =
      CustomerLine(id, "recorded", "profile", "marketing", "consent", R"({"title":"rehtori"})");

  // The objection is reserved, not yet written: the marketing event after it is refused.
  auto objection = Parse(f.ledger(), CustomerLine(id, "marketing_objected", "consents", "marketing",
                                          "legitimate_interest"));
  auto r = Reserve(f.ledger(), objection);
  auto later = Parse(f.ledger(), marketing);
  std::unique_ptr<Ledger::Reservation> refused;
  Status s = f.ledger().Reserve(later, &refused);
  CHECK(s.IsInvalidArgument());
  CHECK(s.message().find("rule objection:") != std::string::npos);
  CHECK_FALSE(refused);
  // A refused reservation takes nothing from the pipeline: the objection is written as reserved.
  std::vector<Appended> written;
  REQUIRE(f.ledger().Commit(std::move(r), &written).ok());
  CHECK(written[0].seq == 2);
  CHECK(f.AppendLines(marketing).IsInvalidArgument());
  CHECK(f.ledger().size() == 3);
  CHECK(f.Verify().first.ok());
}

TEST_CASE("a batch dropped in flight fails the ones after it, and the log stays as it was") {
  LedgerFixture f;
  f.InitAndOpen();
  f.AppendN(1);
  std::string before;
  REQUIRE(f.ledger().LatestCheckpoint(&before).ok());

  std::vector<NewEvent> a = {ValidEvent(10)}, b = {ValidEvent(11), ValidEvent(12)};
  auto ra = Reserve(f.ledger(), a);
  auto rb = Reserve(f.ledger(), b);
  ra.reset();  // never committed, as if its sealing had failed
  std::vector<Appended> out;
  Status s = f.ledger().Commit(std::move(rb), &out);
  CHECK(s.code() == Status::Code::kIOError);
  CHECK(out.empty());
  CHECK(f.ledger().size() == 1);
  std::string after;
  REQUIRE(f.ledger().LatestCheckpoint(&after).ok());
  CHECK(after == before);

  // Numbering restarts from the log: the next append takes seq 1.
  auto next = f.AppendN(2, 2);
  CHECK(next[0].seq == 1);
  CHECK(next[1].seq == 2);
  CHECK(f.Verify().first.ok());
  f.Reopen();
  CHECK(f.ledger().size() == 3);
  CHECK(f.Verify().first.ok());
}

TEST_CASE("other writers wait for the batches in flight") {
  LedgerFixture f;
  f.InitAndOpen();
  auto first = f.AppendN(1);
  std::vector<NewEvent> a = {ValidEvent(20), ValidEvent(21)};
  auto ra = Reserve(f.ledger(), a);
  // A request opened now must not take the numbers A holds: it waits until A is written.
  std::atomic<bool> opened{false};
  Status so;
  uint64_t request_seq = 0;
  std::thread t([&] {
    so = f.ledger().OpenRequest(first[0].subject, "access", "REQ-PIPE-1", "dpo-1", 0, &request_seq);
    opened = true;
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK_FALSE(opened);
  std::vector<Appended> out;
  REQUIRE(f.ledger().Commit(std::move(ra), &out).ok());
  t.join();
  INFO(so.ToString());
  REQUIRE(so.ok());
  CHECK(out[0].seq == 1);
  CHECK(request_seq == 3);
  CHECK(f.Verify().first.ok());
}

TEST_CASE("many threads appending at once: a gap-free log and every subject's events counted") {
  LedgerFixture f;
  f.InitAndOpen();
  constexpr int kThreads = 4, kRounds = 25;
  std::vector<std::map<SubjectId, uint64_t>> counts(kThreads);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::vector<SubjectId> mine;
      for (int round = 0; round < kRounds; ++round) {
        // Two new people, and an event for each of up to three of this thread's earlier ones.
        std::vector<NewEvent> events = {ValidEvent(t * 1000 + round * 2),
                                        ValidEvent(t * 1000 + round * 2 + 1)};
        for (size_t k = 0; k < std::min<size_t>(3, mine.size()); ++k) {
          NewEvent e = ValidEvent(t * 1000 + round * 2);
          e.subject = mine[(round * 7 + k * 3) % mine.size()];
          events.push_back(std::move(e));
        }
        std::vector<Appended> out;
        if (!f.ledger().Append(events, &out).ok() || out.size() != events.size()) {
          ++failures;
          return;
        }
        for (size_t k = 1; k < out.size(); ++k) {
          if (out[k].seq != out[k - 1].seq + 1) ++failures;
        }
        for (const Appended& a : out) ++counts[t][a.subject];
        mine.push_back(out[0].subject);
        mine.push_back(out[1].subject);
      }
    });
  }
  for (auto& th : threads) th.join();
  REQUIRE(failures == 0);
  uint64_t total = 0;
  for (const auto& c : counts) {
    for (const auto& [subject, n] : c) total += n;
  }
  CHECK(f.ledger().size() == total);
  auto [status, result] = f.Verify();
  INFO(status.ToString());
  CHECK(status.ok());
  CHECK(result.events == total);
  f.Reopen();
  for (const auto& c : counts) {
    for (const auto& [subject, n] : c) {
      SubjectSummary summary;
      REQUIRE(f.ledger().GetSubject(subject, &summary).ok());
      CHECK(summary.event_count == n);
    }
  }
}
