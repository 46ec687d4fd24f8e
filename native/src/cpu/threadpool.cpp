#include "threadpool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace clsa::cpu {
namespace {

class Pool {
 public:
  ~Pool() { stop(); }

  int threads() {
    std::lock_guard<std::mutex> run_lock(run_mutex_);
    ensure_started();
    return int(workers_.size()) + 1;
  }

  void set_threads(int n) {
    std::lock_guard<std::mutex> run_lock(run_mutex_);
    stop();
    requested_ = n;
  }

  void run(int64_t tasks, const std::function<void(int64_t, int)>& fn) {
    if (tasks <= 0) return;
    std::lock_guard<std::mutex> run_lock(run_mutex_);
    ensure_started();
    if (tasks == 1 || workers_.empty()) {
      for (int64_t t = 0; t < tasks; ++t) fn(t, 0);
      return;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      fn_ = &fn;
      tasks_ = tasks;
      next_.store(0);
      active_ = int(workers_.size());
      ++generation_;
    }
    cv_start_.notify_all();
    drain(0);  // the calling thread works too, as worker 0
    std::unique_lock<std::mutex> lock(mutex_);
    cv_done_.wait(lock, [&] { return active_ == 0; });
    fn_ = nullptr;
  }

 private:
  void ensure_started() {
    if (started_) return;
    int n = requested_ > 0 ? requested_ : int(std::max(1u, std::thread::hardware_concurrency()));
    quit_ = false;
    for (int i = 1; i < n; ++i) workers_.emplace_back([this, i] { loop(i); });
    started_ = true;
  }

  void stop() {
    if (!started_) return;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      quit_ = true;
      ++generation_;
    }
    cv_start_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
    started_ = false;
  }

  void drain(int worker) {
    const auto& fn = *fn_;
    for (;;) {
      int64_t t = next_.fetch_add(1, std::memory_order_relaxed);
      if (t >= tasks_) break;
      fn(t, worker);
    }
  }

  void loop(int worker) {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_start_.wait(lock, [&] { return generation_ != seen; });
        seen = generation_;
        if (quit_) return;
      }
      drain(worker);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        if (--active_ == 0) cv_done_.notify_one();
      }
    }
  }

  std::mutex run_mutex_;  // serialises callers
  std::mutex mutex_;      // guards the fields below
  std::condition_variable cv_start_, cv_done_;
  std::vector<std::thread> workers_;
  const std::function<void(int64_t, int)>* fn_ = nullptr;
  int64_t tasks_ = 0;
  std::atomic<int64_t> next_{0};
  int active_ = 0;
  uint64_t generation_ = 0;
  bool quit_ = false;
  bool started_ = false;
  int requested_ = 0;
};

Pool& pool() {
  static Pool* p = new Pool();  // never destroyed: workers may outlive static destruction order
  return *p;
}

}  // namespace

void parallel_for(int64_t tasks, const std::function<void(int64_t, int)>& fn) { pool().run(tasks, fn); }
int pool_threads() { return pool().threads(); }
void set_pool_threads(int threads) { pool().set_threads(threads); }

}  // namespace clsa::cpu
