// HealthCheck without a database: the probe and the clock are the test's, so
// these check the caching (at most one probe per ttl) and that concurrent
// callers never wait for a probe another caller is running.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

#include "tokend/store/health_check.hpp"

using tokend::Error;
using tokend::ErrorCode;
using tokend::Status;
using tokend::store::HealthCheck;

TEST_CASE("HealthCheck asks the database at most once per ttl and keeps the answer", "[store][health]") {
  std::int64_t now = 1000;
  bool up = true;
  int calls = 0;
  HealthCheck health(
      [&]() -> Status {
        ++calls;
        if (up) return tokend::ok_status();
        return Error{ErrorCode::kStorageError, "connection refused"};
      },
      1000, [&] { return now; });

  CHECK(health.check().ready);
  CHECK(calls == 1);
  // Within the ttl: the kept answer, even though the database went down.
  up = false;
  now += 999;
  CHECK(health.check().ready);
  CHECK(calls == 1);
  // The ttl passed: asked again, and the failure is what is kept now.
  now += 1;
  auto down = health.check();
  CHECK_FALSE(down.ready);
  CHECK(down.reason == "connection refused");
  CHECK(calls == 2);
  now += 500;
  CHECK_FALSE(health.check().ready);
  CHECK(calls == 2);
  // Back up: seen at the first check after the ttl.
  up = true;
  now += 500;
  CHECK(health.check().ready);
  CHECK(calls == 3);
  CHECK(health.probes() == 3);
}

TEST_CASE("HealthCheck treats a probe that throws as not ready", "[store][health]") {
  std::int64_t now = 0;
  HealthCheck health([]() -> Status { throw std::runtime_error("boom"); }, 1000, [&] { return now; });
  auto a = health.check();
  CHECK_FALSE(a.ready);
  CHECK(a.reason == "boom");
}

TEST_CASE("HealthCheck with ttl 0 asks on every call", "[store][health]") {
  int calls = 0;
  HealthCheck health([&]() -> Status { ++calls; return tokend::ok_status(); }, 0, [] { return std::int64_t{5}; });
  for (int i = 0; i < 3; ++i) CHECK(health.check().ready);
  CHECK(calls == 3);
}

TEST_CASE("HealthCheck: callers arriving during a slow probe answer at once from the last answer",
          "[store][health][threads]") {
  // A database that hangs (a dead server behind a connect timeout): only the
  // first caller waits for it; the others get the last answer, or "not
  // ready" before any answer is known, without waiting.
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> entered{0};
  std::atomic<bool> fail{false};
  std::atomic<std::int64_t> now{0};
  HealthCheck health(
      [&]() -> Status {
        ++entered;
        std::unique_lock lock(mu);
        cv.wait(lock, [&] { return release; });
        if (fail) return Error{ErrorCode::kStorageError, "timeout"};
        return tokend::ok_status();
      },
      1000, [&] { return now.load(); });

  SECTION("before the first answer: not ready") {
    HealthCheck::Answer first;
    std::thread prober([&] { first = health.check(); });
    while (entered.load() == 0) std::this_thread::yield();
    // Other callers: no waiting, and nothing is known yet.
    std::vector<HealthCheck::Answer> others(8);
    std::vector<std::thread> threads;
    for (auto& o : others) threads.emplace_back([&o, &health] { o = health.check(); });
    for (auto& t : threads) t.join();
    for (const auto& o : others) CHECK_FALSE(o.ready);
    {
      std::lock_guard lock(mu);
      release = true;
    }
    cv.notify_all();
    prober.join();
    CHECK(first.ready);
    CHECK(entered.load() == 1);
    CHECK(health.check().ready);  // kept
    CHECK(health.probes() == 1);
  }

  SECTION("after an answer: the last answer, while one caller waits for the database") {
    {
      std::lock_guard lock(mu);
      release = true;
    }
    REQUIRE(health.check().ready);
    {
      std::lock_guard lock(mu);
      release = false;
    }
    fail = true;
    now = 5000;  // stale: the next caller asks the database, which hangs
    HealthCheck::Answer slow;
    std::thread prober([&] { slow = health.check(); });
    while (entered.load() < 2) std::this_thread::yield();
    std::vector<HealthCheck::Answer> others(8);
    std::vector<std::thread> threads;
    for (auto& o : others) threads.emplace_back([&o, &health] { o = health.check(); });
    for (auto& t : threads) t.join();
    for (const auto& o : others) CHECK(o.ready);  // the last answer
    CHECK(entered.load() == 2);
    {
      std::lock_guard lock(mu);
      release = true;
    }
    cv.notify_all();
    prober.join();
    CHECK_FALSE(slow.ready);
    CHECK_FALSE(health.check().ready);
    CHECK(health.probes() == 2);
  }
}
