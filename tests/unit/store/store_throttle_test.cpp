// The login throttle's Store primitives (store.hpp, ThrottleTransaction), on
// every backend of store_fixture.hpp, and the throttle built on them: the
// check and the record of an attempt are one step for every thread and every
// instance sharing the database.
#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tokend/auth/throttle.hpp"
#include "tokend/auth/userpass/password_hasher.hpp"
#include "tokend/metrics/metrics.hpp"
#include "unit/store/store_fixture.hpp"

using tokend::ErrorCode;
using tokend::Status;
using tokend::TimeMs;
using tokend::auth::LoginThrottle;
using tokend::config::ThrottleConfig;
using tokend::store::Store;
using tokend::store::ThrottleTransaction;
using tokend::testing::for_each_backend;

namespace {

constexpr TimeMs kT0 = 1'800'000'000'000;

// Runs `body` in a throttle transaction; fails the test when it does not commit.
void in_tx(Store& s, const std::function<void(ThrottleTransaction&)>& body) {
  auto st = s.in_throttle_transaction([&](ThrottleTransaction& tx) -> Status {
    body(tx);
    return tokend::ok_status();
  });
  INFO((st ? std::string() : st.error().message));
  REQUIRE(st.ok());
}

ThrottleConfig rules(int user_max, int addr_max) {
  ThrottleConfig c;
  c.per_username = {user_max, 300};
  c.per_address = {addr_max, 300};
  c.max_tracked = 1000;
  return c;
}

tokend::config::PasswordConfig cheap_hashes() {
  tokend::config::PasswordConfig p;
  p.memory_kib = 1024;
  p.iterations = 1;
  return p;
}

}  // namespace

