// Runs SQL on a test's database file behind tokend's back: to move time
// (expire a token or a session without waiting days), to roll a schema back,
// or to play another writer such as the CLI.
#pragma once

#include <sqlite3.h>

#include <catch2/catch.hpp>

#include <string>

namespace e2e {

// Runs `statement` (one or more SQL statements) on the SQLite file `db`;
// fails the test when it does not succeed.
inline void sql(const std::string& db, const std::string& statement) {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open(db.c_str(), &h) == SQLITE_OK);
  sqlite3_busy_timeout(h, 5000);
  char* err = nullptr;
  const int rc = sqlite3_exec(h, statement.c_str(), nullptr, nullptr, &err);
  INFO((err ? err : ""));
  sqlite3_free(err);
  sqlite3_close(h);
  REQUIRE(rc == SQLITE_OK);
}

}  // namespace e2e
