// CachePoller: keeps a ValidationCache current. On a thread of its own (the
// feed read blocks on the database; no I/O thread ever waits for it), it
// loads the token prefixes once at start, then reads the change feed every
// poll_interval_ms (ValidationCache::refresh). Until the first load succeeds
// the cache answers nothing from memory (every validation reads the
// database). Logs one line when the cache stops being fresh (fallback: every
// validation reads the database) and one when it is fresh again, not one per
// poll.
//
// Thread-safety: construct, start() and stop() from one thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "tokend/store/store.hpp"
#include "tokend/token/validation_cache.hpp"

namespace tokend::app {

class CachePoller final {
 public:
  // `cache` and `store` outlive the poller.
  CachePoller(token::ValidationCache& cache, store::Store& store, std::int64_t poll_interval_ms);
  ~CachePoller();  // stop()s
  // Starts the thread; does nothing when the cache is disabled.
  void start();
  // Ends the thread (waits for a read in progress to return).
  void stop();

 private:
  void run();
  token::ValidationCache& cache_;
  store::Store& store_;
  const std::int64_t interval_ms_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace tokend::app
