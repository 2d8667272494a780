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

namespace {

constexpr TimeMs kT0 = 1'800'000'000'000;  // an arbitrary "now"; the throttle never reads the clock

ThrottleConfig rules(int user_max, int user_window_s, int addr_max, int addr_window_s, std::size_t max_tracked = 1000) {
  ThrottleConfig c;
  c.per_username = {user_max, user_window_s};
  c.per_address = {addr_max, addr_window_s};
  c.max_tracked = max_tracked;
  return c;
}

// A throttle whose counts live in a fresh database (the first backend of
// store_fixture.hpp: SQLite), as in the server.
struct ThrottleFixture {
  explicit ThrottleFixture(const ThrottleConfig& c) : db(tokend::testing::backends().front().make()), throttle(c, db->store()) {}
  std::unique_ptr<tokend::testing::StoreFixture> db;
  LoginThrottle throttle;
};

}  // namespace

TEST_CASE("LoginThrottle allows attempts below the username limit", "[auth][throttle]") {
  ThrottleFixture f(rules(3, 60, 100, 60));
  LoginThrottle& t = f.throttle;
  CHECK(t.retry_after("alice", "10.0.0.1", kT0) == 0);
  t.record_failure("alice", "10.0.0.1", kT0);
  t.record_failure("alice", "10.0.0.2", kT0 + 1000);
  CHECK(t.retry_after("alice", "10.0.0.3", kT0 + 2000) == 0);
}

TEST_CASE("LoginThrottle blocks a username after max_failures from any address", "[auth][throttle]") {
  ThrottleFixture f(rules(3, 60, 100, 60));
  LoginThrottle& t = f.throttle;
  t.record_failure("alice", "10.0.0.1", kT0);
  t.record_failure("alice", "10.0.0.2", kT0 + 1000);
  t.record_failure("alice", "10.0.0.3", kT0 + 2000);
  // The oldest failure (kT0) leaves the 60 s window at kT0 + 60 s.
  CHECK(t.retry_after("alice", "10.9.9.9", kT0 + 2000) == 58);
  // Other usernames are not affected by alice's count.
  CHECK(t.retry_after("bob", "10.9.9.9", kT0 + 2000) == 0);
}

TEST_CASE("LoginThrottle blocks an address after max_failures for any usernames", "[auth][throttle]") {
  ThrottleFixture f(rules(100, 60, 4, 120));
  LoginThrottle& t = f.throttle;
  for (int i = 0; i < 4; ++i) t.record_failure("user" + std::to_string(i), "192.0.2.7", kT0 + i * 1000);
  CHECK(t.retry_after("someone-new", "192.0.2.7", kT0 + 4000) == 116);
  CHECK(t.retry_after("someone-new", "192.0.2.8", kT0 + 4000) == 0);
  CHECK(t.retry_after("user0", "192.0.2.8", kT0 + 4000) == 0);
}

