// End-to-end: validation from memory (token/validation_cache, issue 12) on one
// instance with SQLite. The guarantee tested: after a revoke, a disable, a
// rotation or an expiry in this process, the very next validation refuses; a
// token issued here validates at once; repeated valid tokens are answered
// from memory (hits) and unknown ones refused by the filter (rejects).
// Other writers (the CLI, another instance) are tested in
// tests/e2e/guarantees_*.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <thread>

#include "support/process.hpp"

using e2e::bearer;
using e2e::TokendProcess;

namespace {

void wait_fresh(TokendProcess& t) { e2e::wait_cache_fresh(t.port()); }

long long hits(TokendProcess& t) { return e2e::metric(t.port(), "tokend_validation_cache_hits_total"); }
long long rejects(TokendProcess& t) { return e2e::metric(t.port(), "tokend_validation_cache_rejects_total"); }

std::string token_of(TokendProcess& t, const std::string& extra = "") {
  auto r = t.post("/api/authenticate/userpass",
                  R"({"username":"alice","password":"alices password")" + extra + "}");
  REQUIRE(r.status == 200);
  return r.json()["token"];
}

std::int64_t id_of(TokendProcess& t, const std::string& token) {
  auto me = t.get("/api/user", bearer(token));
  REQUIRE(me.status == 200);
  return me.json()["token"]["id"];
}

// Validated twice, the second time from memory: remembered for sure.
void remember(TokendProcess& t, const std::string& token) {
  REQUIRE(t.get("/api/user", bearer(token)).status == 200);
  const long long before = hits(t);
  REQUIRE(t.get("/api/user", bearer(token)).status == 200);
  REQUIRE(hits(t) == before + 1);
}

}  // namespace

TEST_CASE("validation cache: hits for a repeated token, filter rejects for unknown ones", "[e2e][cache]") {
  TokendProcess t;
  t.add_user("alice", "alices password");
  wait_fresh(t);
  const std::string token = token_of(t);
  REQUIRE(t.get("/api/user", bearer(token)).status == 200);
  const long long h0 = hits(t);
  for (int i = 0; i < 5; ++i) {
    auto me = t.get("/api/user", bearer(token));
    REQUIRE(me.status == 200);
    CHECK(me.json()["username"] == "alice");
  }
  CHECK(hits(t) == h0 + 5);
  CHECK(e2e::metric(t.port(), "tokend_validation_cache_entries") >= 1);
  CHECK(e2e::metric(t.port(), "tokend_token_filter_prefixes") >= 1);

  const long long r0 = rejects(t);
  for (char c : std::string("0123456789")) {
    auto r = t.get("/api/user", bearer(std::string(255, 'e') + c));
    CHECK(r.status == 401);
    CHECK(r.json()["error"] == "unauthenticated");
  }
  CHECK(rejects(t) == r0 + 10);
}

TEST_CASE("validation cache: a token issued on this instance validates at once", "[e2e][cache]") {
  TokendProcess t;
  t.add_user("alice", "alices password");
  wait_fresh(t);
  // Its prefix is in the filter before the 200 that hands it out: never
  // refused as unknown, not even by the very next request.
  for (int i = 0; i < 20; ++i) {
    const std::string token = token_of(t);
    auto me = t.get("/api/user", bearer(token));
    REQUIRE(me.status == 200);
  }
  CHECK(e2e::metric(t.port(), "tokend_token_filter_prefixes") >= 20);
}

