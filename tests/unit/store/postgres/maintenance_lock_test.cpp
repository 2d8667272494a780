// PostgresStore::run_maintenance: one instance at a time on one database
// (pg_try_advisory_lock on a dedicated key), and two instances' throttles on
// one database share their counts.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "support/pg_cluster.hpp"
#include "tokend/auth/throttle.hpp"
#include "tokend/store/postgres/postgres_store.hpp"

using tokend::testing::PgDatabase;
using tokend::store::postgres::PostgresStore;

namespace {

std::unique_ptr<PostgresStore> open_on(const PgDatabase& db, int pool_size = 4) {
  tokend::config::DatabaseConfig c;
  c.driver = "postgresql";
  c.url = db.url();
  c.pool_size = pool_size;
  auto opened = PostgresStore::open(c);
  INFO((opened.ok() ? std::string() : opened.error().message));
  REQUIRE(opened.ok());
  return std::move(*opened);
}

}  // namespace

TEST_CASE("PostgresStore::run_maintenance runs on one instance at a time", "[store][postgres][throttle]") {
  PgDatabase db;
  auto a = open_on(db);
  auto b = open_on(db);
  int runs_a = 0;
  int runs_b = 0;
  std::optional<tokend::Result<bool>> inner;
  auto outer = a->run_maintenance([&] {
    ++runs_a;
    // Another instance, while this one holds the lock: skipped at once.
    inner = b->run_maintenance([&] { ++runs_b; });
  });
  REQUIRE(outer.ok());
  CHECK(*outer);
  CHECK(runs_a == 1);
  REQUIRE(inner.has_value());
  REQUIRE(inner->ok());
  CHECK_FALSE(**inner);
  CHECK(runs_b == 0);
  // Released after the body: the other instance gets it now.
  auto later = b->run_maintenance([&] { ++runs_b; });
  REQUIRE(later.ok());
  CHECK(*later);
  CHECK(runs_b == 1);

  SECTION("a store with one connection runs the body without the lock") {
    auto single = open_on(db, 1);
    int runs = 0;
    auto r = single->run_maintenance([&] { ++runs; });
    REQUIRE(r.ok());
    CHECK(*r);
    CHECK(runs == 1);
  }
}

TEST_CASE("PostgresStore::run_maintenance leaves no lock behind when its connection dies in the body",
          "[store][postgres][throttle]") {
  PgDatabase db;
  auto a = open_on(db);
  const std::string advisory_locks =
      "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = "
      "(SELECT oid FROM pg_database WHERE datname = '" + db.name() + "')";
  std::string held;
  bool gone = false;
  auto r = a->run_maintenance([&] {
    held = db.exec(advisory_locks);
    // The session holding the lock dies (and is gone before the body ends):
    // the unlock after the body fails.
    const std::string pid = db.exec(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = "
        "(SELECT oid FROM pg_database WHERE datname = '" + db.name() + "')");
    REQUIRE_FALSE(pid.empty());
    db.exec("SELECT pg_terminate_backend(" + pid + ")");
    for (int i = 0; i < 500 && !gone; ++i) {
      gone = db.exec("SELECT count(*) FROM pg_stat_activity WHERE pid = " + pid) == "0";
      if (!gone) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  });
  REQUIRE(r.ok());
  CHECK(*r);
  CHECK(held == "1");
  REQUIRE(gone);
  CHECK(db.exec(advisory_locks) == "0");
  // Another instance gets the lock, and so does this one again, at once: the
  // dead connection was closed, the pool's other connections still serve.
  auto b = open_on(db);
  int runs = 0;
  auto other = b->run_maintenance([&] { ++runs; });
  REQUIRE(other.ok());
  CHECK(*other);
  auto again = a->run_maintenance([&] { ++runs; });
  REQUIRE(again.ok());
  CHECK(*again);
  CHECK(runs == 2);
  CHECK(db.exec(advisory_locks) == "0");
}

TEST_CASE("Two PostgresStores on one database admit max_failures attempts in all", "[store][postgres][throttle][security]") {
  constexpr tokend::TimeMs kT0 = 1'800'000'000'000;
  PgDatabase db;
  auto a = open_on(db);
  auto b = open_on(db);
  tokend::config::ThrottleConfig c;
  c.per_username = {5, 300};
  c.per_address = {1000, 300};
  tokend::auth::LoginThrottle one(c, *a);
  tokend::auth::LoginThrottle two(c, *b);
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
