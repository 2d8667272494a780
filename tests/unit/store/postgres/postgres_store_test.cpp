// The PostgreSQL backend beyond the conformance suite: migrations under the
// advisory lock, a newer schema, credentials kept out of errors, starting
// while PostgreSQL is down, and broken connections. Each test runs against a
// real server (tests/support/pg_cluster.hpp); the ones that stop it use a
// private cluster.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "support/pg_cluster.hpp"
#include "tokend/config/config.hpp"
#include "tokend/store/open.hpp"
#include "tokend/store/postgres/postgres_store.hpp"
#include "unit/store/store_fixture.hpp"
#include "unit/support/temp_dir.hpp"

using tokend::config::DatabaseConfig;
using tokend::store::postgres::PostgresStore;
using tokend::testing::make_user;
using tokend::testing::PgCluster;
using tokend::testing::PgDatabase;

namespace {

DatabaseConfig pg_config(const std::string& url) {
  DatabaseConfig c;
  c.driver = "postgresql";
  c.url = url;
  c.pool_size = 4;
  c.connect_timeout_ms = 2000;
  c.statement_timeout_ms = 2000;
  return c;
}

// A loopback port that accepts connections and never answers, counting them.
class CountingSilentServer {
 public:
  CountingSilentServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    REQUIRE(::listen(fd_, 64) == 0);
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) == 1) {
          const int c = ::accept(fd_, nullptr, nullptr);
          if (c >= 0) {
            accepted_.push_back(c);
            ++count_;
          }
        }
      }
    });
  }
  ~CountingSilentServer() {
    stop_ = true;
    thread_.join();
    for (int c : accepted_) ::close(c);
    ::close(fd_);
  }
  int port() const { return port_; }
  int count() const { return count_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> count_{0};
  std::vector<int> accepted_;
  std::thread thread_;
};

