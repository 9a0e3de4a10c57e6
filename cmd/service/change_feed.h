// ChangeFeed: the change feed's subscriptions, on the server's KJ event loop.
//
// A subscriber asks for every event from a sequence number on. The feed calls its `deliver`
// with consecutive ranges [from, to) of the log (at most `max_batch` events each) as they are
// committed, and waits for the promise `deliver` returns before the next range: a slow client
// slows only its own subscription, and the log is the buffer (nothing is queued in memory).
// Each event reaches a subscriber exactly once, in order. A client that reconnects subscribes
// again from the last sequence number it saw plus one.
//
// Keep-alives: given a timer and an interval, a subscription that has had nothing to deliver for
// that long gets an empty range (from == to). A front checks its caller again and writes
// something its client skips: a client that went away without closing, or whose token was
// revoked meanwhile, is noticed then rather than at the next commit, and proxies between see
// the stream alive.
//
// Thread-safety: everything runs on the event loop's thread, except Wake(), which any thread
// may call (after it appended) to make the feed look at the log's size again.
#pragma once

#include <kj/async.h>
#include <kj/function.h>
#include <kj/timer.h>

#include <cstdint>
#include <functional>
#include <memory>

#include "service/service.h"

namespace kirjuri::service {

class ChangeFeed {
 public:
  // Delivers [from, to); the next range comes once the promise resolves. A rejected promise
  // ends the subscription (the client went away). from == to: a keep-alive (see above).
  using Deliver = kj::Function<kj::Promise<void>(uint64_t from, uint64_t to)>;

  // Must be constructed on the event loop's thread. Without a timer, no keep-alives.
  explicit ChangeFeed(Service& service, uint64_t max_batch = 512);
  // Keep-alives after `keepalive` of nothing to deliver (none if it is zero).
  ChangeFeed(Service& service, kj::Timer& timer, kj::Duration keepalive,
             uint64_t max_batch = 512);
  ~ChangeFeed();

  // Subscribes from `from` (may be below the log's size: the backlog comes first). The
  // subscription lasts until the returned promise is cancelled (dropped) or `deliver` rejects;
  // the promise never resolves on its own while the server runs, and resolves when the feed
  // is closed (shutdown).
  kj::Promise<void> Subscribe(uint64_t from, Deliver deliver);

  // Any thread: the log may have grown.
  void Wake();

  // Ends every subscription (their promises resolve). Loop thread.
  void Close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kirjuri::service
