// End-to-end: a database that refuses a write answers 503 storage_unavailable
// (with Retry-After), never a token or a session that was not stored, and the
// server recovers by itself once writes succeed again.
//
// The refusal comes from a trigger the test installs in the database file
// (RAISE(ABORT)): a real SQLite error on the server's own write, chosen
// because it is exact and leaves the rest of the database working. Disk-full,
// read-only and locked databases are the fault tests' business.
#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <string>

#include "support/sql.hpp"
#include "support/process.hpp"

using e2e::bearer;
using e2e::TokendProcess;

using e2e::sql;

namespace {

long long count_rows(const std::string& db, const std::string& table) {
  sqlite3* h = nullptr;
  REQUIRE(sqlite3_open_v2(db.c_str(), &h, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  sqlite3_busy_timeout(h, 5000);
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(h, ("SELECT COUNT(*) FROM " + table).c_str(), -1, &st, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_step(st) == SQLITE_ROW);
  const long long n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(h);
  return n;
}

}  // namespace

TEST_CASE("a refused database write is 503 storage_unavailable, and issuing resumes afterwards", "[e2e][storage]") {
  TokendProcess t;
  t.add_user("alice", "alices password");
  const std::string kept = t.login("alice", "alices password");
  const long long tokens_before = count_rows(t.db_path(), "tokens");

  SECTION("tokens") {
    sql(t.db_path(), "CREATE TRIGGER refuse_tokens BEFORE INSERT ON tokens BEGIN SELECT RAISE(ABORT, 'refused by the test'); END");
    auto r = t.post("/api/authenticate/userpass", R"({"username":"alice","password":"alices password"})");
    CHECK(r.status == 503);
    CHECK(r.json()["error"] == "storage_unavailable");
    CHECK(r.header("retry-after") == "1");
    CHECK(r.body.find("refused by the test") == std::string::npos);  // details only in the log
    CHECK(count_rows(t.db_path(), "tokens") == tokens_before);
    // Reading still works meanwhile.
    CHECK(t.get("/api/user", bearer(kept)).status == 200);
    CHECK(t.log().find("refused by the test") != std::string::npos);
    // Writes succeed again: no restart needed.
    sql(t.db_path(), "DROP TRIGGER refuse_tokens");
    const std::string fresh = t.login("alice", "alices password");
    CHECK(t.get("/api/user", bearer(fresh)).status == 200);
    CHECK(count_rows(t.db_path(), "tokens") == tokens_before + 1);
  }
  SECTION("sessions") {
    sql(t.db_path(), "CREATE TRIGGER refuse_sessions BEFORE INSERT ON sessions BEGIN SELECT RAISE(ABORT, 'refused by the test'); END");
    auto r = t.post("/api/login", R"({"username":"alice","password":"alices password"})");
    CHECK(r.status == 503);
    CHECK(r.json()["error"] == "storage_unavailable");
    CHECK(r.header("retry-after") == "1");
    CHECK(r.header("set-cookie").empty());
    sql(t.db_path(), "DROP TRIGGER refuse_sessions");
    auto ok = t.post("/api/login", R"({"username":"alice","password":"alices password"})");
    CHECK(ok.status == 200);
    CHECK(ok.header("set-cookie").rfind("tokend_session=", 0) == 0);
  }
}
