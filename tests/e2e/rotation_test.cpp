// End-to-end: POST /api/tokens/{id}/rotate.
#include <catch2/catch.hpp>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "support/process.hpp"

using e2e::bearer;
using e2e::is_token;
using e2e::TokendProcess;

namespace {

std::int64_t token_id(TokendProcess& t, const std::string& token) {
  auto me = t.get("/api/user", bearer(token));
  REQUIRE(me.status == 200);
  return me.json()["token"]["id"];
}

std::string sign_in(TokendProcess& t, const std::string& user, const std::string& password) {
  auto r = t.post("/api/login", nlohmann::json{{"username", user}, {"password", password}}.dump());
  REQUIRE(r.status == 200);
  const std::string set = r.header("set-cookie");
  return set.substr(0, set.find(';'));
}

}  // namespace

TEST_CASE("rotate: a new token with the same name, scopes and expiry; the old one stops at once",
          "[e2e][rotate]") {
  TokendProcess t(nlohmann::json{{"scopes", {{{"name", "read"}, {"default", true}}, {{"name", "write"}}}}});
  t.add_user("alice", "alices password");
  auto issued = t.post("/api/authenticate/userpass",
                       R"({"username":"alice","password":"alices password","name":"ci","expiresInDays":3,)"
                       R"("scopes":["write"]})");
  REQUIRE(issued.status == 200);
  const std::string old = issued.json()["token"];
  const std::string old_expiry = issued.json()["expiresOn"];
  const std::int64_t old_id = token_id(t, old);

  // Verbatim the documentation's line (docs/api.md), the old token as the caller.
  auto r = e2e::run_shell("curl -s -X POST -H \"Authorization: Bearer " + old + "\" " + t.base_url() + "/api/tokens/" +
                          std::to_string(old_id) + "/rotate");
  REQUIRE(r.exit_code == 0);
  const auto body = nlohmann::json::parse(r.output);
  REQUIRE(is_token(body["token"].get<std::string>()));
  CHECK(body["expiresOn"] == old_expiry);  // the remaining lifetime, to the millisecond
  CHECK(body["id"].get<std::int64_t>() > old_id);
  const std::string fresh = body["token"];
  CHECK(t.get("/api/user", bearer(old)).status == 401);
  auto me = t.get("/api/user", bearer(fresh));
  REQUIRE(me.status == 200);
  CHECK(me.json()["token"]["name"] == "ci");
  CHECK(me.json()["token"]["scopes"] == nlohmann::json::array({"write"}));
  CHECK(me.json()["authenticatedWith"] == "userpass");
  CHECK(me.json()["token"]["expiresOn"] == old_expiry);
  auto list = t.get("/api/tokens", bearer(fresh)).json()["tokens"];
  REQUIRE(list.size() == 1);
  CHECK(list[0]["id"] == body["id"]);

  SECTION("a token rotates only itself: another id 403, a revoked token 401, a bad id 404") {
    auto other = t.post("/api/tokens/" + std::to_string(old_id) + "/rotate", "", bearer(fresh));
    CHECK(other.status == 403);
    CHECK(other.json()["error"] == "forbidden");
    CHECK(t.post("/api/tokens/999999/rotate", "", bearer(fresh)).status == 403);
    CHECK(t.post("/api/tokens/abc/rotate", "", bearer(fresh)).status == 404);
    CHECK(t.post("/api/tokens/" + std::to_string(old_id) + "/rotate", "", bearer(old)).status == 401);
    t.add_user("bob", "bobs password");
    const std::string bobs = t.login("bob", "bobs password");
    auto foreign = t.post("/api/tokens/" + std::to_string(token_id(t, fresh)) + "/rotate", "", bearer(bobs));
    CHECK(foreign.status == 403);
    CHECK(t.get("/api/user", bearer(fresh)).status == 200);  // untouched
  }
  SECTION("without credentials: 401") {
    CHECK(t.post("/api/tokens/" + std::to_string(token_id(t, fresh)) + "/rotate", "").status == 401);
  }
}