TEST_CASE("LoginThrottle's Retry-After shrinks as time passes", "[auth][throttle]") {
  ThrottleFixture f(rules(2, 300, 100, 300));
  LoginThrottle& t = f.throttle;
  t.record_failure("alice", "a", kT0);
  t.record_failure("alice", "a", kT0 + 10'000);
  CHECK(t.retry_after("alice", "a", kT0 + 10'000) == 290);
  CHECK(t.retry_after("alice", "a", kT0 + 100'000) == 200);
  CHECK(t.retry_after("alice", "a", kT0 + 299'000) == 1);
  // Rounded up: never 0 while still blocked.
  CHECK(t.retry_after("alice", "a", kT0 + 299'999) == 1);
  CHECK(t.retry_after("alice", "a", kT0 + 299'001) == 1);
  CHECK(t.retry_after("alice", "a", kT0 + 298'500) == 2);
  int last = 1 << 30;
  for (TimeMs now = kT0 + 10'000; now < kT0 + 300'000; now += 7'000) {
    const int r = t.retry_after("alice", "a", now);
    CHECK(r >= 1);
    CHECK(r <= last);
    last = r;
  }
}

TEST_CASE("LoginThrottle windows slide: old failures expire", "[auth][throttle]") {
  ThrottleFixture f(rules(2, 60, 100, 60));
  LoginThrottle& t = f.throttle;
  t.record_failure("alice", "a", kT0);
  t.record_failure("alice", "a", kT0 + 30'000);
  CHECK(t.retry_after("alice", "a", kT0 + 59'999) == 1);
  // At kT0 + 60 s the first failure is out of the window: one left, allowed.
  CHECK(t.retry_after("alice", "a", kT0 + 60'000) == 0);
  // One more failure makes two within the window again; blocked until the
  // second one (kT0 + 30 s) leaves.
  t.record_failure("alice", "a", kT0 + 61'000);
  CHECK(t.retry_after("alice", "a", kT0 + 61'000) == 29);
  // Long after everything: clean.
  CHECK(t.retry_after("alice", "a", kT0 + 10 * 60'000) == 0);
}

TEST_CASE("LoginThrottle reports the longer of both waits", "[auth][throttle]") {
  ThrottleFixture f(rules(2, 100, 2, 400));
  LoginThrottle& t = f.throttle;
  t.record_failure("alice", "a", kT0);
  t.record_failure("alice", "a", kT0);
  CHECK(t.retry_after("alice", "a", kT0) == 400);
  CHECK(t.retry_after("alice", "b", kT0) == 100);
  CHECK(t.retry_after("bob", "a", kT0) == 400);
}

TEST_CASE("LoginThrottle: a success clears the username's count only", "[auth][throttle]") {
  ThrottleFixture f(rules(2, 300, 3, 300));
  LoginThrottle& t = f.throttle;
  t.record_failure("alice", "a", kT0);
  t.record_failure("alice", "a", kT0 + 1000);
  REQUIRE(t.retry_after("alice", "b", kT0 + 2000) > 0);
  t.record_success("alice");
  CHECK(t.retry_after("alice", "b", kT0 + 2000) == 0);
  // The address keeps its two failures: one more blocks it.
  t.record_failure("carol", "a", kT0 + 3000);
  CHECK(t.retry_after("dave", "a", kT0 + 3000) > 0);
  // A success for another name does not clear alice.
  t.record_failure("alice", "b", kT0 + 4000);
  t.record_failure("alice", "b", kT0 + 5000);
  t.record_success("bob");
  CHECK(t.retry_after("alice", "c", kT0 + 6000) > 0);
}

TEST_CASE("LoginThrottle with max_failures 0 never blocks", "[auth][throttle]") {
  ThrottleFixture f(rules(0, 300, 0, 300));
  LoginThrottle& t = f.throttle;
  for (int i = 0; i < 50; ++i) t.record_failure("alice", "a", kT0 + i);
  CHECK(t.retry_after("alice", "a", kT0 + 100) == 0);
}

TEST_CASE("LoginThrottle keys are exact strings, and usernames and addresses do not mix", "[auth][throttle]") {
  ThrottleFixture f(rules(1, 300, 1, 300));
  LoginThrottle& t = f.throttle;
  t.record_failure("10.0.0.1", "", kT0);
  // A username equal to an address string does not throttle that address.
  CHECK(t.retry_after("x", "10.0.0.1", kT0) == 0);
  CHECK(t.retry_after("10.0.0.1", "y", kT0) > 0);
  t.record_failure("", "10.0.0.2", kT0);
  CHECK(t.retry_after("10.0.0.2", "z", kT0) == 0);
  CHECK(t.retry_after("w", "10.0.0.2", kT0) > 0);
}

TEST_CASE("LoginThrottle memory is bounded by max_tracked", "[auth][throttle]") {
  // Per-username only (empty address), 1 failure blocks: a name is blocked iff
  // its failure is still tracked. With room for 8 keys, at most 8 of 200 names
  // can still be remembered.
  ThrottleFixture f(rules(1, 3600, 1, 3600, 8));
  LoginThrottle& t = f.throttle;
  for (int i = 0; i < 200; ++i) t.record_failure("user" + std::to_string(i), "", kT0 + i);
  int blocked = 0;
  for (int i = 0; i < 200; ++i) {
    if (t.retry_after("user" + std::to_string(i), "", kT0 + 1000) > 0) ++blocked;
  }
  CHECK(blocked <= 8);
  // Still working after the overflow: the newest failure counts.
  t.record_failure("fresh", "", kT0 + 2000);
  CHECK(t.retry_after("fresh", "", kT0 + 2000) > 0);
}

TEST_CASE("LoginThrottle drops expired keys first when full", "[auth][throttle]") {
  ThrottleFixture f(rules(1, 60, 100, 60, 4));
  LoginThrottle& t = f.throttle;
  // Three keys that expire, one that is blocked and fresh.
  t.record_failure("old1", "", kT0);
  t.record_failure("old2", "", kT0);
  t.record_failure("old3", "", kT0);
  t.record_failure("recent", "", kT0 + 50'000);
  // Full; the next failure arrives after the old ones expired: they make room
  // and the recent one is kept.
  t.record_failure("new", "", kT0 + 70'000);
  CHECK(t.retry_after("recent", "", kT0 + 70'000) > 0);
  CHECK(t.retry_after("new", "", kT0 + 70'000) > 0);
}

TEST_CASE("LoginThrottle: a flood of usernames does not reset a throttled address", "[auth][throttle][security]") {
  // The caller checks retry_after() before each attempt and records the
  // failure after it, as the API does. One address tries ever new usernames
  // with a small table (max_tracked 3): the per-address limit (5) must still
  // stop it. Overflowing the table must not wipe the address's own count.
  ThrottleFixture f(rules(5, 300, 5, 300, 3));
  LoginThrottle& t = f.throttle;
  int attempts = 0;
  for (int i = 0; i < 50; ++i) {
    const TimeMs now = kT0 + i * 100;
    if (t.retry_after("victim" + std::to_string(i), "203.0.113.9", now) > 0) break;
    t.record_failure("victim" + std::to_string(i), "203.0.113.9", now);
    ++attempts;
  }
  CHECK(attempts <= 5);
}

TEST_CASE("LoginThrottle counts IPv6 clients per /64", "[auth][throttle]") {
  ThrottleConfig c;
  c.per_username = {0, 0};
  c.per_address = {2, 60};
  ThrottleFixture f(c);
  LoginThrottle& t = f.throttle;
  const TimeMs now = 1'000'000;
  t.record_failure("a", "2001:db8:1:2::1", now);
  t.record_failure("b", "2001:db8:1:2:ffff:ffff:ffff:ffff", now);
  // Another address in the same /64 shares the budget; another /64 does not.
  CHECK(t.retry_after("c", "2001:db8:1:2::9", now) > 0);
  CHECK(t.retry_after("c", "2001:db8:1:3::1", now) == 0);
  // IPv4 stays per address.
  t.record_failure("a", "192.0.2.1", now);
  t.record_failure("a", "192.0.2.1", now);
  CHECK(t.retry_after("c", "192.0.2.1", now) > 0);
  CHECK(t.retry_after("c", "192.0.2.2", now) == 0);
}

TEST_CASE("LoginThrottle::reserve admits no more than the limit however many threads race", "[auth][throttle][security]") {
  // 32 threads try one username at once; every admitted attempt fails. The
  // old check-then-record let most of them through; reserve() must admit at
  // most max_failures in total, here over several rounds.
  ThrottleFixture f(rules(5, 300, 1000, 300));
  LoginThrottle& t = f.throttle;
  std::atomic<int> admitted{0};
  std::atomic<int> refused{0};
  std::atomic<int> bad_wait{0};
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < 32; ++i) {
    threads.emplace_back([&] {
      while (!go.load()) std::this_thread::yield();
      for (int round = 0; round < 4; ++round) {
        auto r = t.reserve("alice", "10.0.0.1", kT0);
        if (!r.admitted()) {
          if (r.retry_after() < 1) ++bad_wait;  // Catch2 assertions are not for other threads
          ++refused;
          continue;
        }
        ++admitted;
        std::this_thread::yield();  // stay in flight a little while others race
        r.fail(kT0);
      }
    });
  }
  go = true;
  for (auto& th : threads) th.join();
  CHECK(admitted.load() == 5);
  CHECK(refused.load() == 32 * 4 - 5);
  CHECK(bad_wait.load() == 0);
  CHECK(t.in_flight() == 0);
  CHECK(t.retry_after("alice", "10.0.0.9", kT0) == 300);
}

TEST_CASE("LoginThrottle::reserve holds the per-address limit across many usernames", "[auth][throttle][security]") {
  ThrottleFixture f(rules(5, 300, 30, 300));
  LoginThrottle& t = f.throttle;
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 64; ++i) {
    threads.emplace_back([&, i] {
      auto r = t.reserve("user" + std::to_string(i), "192.0.2.1", kT0);
      if (!r.admitted()) return;
      ++admitted;
      std::this_thread::yield();
      r.fail(kT0);
    });
  }
  for (auto& th : threads) th.join();
  CHECK(admitted.load() == 30);
  CHECK(t.reserve("someone", "192.0.2.1", kT0).retry_after() == 300);
  CHECK(t.reserve("someone", "192.0.2.2", kT0).admitted());
}

TEST_CASE("LoginThrottle reservations settle as failure, success or nothing", "[auth][throttle]") {
  ThrottleFixture f(rules(2, 60, 100, 60));
  LoginThrottle& t = f.throttle;
  SECTION("attempts in flight count until they settle; Retry-After 1 while only they fill the budget") {
    auto a = t.reserve("alice", "a", kT0);
    auto b = t.reserve("alice", "a", kT0);
    REQUIRE(a.admitted());
    REQUIRE(b.admitted());
    auto c = t.reserve("alice", "a", kT0);
    CHECK_FALSE(c.admitted());
    CHECK(c.retry_after() == 1);
    CHECK(t.in_flight() == 4);  // two attempts, each under a username and an address
    a.release();
    CHECK(t.reserve("alice", "a", kT0).admitted());  // released at the end of the statement
    b.fail(kT0);
    CHECK(t.in_flight() == 0);
    auto d = t.reserve("alice", "a", kT0 + 1000);
    REQUIRE(d.admitted());
    d.fail(kT0 + 1000);
    CHECK(t.reserve("alice", "a", kT0 + 2000).retry_after() == 58);
  }
  SECTION("a success clears the username's count but not the address's") {
    t.record_failure("alice", "a", kT0);
    auto a = t.reserve("alice", "a", kT0);
    REQUIRE(a.admitted());
    a.succeed();
    CHECK(t.in_flight() == 0);
    t.record_failure("alice", "a", kT0);
    CHECK(t.reserve("alice", "a", kT0).admitted());
  }
  SECTION("a reservation dropped without settling (an upstream error, an exception) records nothing") {
    {
      auto a = t.reserve("alice", "a", kT0);
      REQUIRE(a.admitted());
      auto moved = std::move(a);
      CHECK_FALSE(a.admitted());
      CHECK(t.in_flight() == 2);
    }
    CHECK(t.in_flight() == 0);
    CHECK(t.retry_after("alice", "a", kT0) == 0);
  }
  SECTION("rekey moves the per-username count to the canonical name") {
    // Two spellings the directory folds to one account share one budget.
    for (const char* spelling : {"alice", "ａｌｉｃｅ"}) {
      auto r = t.reserve(spelling, "a", kT0);
      REQUIRE(r.admitted());
      CHECK(r.rekey("alice", kT0) == 0);
      r.fail(kT0);
    }
    auto r = t.reserve("ａｌｉｃｅ", "a", kT0);
    REQUIRE(r.admitted());  // the spelling itself has no count...
    CHECK(r.rekey("alice", kT0) == 60);  // ...its account does: refused, released
    CHECK_FALSE(r.admitted());
    CHECK(t.in_flight() == 0);
    CHECK(t.retry_after("ａｌｉｃｅ", "", kT0) == 0);
    CHECK(t.retry_after("alice", "", kT0) == 60);
  }
}
