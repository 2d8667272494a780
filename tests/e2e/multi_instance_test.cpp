// End-to-end: three tokend instances on one PostgreSQL database behind a real
// nginx upstream (docs/examples/several-instances-nginx.conf), as
// docs/operations.md's "Several instances" recipe sets them up. What is
// shared through the database: tokens (issued on A, valid on B and C; revoked
// on C, refused on A at its next request), accounts (disabled on one, its
// tokens and sessions refused on all), browser sessions (signed in on A, used
// on B), the login throttle (five wrong passwords over three instances: 429
// on all, and after a restart), and the settings each instance needs behind
// the proxy. And what the
// proxy gives: requests spread over every instance, and one instance killed
// with kill -9 under load while the others keep answering.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/instances.hpp"
#include "support/nginx_fixture.hpp"
#include "support/pg_cluster.hpp"
#include "support/process.hpp"

using e2e::bearer;
using e2e::Instances;
using e2e::is_token;
using e2e::kPublicOrigin;
using e2e::NginxFixture;
using e2e::sign_in;
using e2e::Response;
using e2e::via;
using nlohmann::json;
using tokend::testing::PgDatabase;

namespace {

std::string login(std::uint16_t port, const std::string& user, const std::string& password) {
  auto r = e2e::http(port, "POST", "/api/authenticate/userpass", json{{"username", user}, {"password", password}}.dump());
  INFO(r.body);
  REQUIRE(r.status == 200);
  REQUIRE(is_token(r.json()["token"].get<std::string>()));
  return r.json()["token"];
}

}  // namespace

TEST_CASE("several instances: a token issued on A validates on B and C, revoked on C it is refused on A",
          "[e2e][multi][postgresql]") {
  PgDatabase db;
  Instances inst(db, 3);
  inst[0].add_user("alice", "alices password", "alice@example.org");

  const std::string token = login(inst[0].port(), "alice", "alices password");
  const auto on_a = inst[0].get("/api/user", bearer(token));
  REQUIRE(on_a.status == 200);
  e2e::wait_for_other_writers();  // another instance's change: seen within max_staleness_ms
  for (std::size_t i = 1; i < 3; ++i) {
    auto r = inst[i].get("/api/user", bearer(token));
    INFO("instance " << i << ": " << r.body);
    REQUIRE(r.status == 200);
    CHECK(r.json()["username"] == "alice");
    CHECK(r.json()["token"]["id"] == on_a.json()["token"]["id"]);
  }

  // A second token, listed and revoked by id on C.
  const std::string other = login(inst[1].port(), "alice", "alices password");
  e2e::wait_for_other_writers();  // another instance's change: seen within max_staleness_ms
  const auto id = inst[2].get("/api/user", bearer(other)).json()["token"]["id"].get<long long>();
  auto del = e2e::http(inst[2].port(), "DELETE", "/api/tokens/" + std::to_string(id), "", bearer(token));
  REQUIRE(del.status == 204);
  // Refused on A and B once validation_cache.max_staleness_ms has passed.
  e2e::wait_for_other_writers();  // another instance's change: seen within max_staleness_ms
  CHECK(inst[0].get("/api/user", bearer(other)).status == 401);
  CHECK(inst[1].get("/api/user", bearer(other)).status == 401);
  CHECK(inst[0].get("/api/user", bearer(token)).status == 200);

  // The token revoking itself on C (DELETE /api/token): gone on A and B.
  REQUIRE(e2e::http(inst[2].port(), "DELETE", "/api/token", "", bearer(token)).status == 204);
  e2e::wait_for_other_writers();  // another instance's change: seen within max_staleness_ms
  CHECK(inst[0].get("/api/user", bearer(token)).status == 401);
  CHECK(inst[1].get("/api/user", bearer(token)).status == 401);
}

TEST_CASE("several instances behind nginx: requests are spread over all three, each sees the real client",
          "[e2e][multi][postgresql]") {
  PgDatabase db;
  Instances inst(db, 3);
  inst[0].add_user("alice", "alices password");
  NginxFixture nginx(e2e::nginx_upstream_conf(inst.ports()));
  const std::string token = login(inst[0].port(), "alice", "alices password");
  e2e::wait_for_other_writers();  // another instance's change: seen within max_staleness_ms

  std::vector<int> before;
  for (std::size_t i = 0; i < 3; ++i) before.push_back(e2e::access_lines(inst[i], "/api/user", 200));
  // nginx's round robin: 30 validations through it reach every instance.
  for (int i = 0; i < 30; ++i) {
    auto r = via(nginx.port(), "GET", "/api/user", "", {{"Authorization", "Bearer " + token}, {"X-Forwarded-For", "198.51.100.7"}});
    INFO(r.body);
    REQUIRE(r.status == 200);
    CHECK(r.json()["username"] == "alice");
  }
  int total = 0;
  for (std::size_t i = 0; i < 3; ++i) {
    const int n = e2e::access_lines(inst[i], "/api/user", 200) - before[i];
    INFO("instance " << i);
    CHECK(n >= 5);
    total += n;
  }
  CHECK(total == 30);
  // trusted_proxies: the instance logs the client nginx forwarded, not
  // nginx's own address.
  bool seen = false;
  for (std::size_t i = 0; i < 3; ++i) {
    seen = seen || inst[i].log().find("path=/api/user status=200 ") != std::string::npos &&
                       inst[i].log().find("client=198.51.100.7") != std::string::npos;
  }
  CHECK(seen);
  // Through the proxy, with another Host than the listed names: 421.
  CHECK(via(nginx.port(), "GET", "/healthz", "", {}, "evil.example").status == 421);
  // Readiness through the proxy, as a load balancer asks it.
  auto health = via(nginx.port(), "GET", "/healthz");
  CHECK(health.status == 200);
  CHECK(health.json()["status"] == "ok");
}

