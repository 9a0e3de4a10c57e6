// The change feed on a real ledger and a real KJ event loop: woken from the committer's thread,
// every event once and in order (also for a slow subscriber, in ranges of at most max_batch),
// Close ending every subscription, and Wake after Close harmless.
#include <kj/async-io.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <future>
#include <thread>

#include "kirjuri/views.h"
#include "ledger_fixture.h"
#include "service/change_feed.h"
#include "service/service.h"

using namespace kirjuri;
using namespace kirjuri::test;

namespace {

const char* const kLine =
    R"({"register":"customer","subject":"new","type":"recorded","category":"profile","actor":"emp-1","purpose":"service_delivery","basis":"contract","source":"web_form","data":{"name":"Syöte Testinen"}})"
    "\n";

struct FeedFixture : LedgerFixture {
  std::unique_ptr<Views> views;
  std::unique_ptr<service::Service> svc;
  service::Caller dpo{"dpo-01", "dpo", "test"};
  std::atomic<int> append_failures{0};  // Catch2 assertions are for the test's own thread

  FeedFixture() {
    InitAndOpen();
    REQUIRE(Views::Open(&ledger(), data(), nullptr, &views).ok());
    svc = std::make_unique<service::Service>(ledger(), *views);
  }
  ~FeedFixture() {
    svc.reset();
    views.reset();
  }

  // Appends `n` events, one submission each, from another thread (as clients' appends come).
  std::thread AppendElsewhere(int n) {
    return std::thread([this, n] {
      for (int i = 0; i < n; ++i) {
        std::promise<Status> done;
        svc->Append(dpo, kLine, [&](const Status& s, std::vector<Appended>) { done.set_value(s); });
        if (!done.get_future().get().ok()) ++append_failures;
      }
    });
  }
};

// Runs the loop until `*seen` holds `n` entries (or 10 s pass).
void RunUntil(kj::AsyncIoContext& io, const std::vector<uint64_t>* seen, size_t n) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (seen->size() < n && std::chrono::steady_clock::now() < deadline) {
    io.provider->getTimer().afterDelay(1 * kj::MILLISECONDS).wait(io.waitScope);
  }
}

}  // namespace

TEST_CASE("the change feed delivers every event once and in order, woken from other threads",
          "[service][feed]") {
  FeedFixture f;
  auto io = kj::setupAsyncIo();
  service::ChangeFeed feed(*f.svc, /*max_batch=*/3);
  f.svc->SetOnCommit([&feed] { feed.Wake(); });

  std::thread backlog = f.AppendElsewhere(5);
  backlog.join();

  std::vector<uint64_t> fast, slow;
  auto fast_sub = feed.Subscribe(0, [&](uint64_t from, uint64_t to) -> kj::Promise<void> {
                        CHECK(to - from <= 3);
                        for (uint64_t s = from; s < to; ++s) fast.push_back(s);
                        return kj::READY_NOW;
                      }).eagerlyEvaluate(nullptr);
  // A subscriber that takes 20 ms per range gets the same events, in its own time.
  auto slow_sub =
      feed.Subscribe(2, [&](uint64_t from, uint64_t to) -> kj::Promise<void> {
            return io.provider->getTimer().afterDelay(20 * kj::MILLISECONDS).then([&, from, to] {
              for (uint64_t s = from; s < to; ++s) slow.push_back(s);
            });
          }).eagerlyEvaluate(nullptr);

  std::thread live = f.AppendElsewhere(20);
  RunUntil(io, &fast, 25);
  live.join();
  RunUntil(io, &fast, 25);
  RunUntil(io, &slow, 23);
  REQUIRE(f.append_failures == 0);
  REQUIRE(fast.size() == 25);
  REQUIRE(slow.size() == 23);
  for (size_t i = 0; i < fast.size(); ++i) CHECK(fast[i] == i);
  for (size_t i = 0; i < slow.size(); ++i) CHECK(slow[i] == i + 2);

  // Close resolves every subscription; a Wake afterwards, from any thread, does nothing.
  feed.Close();
  fast_sub.wait(io.waitScope);
  slow_sub.wait(io.waitScope);
  std::thread after = f.AppendElsewhere(2);
  after.join();
  feed.Wake();
  CHECK(fast.size() == 25);
  f.svc->Shutdown();
  f.svc->SetOnCommit(nullptr);
}

