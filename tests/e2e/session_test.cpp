// End-to-end: browser sessions, the cookie exchange (POST /api/token), CSRF.
#include <catch2/catch.hpp>
#include <sqlite3.h>

#include "support/sql.hpp"
#include "support/process.hpp"

using e2e::bearer;
using e2e::is_token;
using e2e::TokendProcess;

using e2e::sql;

namespace {

// Signs in and returns the session cookie "tokend_session=<value>".
std::string sign_in(TokendProcess& t, const std::string& user, const std::string& password) {
  auto r = t.post("/api/login", nlohmann::json{{"username", user}, {"password", password}}.dump());
  REQUIRE(r.status == 200);
  const std::string set = r.header("set-cookie");
  return set.substr(0, set.find(';'));
}

}  // namespace

TEST_CASE("sign-in sets a hardened session cookie", "[e2e][session]") {
  TokendProcess t;
  t.add_user("alice", "alices password", "alice@example.org", "Alice Example");
  auto r = t.post("/api/login", "username=alice&password=alices+password",
                  {{"Content-Type", "application/x-www-form-urlencoded"}});
  REQUIRE(r.status == 200);
  const std::string c = r.header("set-cookie");
  CHECK(c.rfind("tokend_session=", 0) == 0);
  CHECK(c.substr(15, 64).find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(c.find("; HttpOnly") != std::string::npos);
  CHECK(c.find("; SameSite=Lax") != std::string::npos);
  CHECK(c.find("; Path=/") != std::string::npos);
  CHECK(c.find("; Max-Age=43200") != std::string::npos);
  CHECK(c.find("Secure") == std::string::npos);  // plain HTTP listener
  auto j = r.json();
  CHECK(j["user"]["username"] == "alice");
  CHECK(j["user"]["displayName"] == "Alice Example");
  CHECK(j["method"] == "userpass");
  SECTION("GET /api/session tells who is signed in") {
    auto s = t.get("/api/session", {{"Cookie", c.substr(0, c.find(';'))}});
    REQUIRE(s.status == 200);
    CHECK(s.json()["user"]["email"] == "alice@example.org");
    CHECK(s.json()["tokenLifetimeDays"]["max"] == 365);
    CHECK(t.get("/api/session").status == 401);
    CHECK(t.get("/api/session", {{"Cookie", "tokend_session=" + std::string(64, '0')}}).status == 401);
  }
  SECTION("wrong passwords get the generic 401 and no cookie") {
    auto bad = t.post("/api/login", R"({"username":"alice","password":"wrong password"})");
    CHECK(bad.status == 401);
    CHECK(bad.json()["error"] == "invalid_credentials");
    CHECK(bad.header("set-cookie").empty());
  }
  SECTION("unknown methods are refused; the methods are listed") {
    auto nope = t.post("/api/login", R"({"username":"alice","password":"alices password","method":"nope"})");
    CHECK(nope.status == 400);
    CHECK(nope.json()["error"] == "unknown_method");
    CHECK(nope.header("set-cookie").empty());
    auto m = t.get("/api/login/methods").json();
    REQUIRE(m["methods"].size() == 1);
    CHECK(m["methods"][0]["name"] == "userpass");
  }
}

TEST_CASE("behind a TLS proxy the cookie is Secure", "[e2e][session]") {
  TokendProcess t(nlohmann::json{{"sessions", {{"behind_tls_proxy", true}}}});
  t.add_user("alice", "alices password");
  auto r = t.post("/api/login", R"({"username":"alice","password":"alices password"})");
  CHECK(r.header("set-cookie").find("; Secure") != std::string::npos);
}

TEST_CASE("the seed's cookie curl line exchanges a session for a token", "[e2e][session]") {
  TokendProcess t;
  t.add_user("alice", "alices password");
  const std::string cookie = sign_in(t, "alice", "alices password");
  // Verbatim: curl -i -X POST --cookie "<your logged in cookie>" <host>/api/token
  auto r = e2e::run_shell("curl -s -i -X POST --cookie \"" + cookie + "\" " + t.base_url() + "/api/token");
  REQUIRE(r.output.find("HTTP/1.1 200 OK") != std::string::npos);
  const auto body = nlohmann::json::parse(r.output.substr(r.output.find("\r\n\r\n") + 4));
  const std::string token = body["token"];
  REQUIRE(is_token(token));
  CHECK(body["expiresOn"].is_string());
  auto user = t.get("/api/user", bearer(token));
  REQUIRE(user.status == 200);
  CHECK(user.json()["authenticatedWith"] == "session");
  SECTION("each exchange is a new token; name and expiry are optional") {
    auto a = t.post("/api/token", R"({"name":"laptop","expiresInDays":3})", {{"Cookie", cookie}});
    auto b = t.post("/api/token", "", {{"Cookie", cookie}});
    REQUIRE(a.status == 200);
    REQUIRE(b.status == 200);
    CHECK(a.json()["token"] != b.json()["token"]);
    auto list = t.get("/api/tokens", {{"Cookie", cookie}}).json()["tokens"];
    CHECK(list.size() == 3);
    CHECK(list[1]["name"] == "laptop");
    auto too_long = t.post("/api/token", R"({"expiresInDays":100000})", {{"Cookie", cookie}});
    CHECK(too_long.status == 400);
    // The cap as a field (web/app.js reads it), the default tokens.max_lifetime_days.
    CHECK(too_long.json()["error"] == "invalid_field");
    CHECK(too_long.json()["field"] == "expiresInDays");
    CHECK(too_long.json()["maxDays"] == 365);
    CHECK(t.post("/api/token", R"({"name": 7})", {{"Cookie", cookie}}).status == 400);
  }
  SECTION("without a valid session: 401, and a token is not a session") {
    CHECK(t.post("/api/token", "").status == 401);
    CHECK(t.post("/api/token", "", {{"Cookie", "tokend_session=abc"}}).status == 401);
    CHECK(t.post("/api/token", "", bearer(token)).status == 401);
  }
}

TEST_CASE("sessions end at logout, at the idle timeout and at the absolute timeout", "[e2e][session]") {
  TokendProcess t;
  t.add_user("alice", "alices password");
  SECTION("logout") {
    const std::string cookie = sign_in(t, "alice", "alices password");
    // Used twice first: the second resolves the session from memory, so the
    // refusal below shows that a sign-out here counts at once.
    e2e::wait_cache_fresh(t.port());
    REQUIRE(t.post("/api/token", "", {{"Cookie", cookie}}).status == 200);
    const long long before = e2e::metric(t.port(), "tokend_session_cache_hits_total");
    REQUIRE(t.post("/api/token", "", {{"Cookie", cookie}}).status == 200);
    REQUIRE(e2e::metric(t.port(), "tokend_session_cache_hits_total") == before + 1);
    auto r = t.post("/api/logout", "", {{"Cookie", cookie}});
    CHECK(r.status == 204);
    CHECK(r.header("set-cookie").find("Max-Age=0") != std::string::npos);
    CHECK(t.post("/api/token", "", {{"Cookie", cookie}}).status == 401);
    CHECK(t.post("/api/logout", "", {{"Cookie", cookie}}).status == 204);  // idempotent
  }
  SECTION("idle") {
    const std::string cookie = sign_in(t, "alice", "alices password");
    CHECK(t.get("/api/session", {{"Cookie", cookie}}).status == 200);
    // Thirty-one minutes pass (in the file), announced in the change feed as
    // tokend's own writers do, so the session the GET remembered is read again.
    sql(t.db_path(), "UPDATE sessions SET last_seen_at = last_seen_at - 31 * 60000");
    sql(t.db_path(), "INSERT INTO changes (at, user_id) SELECT CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER), user_id FROM sessions");
    e2e::wait_for_other_writers();
    CHECK(t.get("/api/session", {{"Cookie", cookie}}).status == 401);
  }
  SECTION("absolute") {
    const std::string cookie = sign_in(t, "alice", "alices password");
    sql(t.db_path(), "UPDATE sessions SET expires_at = 1000");
    CHECK(t.post("/api/token", "", {{"Cookie", cookie}}).status == 401);
  }
  SECTION("disabling the account") {
    const std::string cookie = sign_in(t, "alice", "alices password");
    REQUIRE(t.get("/api/session", {{"Cookie", cookie}}).status == 200);
    REQUIRE(t.cli({"disable", "alice"}).exit_code == 0);
    e2e::wait_for_other_writers();  // the CLI is another writer: within max_staleness_ms
    CHECK(t.get("/api/session", {{"Cookie", cookie}}).status == 401);
  }
}

TEST_CASE("cookie requests that change state are refused from foreign origins", "[e2e][session]") {
  TokendProcess t(nlohmann::json{{"sessions", {{"allowed_origins", {"https://tools.example.org"}}}}});
  t.add_user("alice", "alices password");
  const std::string cookie = sign_in(t, "alice", "alices password");
  const std::string self = "http://127.0.0.1:" + std::to_string(t.port());
  auto with = [&](std::map<std::string, std::string> h) {
    h["Cookie"] = cookie;
    return t.post("/api/token", "", h);
  };
  CHECK(with({}).status == 200);                                              // curl, scripts
  CHECK(with({{"Origin", self}}).status == 200);                              // the page itself
  CHECK(with({{"Origin", "https://tools.example.org"}}).status == 200);       // configured
  auto evil = with({{"Origin", "https://evil.example"}});
  CHECK(evil.status == 403);
  CHECK(evil.json()["error"] == "forbidden_origin");
  CHECK(with({{"Origin", "null"}}).status == 403);
  CHECK(with({{"Referer", "https://evil.example/page"}}).status == 403);
  CHECK(with({{"Referer", self + "/index.html"}}).status == 200);
  CHECK(with({{"Origin", self + ".evil.example"}}).status == 403);

  const auto list = t.get("/api/tokens", {{"Cookie", cookie}}).json()["tokens"];
  REQUIRE(list.size() >= 2);
  const std::string id = std::to_string(list[0]["id"].get<long long>());
  auto del = e2e::http(t.port(), "DELETE", "/api/tokens/" + id, "", {{"Cookie", cookie}, {"Origin", "https://evil.example"}});
  CHECK(del.status == 403);
  CHECK(e2e::http(t.port(), "POST", "/api/logout", "", {{"Cookie", cookie}, {"Origin", "https://evil.example"}}).status == 403);
  CHECK(t.get("/api/session", {{"Cookie", cookie}}).status == 200);  // still signed in
  // A token-authenticated request is not subject to the check.
  const std::string token = t.login("alice", "alices password");
  auto by_token = e2e::http(t.port(), "DELETE", "/api/tokens/" + id, "",
                            {{"Authorization", "Bearer " + token}, {"Origin", "https://evil.example"}});
  CHECK(by_token.status == 204);
}

TEST_CASE("the web page is served with a strict Content-Security-Policy", "[e2e][session]") {
  TokendProcess t;
  auto r = t.get("/");
  REQUIRE(r.status == 200);
  CHECK(r.header("content-type") == "text/html; charset=utf-8");
  const std::string csp = r.header("content-security-policy");
  CHECK(csp.find("script-src 'self'") != std::string::npos);
  CHECK(csp.find("unsafe-inline") == std::string::npos);
  CHECK(csp.find("frame-ancestors 'none'") != std::string::npos);
  CHECK(t.get("/app.js").header("content-type") == "text/javascript; charset=utf-8");
  CHECK(t.get("/../CMakeLists.txt").status == 404);
  CHECK(t.get("/%2e%2e/CMakeLists.txt").status == 404);
}

TEST_CASE("changing a password ends the account's sessions", "[e2e][session]") {
  TokendProcess t;
  t.add_user("alice", "alices password");
  const std::string cookie = sign_in(t, "alice", "alices password");
  const std::string token = t.login("alice", "alices password");
  REQUIRE(t.get("/api/session", {{"Cookie", cookie}}).status == 200);
  auto r = t.cli({"passwd", "alice"}, "a brand new password\n");
  REQUIRE(r.exit_code == 0);
  e2e::wait_for_other_writers();  // the CLI is another writer: within max_staleness_ms
  CHECK(t.get("/api/session", {{"Cookie", cookie}}).status == 401);
  CHECK(t.get("/api/user", bearer(token)).status == 200);  // tokens are separate credentials
  CHECK(t.post("/api/login", R"({"username":"alice","password":"alices password"})").status == 401);
  CHECK(t.post("/api/login", R"({"username":"alice","password":"a brand new password"})").status == 200);
}

TEST_CASE("POST /api/login from a foreign origin is refused before any password is checked", "[e2e][session]") {
  TokendProcess t(nlohmann::json{{"sessions", {{"allowed_origins", {"https://tools.example.org"}}}}});
  t.add_user("alice", "alices password");
  const std::string self = "http://127.0.0.1:" + std::to_string(t.port());
  const std::string body = R"({"username":"alice","password":"alices password"})";
  const std::string kHashes = "tokend_password_hash_computations_total";
  // Login CSRF: a foreign page must not sign the browser into an account.
  for (const auto& h : std::vector<std::map<std::string, std::string>>{
           {{"Origin", "https://evil.example"}},
           {{"Origin", "null"}},
           {{"Origin", self + ".evil.example"}},
           {{"Referer", "https://evil.example/page"}}}) {
    INFO(h.begin()->first << ": " << h.begin()->second);
    const long long hashes = e2e::metric(t.port(), kHashes);
    auto r = t.post("/api/login", body, h);
    CHECK(r.status == 403);
    CHECK(r.json()["error"] == "forbidden_origin");
    CHECK(r.header("set-cookie").empty());
    // Refused before the password was looked at.
    CHECK(e2e::metric(t.port(), kHashes) == hashes);
  }
  // The page itself, a configured origin, and clients that send no Origin.
  for (const auto& h : std::vector<std::map<std::string, std::string>>{
           {{"Origin", self}}, {{"Origin", "https://tools.example.org"}}, {{"Referer", self + "/"}}, {}}) {
    auto r = t.post("/api/login", body, h);
    CHECK(r.status == 200);
    CHECK(r.header("set-cookie").rfind("tokend_session=", 0) == 0);
  }
}

TEST_CASE("web.enabled false serves no page, only the API", "[e2e][session]") {
  TokendProcess t(nlohmann::json{{"web", {{"enabled", false}}}});
  t.add_user("alice", "alices password");
  for (const std::string path : {"/", "/index.html", "/app.js", "/app.css"}) {
    INFO(path);
    auto r = t.get(path);
    CHECK(r.status == 404);
    CHECK(r.json()["error"] == "not_found");
    CHECK(r.body.find("<html") == std::string::npos);
  }
  CHECK(t.get("/healthz").status == 200);
  CHECK(t.post("/api/login", R"({"username":"alice","password":"alices password"})").status == 200);
  CHECK(e2e::is_token(t.login("alice", "alices password")));
  SECTION("and with it enabled (the default) the same paths are served") {
    TokendProcess on;
    CHECK(on.get("/").status == 200);
    CHECK(on.get("/app.js").status == 200);
  }
}
