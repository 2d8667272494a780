// The store backends every conformance-style test runs against: a Store on a
// fresh, empty database, one SECTION per backend. Shared by the Store
// conformance suite (store_conformance_test.cpp) and the tests of the services
// written against the Store interface (the login service). Adding a backend
// is one line in backends().
//
// Thread-safety: test code; one thread builds a fixture, which may then be
// used from several.
#pragma once

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>


#include "tokend/config/config.hpp"
#include "support/pg_cluster.hpp"
#include "tokend/store/postgres/postgres_store.hpp"
#include "tokend/store/sqlite/sqlite_store.hpp"
#include "tokend/store/store.hpp"
#include "unit/support/sqlite_exec.hpp"
#include "unit/support/temp_dir.hpp"

namespace tokend::testing {

// A store on a fresh, empty database, and whatever keeps that database alive.
class StoreFixture {
 public:
  virtual ~StoreFixture() = default;
  virtual store::Store& store() = 0;
  // Runs `sql` on the same database behind the store's back (to age rows,
  // or write as a tool other than tokend would). Fails the test when it fails.
  virtual void exec_sql(const std::string& sql) = 0;
};

class SqliteFixture final : public StoreFixture {
 public:
  SqliteFixture() {
    config::DatabaseConfig db;
    db.path = dir_.file("tokend.db");
    auto opened = store::sqlite::SqliteStore::open(db);
    REQUIRE(opened.ok());
    store_ = std::move(*opened);
  }
  store::Store& store() override { return *store_; }
  void exec_sql(const std::string& sql) override { tokend::testing::exec_sqlite(path(), sql); }
  std::string path() const { return dir_.file("tokend.db"); }

 private:
  TempDir dir_;
  std::unique_ptr<store::sqlite::SqliteStore> store_;
};

// A PostgresStore on a fresh database of the run's test cluster
// (tests/support/pg_cluster.hpp), dropped at the end of the test.
class PostgresFixture final : public StoreFixture {
 public:
  // `pool_size` and the timeouts as database.pool_size, connect_timeout_ms
  // and statement_timeout_ms.
  explicit PostgresFixture(int pool_size = 4, int connect_timeout_ms = 5000, int statement_timeout_ms = 5000) {
    config::DatabaseConfig db;
    db.driver = "postgresql";
    db.url = db_.url();
    db.pool_size = pool_size;
    db.connect_timeout_ms = connect_timeout_ms;
    db.statement_timeout_ms = statement_timeout_ms;
    auto opened = store::postgres::PostgresStore::open(db);
    INFO((opened.ok() ? std::string() : opened.error().message));
    REQUIRE(opened.ok());
    store_ = std::move(*opened);
  }
  store::Store& store() override { return *store_; }
  void exec_sql(const std::string& sql) override { db_.exec(sql); }
  const PgDatabase& database() const { return db_; }

 private:
  PgDatabase db_;
  std::unique_ptr<store::postgres::PostgresStore> store_;  // closed before db_ is dropped
};

struct Backend {
  const char* name;
  std::function<std::unique_ptr<StoreFixture>()> make;
};

inline const std::vector<Backend>& backends() {
  static const std::vector<Backend> kBackends = {
      {"sqlite", [] { return std::unique_ptr<StoreFixture>(new SqliteFixture()); }},
      {"postgresql", [] { return std::unique_ptr<StoreFixture>(new PostgresFixture()); }},
  };
  return kBackends;
}

// Runs `check` once per backend, each in its own SECTION on a fresh store.
inline void for_each_backend(const std::function<void(store::Store&)>& check) {
  for (const auto& b : backends()) {
    SECTION(b.name) {
      auto fixture = b.make();
      check(fixture->store());
    }
  }
}

// A local account `name` (e-mail `name`@example.org unless given) made
// through Store::create_user; fails the test when the store refuses it.
inline store::User make_user(store::Store& s, const std::string& name, const std::string& email = "") {
  store::NewUser u;
  u.username = name;
  u.email = email.empty() ? name + "@example.org" : email;
  u.display_name = "Name of " + name;
  u.password_hash = "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$aGFzaA";
  auto made = s.create_user(u);
  INFO((made.ok() ? std::string() : made.error().message));
  REQUIRE(made.ok());
  return *made;
}

}  // namespace tokend::testing
