#include "kirjuri/group_commit.h"

#include <utility>

namespace kirjuri {

GroupCommitter::GroupCommitter(Ledger* ledger, Options options)
    : ledger_(ledger), options_(options), thread_([this] { Run(); }) {}

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
    cv_.notify_one();
  }
  if (thread_.joinable()) thread_.join();
}

GroupCommitter::Stats GroupCommitter::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void GroupCommitter::Run() {
  for (;;) {
    std::vector<Item> batch;
    std::function<void()> hook;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued is written
      size_t events = 0;
      while (!queue_.empty() && (batch.empty() || events < options_.max_batch_events)) {
        events += queue_.front().events.size();
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      hook = after_commit_;
    }
    Commit(batch);
    if (hook) hook();
  }
}

void GroupCommitter::Commit(std::vector<Item>& batch) {
  // Each caller's outcome, settled before anyone is told (stats() then already counts it).
  std::vector<std::pair<Status, std::vector<Appended>>> outcomes(batch.size());
  Stats delta;
  // One write for all of them, when all of them are good.
  std::vector<NewEvent> all;
  if (batch.size() > 1) {
    size_t n = 0;
    for (const Item& item : batch) n += item.events.size();
    all.reserve(n);
    for (const Item& item : batch) all.insert(all.end(), item.events.begin(), item.events.end());
  }
  std::vector<Appended> out;
  Status s = ledger_->Append(batch.size() > 1 ? all : batch[0].events, &out);
  if (s.ok()) {
    delta.batches = 1;
    size_t at = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      const size_t n = batch[i].events.size();
      outcomes[i].second.assign(out.begin() + static_cast<std::ptrdiff_t>(at),
                                out.begin() + static_cast<std::ptrdiff_t>(at + n));
      at += n;
      ++delta.submissions;
      delta.events += n;
    }
  } else if (batch.size() == 1 || !s.IsInvalidArgument()) {
    // One caller's own error, or one that would fail any batch (the ledger is damaged, the disk
    // is full): every caller of the batch gets it; nothing was written.
    for (auto& o : outcomes) {
      o.first = s;
      ++delta.refused;
    }
  } else {
    // Someone's event broke a rule: each caller alone, so that the error is theirs only and
    // its event numbers are their own.
    for (size_t i = 0; i < batch.size(); ++i) {
      outcomes[i].first = ledger_->Append(batch[i].events, &outcomes[i].second);
      if (outcomes[i].first.ok()) {
        ++delta.batches;
        ++delta.submissions;
        delta.events += batch[i].events.size();
      } else {
        ++delta.refused;
      }
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.batches += delta.batches;
    stats_.submissions += delta.submissions;
    stats_.events += delta.events;
    stats_.refused += delta.refused;
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    batch[i].done(outcomes[i].first, std::move(outcomes[i].second));
  }
}

}  // namespace kirjuri
