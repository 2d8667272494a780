// HealthCheck: whether the store answers, for readiness probes (GET /healthz).
//
// Load balancers and orchestrators probe every instance often, possibly from
// several places at once. Asking the database on every probe would cost one
// query per probe, and while the database does not answer, one full connect
// or statement timeout per probe, holding a worker each. So the answer is
// kept for `ttl_ms` (1 s by default), and at most one caller at a time asks
// the database: callers arriving while that check runs get the last answer at
// once (before the first answer is known: "not ready").
//
// Transitions are logged once (ready -> not ready as an error with the
// store's message, back as info), not on every probe.
//
// Thread-safety: check() is safe from any number of threads; it may block for
// the duration of one probe (the store's own timeouts), so call it from a
// worker thread, never from an I/O thread.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

#include "tokend/common/result.hpp"

namespace tokend::store {

class HealthCheck final {
 public:
  // Asks the database (Store::ping()).
  using Probe = std::function<Status()>;
  // A monotonic clock in milliseconds.
  using Clock = std::function<std::int64_t()>;

  struct Answer {
    bool ready = false;
    // Why not ready (for the log; never sent to clients); empty when ready.
    std::string reason;
  };

  // REQUIRES: probe is callable from any thread; ttl_ms >= 0.
  explicit HealthCheck(Probe probe, std::int64_t ttl_ms = 1000, Clock clock = {});

  // The last answer when it is younger than ttl_ms or another caller is
  // asking the database right now; otherwise asks the database (here, on this
  // thread) and returns and keeps the new answer.
  Answer check();

  // How many times the database was asked (for tests).
  std::uint64_t probes() const;

 private:
  Probe probe_;
  std::int64_t ttl_ms_;
  Clock clock_;

  mutable std::mutex mu_;
  bool known_ = false;    // an answer has been recorded
  bool probing_ = false;  // a caller is asking the database now
  std::int64_t checked_at_ = 0;
  Answer last_;
  std::uint64_t probes_ = 0;
};

}  // namespace tokend::store