TEST_CASE("rotate with graceSeconds keeps the old token working until the grace ends", "[e2e][rotate]") {
  TokendProcess t(nlohmann::json{{"tokens", {{"max_rotation_grace_seconds", 120}}}});
  t.add_user("alice", "alices password");
  const std::string old = t.login("alice", "alices password");
  const std::int64_t id = token_id(t, old);

  SECTION("above the cap: 400 with the cap as a field") {
    auto r = t.post("/api/tokens/" + std::to_string(id) + "/rotate", R"({"graceSeconds":121})", bearer(old));
    CHECK(r.status == 400);
    CHECK(r.json()["error"] == "invalid_field");
    CHECK(r.json()["field"] == "graceSeconds");
    CHECK(r.json()["maxGraceSeconds"] == 120);
    CHECK(t.post("/api/tokens/" + std::to_string(id) + "/rotate", R"({"graceSeconds":"60"})", bearer(old)).status ==
          400);  // JSON: a number
    CHECK(t.post("/api/tokens/" + std::to_string(id) + "/rotate", R"({"graceSeconds":-1})", bearer(old)).status == 400);
    CHECK(t.get("/api/user", bearer(old)).status == 200);  // nothing rotated
  }
  SECTION("form body, within the cap") {
    auto r = t.post("/api/tokens/" + std::to_string(id) + "/rotate", "graceSeconds=120",
                    {{"Authorization", "Bearer " + old}, {"Content-Type", "application/x-www-form-urlencoded"}});
    REQUIRE(r.status == 200);
    const std::string fresh = r.json()["token"];
    // Both work during the grace; both are listed.
    CHECK(t.get("/api/user", bearer(old)).status == 200);
    CHECK(t.get("/api/user", bearer(fresh)).status == 200);
    CHECK(t.get("/api/tokens", bearer(fresh)).json()["tokens"].size() == 2);
    // The old one cannot be rotated a second time, even in its grace, nor
    // can it rotate the token that replaced it (a leaked token must not take
    // over its successor).
    CHECK(t.post("/api/tokens/" + std::to_string(id) + "/rotate", "", bearer(old)).status == 404);
    CHECK(t.post("/api/tokens/" + std::to_string(token_id(t, fresh)) + "/rotate", "", bearer(old)).status == 403);
    CHECK(t.get("/api/user", bearer(fresh)).status == 200);
    // Revoking it ends the grace at once.
    CHECK(e2e::http(t.port(), "DELETE", "/api/tokens/" + std::to_string(id), "", bearer(fresh)).status == 204);
    CHECK(t.get("/api/user", bearer(old)).status == 401);
    CHECK(t.get("/api/user", bearer(fresh)).status == 200);
  }
}

TEST_CASE("rotate with a grace period counts against max_live_per_account", "[e2e][rotate]") {
  TokendProcess t(nlohmann::json{{"tokens", {{"max_live_per_account", 2}, {"max_rotation_grace_seconds", 120}}}});
  t.add_user("alice", "alices password");
  const std::string first = t.login("alice", "alices password");
  auto r = t.post("/api/tokens/" + std::to_string(token_id(t, first)) + "/rotate", R"({"graceSeconds":60})",
                  bearer(first));
  REQUIRE(r.status == 200);  // two live tokens now: the cap
  const std::string second = r.json()["token"];
  auto full = t.post("/api/tokens/" + std::to_string(token_id(t, second)) + "/rotate", R"({"graceSeconds":60})",
                     bearer(second));
  CHECK(full.status == 409);
  CHECK(full.json()["error"] == "too_many_tokens");
  CHECK(t.get("/api/user", bearer(second)).status == 200);  // nothing rotated
  // Without a grace period the count does not grow: allowed.
  CHECK(t.post("/api/tokens/" + std::to_string(token_id(t, second)) + "/rotate", "", bearer(second)).status == 200);
}

TEST_CASE("rotate with the session cookie follows the CSRF rule of DELETE", "[e2e][rotate]") {
  TokendProcess t;
  t.add_user("alice", "alices password");
  const std::string token = t.login("alice", "alices password");
  const std::int64_t id = token_id(t, token);
  const std::string cookie = sign_in(t, "alice", "alices password");
  auto evil = t.post("/api/tokens/" + std::to_string(id) + "/rotate", "",
                     {{"Cookie", cookie}, {"Origin", "https://evil.example"}});
  CHECK(evil.status == 403);
  CHECK(t.get("/api/user", bearer(token)).status == 200);
  auto ok = t.post("/api/tokens/" + std::to_string(id) + "/rotate", "", {{"Cookie", cookie}, {"Origin", t.base_url()}});
  REQUIRE(ok.status == 200);
  CHECK(t.get("/api/user", bearer(token)).status == 401);
}

TEST_CASE("two concurrent rotations of one token: exactly one succeeds", "[e2e][rotate]") {
  TokendProcess t;
  t.add_user("alice", "alices password");
  const std::string token = t.login("alice", "alices password");
  const std::string holder = t.login("alice", "alices password");  // to look afterwards
  const std::int64_t id = token_id(t, token);
  // Six clients holding the token rotate it (a token rotates itself); with a
  // grace period it still authenticates the five that lose the race.
  constexpr int kClients = 6;
  std::atomic<int> ok{0}, not_found{0}, other{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&] {
      auto r = e2e::http(t.port(), "POST", "/api/tokens/" + std::to_string(id) + "/rotate", R"({"graceSeconds":60})",
                         {{"Authorization", "Bearer " + token}, {"Content-Type", "application/json"}});
      if (r.status == 200) ++ok;
      else if (r.status == 404) ++not_found;
      else ++other;
    });
  }
  for (auto& c : clients) c.join();
  CHECK(ok == 1);
  CHECK(not_found == kClients - 1);
  CHECK(other == 0);
  // The holder's token, the rotated one (in grace) and one new one.
  CHECK(t.get("/api/tokens", bearer(holder)).json()["tokens"].size() == 3);
}