// Calls ping() until it succeeds, at most `seconds`; whether it did.
bool wait_ready(tokend::store::Store& s, int seconds) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < until) {
    if (s.ping().ok()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

}  // namespace

TEST_CASE("PostgresStore: instances opening one new database at once migrate it once", "[store][postgres]") {
  PgDatabase db;
  constexpr int kOpeners = 6;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  std::vector<std::string> errors(kOpeners);
  for (int i = 0; i < kOpeners; ++i) {
    threads.emplace_back([&, i] {
      auto s = PostgresStore::open(pg_config(db.url()));
      if (s && (*s)->ping().ok()) {
        ++ok;
      } else {
        errors[i] = s ? "ping failed" : s.error().message;
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& e : errors) INFO(e);
  CHECK(ok == kOpeners);
  // One row per migration: each was applied once.
  CHECK(db.exec("SELECT count(*) FROM schema_migrations") == std::to_string(PostgresStore::schema_version()));
  CHECK(db.exec("SELECT count(DISTINCT version) FROM schema_migrations") ==
        std::to_string(PostgresStore::schema_version()));
}

TEST_CASE("PostgresStore refuses a database whose schema is newer than it knows", "[store][postgres]") {
  PgDatabase db;
  {
    auto s = PostgresStore::open(pg_config(db.url()));
    REQUIRE(s.ok());
  }
  db.exec("INSERT INTO schema_migrations (version, applied_at) VALUES (99, 0)");
  auto again = tokend::store::open(pg_config(db.url()));
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == tokend::ErrorCode::kStorageError);
  CHECK(again.error().message.find("schema version 99") != std::string::npos);
  CHECK(again.error().message.find("(" + std::to_string(PostgresStore::schema_version()) + ")") != std::string::npos);
}

TEST_CASE("PostgresStore: a wrong password is an error that never shows it", "[store][postgres][security]") {
  PgDatabase db;
  const std::string wrong = "Wrong-Secret-4711";
  SECTION("in the URL") {
    auto s = PostgresStore::open(pg_config(db.cluster().url_without_password(db.name()) + "?password=" + wrong));
    REQUIRE(s.ok());  // starts, not ready
    auto p = (*s)->ping();
    REQUIRE_FALSE(p.ok());
    CHECK(p.error().code == tokend::ErrorCode::kStorageError);
    CHECK(p.error().message.find("password authentication failed") != std::string::npos);
    CHECK(p.error().message.find(wrong) == std::string::npos);
    auto u = (*s)->find_user(1);
    REQUIRE_FALSE(u.ok());
    CHECK(u.error().message.find(wrong) == std::string::npos);
  }
  SECTION("in database.password_file") {
    tokend::testing::TempDir dir;
    std::ofstream(dir.file("pw")) << wrong << "\n";
    auto c = pg_config(db.cluster().url_without_password(db.name()));
    c.password_file = dir.file("pw");
    auto s = PostgresStore::open(c);
    REQUIRE(s.ok());
    auto p = (*s)->ping();
    REQUIRE_FALSE(p.ok());
    CHECK(p.error().message.find("password authentication failed") != std::string::npos);
    CHECK(p.error().message.find(wrong) == std::string::npos);
  }
  SECTION("the right one in database.password_file works") {
    tokend::testing::TempDir dir;
    std::ofstream(dir.file("pw")) << db.cluster().password() << "\n";
    auto c = pg_config(db.cluster().url_without_password(db.name()));
    c.password_file = dir.file("pw");
    auto s = PostgresStore::open(c);
    REQUIRE(s.ok());
    CHECK((*s)->ping().ok());
  }
  SECTION("an unreadable password file stops the start, naming the key") {
    auto c = pg_config(db.url());
    c.password_file = "/nonexistent/pw";
    auto s = PostgresStore::open(c);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code == tokend::ErrorCode::kInvalidConfig);
    CHECK(s.error().message.find("database.password_file") != std::string::npos);
  }
}

TEST_CASE("PostgresStore: an unreachable server fails calls fast, one connect per backoff", "[store][postgres]") {
  CountingSilentServer silent;
  auto c = pg_config("postgresql://tokend:Hidden-Pw-99@127.0.0.1:" + std::to_string(silent.port()) + "/tokend");
  c.connect_timeout_ms = 300;
  auto s = PostgresStore::open(c);  // does not fail: the server may come later
  REQUIRE(s.ok());
  const int after_open = silent.count();
  CHECK(after_open == 1);
  auto p = (*s)->ping();
  REQUIRE_FALSE(p.ok());
  CHECK(p.error().code == tokend::ErrorCode::kStorageError);
  CHECK(p.error().message.find("Hidden-Pw-99") == std::string::npos);
  CHECK(p.error().message.find("127.0.0.1") != std::string::npos);
  // Within the backoff, calls fail without another connection attempt each.
  for (int i = 0; i < 10; ++i) CHECK_FALSE((*s)->find_user(1).ok());
  CHECK(silent.count() <= after_open + 1);
}

TEST_CASE("PostgresStore starts while PostgreSQL is down and migrates once it is up", "[store][postgres]") {
  auto cluster = PgCluster::start_private();
  PgDatabase db(*cluster);
  cluster->halt();
  auto s = tokend::store::open(pg_config(db.url()));
  REQUIRE(s.ok());
  auto p = (*s)->ping();
  REQUIRE_FALSE(p.ok());
  CHECK(p.error().code == tokend::ErrorCode::kStorageError);
  CHECK_FALSE((*s)->find_user_by_username("alice").ok());
  cluster->resume();
  REQUIRE(wait_ready(**s, 30));
  const auto alice = make_user(**s, "alice");
  CHECK((*s)->find_user(alice.id).ok());
  CHECK(db.exec("SELECT max(version) FROM schema_migrations") == std::to_string(PostgresStore::schema_version()));
}

TEST_CASE("PostgresStore replaces connections killed by pg_terminate_backend", "[store][postgres]") {
  PgDatabase db;
  auto s = PostgresStore::open(pg_config(db.url()));
  REQUIRE(s.ok());
  const auto alice = make_user(**s, "alice");
  for (int round = 0; round < 3; ++round) {
    CHECK(db.cluster().terminate_backends(db.name()) >= 1);
    // ping() drops the dead connection and answers on a new one.
    CHECK((*s)->ping().ok());
    auto u = (*s)->find_user(alice.id);
    REQUIRE(u.ok());
    CHECK(u->username == "alice");
  }
  // Token inserts too (the group committer's connection).
  CHECK(db.cluster().terminate_backends(db.name()) >= 1);
  tokend::store::NewToken t;
  t.digest = tokend::crypto::sha256("after-kill");
  t.user_id = alice.id;
  t.name = "t";
  t.source = "test";
  auto first = (*s)->insert_token(t);
  if (!first.ok()) {
    // A stale connection fails one call, with a storage error, and is dropped.
    CHECK(first.error().code == tokend::ErrorCode::kStorageError);
    REQUIRE((*s)->insert_token(t).ok());
  }
  CHECK((*s)->find_token(t.digest).ok());
}

TEST_CASE("PostgresStore survives a server restart", "[store][postgres]") {
  auto cluster = PgCluster::start_private();
  PgDatabase db(*cluster);
  auto s = PostgresStore::open(pg_config(db.url()));
  REQUIRE(s.ok());
  const auto alice = make_user(**s, "alice");
  cluster->halt();
  for (int i = 0; i < 5; ++i) {
    auto u = (*s)->find_user(alice.id);
    REQUIRE_FALSE(u.ok());
    CHECK(u.error().code == tokend::ErrorCode::kStorageError);
  }
  CHECK_FALSE((*s)->ping().ok());
  cluster->resume();
  REQUIRE(wait_ready(**s, 30));
  auto u = (*s)->find_user(alice.id);
  REQUIRE(u.ok());
  CHECK(u->username == "alice");
}

TEST_CASE("PostgreSQL configuration: driver, url and its limits are validated", "[store][postgres][config]") {
  auto parse = [](const std::string& text) { return tokend::config::parse_config_text(text); };
  auto bad = parse(R"({"database": {"driver": "postgresql"}})");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("database.url") != std::string::npos);
  auto garbled = parse(R"({"database": {"driver": "postgresql", "url": "postgresql://u:Sekret-77@h:notaport/db?x=%zz"}})");
  REQUIRE_FALSE(garbled.ok());
  CHECK(garbled.error().message.find("database.url") != std::string::npos);
  CHECK(garbled.error().message.find("Sekret-77") == std::string::npos);
  auto pool = parse(R"({"database": {"driver": "postgresql", "url": "postgresql:///db", "pool_size": 0}})");
  REQUIRE_FALSE(pool.ok());
  CHECK(pool.error().message.find("pool_size") != std::string::npos);
  auto good = parse(R"({"database": {"driver": "postgresql", "url": "host=db.example.org dbname=tokend sslmode=verify-full",
                        "pool_size": 16, "connect_timeout_ms": 3000, "statement_timeout_ms": 4000}})");
  REQUIRE(good.ok());
  CHECK(good->database.pool_size == 16);
  CHECK(good->database.connect_timeout_ms == 3000);
  CHECK(good->database.statement_timeout_ms == 4000);
  auto other = parse(R"({"database": {"driver": "mysql"}})");
  REQUIRE_FALSE(other.ok());
  CHECK(other.error().message.find("database.driver") != std::string::npos);
}