TEST_CASE("several instances: a session signed in on A works on B and C, signed out on B it ends everywhere",
          "[e2e][multi][postgresql]") {
  PgDatabase db;
  Instances inst(db, 3);
  inst[0].add_user("alice", "alices password");
  NginxFixture nginx(e2e::nginx_upstream_conf(inst.ports()));

  // Signed in through A directly, then used on B and C (as nginx would send
  // the browser's next requests anywhere).
  const std::string cookie = sign_in(inst[0].port(), "alice", "alices password");
  const std::map<std::string, std::string> page = {{"Cookie", cookie}, {"Origin", kPublicOrigin}};
  auto session = via(inst[1].port(), "GET", "/api/session", "", page);
  INFO(session.body);
  REQUIRE(session.status == 200);
  auto minted = via(inst[2].port(), "POST", "/api/token", "{}", page);
  INFO(minted.body);
  REQUIRE(minted.status == 200);
  const std::string token = minted.json()["token"];
  e2e::wait_for_other_writers();  // another instance's change: seen within max_staleness_ms
  CHECK(inst[0].get("/api/user", bearer(token)).status == 200);
  // The same through nginx: every request of the page lands on some instance.
  for (int i = 0; i < 6; ++i) {
    auto r = via(nginx.port(), "POST", "/api/token", "{}", page);
    INFO(r.body);
    REQUIRE(r.status == 200);
  }
  auto list = via(nginx.port(), "GET", "/api/tokens", "", page);
  REQUIRE(list.status == 200);
  CHECK(list.json()["tokens"].size() == 7);
  // The origin check compares with https://<Host> (behind_tls_proxy): a page
  // of another origin is refused on every instance.
  for (std::size_t i = 0; i < 3; ++i) {
    auto r = via(inst[i].port(), "POST", "/api/token", "{}", {{"Cookie", cookie}, {"Origin", "https://evil.example"}});
    CHECK(r.status == 403);
  }

  // Signed out on B: the cookie is refused on A and C (another instance's
  // sign-out: within max_staleness_ms, as for a revoked token; the bound
  // itself is tested in staleness_postgres_test.cpp).
  REQUIRE(via(inst[1].port(), "POST", "/api/logout", "", page).status == 204);
  e2e::wait_for_other_writers();
  for (std::size_t i = 0; i < 3; ++i) {
    auto r = via(inst[i].port(), "GET", "/api/tokens", "", page);
    INFO("instance " << i);
    CHECK(r.status == 401);
  }
}

TEST_CASE("several instances: an account disabled through one instance's CLI is refused on all",
          "[e2e][multi][postgresql]") {
  PgDatabase db;
  Instances inst(db, 3);
  inst[0].add_user("alice", "alices password");
  inst[0].add_user("bob", "bobs password");
  const std::string token = login(inst[0].port(), "alice", "alices password");
  const std::string bobs = login(inst[1].port(), "bob", "bobs password");
  const std::string cookie = sign_in(inst[1].port(), "alice", "alices password");
  const std::map<std::string, std::string> page = {{"Cookie", cookie}, {"Origin", kPublicOrigin}};
  REQUIRE(via(inst[2].port(), "GET", "/api/tokens", "", page).status == 200);

  // `tokend user disable` with instance C's configuration: the database they
  // share.
  auto r = inst[2].cli({"disable", "alice"});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  e2e::wait_for_other_writers();  // the CLI is another writer: seen within max_staleness_ms
  for (std::size_t i = 0; i < 3; ++i) {
    INFO("instance " << i);
    CHECK(inst[i].get("/api/user", bearer(token)).status == 401);
    CHECK(via(inst[i].port(), "GET", "/api/tokens", "", page).status == 401);
    // A new login is refused too; bob is not touched.
    auto again = e2e::http(inst[i].port(), "POST", "/api/authenticate/userpass",
                           json{{"username", "alice"}, {"password", "alices password"}}.dump());
    CHECK(again.status == 401);
    CHECK(inst[i].get("/api/user", bearer(bobs)).status == 200);
  }
  // Enabled again: new logins work on every instance (the old tokens stay
  // revoked).
  REQUIRE(inst[0].cli({"enable", "alice"}).exit_code == 0);
  CHECK(inst[1].get("/api/user", bearer(token)).status == 401);
  CHECK(!login(inst[2].port(), "alice", "alices password").empty());
}

