#include "store/group_committer.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <optional>
#include <string>
#include <utility>

namespace tokend::store {

GroupCommitter::GroupCommitter(CommitBatch commit, std::size_t max_group)
    : commit_(std::move(commit)), max_group_(std::max<std::size_t>(1, max_group)) {}

GroupCommitter::~GroupCommitter() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    queued_cv_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

void GroupCommitter::submit(const NewToken& row, Done done) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      if (!thread_.joinable()) {
        thread_ = std::thread([this] { run(); });
        thread_id_.store(thread_.get_id());
      }
      queue_.push_back(Pending{row, std::move(done)});
      queued_cv_.notify_one();
      return;
    }
  }
  done(Error{ErrorCode::kStorageError, "the store is closing"});  // outside the lock: it may call back into the store
}

Result<TokenRecord> GroupCommitter::submit_and_wait(const NewToken& row) {
  // From a callback on the committer thread this would wait for itself.
  if (std::this_thread::get_id() == thread_id_.load()) {
    return Error{ErrorCode::kStorageError, "insert_token called from a token insert callback"};
  }
  std::mutex mu;
  std::condition_variable cv;
  std::optional<Result<TokenRecord>> out;
  submit(row, [&](Result<TokenRecord> r) {
    // Notified under the lock: `cv` lives on this stack and is gone as soon
    // as the waiter sees its result.
    std::lock_guard lock(mu);
    out.emplace(std::move(r));
    cv.notify_one();
  });
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return out.has_value(); });
  return std::move(*out);
}

void GroupCommitter::wait_idle() {
  if (std::this_thread::get_id() == thread_id_.load()) return;  // from a callback: it would wait for itself
  std::unique_lock lock(mu_);
  idle_cv_.wait(lock, [&] { return queue_.empty() && !committing_; });
}

void GroupCommitter::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    queued_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, and everything was committed
    const std::size_t n = std::min(queue_.size(), max_group_);
    std::vector<Pending> group;
    group.reserve(n);
    for (std::size_t i = 0; i < n; ++i) group.push_back(std::move(queue_[i]));
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    committing_ = true;
    lock.unlock();
    std::vector<const NewToken*> rows;
    rows.reserve(group.size());
    for (const Pending& p : group) rows.push_back(&p.row);
    std::vector<Result<TokenRecord>> results;
    try {
      results = commit_(rows);
    } catch (const std::exception& e) {
      // Out of memory and the like: every caller must still hear back, or its
      // request would hang.
      results.assign(group.size(), Error{ErrorCode::kStorageError, std::string("inserting a token: ") + e.what()});
    }
    if (results.size() != group.size()) {
      results.assign(group.size(), Error{ErrorCode::kStorageError, "inserting a token: the batch lost rows"});
    }
    for (std::size_t i = 0; i < group.size(); ++i) {
      // A callback that throws must not end this thread (the process would
      // terminate) nor keep the others of its group from hearing back.
      try {
        group[i].done(std::move(results[i]));
      } catch (const std::exception& e) {
        spdlog::error("a token insert callback threw: {}", e.what());
      } catch (...) {
        spdlog::error("a token insert callback threw a non-standard exception");
      }
    }
    group.clear();  // the callbacks' captures go before the committer reports idle
    lock.lock();
    committing_ = false;
    if (queue_.empty()) idle_cv_.notify_all();
  }
}

}  // namespace tokend::store