TEST_CASE("a subscriber whose delivery fails ends alone, and a later subscriber starts where asked",
          "[service][feed]") {
  FeedFixture f;
  auto io = kj::setupAsyncIo();
  service::ChangeFeed feed(*f.svc);
  f.svc->SetOnCommit([&feed] { feed.Wake(); });
  std::thread t = f.AppendElsewhere(4);
  t.join();

  bool failed = false;
  auto broken = feed.Subscribe(0, [&](uint64_t, uint64_t) -> kj::Promise<void> {
    return KJ_EXCEPTION(DISCONNECTED, "client went away");
  });
  broken.then([] {}, [&](kj::Exception&&) { failed = true; }).wait(io.waitScope);
  CHECK(failed);

  std::vector<uint64_t> seen;
  auto sub = feed.Subscribe(3, [&](uint64_t from, uint64_t to) -> kj::Promise<void> {
               for (uint64_t s = from; s < to; ++s) seen.push_back(s);
               return kj::READY_NOW;
             }).eagerlyEvaluate(nullptr);
  RunUntil(io, &seen, 1);
  CHECK(seen == std::vector<uint64_t>{3});
  feed.Close();
  sub.wait(io.waitScope);
  f.svc->Shutdown();
  f.svc->SetOnCommit(nullptr);
}

TEST_CASE("an idle subscription gets keep-alives, and the events still come once and in order",
          "[service][feed]") {
  FeedFixture f;
  auto io = kj::setupAsyncIo();
  service::ChangeFeed feed(*f.svc, io.provider->getTimer(), 20 * kj::MILLISECONDS);
  f.svc->SetOnCommit([&feed] { feed.Wake(); });
  auto open = [&] {
    return testing::MetricValue(f.svc->Metrics(), "kirjuri_change_feed_subscriptions");
  };
  CHECK(open() == 0);

  std::vector<uint64_t> seen;
  std::vector<uint64_t> keepalives;  // the position of each
  auto sub = feed.Subscribe(0, [&](uint64_t from, uint64_t to) -> kj::Promise<void> {
               if (from == to) keepalives.push_back(from);
               for (uint64_t s = from; s < to; ++s) seen.push_back(s);
               return kj::READY_NOW;
             }).eagerlyEvaluate(nullptr);
  io.provider->getTimer().afterDelay(150 * kj::MILLISECONDS).wait(io.waitScope);
  CHECK(open() == 1);
  CHECK(seen.empty());
  REQUIRE(keepalives.size() >= 2);  // ~7 in 150 ms at 20 ms
  for (uint64_t k : keepalives) CHECK(k == 0);

  std::thread t = f.AppendElsewhere(3);
  t.join();
  RunUntil(io, &seen, 3);
  CHECK(seen == std::vector<uint64_t>{0, 1, 2});
  const size_t before = keepalives.size();
  io.provider->getTimer().afterDelay(100 * kj::MILLISECONDS).wait(io.waitScope);
  REQUIRE(keepalives.size() > before);  // idle again: keep-alives resume, after the events
  CHECK(keepalives.back() == 3);
  CHECK(seen.size() == 3);

  // A keep-alive that fails ends the subscription, as a failed delivery does: the gauge drops.
  bool failed = false;
  auto broken = feed.Subscribe(3, [&](uint64_t from, uint64_t to) -> kj::Promise<void> {
    if (from == to) return KJ_EXCEPTION(DISCONNECTED, "client went away");
    return kj::READY_NOW;
  });
  CHECK(open() == 2);
  broken.then([] {}, [&](kj::Exception&&) { failed = true; }).wait(io.waitScope);
  CHECK(failed);
  CHECK(open() == 1);

  feed.Close();
  sub.wait(io.waitScope);
  CHECK(open() == 0);
  f.svc->Shutdown();
  f.svc->SetOnCommit(nullptr);
}