TEST_CASE("several instances: five wrong passwords for one user spread over three instances give 429 on all",
          "[e2e][multi][postgresql]") {
  PgDatabase db;
  Instances inst(db, 3);
  inst[0].add_user("alice", "alices password");
  NginxFixture nginx(e2e::nginx_upstream_conf(inst.ports()));
  const std::string wrong = json{{"username", "alice"}, {"password", "not her password"}}.dump();
  // Five failures (throttle.per_username.max_failures), one instance after
  // the other: 2 on A, 2 on B, 1 on C. Each instance alone saw fewer than
  // five.
  for (int i = 0; i < 5; ++i) {
    auto r = inst[i % 3].post("/api/authenticate/userpass", wrong);
    INFO("attempt " << i << ": " << r.body);
    REQUIRE(r.status == 401);
  }
  // The sixth, on any instance, with the right password too: 429.
  for (std::size_t i = 0; i < 3; ++i) {
    auto r = inst[i].post("/api/authenticate/userpass",
                          json{{"username", "alice"}, {"password", "alices password"}}.dump());
    INFO("instance " << i << ": " << r.body);
    CHECK(r.status == 429);
    CHECK(r.json()["error"] == "too_many_attempts");
    CHECK_FALSE(r.header("retry-after").empty());
  }
  // Through nginx, wherever it lands.
  CHECK(via(nginx.port(), "POST", "/api/authenticate/userpass", wrong).status == 429);
  // A restart of every instance does not reset the count.
  for (std::size_t i = 0; i < 3; ++i) {
    REQUIRE(inst[i].terminate() == 0);
    inst[i].restart();
  }
  CHECK(inst[1].post("/api/authenticate/userpass", wrong).status == 429);
}

TEST_CASE("several instances behind nginx: one instance killed with kill -9 under load, the others keep answering",
          "[e2e][multi][faults][postgresql]") {
  PgDatabase db;
  Instances inst(db, 3, {{"tokens", {{"max_created_per_minute", 0}, {"max_live_per_account", 0}}}});
  inst[0].add_user("alice", "alices password");
  NginxFixture nginx(e2e::nginx_upstream_conf(inst.ports()));
  const std::string token = login(inst[0].port(), "alice", "alices password");
  const std::string cookie = sign_in(inst[0].port(), "alice", "alices password");
  const std::map<std::string, std::string> page = {{"Cookie", cookie}, {"Origin", kPublicOrigin}};
  e2e::wait_for_other_writers();  // another instance's change: seen within max_staleness_ms

  // Four clients through nginx: validations (GET, which nginx passes to the
  // next instance when one fails) and token requests (POST, which nginx
  // never resends once it reached an instance).
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<int> get_statuses;
  std::vector<Response> post_answers;
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      while (!stop) {
        if (c % 2 == 0) {
          auto r = via(nginx.port(), "GET", "/api/user", "", {{"Authorization", "Bearer " + token}});
          std::lock_guard lock(mu);
          get_statuses.push_back(r.status);
        } else {
          auto r = via(nginx.port(), "POST", "/api/token", "{}", page);
          std::lock_guard lock(mu);
          post_answers.push_back(std::move(r));
        }
      }
    });
  }
  auto count = [&] {
    std::lock_guard lock(mu);
    return get_statuses.size() + post_answers.size();
  };
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (count() < 60 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  inst[1].kill9();
  const std::size_t at_kill = count();
  while (count() < at_kill + 120 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  stop = true;
  for (auto& t : clients) t.join();
  REQUIRE(count() >= at_kill + 120);

  // Every validation answered 200: nginx passed the ones the dead instance
  // dropped to another instance.
  for (int s : get_statuses) CHECK(s == 200);
  // A token request in flight on the killed instance may get nginx's 502
  // (nginx does not resend a POST); no other failure, and only around the
  // kill: at most one per client that was sending POSTs.
  std::vector<std::string> tokens;
  int bad_gateway = 0;
  for (const auto& r : post_answers) {
    if (r.status == 200) {
      tokens.push_back(r.json()["token"]);
    } else {
      INFO(r.status << " " << r.body);
      CHECK(r.status == 502);
      ++bad_gateway;
    }
  }
  INFO(get_statuses.size() << " validations, " << post_answers.size() << " token requests, " << bad_gateway
                            << " answered 502");
  CHECK(bad_gateway <= 2);
  // Every token answered 200 is stored: it validates on the survivors.
  e2e::wait_for_other_writers();  // another instance's change: seen within max_staleness_ms
  for (const auto& t : tokens) {
    CHECK(inst[0].get("/api/user", bearer(t)).status == 200);
    CHECK(inst[2].get("/api/user", bearer(t)).status == 200);
  }
  // The killed instance starts again on the same database and serves.
  inst[1].restart();
  CHECK(inst[1].get("/api/user", bearer(token)).status == 200);
}
