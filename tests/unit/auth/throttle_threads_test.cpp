#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "tokend/auth/throttle.hpp"
#include "unit/store/store_fixture.hpp"

using tokend::TimeMs;
using tokend::auth::LoginThrottle;
using tokend::config::ThrottleConfig;

// Worker threads share one throttle. One of the tests the ThreadSanitizer
// build runs (docs/testing.md): it looks for data races; the counts it checks
// are the ones any interleaving must give.
TEST_CASE("LoginThrottle from several threads at once keeps exact counts", "[auth][throttle][threads]") {
  constexpr TimeMs kT0 = 1'800'000'000'000;
  constexpr int kThreads = 4;
  constexpr int kRounds = 200;
  ThrottleConfig c;
  c.per_username = {kThreads * kRounds, 600};
  c.per_address = {1'000'000, 600};
  c.max_tracked = 1000;
  auto db = tokend::testing::backends().front().make();
  LoginThrottle throttle(c, db->store());

  std::atomic<int> blocked_early{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kRounds; ++i) {
        // One shared username that fills up, and many that churn the table.
        if (throttle.retry_after("shared", "10.0.0.1", kT0) != 0) ++blocked_early;
        throttle.record_failure("shared", "10.0.0.1", kT0);
        const std::string other = "user-" + std::to_string(t) + "-" + std::to_string(i);
        throttle.record_failure(other, "10.0.0." + std::to_string(t + 2), kT0);
        throttle.record_success(other);
      }
    });
  }
  for (auto& th : threads) th.join();
  // Until the last of the kThreads * kRounds failures was recorded, "shared"
  // was below its limit; after it, it is blocked.
  CHECK(blocked_early == 0);
  CHECK(throttle.retry_after("shared", "10.9.9.9", kT0) == 600);
}
