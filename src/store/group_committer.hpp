// GroupCommitter: group commit of token rows for any Store backend, after
// LevelDB's DBImpl::Write but with a thread of its own. Every caller queues its
// row; the committer thread takes the rows queued so far (at most max_group),
// hands them to the backend's CommitBatch, which writes them in one transaction
// and commits once (one fsync for the group instead of one per token), then
// hands the group to a second thread, the completer, which calls every caller
// back while the committer already commits the next group (the callbacks
// build answers and write audit lines: on the committer thread they would
// lengthen every commit cycle). Rows queued meanwhile form the next group, so
// the busier the server, the bigger the groups. No caller hears back before
// its batch returned, i.e. before the COMMIT holding its row; groups are
// called back in the order they committed, at most kMaxCompleted groups
// waiting (then the committer waits). The callers' threads
// are free meanwhile: a worker thread is not held for an fsync, so the number
// of tokens sharing one is bounded by the number of requests in flight, not by
// the number of workers.
//
// Nothing here knows a database: the backend says how to commit a batch (the
// SQLite store today, PostgreSQL next).
//
// Thread-safety: submit(), submit_and_wait() and wait_idle() are safe from any
// number of threads. The committer and completer threads start with the first
// submit() and end in the destructor, after committing and calling back what
// is queued.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "tokend/common/result.hpp"
#include "tokend/store/store.hpp"

namespace tokend::store {

class GroupCommitter final {
 public:
  // Writes `rows` in one transaction and returns one result per row, in order:
  // the stored record, or the error of that row (or of the whole batch). Runs
  // on the committer thread only. May throw (out of memory): every caller of
  // the batch then hears a kStorageError.
  using CommitBatch = std::function<std::vector<Result<TokenRecord>>(const std::vector<const NewToken*>& rows)>;
  using Done = Store::InsertTokenDone;

  GroupCommitter(CommitBatch commit, std::size_t max_group);
  // Commits what is queued, calls it back, and ends the committer thread.
  // REQUIRES: no submit() runs concurrently or later.
  ~GroupCommitter();
  GroupCommitter(const GroupCommitter&) = delete;
  GroupCommitter& operator=(const GroupCommitter&) = delete;

  // Queues `row`; `done` is called once with its result on the completer
  // thread (see Store::insert_token_async for what `done` may do). After the
  // destructor began: called at once with kStorageError ("closing").
  void submit(const NewToken& row, Done done);
  // Queues `row` and waits for its result. kStorageError when called from a
  // callback (on the completer thread: it would wait for itself).
  Result<TokenRecord> submit_and_wait(const NewToken& row);
  // Returns when every callback so far has returned. At once when called from
  // a callback.
  void wait_idle();

 private:
  struct Pending {
    NewToken row;
    Done done;
  };
  struct Committed {
    std::vector<Pending> group;
    std::vector<Result<TokenRecord>> results;
  };
  static constexpr std::size_t kMaxCompleted = 2;
  void run();
  void complete();
  // Starts the committer and the completer (REQUIRES: mu_ held).
  void start_threads_locked();
  bool on_own_thread() const;
  bool idle_locked() const;  // REQUIRES: mu_ held

  const CommitBatch commit_;
  const std::size_t max_group_;
  std::mutex mu_;
  std::condition_variable queued_cv_;  // rows queued, or stopping
  std::condition_variable idle_cv_;    // queue empty and no group in flight
  std::condition_variable committed_cv_;  // a group to call back, or the committer ended
  std::condition_variable room_cv_;       // committed_ has room again
  std::deque<Pending> queue_;
  std::deque<Committed> committed_;  // committed groups not yet called back
  bool committing_ = false;  // a group is being committed
  bool completing_ = false;  // a group is being called back
  bool stopping_ = false;
  bool committer_ended_ = false;
  std::thread thread_;       // the committer, started by the first submit
  std::thread completer_;    // started with it
  std::atomic<std::thread::id> thread_id_{};     // their ids, to refuse waiting on themselves
  std::atomic<std::thread::id> completer_id_{};
};

}  // namespace tokend::store
