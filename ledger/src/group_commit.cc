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
  // One write for all of them, when all of them are good.
  std::vector<NewEvent> all;
  if (batch.size() > 1) {
    size_t n = 0;
    for (const Item& item : batch) n += item.events.size();
    all.reserve(n);
    for (const Item& item : batch) all.insert(all.end(), item.events.begin(), item.events.end());
  }
  const std::vector<NewEvent>& first = batch.size() > 1 ? all : batch[0].events;
  std::vector<Appended> out;
  Status s = ledger_->Append(first, &out);
  Stats delta;
  if (s.ok()) {
    delta.batches = 1;
    size_t at = 0;
    for (Item& item : batch) {
      std::vector<Appended> mine(out.begin() + static_cast<std::ptrdiff_t>(at),
                                 out.begin() + static_cast<std::ptrdiff_t>(at + item.events.size()));
      at += item.events.size();
      ++delta.submissions;
      delta.events += item.events.size();
      item.done(s, std::move(mine));
    }
  } else if (batch.size() == 1 || !s.IsInvalidArgument()) {
    // One caller's own error, or one that would fail any batch (the ledger is damaged, the disk
    // is full): every caller of the batch gets it; nothing was written.
    for (Item& item : batch) {
      ++delta.refused;
      item.done(s, {});
    }
  } else {
    // Someone's event broke a rule: each caller alone, so that the error is theirs only and
    // its event numbers are their own.
    for (Item& item : batch) {
      std::vector<Appended> mine;
      Status own = ledger_->Append(item.events, &mine);
      if (own.ok()) {
        ++delta.batches;
        ++delta.submissions;
        delta.events += item.events.size();
      } else {
        ++delta.refused;
      }
      item.done(own, std::move(mine));
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  stats_.batches += delta.batches;
  stats_.submissions += delta.submissions;
  stats_.events += delta.events;
  stats_.refused += delta.refused;
}

}  // namespace kirjuri
