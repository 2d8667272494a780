// WorkerPool: a fixed set of threads running jobs from a bounded queue. Where
// blocking work goes (hashing, SQLite, LDAP, provider calls), so that I/O
// threads never block. When the queue is full, try_post() refuses the job and
// the caller answers 503 with Retry-After instead of queueing without bound.
//
// Thread-safety: try_post() and stop() are safe from any thread.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace tokend::app {

class WorkerPool final {
 public:
  // Starts `threads` threads (at least 1) with room for `max_queue` waiting jobs.
  WorkerPool(std::string name, int threads, std::size_t max_queue);
  ~WorkerPool();  // stop()
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `job`. False (job dropped) when the queue is full or the pool stopped.
  bool try_post(std::function<void()> job);

  // Lets queued jobs finish, then joins the threads. Idempotent.
  void stop();

  std::size_t queued() const;
  // The running threads; 0 after stop(). Not for use concurrently with stop().
  std::size_t threads() const { return threads_.size(); }

 private:
  void run();

  std::string name_;
  std::size_t max_queue_;
  mutable std::mutex mu_;
  std::mutex join_mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace tokend::app
