// GroupCommitter: appends from many callers at once, gathered into batches with one synced
// write each. Batches are pipelined (Ledger::Reserve, Ledger::Commit): while one batch's write
// syncs, the next is already being sealed and signed.
//
// Contract:
//   - each Submit is an atomic unit, as a Ledger::Append of its events alone would be: all of
//     them are appended under consecutive sequence numbers, or none;
//   - `done` runs once, on a committer thread, after the events are durable (OK) or refused;
//     a caller acknowledged OK can rely on its events surviving a crash;
//   - if a batch is refused (one caller's event breaks a rule), every caller of that batch is
//     appended alone, so one bad request never fails another;
//   - submissions are appended in the order they were queued (their `done` calls may come in
//     another order: two batches' are called from two threads);
//   - if a write fails (an I/O error), its batch's callers and those of the batches already
//     reserved after it get an error; nothing of theirs was written.
//
// Thread-safety: Submit may be called from any thread. `done` and the after-commit hook run on
// committer threads (the hook on one at a time) and must not block on them (e.g. by calling
// Stop or Submit and waiting).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "kirjuri/ledger.h"

namespace kirjuri {

class GroupCommitter {
 public:
  using Done = std::function<void(const Status&, std::vector<Appended>)>;

  struct Options {
    // A batch takes queued submissions until it holds at least this many events.
    size_t max_batch_events = 8192;
    // Batches in flight at once (committer threads); 1 writes one batch after another.
    unsigned pipeline = 2;
  };

  struct Stats {
    uint64_t batches = 0;      // synced writes
    uint64_t submissions = 0;  // acknowledged OK
    uint64_t events = 0;
    uint64_t refused = 0;      // submissions refused
  };

  explicit GroupCommitter(Ledger* ledger) : GroupCommitter(ledger, Options{}) {}
  GroupCommitter(Ledger* ledger, Options options);
  ~GroupCommitter();  // Stop()
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  // Queues `events` for appending. After Stop(), `done` gets FailedPrecondition at once.
  void Submit(std::vector<NewEvent> events, Done done);

  // Runs after every batch that appended something, after its callers' `done` (for example to
  // wake a change feed). Set before the first Submit.
  void SetAfterCommit(std::function<void()> hook);

  // Appends everything already queued, then stops the threads. Idempotent.
  void Stop();

  Stats stats() const;

 private:
  struct Item {
    std::vector<NewEvent> events;
    Done done;
  };
  void Run();
  // Takes the next batch off the queue and reserves its sequence numbers (in queue order:
  // called under take_mu_). False once stopping and the queue is empty.
  struct Batch;
  bool Take(Batch* batch);
  void Finish(Batch& batch);

  Ledger* ledger_;
  Options options_;
  std::function<void()> after_commit_;
  std::mutex take_mu_;  // one committer thread at a time takes and reserves a batch
  std::mutex hook_mu_;  // the after-commit hook runs on one thread at a time
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_;  // guarded by mu_
  bool stopping_ = false;   // guarded by mu_
  Stats stats_;             // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace kirjuri
