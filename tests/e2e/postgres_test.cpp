// tokend on PostgreSQL, end to end: the `tokend user ...` commands on the
// configured database, `tokend db copy` from SQLite (tokens and passwords keep
// working on the copy), and a wrong database password kept out of the log.
// Each test makes its own database in the run's throwaway cluster
// (tests/support/pg_cluster.hpp).
#include <catch2/catch.hpp>

#include <filesystem>
#include <string>

#include "support/pg_cluster.hpp"
#include "support/process.hpp"

using e2e::bearer;
using e2e::TokendProcess;
using tokend::testing::PgDatabase;

namespace {

nlohmann::json on_postgres(const std::string& url) {
  return {{"database", {{"driver", "postgresql"}, {"url", url}}}};
}

}  // namespace

TEST_CASE("tokend user commands work on the configured PostgreSQL database", "[e2e][postgres][cli]") {
  PgDatabase db;
  TokendProcess t(on_postgres(db.url()));
  t.add_user("Alice", "alice password 1", "alice@example.org", "Alice L");
  auto list = t.cli({"list"});
  REQUIRE(list.exit_code == 0);
  CHECK(list.output.find("alice") != std::string::npos);
  CHECK(db.exec("SELECT username FROM users") == "alice");
  CHECK_FALSE(std::filesystem::exists(t.db_path()));  // no SQLite file on the side

  const std::string token = t.login("alice", "alice password 1");
  CHECK(t.get("/api/user", bearer(token)).status == 200);

  auto passwd = t.cli({"passwd", "alice"}, "alice password 2\n");
  REQUIRE(passwd.exit_code == 0);
  CHECK(t.post("/api/authenticate/userpass", R"({"username":"alice","password":"alice password 1"})").status == 401);
  const std::string token2 = t.login("alice", "alice password 2");

  auto disable = t.cli({"disable", "alice"});
  REQUIRE(disable.exit_code == 0);
  e2e::wait_for_other_writers();  // the CLI is another writer: seen within max_staleness_ms
  CHECK(t.get("/api/user", bearer(token2)).status == 401);
  CHECK(t.post("/api/authenticate/userpass", R"({"username":"alice","password":"alice password 2"})").status == 401);
  CHECK(db.exec("SELECT disabled FROM users WHERE username = 'alice'") == "t");

  auto enable = t.cli({"enable", "alice"});
  REQUIRE(enable.exit_code == 0);
  e2e::wait_for_other_writers();  // the CLI is another writer: seen within max_staleness_ms
  CHECK(t.login("alice", "alice password 2").size() == 256);
  CHECK(t.get("/api/user", bearer(token2)).status == 401);  // revoked for good

  auto unknown = t.cli({"disable", "nobody"});
  CHECK(unknown.exit_code != 0);
}

TEST_CASE("tokend db copy moves a SQLite database into PostgreSQL, tokens and passwords keep working", "[e2e][postgres][cli]") {
  TokendProcess sqlite_server;
  sqlite_server.add_user("alice", "alice password 1");
  sqlite_server.add_user("bob", "bob password 1");
  const std::string alice_token = sqlite_server.login("alice", "alice password 1");
  const std::string bob_token = sqlite_server.login("bob", "bob password 1");
  REQUIRE(sqlite_server.cli({"passwd", "bob"}, "bob password 2\n").exit_code == 0);
  REQUIRE(sqlite_server.cli({"disable", "alice"}).exit_code == 0);
  REQUIRE(sqlite_server.cli({"enable", "alice"}).exit_code == 0);
  const std::string alice_new = sqlite_server.login("alice", "alice password 1");
  REQUIRE(sqlite_server.terminate() == 0);

  PgDatabase db;
  TokendProcess pg_server(on_postgres(db.url()), false);
  auto copy = e2e::run_process(
      {e2e::binary_path(), "db", "copy", "--from", sqlite_server.db_path(), "--config", pg_server.config_path()});
  INFO(copy.output);
  REQUIRE(copy.exit_code == 0);
  CHECK(copy.output.find("copied 2 accounts, 0 linked identities, 3 tokens, 0 sessions") != std::string::npos);

  pg_server.start();
  // Alice's first token was revoked by the disable; the one after works.
  CHECK(pg_server.get("/api/user", bearer(alice_token)).status == 401);
  auto alice = pg_server.get("/api/user", bearer(alice_new));
  REQUIRE(alice.status == 200);
  CHECK(alice.json()["username"] == "alice");
  auto bob = pg_server.get("/api/user", bearer(bob_token));
  REQUIRE(bob.status == 200);
  CHECK(bob.json()["username"] == "bob");
  // The password set on SQLite is the one that works.
  CHECK(pg_server.post("/api/authenticate/userpass", R"({"username":"bob","password":"bob password 1"})").status == 401);
  CHECK(pg_server.login("bob", "bob password 2").size() == 256);
  // New accounts get new ids after the copied ones.
  pg_server.add_user("carol", "carol password 1");
  CHECK(pg_server.login("carol", "carol password 1").size() == 256);

  // The target is not empty any more: a second copy is refused, nothing changes.
  auto again = e2e::run_process(
      {e2e::binary_path(), "db", "copy", "--from", sqlite_server.db_path(), "--config", pg_server.config_path()});
  CHECK(again.exit_code == 1);
  CHECK(again.output.find("is not empty") != std::string::npos);
  CHECK(db.exec("SELECT count(*) FROM users") == "3");

  auto missing = e2e::run_process(
      {e2e::binary_path(), "db", "copy", "--from", sqlite_server.dir() + "/nope.db", "--config", pg_server.config_path()});
  CHECK(missing.exit_code == 1);
  CHECK(missing.output.find("no such database file") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(sqlite_server.dir() + "/nope.db"));
}

TEST_CASE("a wrong PostgreSQL password never reaches tokend's log or the CLI's errors", "[e2e][postgres][security]") {
  PgDatabase db;
  const std::string wrong = "Not-The-Password-31337";
  TokendProcess t(on_postgres(db.cluster().url_without_password(db.name()) + "?password=" + wrong));
  // The server is up, but every database call fails.
  auto r = t.post("/api/authenticate/userpass", R"({"username":"alice","password":"alice password 1"})");
  CHECK(r.status >= 500);
  CHECK(r.body.find(wrong) == std::string::npos);
  auto cli = t.cli({"list"});
  CHECK(cli.exit_code != 0);
  CHECK(cli.output.find("password authentication failed") != std::string::npos);
  CHECK(cli.output.find(wrong) == std::string::npos);
  REQUIRE(t.terminate() == 0);
  CHECK(t.log().find("password authentication failed") != std::string::npos);
  CHECK(t.log().find(wrong) == std::string::npos);
}
