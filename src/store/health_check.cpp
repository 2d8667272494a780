#include "tokend/store/health_check.hpp"

#include <chrono>
#include <exception>
#include <utility>

#include <spdlog/spdlog.h>

namespace tokend::store {

namespace {

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

HealthCheck::HealthCheck(Probe probe, std::int64_t ttl_ms, Clock clock)
    : probe_(std::move(probe)), ttl_ms_(ttl_ms), clock_(clock ? std::move(clock) : Clock(steady_ms)) {}

HealthCheck::Answer HealthCheck::check() {
  {
    std::lock_guard lock(mu_);
    if (known_ && clock_() - checked_at_ < ttl_ms_) return last_;
    // Someone is waiting for the database already: one blocked worker is
    // enough, the others answer from what is known.
    if (probing_) return known_ ? last_ : Answer{false, "the first database check has not finished"};
    probing_ = true;
    ++probes_;
  }
  Answer fresh;
  try {
    const Status s = probe_();
    fresh.ready = s.ok();
    if (!s) fresh.reason = s.error().message;
  } catch (const std::exception& e) {
    fresh.reason = e.what();
  } catch (...) {
    fresh.reason = "unknown exception";
  }
  std::lock_guard lock(mu_);
  const bool was_ready = known_ ? last_.ready : true;
  if (was_ready && !fresh.ready) {
    spdlog::error("health check: not ready: the database does not answer: {}", fresh.reason);
  } else if (!was_ready && fresh.ready) {
    spdlog::info("health check: ready: the database answers again");
  }
  probing_ = false;
  known_ = true;
  // The age counts from the end of the check: a slow check is not repeated by
  // the very next probe.
  checked_at_ = clock_();
  last_ = fresh;
  return fresh;
}

std::uint64_t HealthCheck::probes() const {
  std::lock_guard lock(mu_);
  return probes_;
}

}  // namespace tokend::store
