// Two SqliteStores on one file are two tokend processes on one database: the
// throttle's check-and-record holds across them (SQLite's write lock), not
// only across the threads of one store.
#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "tokend/auth/throttle.hpp"
#include "tokend/store/sqlite/sqlite_store.hpp"
#include "unit/support/temp_dir.hpp"

using tokend::TimeMs;
using tokend::auth::LoginThrottle;

TEST_CASE("Throttle on two SQLite stores over one file admits max_failures in all", "[store][sqlite][throttle][security]") {
  constexpr TimeMs kT0 = 1'800'000'000'000;
  tokend::testing::TempDir dir;
  tokend::config::DatabaseConfig db;
  db.path = dir.file("shared.db");
  auto a = tokend::store::sqlite::SqliteStore::open(db);
  auto b = tokend::store::sqlite::SqliteStore::open(db);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  tokend::config::ThrottleConfig c;
  c.per_username = {5, 300};
  c.per_address = {1000, 300};
  LoginThrottle one(c, **a);
  LoginThrottle two(c, **b);
  std::atomic<int> admitted{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 32; ++i) {
    threads.emplace_back([&, i] {
      auto r = (i % 2 ? one : two).reserve("alice", "10.0.0.1", kT0);
      if (r.failed()) ++failed;
      if (!r.admitted()) return;
      ++admitted;
      std::this_thread::yield();
      r.fail(kT0);
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failed.load() == 0);
  CHECK(admitted.load() == 5);
  CHECK(one.retry_after("alice", "", kT0) == 300);
  CHECK(two.retry_after("alice", "", kT0) == 300);
}
