#include "kirjuri/group_commit.h"

#include <algorithm>
#include <utility>

namespace kirjuri {

// A batch between Take and Finish: its callers, and for each unit reserved in the ledger the
// callers it covers. Normally one unit for the whole batch; after a refusal, one per caller.
struct GroupCommitter::Batch {
  std::vector<Item> items;
  std::vector<NewEvent> all;  // the events of several callers, when they share one unit
  struct Unit {
    size_t first, count;  // items[first, first + count)
    std::unique_ptr<Ledger::Reservation> reservation;
  };
  std::vector<Unit> units;
  // Each caller's outcome, settled before anyone is told (stats() then already counts it).
  std::vector<std::pair<Status, std::vector<Appended>>> outcomes;
};

GroupCommitter::GroupCommitter(Ledger* ledger, Options options)
    : ledger_(ledger), options_(options) {
  for (unsigned i = 0; i < std::max(1u, options_.pipeline); ++i) {
    threads_.emplace_back([this] { Run(); });
  }
}

GroupCommitter::~GroupCommitter() { Stop(); }

void GroupCommitter::SetAfterCommit(std::function<void()> hook) {
  std::lock_guard<std::mutex> lock(mu_);
  after_commit_ = std::move(hook);
}

void GroupCommitter::Submit(std::vector<NewEvent> events, Done done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!stopping_) {
      queue_.push_back(Item{std::move(events), std::move(done)});
      cv_.notify_one();
      return;
    }
  }
  done(Status::FailedPrecondition("the server is shutting down; nothing was appended"), {});
}

void GroupCommitter::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    cv_.notify_all();
  }
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

GroupCommitter::Stats GroupCommitter::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void GroupCommitter::Run() {
  for (;;) {
    Batch batch;
    {
      std::lock_guard<std::mutex> take(take_mu_);
      if (!Take(&batch)) return;
    }
    Finish(batch);
    std::function<void()> hook;
    {
      std::lock_guard<std::mutex> lock(mu_);
      hook = after_commit_;
    }
    if (hook) {
      std::lock_guard<std::mutex> lock(hook_mu_);
      hook();
    }
  }
}

bool GroupCommitter::Take(Batch* batch) {
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return false;  // stopping, and everything queued is written
    size_t events = 0;
    while (!queue_.empty() && (batch->items.empty() || events < options_.max_batch_events)) {
      events += queue_.front().events.size();
      batch->items.push_back(std::move(queue_.front()));
      queue_.pop_front();
    }
  }
  std::vector<Item>& items = batch->items;
  batch->outcomes.resize(items.size());
  // One unit for all of them, when all of them are good.
  if (items.size() > 1) {
    size_t n = 0;
    for (const Item& item : items) n += item.events.size();
    batch->all.reserve(n);
    for (const Item& item : items) {
      batch->all.insert(batch->all.end(), item.events.begin(), item.events.end());
    }
  }
  std::unique_ptr<Ledger::Reservation> whole;
  Status s = ledger_->Reserve(items.size() > 1 ? batch->all : items[0].events, &whole);
  if (s.ok()) {
    batch->units.push_back({0, items.size(), std::move(whole)});
  } else if (items.size() == 1 || !s.IsInvalidArgument()) {
    // One caller's own error, or one that would fail any batch (the ledger is damaged): every
    // caller of the batch gets it; nothing was written.
    for (auto& o : batch->outcomes) o.first = s;
  } else {
    // Someone's event broke a rule: each caller alone, so that the error is theirs only and
    // its event numbers are their own.
    for (size_t i = 0; i < items.size(); ++i) {
      std::unique_ptr<Ledger::Reservation> alone;
      batch->outcomes[i].first = ledger_->Reserve(items[i].events, &alone);
      if (alone) batch->units.push_back({i, 1, std::move(alone)});
    }
  }
  return true;
}

void GroupCommitter::Finish(Batch& batch) {
  std::vector<Item>& items = batch.items;
  Stats delta;
  for (Batch::Unit& unit : batch.units) {
    std::vector<Appended> out;
    const Status s = ledger_->Commit(std::move(unit.reservation), &out);
    if (s.ok()) ++delta.batches;
    size_t at = 0;
    for (size_t i = unit.first; i < unit.first + unit.count; ++i) {
      batch.outcomes[i].first = s;
      if (!s.ok()) continue;
      const size_t n = items[i].events.size();
      batch.outcomes[i].second.assign(out.begin() + static_cast<std::ptrdiff_t>(at),
                                      out.begin() + static_cast<std::ptrdiff_t>(at + n));
      at += n;
    }
  }
  for (size_t i = 0; i < items.size(); ++i) {
    if (batch.outcomes[i].first.ok()) {
      ++delta.submissions;
      delta.events += items[i].events.size();
    } else {
      ++delta.refused;
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.batches += delta.batches;
    stats_.submissions += delta.submissions;
    stats_.events += delta.events;
    stats_.refused += delta.refused;
  }
  for (size_t i = 0; i < items.size(); ++i) {
    items[i].done(batch.outcomes[i].first, std::move(batch.outcomes[i].second));
  }
}

}  // namespace kirjuri
