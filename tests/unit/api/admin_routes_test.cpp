// The /api/admin/ routes through the real Router and API (no sockets): who may
// call them (401, 403 for every route, the CSRF check for cookies), what they
// do to the store, and the audit events they record.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "tokend/api/api.hpp"
#include "tokend/audit/audit_log.hpp"
#include "tokend/auth/login_service.hpp"
#include "tokend/auth/registry.hpp"
#include "tokend/auth/throttle.hpp"
#include "tokend/config/config.hpp"
#include "tokend/http/router.hpp"
#include "tokend/metrics/metrics.hpp"
#include "tokend/session/session_service.hpp"
#include "tokend/store/sqlite/sqlite_store.hpp"
#include "tokend/token/token_service.hpp"
#include "unit/support/temp_dir.hpp"

using nlohmann::json;
using tokend::http::HttpRequest;
using tokend::http::HttpResponse;

namespace {

// An AuditLog that keeps what it is given.
class RecordingAudit final : public tokend::audit::AuditLog {
 public:
  void record(const tokend::audit::Event& e) override {
    std::lock_guard lock(mu_);
    events_.push_back(e);
  }
  std::vector<tokend::audit::Event> events() const {
    std::lock_guard lock(mu_);
    return events_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<tokend::audit::Event> events_;
};

// One API over a fresh SQLite store, with an admin, a plain user and their
// credentials.
struct Api {
  tokend::testing::TempDir dir;
  tokend::config::Config config;
  std::unique_ptr<tokend::store::sqlite::SqliteStore> store;
  tokend::metrics::Metrics metrics;
  tokend::auth::Registry registry =
      tokend::auth::Registry::of(std::vector<std::unique_ptr<tokend::auth::Authenticator>>{});
  std::unique_ptr<tokend::auth::LoginThrottle> throttle;
  std::unique_ptr<tokend::auth::LoginService> login;
  std::unique_ptr<tokend::token::TokenService> tokens;
  std::unique_ptr<tokend::session::SessionService> sessions;
  RecordingAudit audit;
  std::unique_ptr<tokend::api::ApiContext> ctx;
  tokend::http::Router router;

  tokend::store::User admin, user;
  std::string admin_token, user_token, admin_cookie, user_cookie;
  std::int64_t admin_session_id = 0;

  Api() {
    config.throttle.per_username = {3, 600};
    config.throttle.per_address = {100, 600};
    tokend::config::DatabaseConfig db;
    db.path = dir.file("tokend.db");
    auto opened = tokend::store::sqlite::SqliteStore::open(db);
    REQUIRE(opened.ok());
    store = std::move(*opened);
    throttle = std::make_unique<tokend::auth::LoginThrottle>(config.throttle, *store);
    login = std::make_unique<tokend::auth::LoginService>(*store, *throttle, metrics);
    tokens = std::make_unique<tokend::token::TokenService>(*store, config.tokens, metrics);
    sessions = std::make_unique<tokend::session::SessionService>(*store, config.sessions);
    ctx.reset(new tokend::api::ApiContext{config, *store, metrics, registry, *login, *tokens, *sessions, nullptr,
                                          throttle.get(), &audit});
    tokend::api::register_routes(router, *ctx);

    admin = make("root", true);
    user = make("alice", false);
    admin_token = issue(admin.id);
    user_token = issue(user.id);
    auto as = sessions->create(admin.id, "userpass");
    REQUIRE(as.ok());
    admin_cookie = as->value;
    admin_session_id = as->record.id;
    auto us = sessions->create(user.id, "userpass");
    REQUIRE(us.ok());
    user_cookie = us->value;
  }

  tokend::store::User make(const std::string& name, bool is_admin) {
    tokend::store::NewUser n;
    n.username = name;
    n.email = name + "@example.org";
    n.admin = is_admin;
    auto u = store->create_user(n);
    REQUIRE(u.ok());
    return *u;
  }

  std::string issue(std::int64_t user_id, const std::string& name = "t") {
    auto t = tokens->issue(user_id, "userpass", name, std::nullopt);
    REQUIRE(t.ok());
    return t->token;
  }

  HttpRequest request(const std::string& method, const std::string& target, const std::string& body = "") {
    HttpRequest r;
    r.method = method;
    r.target = target;
    const auto q = target.find('?');
    r.path = target.substr(0, q);
    r.query = q == std::string::npos ? "" : target.substr(q + 1);
    r.headers.emplace_back("Host", "tokend.test");
    if (!body.empty()) r.headers.emplace_back("Content-Type", "application/json");
    r.body = body;
    r.peer = "192.0.2.10";
    r.request_id = "req-42";
    return r;
  }