TEST_CASE("validation cache: the very next validation after a change in this process refuses", "[e2e][cache]") {
  TokendProcess t(nlohmann::json{{"tokens", {{"min_lifetime", "1s"}}}});
  t.add_user("alice", "alices password");
  REQUIRE(t.cli({"add", "root", "--admin"}, "root password 0001\n").exit_code == 0);
  wait_fresh(t);
  const std::string token = token_of(t);
  const std::string other = token_of(t);
  remember(t, token);
  remember(t, other);

  SECTION("DELETE /api/tokens/{id}") {
    REQUIRE(e2e::http(t.port(), "DELETE", "/api/tokens/" + std::to_string(id_of(t, token)), "", bearer(other)).status ==
            204);
    CHECK(t.get("/api/user", bearer(token)).status == 401);
    CHECK(t.get("/api/user", bearer(other)).status == 200);
  }
  SECTION("DELETE /api/token") {
    REQUIRE(e2e::http(t.port(), "DELETE", "/api/token", "", bearer(token)).status == 204);
    CHECK(t.get("/api/user", bearer(token)).status == 401);
  }
  SECTION("a disable through the admin API") {
    const std::string root = t.login("root", "root password 0001");
    const std::int64_t alice_id = t.get("/api/user", bearer(token)).json()["id"];
    REQUIRE(t.post("/api/admin/users/" + std::to_string(alice_id) + "/disable", "", bearer(root)).status == 200);
    CHECK(t.get("/api/user", bearer(token)).status == 401);
    CHECK(t.get("/api/user", bearer(other)).status == 401);
  }
  SECTION("a rotation without grace: the old token") {
    auto rotated = t.post("/api/tokens/" + std::to_string(id_of(t, token)) + "/rotate", "", bearer(token));
    REQUIRE(rotated.status == 200);
    CHECK(t.get("/api/user", bearer(token)).status == 401);
    CHECK(t.get("/api/user", bearer(rotated.json()["token"].get<std::string>())).status == 200);
  }
  SECTION("an expiry") {
    const std::string short_lived = token_of(t, R"(,"expiresInSeconds":2)");
    const auto issued = std::chrono::steady_clock::now();
    remember(t, short_lived);
    std::this_thread::sleep_until(issued + std::chrono::milliseconds(2100));
    const long long h = hits(t);
    CHECK(t.get("/api/user", bearer(short_lived)).status == 401);
    // Refused from memory: the remembered expiry is checked at each use.
    CHECK(hits(t) == h + 1);
  }
}

TEST_CASE("validation cache: forward auth answers from memory and refuses at once after a revoke",
          "[e2e][cache][forward_auth]") {
  TokendProcess t(nlohmann::json{{"forward_auth", {{"enabled", true}}}});
  t.add_user("alice", "alices password");
  wait_fresh(t);
  const std::string token = token_of(t);
  REQUIRE(t.get("/api/auth/verify", bearer(token)).status == 200);
  const long long h0 = hits(t);
  auto ok = t.get("/api/auth/verify", bearer(token));
  REQUIRE(ok.status == 200);
  CHECK(ok.header("x-auth-username") == "alice");
  auto head = e2e::http(t.port(), "HEAD", "/api/auth/verify", "", bearer(token));
  CHECK(head.status == 200);
  CHECK(hits(t) == h0 + 2);

  const long long r0 = rejects(t);
  auto unknown = t.get("/api/auth/verify", bearer(std::string(256, 'd')));
  CHECK(unknown.status == 401);
  CHECK(unknown.header("www-authenticate") == R"(Bearer realm="tokend", error="invalid_token")");
  CHECK(rejects(t) == r0 + 1);
  CHECK(t.get("/api/auth/verify").status == 401);

  REQUIRE(e2e::http(t.port(), "DELETE", "/api/token", "", bearer(token)).status == 204);
  CHECK(t.get("/api/auth/verify", bearer(token)).status == 401);
}

