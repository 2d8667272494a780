#include "tokend/app/worker_pool.hpp"

#include <spdlog/spdlog.h>

namespace tokend::app {

WorkerPool::WorkerPool(std::string name, int threads, std::size_t max_queue)
    : name_(std::move(name)), max_queue_(max_queue) {
  if (threads < 1) threads = 1;
  threads_.reserve(static_cast<std::size_t>(threads));
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { run(); });
}

WorkerPool::~WorkerPool() { stop(); }

bool WorkerPool::try_post(std::function<void()> job) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || queue_.size() >= max_queue_) return false;
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

void WorkerPool::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  // One caller joins; a concurrent second caller waits for it.
  std::lock_guard join_lock(join_mu_);
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

std::size_t WorkerPool::queued() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

void WorkerPool::run() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and drained
      job = std::move(queue_.front());
      queue_.pop_front();
    }
    try {
      job();
    } catch (const std::exception& e) {
      // Jobs turn their own failures into responses; reaching here is a bug.
      spdlog::error("{} pool: job threw: {}", name_, e.what());
    } catch (...) {
      spdlog::error("{} pool: job threw a non-standard exception", name_);
    }
  }
}

}  // namespace tokend::app
