// How the feed waits: every waiting subscription holds a branch of `changed_`, a forked promise
// that Broadcast() fulfils and replaces. Wake() on the loop thread broadcasts at once; from any
// other thread it fulfils `remote_`, a cross-thread fulfiller (queued on the loop, never
// blocking the caller — the committer may call it while the loop thread waits for it in
// Service::Shutdown), and the loop broadcasts when it runs the continuation. A subscription reads
// the log's size and, if caught up, takes its branch in the same turn, so a commit after the read
// is always followed by a broadcast it sees.
#include "service/change_feed.h"

#include <algorithm>
#include <mutex>
#include <thread>

namespace kirjuri::service {

struct ChangeFeed::Impl {
  Service& service;
  const uint64_t max_batch;
  kj::Timer* const timer;  // null: no keep-alives
  const kj::Duration keepalive;
  const std::thread::id loop_thread = std::this_thread::get_id();

  // Loop thread only.
  bool closed = false;
  kj::Own<kj::PromiseFulfiller<void>> changed_fulfiller;
  kj::ForkedPromise<void> changed = nullptr;
  kj::Own<kj::PromiseFulfiller<void>> closed_fulfiller;
  kj::ForkedPromise<void> closed_promise = nullptr;
  kj::Promise<void> remote_listener = nullptr;  // ListenRemote()

  // Shared with other threads.
  std::mutex mu;
  kj::Own<kj::CrossThreadPromiseFulfiller<void>> remote;  // guarded by mu; null when closed
  bool remote_closed = false;                             // guarded by mu

  struct Subscription {
    Subscription(Service& s, uint64_t from, Deliver d)
        : service(s), next(from), deliver(kj::mv(d)) {
      service.CountFeedSubscriptions(+1);
    }
    ~Subscription() { service.CountFeedSubscriptions(-1); }
    KJ_DISALLOW_COPY(Subscription);
    Service& service;
    uint64_t next;
    Deliver deliver;
  };

  Impl(Service& s, uint64_t batch, kj::Timer* t, kj::Duration k)
      : service(s),
        max_batch(std::max<uint64_t>(batch, 1)),
        timer(k > 0 * kj::SECONDS ? t : nullptr),
        keepalive(k) {
    auto paf = kj::newPromiseAndFulfiller<void>();
    changed = paf.promise.fork();
    changed_fulfiller = kj::mv(paf.fulfiller);
    auto closed_paf = kj::newPromiseAndFulfiller<void>();
    closed_promise = closed_paf.promise.fork();
    closed_fulfiller = kj::mv(closed_paf.fulfiller);
    remote_listener = ListenRemote().eagerlyEvaluate([](kj::Exception&&) {});
  }

  // Loop thread: awaits the next Wake() from another thread, broadcasts, and again, until the
  // feed closes (dropping `remote` rejects the promise).
  kj::Promise<void> ListenRemote() {
    auto paf = kj::newPromiseAndCrossThreadFulfiller<void>();
    {
      std::lock_guard<std::mutex> lock(mu);
      if (remote_closed) return kj::READY_NOW;
      remote = kj::mv(paf.fulfiller);
    }
    return paf.promise.then([this] {
      Broadcast();
      return ListenRemote();
    });
  }

  // Loop thread: every waiting subscription looks at the log again.
  void Broadcast() {
    if (closed) return;
    auto paf = kj::newPromiseAndFulfiller<void>();
    auto old = kj::mv(changed_fulfiller);
    changed = paf.promise.fork();
    changed_fulfiller = kj::mv(paf.fulfiller);
    old->fulfill();
  }

  kj::Promise<void> Next(Subscription& sub) {
    if (closed) return kj::READY_NOW;
    const uint64_t size = service.size();
    if (sub.next < size) {
      const uint64_t to = std::min(size, sub.next + max_batch);
      return sub.deliver(sub.next, to).then([this, &sub, to] {
        sub.next = to;
        return Next(sub);
      });
    }
    if (timer == nullptr) return changed.addBranch().then([this, &sub] { return Next(sub); });
    // Whichever comes first; the keep-alive is delivered only once the race is decided, so that
    // a commit never cancels a delivery half-written.
    auto woken = changed.addBranch().then([] { return false; });
    auto idle = timer->afterDelay(keepalive).then([] { return true; });
    return woken.exclusiveJoin(kj::mv(idle)).then([this, &sub](bool kept) -> kj::Promise<void> {
      if (!kept || closed) return Next(sub);
      return sub.deliver(sub.next, sub.next).then([this, &sub] { return Next(sub); });
    });
  }
};

ChangeFeed::ChangeFeed(Service& service, uint64_t max_batch)
    : impl_(std::make_unique<Impl>(service, max_batch, nullptr, 0 * kj::SECONDS)) {}

ChangeFeed::ChangeFeed(Service& service, kj::Timer& timer, kj::Duration keepalive,
                       uint64_t max_batch)
    : impl_(std::make_unique<Impl>(service, max_batch, &timer, keepalive)) {}

ChangeFeed::~ChangeFeed() { Close(); }

kj::Promise<void> ChangeFeed::Subscribe(uint64_t from, Deliver deliver) {
  if (impl_->closed) return kj::READY_NOW;
  auto sub = kj::heap<Impl::Subscription>(impl_->service, from, kj::mv(deliver));
  // Evaluated lazily: the first read of the log happens when the caller waits on the promise.
  auto run = kj::evalLater([impl = impl_.get(), s = sub.get()] { return impl->Next(*s); });
  return run.attach(kj::mv(sub)).exclusiveJoin(impl_->closed_promise.addBranch());
}

void ChangeFeed::Wake() {
  if (std::this_thread::get_id() == impl_->loop_thread) {
    impl_->Broadcast();
    return;
  }
  std::lock_guard<std::mutex> lock(impl_->mu);
  // Null between a wake-up and the loop re-arming, which happens in the continuation that
  // broadcasts: every subscription reads the size after that, so after this writer grew it.
  if (impl_->remote) {
    impl_->remote->fulfill();
    impl_->remote = nullptr;
  }
}

void ChangeFeed::Close() {
  if (impl_->closed) return;
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->remote_closed = true;
    impl_->remote = nullptr;  // its promise rejects; the listener swallows it
  }
  impl_->closed = true;
  impl_->closed_fulfiller->fulfill();
  impl_->changed_fulfiller->fulfill();
}

}  // namespace kirjuri::service
