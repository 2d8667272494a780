// The PostgreSQL test fixture itself (tests/support/pg_cluster.hpp): each
// test gets a database of its own, reachable over TCP with the cluster's
// password and only with it, and gone after the test.
#include <catch2/catch.hpp>

#include <libpq-fe.h>

#include <string>

#include "support/pg_cluster.hpp"

using tokend::testing::PgCluster;
using tokend::testing::PgDatabase;

namespace {

// Whether libpq connects with `conninfo`; the server's message in `error`.
bool connects(const std::string& conninfo, std::string& error) {
  PGconn* c = PQconnectdb(conninfo.c_str());
  const bool ok = PQstatus(c) == CONNECTION_OK;
  error = PQerrorMessage(c);
  PQfinish(c);
  return ok;
}

}  // namespace

TEST_CASE("PgDatabase gives each test its own database, dropped afterwards", "[store][postgres][fixture]") {
  std::string name;
  {
    PgDatabase a;
    PgDatabase b;
    name = a.name();
    REQUIRE(a.name() != b.name());
    a.exec("CREATE TABLE t (v integer)");
    a.exec("INSERT INTO t VALUES (42)");
    CHECK(a.exec("SELECT v FROM t") == "42");
    CHECK(b.exec("SELECT count(*) FROM pg_tables WHERE tablename = 't'") == "0");
    std::string error;
    CHECK(connects(a.url(), error));
    INFO(error);
  }
  CHECK(PgCluster::shared().exec("postgres", "SELECT count(*) FROM pg_database WHERE datname = '" + name + "'") == "0");
}

TEST_CASE("The test cluster listens on loopback TCP and wants its password", "[store][postgres][fixture]") {
  PgDatabase db;
  const PgCluster& c = db.cluster();
  CHECK(c.host() == "127.0.0.1");
  std::string error;
  CHECK(connects(db.url(), error));
  CHECK_FALSE(connects(c.url_without_password(db.name()) + "?password=wrong-password&connect_timeout=5", error));
  CHECK(error.find("password authentication failed") != std::string::npos);
}

TEST_CASE("A private test cluster can be halted and resumed", "[store][postgres][fixture]") {
  auto cluster = PgCluster::start_private();
  PgDatabase db(*cluster);
  db.exec("CREATE TABLE t (v integer)");
  db.exec("INSERT INTO t VALUES (7)");
  cluster->halt();
  std::string error;
  CHECK_FALSE(connects(db.url() + "?connect_timeout=5", error));
  cluster->resume();
  CHECK(db.exec("SELECT v FROM t") == "7");
  CHECK_THROWS_AS(PgCluster::shared().halt(), std::logic_error);
}
