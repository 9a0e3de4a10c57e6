// WorkerPool: a fixed set of threads for the CPU-bound parts of append (signing, hashing) and
// verify (signature checks, hashing). Tasks must not throw.
//
// Thread-safety: Submit, ParallelFor and StartParallelFor may be called from any thread; tasks
// run concurrently.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace kirjuri {

class WorkerPool {
 public:
  // REQUIRES: threads >= 1.
  explicit WorkerPool(unsigned threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  unsigned threads() const { return static_cast<unsigned>(threads_.size()); }

  std::future<void> Submit(std::function<void()> task);

  // Splits [0, n) into chunks of `grain` items and runs fn(begin, end) on each, on the pool's
  // threads and the calling thread. Returns when all are done.
  void ParallelFor(size_t n, size_t grain, const std::function<void(size_t, size_t)>& fn);

  // A ParallelFor started by StartParallelFor. Wait() has the calling thread take the chunks no
  // worker has claimed yet and returns once every chunk is done; the destructor waits too, so
  // whatever fn refers to must outlive the handle.
  class Running {
   public:
    ~Running() { Wait(); }
    Running(const Running&) = delete;
    Running& operator=(const Running&) = delete;
    void Wait();

   private:
    friend class WorkerPool;
    struct State;
    explicit Running(std::shared_ptr<State> state, std::vector<std::future<void>> workers);
    std::shared_ptr<State> state_;
    std::vector<std::future<void>> workers_;
  };
  // As ParallelFor, but returns at once, with the chunks handed to the pool's threads only: the
  // caller is free to do other work (a synced write, say) before it joins in with Wait().
  std::unique_ptr<Running> StartParallelFor(size_t n, size_t grain,
                                            std::function<void(size_t, size_t)> fn);

 private:
  void Run();
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::packaged_task<void()>> queue_;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace kirjuri
