#include "worker_pool.h"

#include <algorithm>

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

void WorkerPool::ParallelFor(size_t n, size_t min_chunk,
                             const std::function<void(size_t, size_t)>& fn) {
  if (n == 0) return;
  size_t parts = std::min<size_t>(threads_.size() + 1, std::max<size_t>(1, n / std::max<size_t>(1, min_chunk)));
  if (parts <= 1) {
    fn(0, n);
    return;
  }
  size_t chunk = (n + parts - 1) / parts;
  std::vector<std::future<void>> pending;
  for (size_t begin = chunk; begin < n; begin += chunk) {
    size_t end = std::min(n, begin + chunk);
    pending.push_back(Submit([&fn, begin, end] { fn(begin, end); }));
  }
  fn(0, std::min(n, chunk));
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