  HttpResponse with_token(const std::string& token, const std::string& method, const std::string& target,
                          const std::string& body = "") {
    HttpRequest r = request(method, target, body);
    r.headers.emplace_back("Authorization", "Bearer " + token);
    return router.handle(r);
  }

  HttpResponse with_cookie(const std::string& cookie, const std::string& method, const std::string& target,
                           const std::string& origin = "", const std::string& body = "") {
    HttpRequest r = request(method, target, body);
    r.headers.emplace_back("Cookie", sessions->cookie_name(false) + "=" + cookie);
    if (!origin.empty()) r.headers.emplace_back("Origin", origin);
    return router.handle(r);
  }
};

json body_of(const HttpResponse& r) { return json::parse(r.body); }

struct Route {
  const char* method;
  std::string target;
  std::string body;
};

// Every admin route, with arguments that would succeed for an admin.
std::vector<Route> every_admin_route(const Api& api, std::int64_t token_id, std::int64_t session_id) {
  const std::string u = std::to_string(api.user.id);
  return {
      {"GET", "/api/admin/users", ""},
      {"GET", "/api/admin/users?search=ali", ""},
      {"GET", "/api/admin/users/" + u, ""},
      {"GET", "/api/admin/users/" + u + "/tokens", ""},
      {"GET", "/api/admin/users/" + u + "/sessions", ""},
      {"POST", "/api/admin/users/" + u + "/disable", ""},
      {"POST", "/api/admin/users/" + u + "/enable", ""},
      {"POST", "/api/admin/users/" + u + "/grant-admin", ""},
      {"POST", "/api/admin/users/" + u + "/revoke-admin", ""},
      {"DELETE", "/api/admin/tokens/" + std::to_string(token_id), ""},
      {"DELETE", "/api/admin/sessions/" + std::to_string(session_id), ""},
      {"POST", "/api/admin/throttle/unlock", R"({"username":"alice"})"},
  };
}

}  // namespace

TEST_CASE("Every admin route answers 401 without credentials and 403 forbidden to a non-admin", "[api][admin][security]") {
  Api api;
  const std::string victim_token = api.issue(api.admin.id, "victim");
  auto victim = api.tokens->validate(victim_token);
  REQUIRE(victim.ok());
  const auto routes = every_admin_route(api, victim->token.id, api.admin_session_id);
  // The router knows every pattern: a missing one would be a 404 here, not a 403.
  std::set<std::string> patterns;
  for (const auto& p : api.router.patterns()) {
    if (p.rfind("/api/admin/", 0) == 0) patterns.insert(p);
  }
  // users, users/{id}, its tokens, sessions and four verbs, tokens/{id},
  // sessions/{id}, throttle/unlock: each is in `routes`.
  CHECK(patterns.size() == 11);
  for (const auto& r : routes) {
    INFO(r.method << " " << r.target);
    HttpRequest anonymous = api.request(r.method, r.target, r.body);
    auto none = api.router.handle(anonymous);
    CHECK(none.status == 401);
    CHECK(body_of(none)["error"] == "unauthenticated");

    auto by_token = api.with_token(api.user_token, r.method, r.target, r.body);
    CHECK(by_token.status == 403);
    CHECK(body_of(by_token)["error"] == "forbidden");

    // A same-origin cookie of a non-admin: still 403 forbidden.
    auto by_cookie = api.with_cookie(api.user_cookie, r.method, r.target, "http://tokend.test", r.body);
    CHECK(by_cookie.status == 403);
    CHECK(body_of(by_cookie)["error"] == "forbidden");
  }
  // Nothing changed, nothing was audited.
  CHECK(api.audit.events().empty());
  CHECK(api.tokens->validate(victim_token).ok());
  CHECK_FALSE(api.store->find_user(api.user.id)->disabled);
  CHECK_FALSE(api.store->find_user(api.user.id)->admin);
}

TEST_CASE("Admin routes: a withdrawn role stops the admin's token at once", "[api][admin][security]") {
  Api api;
  CHECK(api.with_token(api.admin_token, "GET", "/api/admin/users").status == 200);
  REQUIRE(api.store->set_admin(api.admin.id, false, tokend::now_ms()).ok());
  CHECK(api.with_token(api.admin_token, "GET", "/api/admin/users").status == 403);
  // /api/user reports the role.
  auto me = api.with_token(api.admin_token, "GET", "/api/user");
  REQUIRE(me.status == 200);
  CHECK(body_of(me)["admin"] == false);
  REQUIRE(api.store->set_admin(api.admin.id, true, tokend::now_ms()).ok());
  CHECK(body_of(api.with_token(api.admin_token, "GET", "/api/user"))["admin"] == true);
  CHECK(body_of(api.with_token(api.user_token, "GET", "/api/user"))["admin"] == false);
}

TEST_CASE("Admin routes: cookie-authenticated changes go through the origin check", "[api][admin][security]") {
  Api api;
  const std::string u = std::to_string(api.user.id);
  auto foreign = api.with_cookie(api.admin_cookie, "POST", "/api/admin/users/" + u + "/disable", "https://evil.example");
  CHECK(foreign.status == 403);
  CHECK(body_of(foreign)["error"] == "forbidden_origin");
  CHECK_FALSE(api.store->find_user(api.user.id)->disabled);
  // Reads need no origin check; a same-origin change passes.
  CHECK(api.with_cookie(api.admin_cookie, "GET", "/api/admin/users", "https://evil.example").status == 200);
  auto same = api.with_cookie(api.admin_cookie, "POST", "/api/admin/users/" + u + "/disable", "http://tokend.test");
  CHECK(same.status == 200);
  CHECK(api.store->find_user(api.user.id)->disabled);
}

TEST_CASE("Admin routes: list and search accounts, paged", "[api][admin]") {
  Api api;
  for (int i = 0; i < 5; ++i) api.make("bulk" + std::to_string(i), false);
  api.make("under_score", false);
  auto all = api.with_token(api.admin_token, "GET", "/api/admin/users?limit=3");
  REQUIRE(all.status == 200);
  json page = body_of(all);
  REQUIRE(page["users"].size() == 3);
  CHECK(page["users"][0]["username"] == "root");
  CHECK(page["users"][0]["admin"] == true);
  CHECK(page["users"][1]["username"] == "alice");
  CHECK(page["users"][1]["admin"] == false);
  CHECK(page["users"][1]["disabled"] == false);
  CHECK_FALSE(page["users"][1].contains("passwordHash"));
  REQUIRE(page["nextCursor"].is_string());
  std::vector<std::string> names;
  std::string cursor = page["nextCursor"];
  for (int i = 0; i < 5 && !cursor.empty(); ++i) {
    auto next = api.with_token(api.admin_token, "GET", "/api/admin/users?limit=3&cursor=" + cursor);
    REQUIRE(next.status == 200);
    json p = body_of(next);
    for (const auto& u : p["users"]) names.push_back(u["username"]);
    cursor = p["nextCursor"].is_string() ? p["nextCursor"].get<std::string>() : "";
  }
  CHECK(names == std::vector<std::string>{"bulk1", "bulk2", "bulk3", "bulk4", "under_score"});

  // The search is literal: "_" is an underscore, not LIKE's any-character.
  auto underscore = api.with_token(api.admin_token, "GET", "/api/admin/users?search=_");
  REQUIRE(underscore.status == 200);
  REQUIRE(body_of(underscore)["users"].size() == 1);
  CHECK(body_of(underscore)["users"][0]["username"] == "under_score");
  auto percent = api.with_token(api.admin_token, "GET", "/api/admin/users?search=%25");
  REQUIRE(percent.status == 200);
  CHECK(body_of(percent)["users"].empty());
  auto by_mail = api.with_token(api.admin_token, "GET", "/api/admin/users?search=ALICE%40example");
  REQUIRE(by_mail.status == 200);
  REQUIRE(body_of(by_mail)["users"].size() == 1);

  SECTION("bad input is a clear 400") {
    auto bad_limit = api.with_token(api.admin_token, "GET", "/api/admin/users?limit=0");
    CHECK(bad_limit.status == 400);
    CHECK(body_of(bad_limit)["error"] == "invalid_field");
    auto bad_cursor = api.with_token(api.admin_token, "GET", "/api/admin/users?cursor=abc");
    CHECK(bad_cursor.status == 400);
    CHECK(body_of(bad_cursor)["error"] == "invalid_cursor");
    auto long_search = api.with_token(api.admin_token, "GET", "/api/admin/users?search=" + std::string(257, 'a'));
    CHECK(long_search.status == 400);
    auto control = api.with_token(api.admin_token, "GET", "/api/admin/users?search=%01");
    CHECK(control.status == 400);
    auto unknown = api.with_token(api.admin_token, "GET", "/api/admin/users/999999");
    CHECK(unknown.status == 404);
    auto junk_id = api.with_token(api.admin_token, "GET", "/api/admin/users/1x");
    CHECK(junk_id.status == 404);
  }
}

TEST_CASE("Admin routes: an account's tokens and sessions, revoked and ended, audited", "[api][admin][audit]") {
  Api api;
  const std::string u = std::to_string(api.user.id);
  const std::string second = api.issue(api.user.id, "ci job");
  auto listed = api.with_token(api.admin_token, "GET", "/api/admin/users/" + u + "/tokens");
  REQUIRE(listed.status == 200);
  json tokens = body_of(listed)["tokens"];
  REQUIRE(tokens.size() == 2);
  CHECK(tokens[0]["name"] == "ci job");
  // Never a token value or digest.
  for (const auto& t : tokens) {
    CHECK_FALSE(t.contains("token"));
    CHECK_FALSE(t.contains("digest"));
  }
  CHECK(listed.body.find(second) == std::string::npos);
  CHECK(listed.body.find(api.user_token) == std::string::npos);
  const std::int64_t token_id = tokens[0]["id"];

  auto revoked = api.with_token(api.admin_token, "DELETE", "/api/admin/tokens/" + std::to_string(token_id));
  CHECK(revoked.status == 204);
  CHECK_FALSE(api.tokens->validate(second).ok());
  CHECK(api.tokens->validate(api.user_token).ok());
  auto again = api.with_token(api.admin_token, "DELETE", "/api/admin/tokens/" + std::to_string(token_id));
  CHECK(again.status == 404);
  CHECK(body_of(again)["error"] == "not_found");

  auto sessions = api.with_token(api.admin_token, "GET", "/api/admin/users/" + u + "/sessions");
  REQUIRE(sessions.status == 200);
  json list = body_of(sessions)["sessions"];
  REQUIRE(list.size() == 1);
  CHECK(list[0]["method"] == "userpass");
  CHECK(list[0]["current"] == false);
  CHECK(sessions.body.find(api.user_cookie) == std::string::npos);
  const std::int64_t session_id = list[0]["id"];
  auto ended = api.with_token(api.admin_token, "DELETE", "/api/admin/sessions/" + std::to_string(session_id));
  CHECK(ended.status == 204);
  CHECK_FALSE(api.sessions->resolve(api.user_cookie).ok());
  CHECK(api.with_token(api.admin_token, "DELETE", "/api/admin/sessions/" + std::to_string(session_id)).status == 404);

  // The admin's own session is marked as theirs.
  auto own = api.with_cookie(api.admin_cookie, "GET", "/api/admin/users/" + std::to_string(api.admin.id) + "/sessions");
  REQUIRE(own.status == 200);
  CHECK(body_of(own)["sessions"][0]["current"] == true);

  const auto events = api.audit.events();
  REQUIRE(events.size() == 2);
  CHECK(events[0].event == "token.revoked");
  CHECK(events[0].actor == "admin:" + std::to_string(api.admin.id));
  CHECK(events[0].subject == "token:" + std::to_string(token_id));
  CHECK(events[0].client == "192.0.2.10");
  CHECK(events[0].request_id == "req-42");
  CHECK(events[0].detail["userId"] == api.user.id);
  CHECK(events[1].event == "session.ended");
  CHECK(events[1].subject == "session:" + std::to_string(session_id));
  // No secret in any event.
  for (const auto& e : events) {
    const std::string all = e.event + e.actor + e.subject + e.detail.dump();
    CHECK(all.find(api.user_token) == std::string::npos);
    CHECK(all.find(api.user_cookie) == std::string::npos);
  }
}

TEST_CASE("Admin routes: disable, enable and the admin role, audited", "[api][admin][audit]") {
  Api api;
  const std::string u = std::to_string(api.user.id);
  auto disabled = api.with_token(api.admin_token, "POST", "/api/admin/users/" + u + "/disable");
  REQUIRE(disabled.status == 200);
  CHECK(body_of(disabled)["user"]["disabled"] == true);
  // At once: the account's token and session stop working.
  CHECK_FALSE(api.tokens->validate(api.user_token).ok());
  CHECK_FALSE(api.sessions->resolve(api.user_cookie).ok());
  auto enabled = api.with_token(api.admin_token, "POST", "/api/admin/users/" + u + "/enable");
  REQUIRE(enabled.status == 200);
  CHECK(body_of(enabled)["user"]["disabled"] == false);
  CHECK_FALSE(api.tokens->validate(api.user_token).ok());  // revoked tokens stay revoked

  auto granted = api.with_token(api.admin_token, "POST", "/api/admin/users/" + u + "/grant-admin");
  REQUIRE(granted.status == 200);
  CHECK(body_of(granted)["user"]["admin"] == true);
  CHECK(api.store->find_user(api.user.id)->admin);
  auto withdrawn = api.with_token(api.admin_token, "POST", "/api/admin/users/" + u + "/revoke-admin");
  REQUIRE(withdrawn.status == 200);
  CHECK_FALSE(api.store->find_user(api.user.id)->admin);

  // Not on oneself: that would lock the admin out.
  const std::string me = std::to_string(api.admin.id);
  auto self_disable = api.with_token(api.admin_token, "POST", "/api/admin/users/" + me + "/disable");
  CHECK(self_disable.status == 409);
  CHECK(body_of(self_disable)["error"] == "own_account");
  auto self_revoke = api.with_token(api.admin_token, "POST", "/api/admin/users/" + me + "/revoke-admin");
  CHECK(self_revoke.status == 409);
  CHECK(api.store->find_user(api.admin.id)->admin);
  CHECK(api.with_token(api.admin_token, "POST", "/api/admin/users/999999/disable").status == 404);

  const auto events = api.audit.events();
  REQUIRE(events.size() == 4);
  const char* expected[] = {"account.disabled", "account.enabled", "admin.granted", "admin.revoked"};
  for (std::size_t i = 0; i < 4; ++i) {
    CHECK(events[i].event == expected[i]);
    CHECK(events[i].actor == "admin:" + std::to_string(api.admin.id));
    CHECK(events[i].subject == "user:" + u);
    CHECK(events[i].client == "192.0.2.10");
    CHECK(events[i].request_id == "req-42");
    CHECK(events[i].detail["username"] == "alice");
  }
}

TEST_CASE("Admin routes: lift a throttle lock by username or address, audited", "[api][admin][audit][throttle]") {
  Api api;
  const tokend::TimeMs now = tokend::now_ms();
  for (int i = 0; i < 3; ++i) api.throttle->record_failure("userpass:alice", "198.51.100." + std::to_string(i), now);
  for (int i = 0; i < 100; ++i) api.throttle->record_failure("", "203.0.113.9", now);
  REQUIRE(api.throttle->retry_after("userpass:alice", "", now) > 0);
  REQUIRE(api.throttle->retry_after("", "203.0.113.9", now) > 0);

  auto by_name = api.with_token(api.admin_token, "POST", "/api/admin/throttle/unlock", R"({"username":" Alice "})");
  CHECK(by_name.status == 204);
  CHECK(api.throttle->retry_after("userpass:alice", "", now) == 0);
  CHECK(api.throttle->retry_after("", "203.0.113.9", now) > 0);
  auto by_address = api.with_token(api.admin_token, "POST", "/api/admin/throttle/unlock", R"({"address":"203.0.113.9"})");
  CHECK(by_address.status == 204);
  CHECK(api.throttle->retry_after("", "203.0.113.9", now) == 0);

  for (const char* bad : {R"({})", R"({"username":"a","address":"192.0.2.1"})", R"({"address":"not-an-ip"})",
                          R"({"username":""})", R"({"username":5})"}) {
    INFO(bad);
    auto r = api.with_token(api.admin_token, "POST", "/api/admin/throttle/unlock", bad);
    CHECK(r.status == 400);
    CHECK(body_of(r)["error"] == "invalid_field");
  }
  auto junk = api.with_token(api.admin_token, "POST", "/api/admin/throttle/unlock", "{not json");
  CHECK(junk.status == 400);
  CHECK(body_of(junk)["error"] == "invalid_json");

  const auto events = api.audit.events();
  REQUIRE(events.size() == 2);
  CHECK(events[0].event == "throttle.unlocked");
  CHECK(events[0].subject == "username:alice");
  CHECK(events[1].subject == "address:203.0.113.9");
  CHECK(events[1].actor == "admin:" + std::to_string(api.admin.id));
}
