// End-to-end: GET /api/auth/verify on its own, and behind a real nginx
// running the configuration of docs/forward-auth.md
// (docs/examples/forward-auth-nginx.conf) in front of an echo backend.
#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <fstream>
#include <sstream>

#include "support/sql.hpp"
#include "support/nginx_fixture.hpp"
#include "support/process.hpp"

using e2e::bearer;
using e2e::TokendProcess;

using e2e::sql;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const std::string& nginx_template() {
  static const std::string text = read_text(e2e::source_dir() + "/docs/examples/forward-auth-nginx.conf");
  return text;
}

const nlohmann::json kScopes = nlohmann::json::parse(R"({"scopes": [
  {"name": "repo:read", "description": "Read repositories", "default": true},
  {"name": "admin", "description": "Administration"}
]})");

std::string token_with(TokendProcess& t, const std::string& scopes_json) {
  auto r = t.post("/api/authenticate/userpass",
                  R"({"username":"alice","password":"alices password","scopes":)" + scopes_json + "}");
  REQUIRE(r.status == 200);
  return r.json()["token"];
}

}  // namespace

TEST_CASE("GET /api/auth/verify answers 200 with identity headers, 401 otherwise", "[e2e][forward_auth]") {
  TokendProcess t(kScopes);
  t.add_user("alice", "alices password", "alice@example.org");
  const std::string token = t.login("alice", "alices password");
  const auto user = t.get("/api/user", bearer(token)).json();

  auto ok = t.get("/api/auth/verify", bearer(token));
  REQUIRE(ok.status == 200);
  CHECK(ok.body.empty());
  CHECK(ok.header("x-auth-user-id") == std::to_string(user["id"].get<long long>()));
  CHECK(ok.header("x-auth-username") == "alice");
  CHECK(ok.header("x-auth-email") == "alice@example.org");
  CHECK(ok.header("x-auth-token-id") == std::to_string(user["token"]["id"].get<long long>()));
  CHECK(ok.header("x-auth-scopes") == "repo:read");
  CHECK(ok.header("cache-control") == "no-store");
  // The "token" scheme works as everywhere else.
  CHECK(t.get("/api/auth/verify", {{"Authorization", "token " + token}}).status == 200);

  SECTION("HEAD answers the same without a body") {
    auto h = e2e::http(t.port(), "HEAD", "/api/auth/verify", "", bearer(token));
    CHECK(h.status == 200);
    CHECK(h.header("x-auth-username") == "alice");
  }
  SECTION("no token: 401 with a bare challenge, no body") {
    auto r = t.get("/api/auth/verify");
    CHECK(r.status == 401);
    CHECK(r.header("www-authenticate") == R"(Bearer realm="tokend")");
    CHECK(r.body.empty());
  }
  SECTION("a bad, malformed or revoked token: 401 invalid_token") {
    for (const std::string& bad : {std::string(256, 'a'), std::string("short"), token + "0"}) {
      auto r = t.get("/api/auth/verify", bearer(bad));
      CHECK(r.status == 401);
      CHECK(r.header("www-authenticate") == R"(Bearer realm="tokend", error="invalid_token")");
      CHECK(r.body.empty());
    }
    REQUIRE(e2e::http(t.port(), "DELETE", "/api/token", "", bearer(token)).status == 204);
    CHECK(t.get("/api/auth/verify", bearer(token)).status == 401);
  }
  SECTION("?scope= requires scopes: 403 insufficient_scope") {
    CHECK(t.get("/api/auth/verify?scope=repo:read", bearer(token)).status == 200);
    auto r = t.get("/api/auth/verify?scope=admin", bearer(token));
    CHECK(r.status == 403);
    CHECK(r.header("www-authenticate") == R"(Bearer realm="tokend", error="insufficient_scope", scope="admin")");
    CHECK(r.body.empty());
    const std::string both = token_with(t, R"(["repo:read","admin"])");
    CHECK(t.get("/api/auth/verify?scope=repo:read+admin", bearer(both)).status == 200);
    CHECK(t.get("/api/auth/verify?scope=admin", bearer(both)).header("x-auth-scopes") == "repo:read admin");
    CHECK(t.get("/api/auth/verify?scope=repo:read+admin", bearer(token)).status == 403);
  }
  SECTION("a session cookie counts only with forward_auth.session_cookie") {
    auto login = t.post("/api/login", "username=alice&password=alices password",
                        {{"Content-Type", "application/x-www-form-urlencoded"}});
    REQUIRE(login.status == 200);
    const std::string set_cookie = login.header("set-cookie");
    const std::string cookie = set_cookie.substr(0, set_cookie.find(';'));
    CHECK(t.get("/api/auth/verify", {{"Cookie", cookie}}).status == 401);
  }
}

