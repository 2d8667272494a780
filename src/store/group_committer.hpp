// GroupCommitter: group commit of token rows for any Store backend, after
// LevelDB's DBImpl::Write but with a thread of its own. Every caller queues its
// row; the committer thread takes the rows queued so far (at most max_group),
// hands them to the backend's CommitBatch, which writes them in one transaction
// and commits once (one fsync for the group instead of one per token), then
// calls every caller back. Rows queued meanwhile form the next group, so the
// busier the server, the bigger the groups. No caller hears back before its
// batch returned, i.e. before the COMMIT holding its row. The callers' threads
// are free meanwhile: a worker thread is not held for an fsync, so the number
// of tokens sharing one is bounded by the number of requests in flight, not by
// the number of workers.
//
// Nothing here knows a database: the backend says how to commit a batch (the
// SQLite store today, PostgreSQL next).
//
// Thread-safety: submit(), submit_and_wait() and wait_idle() are safe from any
// number of threads. The committer thread starts with the first submit() and
// ends in the destructor, after committing and calling back what is queued.
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

  // Queues `row`; `done` is called once with its result on the committer
  // thread (see Store::insert_token_async for what `done` may do). After the
  // destructor began: called at once with kStorageError ("closing").
  void submit(const NewToken& row, Done done);
  // Queues `row` and waits for its result. kStorageError when called from a
  // callback on the committer thread (it would wait for itself).
  Result<TokenRecord> submit_and_wait(const NewToken& row);
  // Returns when every callback so far has returned. At once when called from
  // a callback on the committer thread.
  void wait_idle();

 private:
  struct Pending {
    NewToken row;
    Done done;
  };
  void run();

  const CommitBatch commit_;
  const std::size_t max_group_;
  std::mutex mu_;
  std::condition_variable queued_cv_;  // rows queued, or stopping
  std::condition_variable idle_cv_;    // queue empty and no group in flight
  std::deque<Pending> queue_;
  bool committing_ = false;  // a group is being committed and called back
  bool stopping_ = false;
  std::thread thread_;       // started by the first submit
  std::atomic<std::thread::id> thread_id_{};  // its id, to refuse waiting on itself
};

}  // namespace tokend::store
