#include "worker_pool.h"

#include <algorithm>
#include <atomic>

namespace kirjuri {

WorkerPool::WorkerPool(unsigned threads) {
  for (unsigned i = 0; i < std::max(1u, threads); ++i) threads_.emplace_back([this] { Run(); });
}

WorkerPool::~WorkerPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

std::future<void> WorkerPool::Submit(std::function<void()> task) {
  std::packaged_task<void()> packaged(std::move(task));
  std::future<void> done = packaged.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(packaged));
  }
  cv_.notify_one();
  return done;
}

// Chunks are claimed one at a time from a shared counter, so a runner that falls behind (the
// machine has fewer cores than runners, or one core is busy) does not hold up the rest.
struct WorkerPool::Running::State {
  size_t n, grain, chunks;
  std::function<void(size_t, size_t)> fn;
  std::atomic<size_t> next{0};
  void Work() {
    for (size_t c = next.fetch_add(1); c < chunks; c = next.fetch_add(1)) {
      fn(c * grain, std::min(n, (c + 1) * grain));
    }
  }
};

WorkerPool::Running::Running(std::shared_ptr<State> state, std::vector<std::future<void>> workers)
    : state_(std::move(state)), workers_(std::move(workers)) {}

void WorkerPool::Running::Wait() {
  if (!state_) return;
  state_->Work();
  for (auto& f : workers_) f.get();
  workers_.clear();
  state_.reset();
}

std::unique_ptr<WorkerPool::Running> WorkerPool::StartParallelFor(
    size_t n, size_t grain, std::function<void(size_t, size_t)> fn) {
  auto state = std::make_shared<Running::State>();
  state->n = n;
  state->grain = std::max<size_t>(1, grain);
  state->chunks = (n + state->grain - 1) / state->grain;
  state->fn = std::move(fn);
  std::vector<std::future<void>> workers;
  for (size_t i = 0; i < std::min<size_t>(threads_.size(), state->chunks); ++i) {
    workers.push_back(Submit([state] { state->Work(); }));
  }
  return std::unique_ptr<Running>(new Running(std::move(state), std::move(workers)));
}

void WorkerPool::ParallelFor(size_t n, size_t grain,
                             const std::function<void(size_t, size_t)>& fn) {
  if (n == 0) return;
  grain = std::max<size_t>(1, grain);
  const size_t chunks = (n + grain - 1) / grain;
  if (chunks == 1) {
    fn(0, n);
    return;
  }
  Running::State state;
  state.n = n;
  state.grain = grain;
  state.chunks = chunks;
  state.fn = fn;
  auto work = [&state] { state.Work(); };
  std::vector<std::future<void>> pending;
  for (size_t i = 0; i < std::min(threads_.size(), chunks - 1); ++i) pending.push_back(Submit(work));
  work();
  for (auto& f : pending) f.get();
}

void WorkerPool::Run() {
  for (;;) {
    std::packaged_task<void()> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stop_ and nothing left
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task();
  }
}

}  // namespace kirjuri