TEST_CASE("forward auth: identity header values cannot break a header", "[e2e][forward_auth]") {
  TokendProcess t;
  t.add_user("bob", "bobs password");
  // An email as a provider might send it, with CR/LF and non-ASCII.
  sql(t.db_path(),
      "UPDATE users SET email = 'b' || char(13) || char(10) || 'X-Evil: 1%@exämple.org' WHERE username = 'bob'");
  const std::string token = t.login("bob", "bobs password");
  auto r = t.get("/api/auth/verify", bearer(token));
  REQUIRE(r.status == 200);
  CHECK(r.header("x-evil").empty());
  CHECK(r.header("x-auth-email") == "b%0D%0AX-Evil:%201%25@ex%C3%A4mple.org");
  CHECK(r.header("x-auth-scopes").empty());  // no scopes configured: none
}

TEST_CASE("forward auth with session_cookie accepts the browser session", "[e2e][forward_auth]") {
  TokendProcess t(nlohmann::json{{"forward_auth", {{"session_cookie", true}, {"headers", {{"user_id", "X-User"}}}}}});
  t.add_user("alice", "alices password");
  auto login = t.post("/api/login", "username=alice&password=alices password",
                      {{"Content-Type", "application/x-www-form-urlencoded"}});
  REQUIRE(login.status == 200);
  const std::string set_cookie = login.header("set-cookie");
  const std::string cookie = set_cookie.substr(0, set_cookie.find(';'));
  auto r = t.get("/api/auth/verify", {{"Cookie", cookie}});
  CHECK(r.status == 200);
  CHECK(r.header("x-auth-username") == "alice");
  CHECK(!r.header("x-user").empty());
  CHECK(r.header("x-auth-token-id").empty());  // a session, not a token
  auto bad = t.get("/api/auth/verify", {{"Cookie", "tokend_session=nope"}});
  CHECK(bad.status == 401);
  CHECK(bad.header("www-authenticate") == R"(Bearer realm="tokend", error="invalid_token")");
}

TEST_CASE("docs/forward-auth.md shows the tested nginx configuration verbatim", "[e2e][forward_auth]") {
  const std::string doc = read_text(e2e::source_dir() + "/docs/forward-auth.md");
  REQUIRE(!nginx_template().empty());
  CHECK(doc.find(nginx_template()) != std::string::npos);
}

