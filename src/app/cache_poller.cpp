#include "tokend/app/cache_poller.hpp"

#include <spdlog/spdlog.h>

#include <chrono>

namespace tokend::app {

CachePoller::CachePoller(token::ValidationCache& cache, store::Store& store, std::int64_t poll_interval_ms)
    : cache_(cache), store_(store), interval_ms_(poll_interval_ms) {}

CachePoller::~CachePoller() { stop(); }

void CachePoller::start() {
  if (!cache_.enabled() || thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
}

void CachePoller::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CachePoller::run() {
  bool ever_fresh = false;
  bool in_fallback = false;
  while (true) {
    const TimeMs started = now_ms();
    const Status s = cache_.refresh(store_, started);
    if (s) {
      if (!ever_fresh) {
        spdlog::info("validation cache: {} token prefixes loaded; validations answered from memory",
                     cache_.filter_prefixes());
      } else if (in_fallback) {
        spdlog::info("validation cache: the change feed is read again; validations answered from memory");
      }
      ever_fresh = true;
      in_fallback = false;
    } else if (!in_fallback) {
      // Only the transition is logged: a database down for an hour must not
      // write a line every poll_interval_ms.
      spdlog::warn("validation cache: cannot read the change feed ({}); every validation reads the database "
                   "until it can",
                   s.error().message);
      in_fallback = true;
    }
    std::unique_lock lock(mu_);
    if (wake_.wait_for(lock, std::chrono::milliseconds(interval_ms_), [this] { return stopping_; })) return;
  }
}

}  // namespace tokend::app
