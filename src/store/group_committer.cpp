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
  if (thread_.joinable()) thread_.join();  // it commits what is queued, then marks itself ended
  if (completer_.joinable()) completer_.join();  // it calls back what was committed, then ends
}

void GroupCommitter::start_threads_locked() {
  // Both or neither: a completer without a committer would wait for ever
  // (and a second start would assign to a joinable std::thread). A failed
  // start (no threads left) throws to the caller before anything is queued.
  std::thread completer([this] { complete(); });
  try {
    thread_ = std::thread([this] { run(); });
  } catch (...) {
    committer_ended_ = true;  // the completer sees it under mu_, which this thread holds
    committed_cv_.notify_all();
    mu_.unlock();
    completer.join();
    mu_.lock();
    committer_ended_ = false;
    throw;
  }
  completer_ = std::move(completer);
  completer_id_.store(completer_.get_id());
  thread_id_.store(thread_.get_id());
}

bool GroupCommitter::on_own_thread() const {
  const auto me = std::this_thread::get_id();
  return me == thread_id_.load() || me == completer_id_.load();
}

bool GroupCommitter::idle_locked() const {
  return queue_.empty() && !committing_ && committed_.empty() && !completing_;
}

void GroupCommitter::submit(const NewToken& row, Done done) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      if (!thread_.joinable()) start_threads_locked();
      queue_.push_back(Pending{row, std::move(done)});
      queued_cv_.notify_one();
      return;
    }
  }
  done(Error{ErrorCode::kStorageError, "the store is closing"});  // outside the lock: it may call back into the store
}

Result<TokenRecord> GroupCommitter::submit_and_wait(const NewToken& row) {
  // From a callback this would wait for itself.
  if (on_own_thread()) {
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
  if (on_own_thread()) return;  // from a callback: it would wait for itself
  std::unique_lock lock(mu_);
  idle_cv_.wait(lock, [&] { return idle_locked(); });
}

void GroupCommitter::run() {
  std::unique_lock lock(mu_);
  for (;;) {
    queued_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) {  // stopping, and everything was committed
      committer_ended_ = true;
      committed_cv_.notify_all();
      return;
    }
    const std::size_t n = std::min(queue_.size(), max_group_);
    Committed done;
    done.group.reserve(n);
    for (std::size_t i = 0; i < n; ++i) done.group.push_back(std::move(queue_[i]));
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
    committing_ = true;
    lock.unlock();
    std::vector<const NewToken*> rows;
    rows.reserve(done.group.size());
    for (const Pending& p : done.group) rows.push_back(&p.row);
    try {
      done.results = commit_(rows);
    } catch (const std::exception& e) {
      // Out of memory and the like: every caller must still hear back, or its
      // request would hang.
      done.results.assign(done.group.size(),
                          Error{ErrorCode::kStorageError, std::string("inserting a token: ") + e.what()});
    }
    if (done.results.size() != done.group.size()) {
      done.results.assign(done.group.size(), Error{ErrorCode::kStorageError, "inserting a token: the batch lost rows"});
    }
    lock.lock();
    // Bounded: a completer that falls behind holds the committer back.
    room_cv_.wait(lock, [&] { return committed_.size() < kMaxCompleted; });
    committed_.push_back(std::move(done));
    committing_ = false;
    committed_cv_.notify_one();
  }
}

void GroupCommitter::complete() {
  std::unique_lock lock(mu_);
  for (;;) {
    committed_cv_.wait(lock, [&] { return !committed_.empty() || committer_ended_; });
    if (committed_.empty()) return;  // the committer ended and everything was called back
    Committed done = std::move(committed_.front());
    committed_.pop_front();
    completing_ = true;
    room_cv_.notify_one();
    lock.unlock();
    for (std::size_t i = 0; i < done.group.size(); ++i) {
      // A callback that throws must not end this thread (the process would
      // terminate) nor keep the others of its group from hearing back.
      try {
        done.group[i].done(std::move(done.results[i]));
      } catch (const std::exception& e) {
        spdlog::error("a token insert callback threw: {}", e.what());
      } catch (...) {
        spdlog::error("a token insert callback threw a non-standard exception");
      }
    }
    done = {};  // the callbacks' captures go before the committer reports idle
    lock.lock();
    completing_ = false;
    if (idle_locked()) idle_cv_.notify_all();
  }
}

}  // namespace tokend::store
