// End-to-end: scoped tokens through every way to get one (userpass JSON and
// form, the cookie exchange, LDAP, a provider), the defaults, unknown scopes,
// tokens from before scopes existed, and a server without scopes.
#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <fstream>

#include "support/sql.hpp"
#include "support/fake_provider.hpp"
#include "support/process.hpp"
#include "support/slapd_fixture.hpp"

using e2e::bearer;
using e2e::TokendProcess;
using nlohmann::json;

using e2e::sql;

namespace {

const std::map<std::string, std::string> kForm = {{"Content-Type", "application/x-www-form-urlencoded"}};
const std::map<std::string, std::string> kJson = {{"Content-Type", "application/json"}};

json scopes_config() {
  return json::parse(R"({"scopes": [
    {"name": "repo:read", "description": "Read repositories", "default": true},
    {"name": "repo:write", "description": "Push"},
    {"name": "profile", "default": true}
  ]})");
}

json scopes_of(TokendProcess& t, const std::string& token) {
  auto r = t.get("/api/user", bearer(token));
  REQUIRE(r.status == 200);
  return r.json()["token"]["scopes"];
}

std::string token_of(const e2e::Response& r) {
  INFO(r.body);
  REQUIRE(r.status == 200);
  return r.json()["token"];
}

void check_invalid_scope(const e2e::Response& r) {
  INFO(r.body);
  CHECK(r.status == 400);
  CHECK(r.json()["error"] == "invalid_scope");
}

std::string session_cookie(TokendProcess& t, const std::string& user, const std::string& password) {
  auto login = t.post("/api/login", "username=" + user + "&password=" + password, kForm);
  REQUIRE(login.status == 200);
  const std::string set_cookie = login.header("set-cookie");
  return set_cookie.substr(0, set_cookie.find(';'));
}

// Rewrites the stopped server's config file with `patch` merged in.
void patch_config(TokendProcess& t, const json& patch) {
  json c;
  {
    std::ifstream in(t.config_path());
    c = json::parse(in);
  }
  c.merge_patch(patch);
  std::ofstream(t.config_path(), std::ios::trunc) << c.dump();
}

}  // namespace

TEST_CASE("scopes through userpass (JSON and form) and the cookie exchange", "[e2e][scopes]") {
  TokendProcess t(scopes_config());
  t.add_user("alice", "alices password");
  const std::string pw = R"("username":"alice","password":"alices password")";

  SECTION("JSON scopes: exactly those, in configured order") {
    auto tok = token_of(t.post("/api/authenticate/userpass", "{" + pw + R"(,"scopes":["profile","repo:write"]})"));
    CHECK(scopes_of(t, tok) == json{"repo:write", "profile"});
  }
  SECTION("no scopes asked: the configured defaults") {
    CHECK(scopes_of(t, t.login("alice", "alices password")) == json{"repo:read", "profile"});
    auto tok = token_of(t.post("/api/authenticate/userpass", "{" + pw + "}"));
    CHECK(scopes_of(t, tok) == json{"repo:read", "profile"});
  }
  SECTION("an empty list asks for none") {
    auto tok = token_of(t.post("/api/authenticate/userpass", "{" + pw + R"(,"scopes":[]})"));
    CHECK(scopes_of(t, tok) == json::array());
  }
  SECTION("a form: scope=a b, OAuth style; the seed's form without it gets the defaults") {
    auto tok = token_of(t.post("/api/authenticate/userpass",
                               "username=alice&password=alices+password&scope=repo%3Awrite+repo%3Aread", kForm));
    CHECK(scopes_of(t, tok) == json{"repo:read", "repo:write"});
    auto r = e2e::run_shell("curl -s --data \"username=alice&password=alices password\" " + t.base_url() +
                            "/api/authenticate/userpass");
    REQUIRE(r.exit_code == 0);
    CHECK(scopes_of(t, json::parse(r.output)["token"]) == json{"repo:read", "profile"});
  }
  SECTION("an unknown scope is 400 invalid_scope, and no token is made") {
    check_invalid_scope(t.post("/api/authenticate/userpass", "{" + pw + R"(,"scopes":["repo:read","admin"]})"));
    check_invalid_scope(t.post("/api/authenticate/userpass", "username=alice&password=x&scope=nope", kForm));
    auto wrong_type = t.post("/api/authenticate/userpass", "{" + pw + R"(,"scopes":"repo:read"})");
    CHECK(wrong_type.status == 200);  // a space-separated string is accepted in JSON too
    CHECK(t.post("/api/authenticate/userpass", "{" + pw + R"(,"scopes":[1]})").status == 400);
    const std::string tok = t.login("alice", "alices password");
    CHECK(t.get("/api/tokens", bearer(tok)).json()["tokens"].size() == 2);
  }
  SECTION("POST /api/token (cookie exchange) takes scopes; GET /api/tokens lists them") {
    const std::string cookie = session_cookie(t, "alice", "alices password");
    auto tok = token_of(t.post("/api/token", R"({"name":"ci","scopes":["repo:write"]})", {{"Cookie", cookie}}));
    CHECK(scopes_of(t, tok) == json{"repo:write"});
    auto dflt = token_of(t.post("/api/token", "", {{"Cookie", cookie}}));
    CHECK(scopes_of(t, dflt) == json{"repo:read", "profile"});
    check_invalid_scope(t.post("/api/token", R"({"scopes":["root"]})", {{"Cookie", cookie}}));
    auto list = t.get("/api/tokens", {{"Cookie", cookie}}).json()["tokens"];
    REQUIRE(list.size() == 2);
    CHECK(list[0]["scopes"] == json{"repo:read", "profile"});
    CHECK(list[1]["scopes"] == json{"repo:write"});
  }
}