TEST_CASE("validation cache: forward auth with a session cookie answers from memory and refuses at once after a sign-out",
          "[e2e][cache][forward_auth][session]") {
  TokendProcess t(nlohmann::json{{"forward_auth", {{"session_cookie", true}}}});
  t.add_user("alice", "alices password");
  t.add_user("bob", "bobs password");
  wait_fresh(t);
  auto sign_in = [&](const std::string& who, const std::string& password) {
    auto login = t.post("/api/login", nlohmann::json{{"username", who}, {"password", password}}.dump());
    REQUIRE(login.status == 200);
    const std::string set_cookie = login.header("set-cookie");
    return set_cookie.substr(0, set_cookie.find(';'));
  };
  const std::string alices = sign_in("alice", "alices password");
  const std::string bobs = sign_in("bob", "bobs password");
  auto session_hits = [&] { return e2e::metric(t.port(), "tokend_session_cache_hits_total"); };
  REQUIRE(t.get("/api/auth/verify", {{"Cookie", alices}}).status == 200);  // read, and remembered
  REQUIRE(t.get("/api/auth/verify", {{"Cookie", bobs}}).status == 200);
  const long long h0 = session_hits();
  auto ok = t.get("/api/auth/verify", {{"Cookie", alices}});
  REQUIRE(ok.status == 200);
  CHECK(ok.header("x-auth-username") == "alice");
  CHECK(session_hits() == h0 + 1);
  CHECK(e2e::metric(t.port(), "tokend_session_cache_entries") == 2);
  // A malformed cookie is refused from memory too.
  CHECK(t.get("/api/auth/verify", {{"Cookie", "tokend_session=nope"}}).status == 401);

  SECTION("signed out") {
    REQUIRE(t.post("/api/logout", "", {{"Cookie", alices}}).status == 204);
  }
  SECTION("account disabled by an admin") {
    REQUIRE(t.cli({"add", "root", "--admin"}, "roots password\n").exit_code == 0);
    const std::string admin = t.login("root", "roots password");
    const long long alice_id = t.get("/api/session", {{"Cookie", alices}}).json()["user"]["id"].get<long long>();
    REQUIRE(e2e::http(t.port(), "POST", "/api/admin/users/" + std::to_string(alice_id) + "/disable", "", bearer(admin))
                .status == 200);
  }
  // The very next request refuses; bob's session is untouched (and still
  // remembered).
  CHECK(t.get("/api/auth/verify", {{"Cookie", alices}}).status == 401);
  const long long h1 = session_hits();
  CHECK(t.get("/api/auth/verify", {{"Cookie", bobs}}).status == 200);
  CHECK(session_hits() == h1 + 1);
}

TEST_CASE("validation cache: max_tokens 0 reads the database for every validation", "[e2e][cache]") {
  TokendProcess t(nlohmann::json{{"validation_cache", {{"max_tokens", 0}}}});
  t.add_user("alice", "alices password");
  const std::string token = token_of(t);
  for (int i = 0; i < 3; ++i) REQUIRE(t.get("/api/user", bearer(token)).status == 200);
  CHECK(t.get("/api/user", bearer(std::string(256, 'a'))).status == 401);
  CHECK(hits(t) == 0);
  CHECK(rejects(t) == 0);
  CHECK(e2e::metric(t.port(), "tokend_validation_cache_fresh") == 0);
}

TEST_CASE("validation cache: bad settings stop the start, naming the key", "[e2e][cache][config]") {
  for (const auto& [key, value] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"max_staleness_ms", 1001}, {"max_staleness_ms", 0}, {"poll_interval_ms", 0}, {"max_tokens", -1},
           {"max_tokens", "many"}}) {
    TokendProcess t(nlohmann::json{{"validation_cache", {{key, value}}}}, false);
    auto r = e2e::run_process({e2e::binary_path(), "serve", "--config", t.config_path()});
    CHECK(r.exit_code != 0);
    CHECK(r.output.find("validation_cache." + key) != std::string::npos);
  }
  // A poll interval that cannot land inside the bound.
  TokendProcess t(nlohmann::json{{"validation_cache", {{"poll_interval_ms", 500}, {"max_staleness_ms", 500}}}}, false);
  auto r = e2e::run_process({e2e::binary_path(), "serve", "--config", t.config_path()});
  CHECK(r.exit_code != 0);
  CHECK(r.output.find("validation_cache.poll_interval_ms must be less than validation_cache.max_staleness_ms") !=
        std::string::npos);
}
