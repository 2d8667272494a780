// Connection, Stmt and ConnectionCache: every SQLite failure is a result the
// caller sees (a failed bind included), and each thread gets its own
// connection of its own store.
#include <catch2/catch.hpp>

#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/sqlite/connection.hpp"
#include "store/sqlite/connection_cache.hpp"
#include "unit/support/temp_dir.hpp"

using tokend::store::sqlite::Connection;
using tokend::store::sqlite::ConnectionCache;

namespace {

std::unique_ptr<Connection> open_in(const tokend::testing::TempDir& dir) {
  auto c = Connection::open(dir.file("t.db"), 1000, "full");
  REQUIRE(c.ok());
  return std::unique_ptr<Connection>(*c);
}

std::int64_t count_rows(Connection& c) {
  auto st = c.prepare("SELECT COUNT(*) FROM t");
  REQUIRE(st.ok());
  REQUIRE(st->step() == SQLITE_ROW);
  return st->int64(0);
}

}  // namespace

TEST_CASE("Stmt: a failed bind is returned by step() and the statement does not run", "[store][sqlite]") {
  tokend::testing::TempDir dir;
  auto c = open_in(dir);
  REQUIRE(c->exec("CREATE TABLE t (a INTEGER, b TEXT)").ok());

  SECTION("an index out of range") {
    auto st = c->prepare("INSERT INTO t (a, b) VALUES (?, ?)");
    REQUIRE(st.ok());
    st->bind(1, std::int64_t{1}).bind(3, std::string_view("three")).bind(2, std::string_view("two"));
    CHECK(st->bind_failed());
    CHECK(st->step() == SQLITE_RANGE);
  }
  SECTION("a value over SQLite's length limit") {
    sqlite3_limit(c->handle(), SQLITE_LIMIT_LENGTH, 10);
    auto st = c->prepare("INSERT INTO t (a, b) VALUES (?, ?)");
    REQUIRE(st.ok());
    st->bind(1, std::int64_t{1}).bind(2, std::string_view("far more than ten bytes"));
    CHECK(st->bind_failed());
    CHECK(st->step() == SQLITE_TOOBIG);
    sqlite3_limit(c->handle(), SQLITE_LIMIT_LENGTH, 1'000'000);
  }
  CHECK(count_rows(*c) == 0);
  // The cached statement is clean again for its next user.
  auto again = c->prepare("INSERT INTO t (a, b) VALUES (?, ?)");
  REQUIRE(again.ok());
  CHECK_FALSE(again->bind_failed());
  again->bind(1, std::int64_t{2}).bind(2, std::string_view("ok"));
  CHECK(again->step() == SQLITE_DONE);
  CHECK(count_rows(*c) == 1);
}

TEST_CASE("Connection: prepare and exec failures are storage errors", "[store][sqlite]") {
  tokend::testing::TempDir dir;
  auto c = open_in(dir);
  auto st = c->prepare("SELECT nope FROM nowhere");
  REQUIRE_FALSE(st.ok());
  CHECK(st.error().is_storage_error());
  auto ex = c->exec("NOT SQL");
  REQUIRE_FALSE(ex.ok());
  CHECK(ex.error().is_storage_error());
}

TEST_CASE("ConnectionCache: one connection per thread, another one for nested use", "[store][sqlite][threads]") {
  tokend::testing::TempDir dir;
  tokend::config::DatabaseConfig db;
  db.path = dir.file("t.db");
  ConnectionCache cache(db);
  Connection* mine = nullptr;
  {
    auto a = cache.lease();
    REQUIRE(a.ok());
    mine = &**a;
    auto nested = cache.lease();
    REQUIRE(nested.ok());
    CHECK(&**nested != mine);
  }
  {
    auto again = cache.lease();
    REQUIRE(again.ok());
    CHECK(&**again == mine);  // the same thread gets its own connection back
  }
  // Catch's assertions are not thread-safe: the threads only record.
  std::set<Connection*> others;
  int failures = 0;
  std::mutex mu;
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      auto l = cache.lease();
      std::lock_guard lock(mu);
      if (l.ok()) {
        others.insert(&**l);
      } else {
        ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(failures == 0);
  CHECK_FALSE(others.count(mine));

  // A second cache (another store) never lends this one's connections.
  ConnectionCache other(db);
  auto l = other.lease();
  REQUIRE(l.ok());
  CHECK(&**l != mine);
}