TEST_CASE("scopes through LDAP and a provider", "[e2e][scopes][ldap][provider]") {
  e2e::SlapdFixture fx;
  e2e::FakeProvider fake;
  json config = scopes_config();
  config["auth"] = {
      {"userpass", {{"type", "userpass"}}},
      {"ldap",
       {{"type", "ldap"},
        {"url", fx.ldaps_url()},
        {"ca_file", fx.ca_file()},
        {"bind_dn", e2e::SlapdFixture::kReaderDn},
        {"bind_password", e2e::SlapdFixture::kReaderPassword},
        {"base_dn", e2e::SlapdFixture::kSuffix},
        {"user_filter", "(&(objectClass=inetOrgPerson)(uid={username}))"}}},
      {"github", {{"type", "github"}, {"ca_file", fake.ca_file()}, {"proxy", ""}, {"api_url", fake.base_url()}}}};
  TokendProcess t(config);

  auto ldap =
      token_of(t.post("/api/authenticate/ldap", "username=alice&password=alice-password-1&scope=repo:write", kForm));
  CHECK(scopes_of(t, ldap) == json{"repo:write"});
  check_invalid_scope(t.post("/api/authenticate/ldap", "username=alice&password=alice-password-1&scope=x", kForm));
  auto ldap_default = token_of(t.post("/api/authenticate/ldap", "username=alice&password=alice-password-1", kForm));
  CHECK(scopes_of(t, ldap_default) == json{"repo:read", "profile"});

  auto gh = token_of(t.post("/api/authenticate/github",
                            R"({"email":"alice@example.com","info":{"accessToken":"tok-alice"},"scopes":["profile"]})",
                            kJson));
  CHECK(scopes_of(t, gh) == json{"profile"});
  // The seed's single-quoted body, with scopes.
  auto gh2 = token_of(
      t.post("/api/authenticate/github",
             "{'email':'alice@example.com', 'info': { 'accessToken': 'tok-alice' }, 'scopes': ['repo:read']}", kJson));
  CHECK(scopes_of(t, gh2) == json{"repo:read"});
  check_invalid_scope(t.post("/api/authenticate/github",
                             R"({"email":"alice@example.com","info":{"accessToken":"tok-alice"},"scopes":["nope"]})",
                             kJson));
}

TEST_CASE("without configured scopes tokens report none, and gain the defaults once scopes are declared",
          "[e2e][scopes]") {
  TokendProcess t;
  t.add_user("alice", "alices password");
  const std::string old = t.login("alice", "alices password");
  CHECK(scopes_of(t, old) == json::array());
  CHECK(t.get("/api/tokens", bearer(old)).json()["tokens"][0]["scopes"] == json::array());
  // Nothing declared: asking for a scope is asking for an unknown one.
  check_invalid_scope(
      t.post("/api/authenticate/userpass", R"({"username":"alice","password":"alices password","scopes":["a"]})"));
  CHECK(t.get("/api/scopes").json() == json{{"scopes", json::array()}});

  SECTION("a token from a server that declared none carries the defaults once declared") {
    REQUIRE(t.terminate() == 0);
    patch_config(t, scopes_config());
    t.start();
    CHECK(scopes_of(t, old) == json{"repo:read", "profile"});
    const auto listed = t.get("/api/scopes").json()["scopes"];
    REQUIRE(listed.size() == 3);
    CHECK(listed[0] == json{{"name", "repo:read"}, {"description", "Read repositories"}, {"default", true}});
  }
  SECTION("a database from before the scopes column is migrated; its tokens read as the defaults") {
    REQUIRE(t.terminate() == 0);
    // Back to schema 1, as a database written by the previous release: undo
    // every later migration (2: scopes; 3: the throttle's table; 4: the admin role;
    // 5: the change feed), or the store, seeing the newest version recorded,
    // would run none of them.
    sql(t.db_path(),
        "DROP TABLE throttle_attempts; ALTER TABLE tokens DROP COLUMN scopes; ALTER TABLE users DROP COLUMN admin; "
        "DROP TABLE changes; "
        "DELETE FROM schema_migrations WHERE version >= 2;");
    patch_config(t, scopes_config());
    t.start();
    CHECK(scopes_of(t, old) == json{"repo:read", "profile"});
  }
}