TEST_CASE("nginx auth_request in front of a backend: only verified requests pass, with tokend's identity",
          "[e2e][forward_auth][nginx]") {
  TokendProcess t(kScopes);
  t.add_user("alice", "alices password", "alice@example.org");
  t.add_user("carol", "carols password");  // no email
  e2e::EchoBackend backend;
  std::string conf = e2e::replace_all(nginx_template(), "127.0.0.1:8080", "127.0.0.1:" + std::to_string(t.port()));
  conf = e2e::replace_all(conf, "127.0.0.1:9000", "127.0.0.1:" + std::to_string(backend.port()));
  e2e::NginxFixture nginx(conf);
  const auto via = [&](const std::string& target, const std::map<std::string, std::string>& headers) {
    return e2e::http(nginx.port(), "GET", target, "", headers);
  };

  const std::string token = t.login("alice", "alices password");
  const auto user = t.get("/api/user", bearer(token)).json();
  const std::string uid = std::to_string(user["id"].get<long long>());
  const std::map<std::string, std::string> forged = {
      {"X-Auth-User-Id", "1"},        {"X-Auth-Username", "root"}, {"X-Auth-Email", "root@example.org"},
      {"X-Auth-Token-Id", "1"},       {"X-Auth-Scopes", "admin"},  {"X-Auth-Groups", "wheel"},
      {"X-Auth-Display-Name", "Root"}};

  SECTION("a valid token reaches the backend with the identity headers") {
    auto r = via("/hello", bearer(token));
    INFO(nginx.error_log());
    REQUIRE(r.status == 200);
    CHECK(backend.count() == 1);
    const auto h = r.json();
    CHECK(h["x-auth-user-id"] == uid);
    CHECK(h["x-auth-username"] == "alice");
    CHECK(h["x-auth-email"] == "alice@example.org");
    CHECK(h["x-auth-token-id"] == std::to_string(user["token"]["id"].get<long long>()));
    CHECK(h["x-auth-scopes"] == "repo:read");
    CHECK(!h.contains("authorization"));  // the token stays at the proxy
  }
  SECTION("forged identity headers with a valid token are replaced or dropped") {
    auto headers = forged;
    headers["Authorization"] = "Bearer " + token;
    auto r = via("/hello", headers);
    REQUIRE(r.status == 200);
    const auto h = r.json();
    CHECK(h["x-auth-user-id"] == uid);
    CHECK(h["x-auth-username"] == "alice");
    CHECK(h["x-auth-email"] == "alice@example.org");
    CHECK(h["x-auth-scopes"] == "repo:read");
    CHECK(!h.contains("x-auth-groups"));
    CHECK(!h.contains("x-auth-display-name"));
  }
  SECTION("an account without email: a forged X-Auth-Email does not survive") {
    const std::string carol = t.login("carol", "carols password");
    auto headers = forged;
    headers["Authorization"] = "Bearer " + carol;
    auto r = via("/hello", headers);
    REQUIRE(r.status == 200);
    const auto h = r.json();
    CHECK(h["x-auth-username"] == "carol");
    CHECK(!h.contains("x-auth-email"));
  }
  SECTION("forged identity headers without a token: 401, nothing reaches the backend") {
    auto r = via("/hello", forged);
    CHECK(r.status == 401);
    CHECK(r.header("www-authenticate") == R"(Bearer realm="tokend")");
    CHECK(backend.count() == 0);
  }
  SECTION("an invalid or revoked token: 401, nothing reaches the backend") {
    auto r = via("/hello", bearer(std::string(256, 'f')));
    CHECK(r.status == 401);
    CHECK(r.header("www-authenticate") == R"(Bearer realm="tokend", error="invalid_token")");
    CHECK(via("/hello", {{"Authorization", "Basic YWxpY2U6eA=="}}).status == 401);
    REQUIRE(via("/hello", bearer(token)).status == 200);
    REQUIRE(e2e::http(t.port(), "DELETE", "/api/token", "", bearer(token)).status == 204);
    CHECK(via("/hello", bearer(token)).status == 401);
    CHECK(backend.count() == 1);
  }
  SECTION("a location requiring a scope: 403 insufficient_scope without it") {
    auto r = via("/admin/panel", bearer(token));
    CHECK(r.status == 403);
    CHECK(r.header("www-authenticate") == R"(Bearer realm="tokend", error="insufficient_scope", scope="admin")");
    CHECK(backend.count() == 0);
    const std::string admin = token_with(t, R"(["admin"])");
    auto ok = via("/admin/panel", bearer(admin));
    REQUIRE(ok.status == 200);
    CHECK(ok.json()["x-auth-scopes"] == "admin");
    CHECK(backend.count() == 1);
  }
  SECTION("the scope location cannot be dodged by spelling its path another way") {
    // Each of these reaches an admin route of some application framework
    // (no trailing slash, case-insensitive routing, path parameters, format
    // suffixes, encoded or doubled characters nginx normalises).
    for (const char* target : {"/admin", "/ADMIN/panel", "/Admin", "/admin;x/panel", "/admin.json", "//admin/panel",
                               "/%61dmin/panel", "/admin%2Fpanel", "/x/../admin/panel", "/admin?x=1"}) {
      INFO(target);
      auto r = via(target, bearer(token));
      CHECK(r.status == 403);
    }
    CHECK(backend.count() == 0);
    // Names that merely start with "admin" are other paths.
    CHECK(via("/administrators", bearer(token)).status == 200);
    CHECK(via("/admin-tools", bearer(token)).status == 200);
  }
}
