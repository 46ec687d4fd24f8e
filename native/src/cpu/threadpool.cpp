#include "threadpool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace clsa::cpu {
namespace {

// A job's task counter carries the job's generation in its high 32 bits, so a worker that
// wakes up late (the machine is shared, and the scheduler may take milliseconds to run it)
// can never claim a task of a job it did not see start. The caller waits only for tasks that
// were claimed, not for every worker to check in: on a busy machine a job whose tasks the
// caller drained alone returns at once instead of waiting for a sleeping worker to be scheduled.
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
    constexpr int64_t kMaxTasks = int64_t(1) << 31;  // the task index shares a word with the generation
    if (tasks > kMaxTasks) {
      for (int64_t base = 0; base < tasks; base += kMaxTasks)
        run(std::min(kMaxTasks, tasks - base), [&](int64_t t, int w) { fn(base + t, w); });
      return;
    }
    std::lock_guard<std::mutex> run_lock(run_mutex_);
    ensure_started();
    if (tasks == 1 || workers_.empty()) {
      for (int64_t t = 0; t < tasks; ++t) fn(t, 0);
      return;
    }
    uint64_t gen;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      gen = (generation_ + 1) & 0xffffffffu;
      generation_ = gen;
      fn_ = &fn;
      tasks_ = tasks;
      done_.store(0, std::memory_order_relaxed);
      next_.store(gen << 32, std::memory_order_release);
    }
    cv_start_.notify_all();
    drain(0, gen, &fn, tasks);  // the calling thread works too, as worker 0
    if (done_.load(std::memory_order_acquire) != tasks) {
      std::unique_lock<std::mutex> lock(mutex_);
      cv_done_.wait(lock, [&] { return done_.load(std::memory_order_acquire) == tasks; });
    }
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
      generation_ = (generation_ + 1) & 0xffffffffu;
    }
    cv_start_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
    started_ = false;
  }

  // Claims tasks of job `gen` until none are left (or another job has started).
  void drain(int worker, uint64_t gen, const std::function<void(int64_t, int)>* fn, int64_t tasks) {
    for (;;) {
      uint64_t v = next_.load(std::memory_order_acquire);
      do {
        if ((v >> 32) != gen || int64_t(v & 0xffffffffu) >= tasks) return;
      } while (!next_.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel, std::memory_order_acquire));
      (*fn)(int64_t(v & 0xffffffffu), worker);
      if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == tasks) {
        std::lock_guard<std::mutex> lock(mutex_);  // pairs with the caller's predicate check
        cv_done_.notify_one();
      }
    }
  }

  void loop(int worker) {
    uint64_t seen = 0;
    for (;;) {
      const std::function<void(int64_t, int)>* fn;
      int64_t tasks;
      uint64_t gen;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_start_.wait(lock, [&] { return generation_ != seen; });
        seen = generation_;
        if (quit_) return;
        gen = generation_;
        fn = fn_;
        tasks = tasks_;
      }
      // fn stays valid while a task of job `gen` is unfinished, and drain only calls it after
      // claiming such a task.
      drain(worker, gen, fn, tasks);
    }
  }

  std::mutex run_mutex_;  // serialises callers
  std::mutex mutex_;      // guards generation_, fn_, tasks_, quit_ and the condition variables
  std::condition_variable cv_start_, cv_done_;
  std::vector<std::thread> workers_;
  const std::function<void(int64_t, int)>* fn_ = nullptr;
  int64_t tasks_ = 0;
  std::atomic<uint64_t> next_{0};  // (generation << 32) | next task index
  std::atomic<int64_t> done_{0};   // finished tasks of the current job
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
