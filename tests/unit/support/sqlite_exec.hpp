// exec_sqlite: runs SQL on a SQLite file behind the store's back (a test
// setting up what the API cannot: old times, a broken row), failing the test
// when it fails.
#pragma once

#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <string>

namespace tokend::testing {

inline void exec_sqlite(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
  sqlite3_busy_timeout(db, 5000);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err);
  INFO(sql << ": " << (err ? err : ""));
  sqlite3_free(err);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_OK);
}

}  // namespace tokend::testing