TEST_CASE("Store throttle rows: count, settle, move, erase, clear and trim", "[store][throttle]") {
  for_each_backend([](Store& s) {
    std::int64_t a = 0, b = 0, c = 0;
    in_tx(s, [&](ThrottleTransaction& tx) {
      a = *tx.insert("k1", kT0, true);
      b = *tx.insert("k1", kT0 + 1000, false);
      c = *tx.insert("k2", kT0 + 2000, false);
    });
    CHECK(a != b);
    CHECK(b != c);
    in_tx(s, [&](ThrottleTransaction& tx) {
      auto n = tx.count("k1", kT0 - 1);
      REQUIRE(n.ok());
      CHECK(n->failures == 1);
      CHECK(n->in_flight == 1);
      // `since` is exclusive: a row at exactly `since` is out of the window.
      CHECK(tx.count("k1", kT0)->in_flight == 0);
      CHECK(tx.count("k1", kT0)->failures == 1);
      CHECK(tx.count("nobody", 0)->failures == 0);
      CHECK(*tx.count_keys() == 2);

      REQUIRE(tx.settle(a, kT0 + 5000).ok());
      CHECK(tx.count("k1", 0)->failures == 2);
      CHECK(tx.count("k1", 0)->in_flight == 0);
      CHECK(*tx.nth_newest_failure("k1", 0, 1) == kT0 + 5000);
      CHECK(*tx.nth_newest_failure("k1", 0, 2) == kT0 + 1000);
      CHECK(tx.nth_newest_failure("k1", 0, 3).error().code == ErrorCode::kNotFound);

      REQUIRE(tx.move(b, "k2").ok());
      CHECK(tx.count("k1", 0)->failures == 1);
      CHECK(tx.count("k2", 0)->failures == 2);
      REQUIRE(tx.erase(c).ok());
      REQUIRE(tx.erase(c).ok());  // gone already: still ok
      CHECK(tx.count("k2", 0)->failures == 1);
      // Settling or moving a row that is gone does nothing.
      REQUIRE(tx.settle(c, kT0).ok());
      REQUIRE(tx.move(c, "k3").ok());
      CHECK(tx.count("k3", 0)->failures == 0);
    });
    SECTION("clear_failures keeps the attempts in flight") {
      in_tx(s, [&](ThrottleTransaction& tx) {
        (void)tx.insert("k1", kT0 + 9000, true);
        CHECK(*tx.clear_failures("k1") == 1);
        CHECK(tx.count("k1", 0)->failures == 0);
        CHECK(tx.count("k1", 0)->in_flight == 1);
        CHECK(*tx.clear_failures("k1") == 0);
      });
    }
    SECTION("trim keeps the newest failures") {
      in_tx(s, [&](ThrottleTransaction& tx) {
        for (int i = 0; i < 6; ++i) (void)tx.insert("t", kT0 + i * 1000, false);
        (void)tx.insert("t", kT0, true);
        REQUIRE(tx.trim("t", 3).ok());
        CHECK(tx.count("t", 0)->failures == 3);
        CHECK(tx.count("t", 0)->in_flight == 1);
        CHECK(*tx.nth_newest_failure("t", 0, 3) == kT0 + 3000);
      });
    }
    SECTION("erase_before, erase_oldest_keys and list_keys") {
      in_tx(s, [&](ThrottleTransaction& tx) {
        (void)tx.insert("old", kT0 - 100'000, false);
        (void)tx.insert("new", kT0 + 100'000, false);
        auto keys = tx.list_keys(0);
        REQUIRE(keys.ok());
        REQUIRE(keys->size() == 4);  // k1, k2, new, old (by key)
        CHECK((*keys)[0].key == "k1");
        CHECK((*keys)[1].key == "k2");
        CHECK((*keys)[1].failures == 1);
        CHECK((*keys)[2].key == "new");
        CHECK(tx.list_keys(kT0 + 50'000)->size() == 1);
        REQUIRE(tx.erase_before(kT0 - 100'000).ok());  // at or before the cutoff
        CHECK(tx.count("old", 0)->failures == 0);
        CHECK(*tx.count_keys() == 3);
        // k1 (newest row kT0 + 5 s) and k2 (kT0 + 1 s) are older than "new".
        REQUIRE(tx.erase_oldest_keys(2).ok());
        CHECK(*tx.count_keys() == 1);
        CHECK(tx.count("new", 0)->failures == 1);
      });
    }
    SECTION("a body's error rolls its rows back") {
      auto st = s.in_throttle_transaction([&](ThrottleTransaction& tx) -> Status {
        (void)tx.insert("rolled", kT0, false);
        return tokend::Error{ErrorCode::kConflict, "no"};
      });
      CHECK(st.error().code == ErrorCode::kConflict);
      in_tx(s, [&](ThrottleTransaction& tx) { CHECK(tx.count("rolled", 0)->failures == 0); });
    }
  });
}

// Two throttles on one store are two instances on one database: their
// reservations race through the database only.
TEST_CASE("Store throttle rows_upper_bound bounds the rows by the span of their ids", "[store][throttle]") {
  for_each_backend([](Store& s) {
    in_tx(s, [&](ThrottleTransaction& tx) {
      CHECK(*tx.rows_upper_bound() == 0);
      const std::int64_t a = *tx.insert("k1", kT0, false);
      const std::int64_t b = *tx.insert("k2", kT0, true);
      const std::int64_t c = *tx.insert("k2", kT0, false);
      // Three rows with distinct ids: at least 3, exactly the span of the ids.
      CHECK(*tx.rows_upper_bound() == std::max({a, b, c}) - std::min({a, b, c}) + 1);
      CHECK(*tx.rows_upper_bound() >= 3);
      CHECK(*tx.rows_upper_bound() >= *tx.count_keys());
      // A hole in the middle keeps the bound (still an upper bound).
      REQUIRE(tx.erase(b).ok());
      CHECK(*tx.rows_upper_bound() >= 2);
      REQUIRE(tx.erase(a).ok());
      REQUIRE(tx.erase(c).ok());
      CHECK(*tx.rows_upper_bound() == 0);
      CHECK(*tx.count_keys() == 0);
    });
  });
}

TEST_CASE("Store-backed throttle keeps at most max_tracked keys on every backend", "[store][throttle][security]") {
  for_each_backend([](Store& s) {
    ThrottleConfig c;
    c.per_username = {1, 3600};
    c.per_address = {5, 3600};
    c.max_tracked = 8;
    LoginThrottle t(c, s);
    // Successful attempts take row ids and give their rows back: the ids
    // spread out (on PostgreSQL they are never reused) without adding keys.
    for (int i = 0; i < 20; ++i) t.reserve("ok" + std::to_string(i), "", kT0).succeed();
    std::int64_t most = 0;
    for (int i = 0; i < 200; ++i) {
      t.record_failure("user" + std::to_string(i), "", kT0 + i);
      in_tx(s, [&](ThrottleTransaction& tx) { most = std::max(most, *tx.count_keys()); });
    }
    CHECK(most <= 8);
    // Full, it forgets a key at a time (the tenth, at least one), not all.
    in_tx(s, [&](ThrottleTransaction& tx) { CHECK(*tx.count_keys() >= 7); });
    // The newest failure is still counted after all that eviction.
    CHECK(t.retry_after("user199", "", kT0 + 1000) > 0);

    // An hour later those keys have expired: the next failures delete them
    // first, and a flood of usernames from one address is still stopped by
    // the address's limit.
    int admitted = 0;
    for (int i = 0; i < 40; ++i) {
      const TimeMs now = kT0 + 3'700'000 + i;
      if (t.retry_after("v" + std::to_string(i), "203.0.113.9", now) > 0) break;
      t.record_failure("v" + std::to_string(i), "203.0.113.9", now);
      ++admitted;
    }
    CHECK(admitted == 5);
    in_tx(s, [&](ThrottleTransaction& tx) {
      CHECK(*tx.count_keys() == 6);                    // v0..v4 and the address
      CHECK(tx.count("u:user199", 0)->failures == 0);  // expired: deleted
    });
  });
}

TEST_CASE("Store-backed throttle: 32 concurrent wrong passwords verify at most max_failures hashes",
          "[store][throttle][security]") {
  for_each_backend([](Store& s) {
    tokend::metrics::Metrics metrics;
    tokend::auth::PasswordHasher hasher(cheap_hashes(), 4);
    const auto phc = hasher.hash("the right password");
    REQUIRE(phc.ok());
    auto& verifications = metrics.counter("verifications", "");
    hasher.count_computations_in(verifications);

    auto race = [&](LoginThrottle& one, LoginThrottle& two, bool same_user, int expected_limit) {
      const std::uint64_t before = verifications.value();
      std::atomic<int> admitted{0};
      std::atomic<int> refused{0};
      std::atomic<int> failed{0};
      std::atomic<bool> go{false};
      std::vector<std::thread> threads;
      for (int i = 0; i < 32; ++i) {
        threads.emplace_back([&, i] {
          while (!go.load()) std::this_thread::yield();
          LoginThrottle& t = i % 2 ? one : two;
          const std::string user = same_user ? "alice" : "user" + std::to_string(i);
          const std::string addr = same_user ? "10.0.0." + std::to_string(i) : "192.0.2.1";
          auto r = t.reserve("userpass:" + user, addr, kT0);
          if (r.failed()) {
            ++failed;
            return;
          }
          if (!r.admitted()) {
            ++refused;
            return;
          }
          ++admitted;
          if (hasher.verify("wrong password " + std::to_string(i), *phc).match) return;
          r.fail(kT0);
        });
      }
      go = true;
      for (auto& th : threads) th.join();
      CHECK(failed.load() == 0);
      CHECK(admitted.load() == expected_limit);
      CHECK(refused.load() == 32 - expected_limit);
      // What the limit is about: the hashes computed, not the status codes.
      CHECK(verifications.value() - before == static_cast<std::uint64_t>(expected_limit));
      CHECK(one.in_flight() == 0);
      CHECK(two.in_flight() == 0);
    };
    SECTION("one username from 32 addresses") {
      LoginThrottle one(rules(5, 1000), s);
      LoginThrottle two(rules(5, 1000), s);
      race(one, two, true, 5);
      CHECK(one.retry_after("userpass:alice", "10.9.9.9", kT0) == 300);
      CHECK(two.retry_after("userpass:alice", "10.9.9.9", kT0) == 300);
    }
    SECTION("one address for 32 usernames") {
      LoginThrottle one(rules(1000, 7), s);
      LoginThrottle two(rules(1000, 7), s);
      race(one, two, false, 7);
      CHECK(one.retry_after("userpass:someone", "192.0.2.1", kT0) == 300);
      CHECK(two.retry_after("userpass:someone", "192.0.2.2", kT0) == 0);
    }
  });
}

TEST_CASE("Store-backed throttle: counts outlive the throttle object, unlock lifts them", "[store][throttle]") {
  for_each_backend([](Store& s) {
    {
      LoginThrottle first(rules(2, 3), s);
      for (int i = 0; i < 3; ++i) {
        auto r = first.reserve("ldap:bob", "198.51.100.4", kT0 + i);
        if (r.admitted()) r.fail(kT0 + i);
      }
    }
    // A new throttle (a restarted process, another instance) sees the lock.
    LoginThrottle t(rules(2, 3), s);
    CHECK(t.retry_after("ldap:bob", "", kT0 + 10) == 300);
    auto locks = t.locks(kT0 + 10);
    REQUIRE(locks.ok());
    REQUIRE(locks->size() == 1);
    CHECK((*locks)[0].kind == "username");
    CHECK((*locks)[0].name == "bob");
    CHECK((*locks)[0].method == "ldap");
    CHECK((*locks)[0].failures == 2);
    CHECK((*locks)[0].until == kT0 + 300'000);

    // "Bob " is bob: usernames are normalised before the unlock.
    REQUIRE(t.unlock_username("Bob ").ok());
    CHECK(t.retry_after("ldap:bob", "", kT0 + 10) == 0);
    CHECK(t.unlock_username("bob").error().code == ErrorCode::kNotFound);
    // The address keeps its two failures: one more locks it.
    t.record_failure("", "198.51.100.4", kT0 + 20);
    CHECK(t.retry_after("", "198.51.100.4", kT0 + 20) > 0);
    REQUIRE(t.locks(kT0 + 20)->size() == 1);
    CHECK(t.locks(kT0 + 20)->front().kind == "address");
    REQUIRE(t.unlock_address("198.51.100.4").ok());
    CHECK(t.retry_after("", "198.51.100.4", kT0 + 20) == 0);
    CHECK(t.unlock_address("198.51.100.4").error().code == ErrorCode::kNotFound);
    CHECK(t.locks(kT0 + 20)->empty());
  });
}

TEST_CASE("Store-backed throttle: a crashed attempt counts as a failure until it leaves the window", "[store][throttle]") {
  for_each_backend([](Store& s) {
    LoginThrottle t(rules(2, 100), s);
    // A process that died mid-attempt leaves its in-flight row behind: what
    // reserve() inserted, without a settle (written here as it would be).
    in_tx(s, [&](ThrottleTransaction& tx) { (void)tx.insert("u:carol", kT0, true); });
    auto r = t.reserve("carol", "", kT0 + 1000);
    REQUIRE(r.admitted());
    r.fail(kT0 + 1000);
    CHECK(t.retry_after("carol", "", kT0 + 2000) == 1);  // full only with an attempt in flight
    CHECK_FALSE(t.reserve("carol", "", kT0 + 2000).admitted());
    // Once the window has passed the row no longer counts, and purge()
    // deletes it.
    CHECK(t.reserve("carol", "", kT0 + 300'001).admitted());
    REQUIRE(t.purge(kT0 + 400'000).ok());
    in_tx(s, [&](ThrottleTransaction& tx) { CHECK(*tx.count_keys() == 0); });
  });
}

TEST_CASE("Store::run_maintenance runs the body when no other instance does", "[store][throttle]") {
  for_each_backend([](Store& s) {
    int runs = 0;
    auto ran = s.run_maintenance([&] { ++runs; });
    REQUIRE(ran.ok());
    CHECK(*ran);
    CHECK(runs == 1);
  });
}
