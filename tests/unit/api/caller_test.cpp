#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/caller.hpp"
#include "tokend/auth/login_service.hpp"
#include "tokend/auth/registry.hpp"
#include "tokend/auth/throttle.hpp"
#include "tokend/config/config.hpp"
#include "tokend/metrics/metrics.hpp"
#include "tokend/session/session_service.hpp"
#include "tokend/store/sqlite/sqlite_store.hpp"
#include "tokend/token/token_service.hpp"
#include "unit/support/temp_dir.hpp"

using nlohmann::json;
using tokend::api::bearer_token;
using tokend::http::HttpRequest;
using tokend::http::HttpResponse;

namespace {

HttpRequest with_headers(std::vector<std::pair<std::string, std::string>> headers) {
  HttpRequest r;
  r.method = "POST";
  r.path = r.target = "/api/token";
  r.headers = std::move(headers);
  return r;
}

// A real ApiContext over a SQLite file in a temp dir.
struct Harness {
  explicit Harness(tokend::config::Config c = {}) : config(std::move(c)) {
    tokend::config::DatabaseConfig db;
    db.path = dir.file("tokend.db");
    auto opened = tokend::store::sqlite::SqliteStore::open(db);
    REQUIRE(opened.ok());
    store = std::move(*opened);
    tokens = std::make_unique<tokend::token::TokenService>(*store, config.tokens, metrics);
    sessions = std::make_unique<tokend::session::SessionService>(*store, config.sessions);
    throttle = std::make_unique<tokend::auth::LoginThrottle>(config.throttle, *store);
    login = std::make_unique<tokend::auth::LoginService>(*store, *throttle, metrics);
    ctx = std::make_unique<tokend::api::ApiContext>(
        tokend::api::ApiContext{config, *store, metrics, registry, *login, *tokens, *sessions});
  }

  std::int64_t add_user(const std::string& name) {
    tokend::store::NewUser u;
    u.username = name;
    auto made = store->create_user(u);
    REQUIRE(made.ok());
    return made->id;
  }

  tokend::testing::TempDir dir;
  tokend::config::Config config;
  std::unique_ptr<tokend::store::sqlite::SqliteStore> store;
  tokend::metrics::Metrics metrics;
  tokend::auth::Registry registry =
      tokend::auth::Registry::of(std::vector<std::unique_ptr<tokend::auth::Authenticator>>{});
  std::unique_ptr<tokend::auth::LoginThrottle> throttle;  // its counts live in `store`
  std::unique_ptr<tokend::auth::LoginService> login;
  std::unique_ptr<tokend::token::TokenService> tokens;
  std::unique_ptr<tokend::session::SessionService> sessions;
  std::unique_ptr<tokend::api::ApiContext> ctx;
};

int status_of(const std::optional<HttpResponse>& r) { return r ? r->status : 0; }

}  // namespace

TEST_CASE("bearer_token reads Bearer and token schemes", "[api][caller]") {
  CHECK(bearer_token(with_headers({{"Authorization", "Bearer abc123"}})) == std::optional<std::string>("abc123"));
  CHECK(bearer_token(with_headers({{"Authorization", "bearer abc123"}})) == std::optional<std::string>("abc123"));
  CHECK(bearer_token(with_headers({{"Authorization", "BEARER abc123"}})) == std::optional<std::string>("abc123"));
  CHECK(bearer_token(with_headers({{"Authorization", "token abc123"}})) == std::optional<std::string>("abc123"));
  CHECK(bearer_token(with_headers({{"Authorization", "Token abc123"}})) == std::optional<std::string>("abc123"));
  CHECK(bearer_token(with_headers({{"authorization", "Bearer abc123"}})) == std::optional<std::string>("abc123"));
}

TEST_CASE("bearer_token tolerates extra spaces around the token", "[api][caller]") {
  CHECK(bearer_token(with_headers({{"Authorization", "Bearer    abc123"}})) == std::optional<std::string>("abc123"));
  CHECK(bearer_token(with_headers({{"Authorization", "Bearer abc123   "}})) == std::optional<std::string>("abc123"));
}

TEST_CASE("bearer_token refuses malformed or other schemes", "[api][caller]") {
  CHECK_FALSE(bearer_token(with_headers({})));
  CHECK_FALSE(bearer_token(with_headers({{"Authorization", ""}})));
  CHECK_FALSE(bearer_token(with_headers({{"Authorization", "Bearer"}})));
  CHECK_FALSE(bearer_token(with_headers({{"Authorization", "Bearer "}})));
  CHECK_FALSE(bearer_token(with_headers({{"Authorization", "Bearer    "}})));
  CHECK_FALSE(bearer_token(with_headers({{"Authorization", "Basic YWxpY2U6cHc="}})));
  CHECK_FALSE(bearer_token(with_headers({{"Authorization", "Bearerabc123"}})));
  CHECK_FALSE(bearer_token(with_headers({{"Authorization", "Bearer abc def"}})));
  CHECK_FALSE(bearer_token(with_headers({{"Authorization", "Digest username=x"}})));
  CHECK_FALSE(bearer_token(with_headers({{"X-Authorization", "Bearer abc"}})));
}

TEST_CASE("check_origin allows requests without Origin or Referer", "[api][caller][csrf]") {
  Harness h;
  CHECK_FALSE(tokend::api::check_origin(with_headers({{"Host", "tokend.example:8080"}}), *h.ctx));
  CHECK_FALSE(tokend::api::check_origin(with_headers({}), *h.ctx));
}

TEST_CASE("check_origin allows the server's own origin", "[api][caller][csrf]") {
  Harness h;
  SECTION("plain HTTP, from Host") {
    CHECK_FALSE(tokend::api::check_origin(
        with_headers({{"Host", "tokend.example:8080"}, {"Origin", "http://tokend.example:8080"}}), *h.ctx));
    CHECK_FALSE(tokend::api::check_origin(
        with_headers({{"Host", "Tokend.Example:8080"}, {"Origin", "HTTP://tokend.example:8080"}}), *h.ctx));
  }
  SECTION("the scheme must match the connection") {
    CHECK(status_of(tokend::api::check_origin(
              with_headers({{"Host", "tokend.example"}, {"Origin", "https://tokend.example"}}), *h.ctx)) == 403);
    HttpRequest tls = with_headers({{"Host", "tokend.example"}, {"Origin", "https://tokend.example"}});
    tls.tls = true;
    CHECK_FALSE(tokend::api::check_origin(tls, *h.ctx));
    HttpRequest tls_http = with_headers({{"Host", "tokend.example"}, {"Origin", "http://tokend.example"}});
    tls_http.tls = true;
    CHECK(status_of(tokend::api::check_origin(tls_http, *h.ctx)) == 403);
  }
  SECTION("behind a TLS proxy the origin is https") {
    tokend::config::Config c;
    c.sessions.behind_tls_proxy = true;
    Harness p(c);
    CHECK_FALSE(tokend::api::check_origin(
        with_headers({{"Host", "tokend.example"}, {"Origin", "https://tokend.example"}}), *p.ctx));
  }
  SECTION("a port is part of the origin") {
    CHECK(status_of(tokend::api::check_origin(
              with_headers({{"Host", "tokend.example:8080"}, {"Origin", "http://tokend.example:9090"}}), *h.ctx)) ==
          403);
  }
}

TEST_CASE("check_origin refuses foreign and null origins", "[api][caller][csrf]") {
  Harness h;
  for (const char* origin : {"http://evil.example", "https://evil.example", "null", "NULL",
                             "http://tokend.example.evil.example", "http://tokend.example:8080.evil", "garbage"}) {
    INFO(origin);
    auto r = tokend::api::check_origin(with_headers({{"Host", "tokend.example:8080"}, {"Origin", origin}}), *h.ctx);
    REQUIRE(r);
    CHECK(r->status == 403);
    CHECK(json::parse(r->body).at("error") == "forbidden_origin");
  }
  // Without a Host header nothing is "same origin".
  CHECK(status_of(tokend::api::check_origin(with_headers({{"Origin", "http://tokend.example"}}), *h.ctx)) == 403);
}

TEST_CASE("check_origin falls back to Referer", "[api][caller][csrf]") {
  Harness h;
  const std::string host = "tokend.example:8080";
  CHECK_FALSE(tokend::api::check_origin(
      with_headers({{"Host", host}, {"Referer", "http://tokend.example:8080/tokens?x=1"}}), *h.ctx));
  CHECK_FALSE(
      tokend::api::check_origin(with_headers({{"Host", host}, {"Referer", "http://tokend.example:8080"}}), *h.ctx));
  CHECK(status_of(tokend::api::check_origin(
            with_headers({{"Host", host}, {"Referer", "http://evil.example/http://tokend.example:8080/"}}), *h.ctx)) ==
        403);
  CHECK(status_of(tokend::api::check_origin(with_headers({{"Host", host}, {"Referer", "not a url"}}), *h.ctx)) == 403);
  // Origin, when present, is what counts.
  CHECK(status_of(tokend::api::check_origin(with_headers({{"Host", host},
                                                          {"Origin", "http://evil.example"},
                                                          {"Referer", "http://tokend.example:8080/"}}),
                                            *h.ctx)) == 403);
}

TEST_CASE("check_origin allows configured allowed_origins", "[api][caller][csrf]") {
  tokend::config::Config c;
  c.sessions.allowed_origins = {"https://Portal.Example", "http://localhost:3000"};
  Harness h(c);
  const std::string host = "tokend.example:8080";
  CHECK_FALSE(tokend::api::check_origin(with_headers({{"Host", host}, {"Origin", "https://portal.example"}}), *h.ctx));
  CHECK_FALSE(tokend::api::check_origin(with_headers({{"Host", host}, {"Origin", "http://localhost:3000"}}), *h.ctx));
  CHECK_FALSE(
      tokend::api::check_origin(with_headers({{"Host", host}, {"Referer", "http://localhost:3000/app"}}), *h.ctx));
  CHECK(status_of(tokend::api::check_origin(with_headers({{"Host", host}, {"Origin", "http://portal.example"}}),
                                            *h.ctx)) == 403);
  CHECK(status_of(tokend::api::check_origin(with_headers({{"Host", host}, {"Origin", "http://localhost:3001"}}),
                                            *h.ctx)) == 403);
}

TEST_CASE("check_origin compares canonical origins on both sides", "[api][caller][csrf]") {
  SECTION("configured origins with a trailing slash, upper case or the default port") {
    tokend::config::Config c;
    c.sessions.allowed_origins = {"https://Portal.Example:443/", "HTTP://Tools.Example:80", "http://[::1]:3000/"};
    Harness h(c);
    const std::string host = "tokend.example:8080";
    for (const char* origin : {"https://portal.example", "https://PORTAL.example:443", "http://tools.example",
                               "http://tools.example:80", "http://[::1]:3000"}) {
      INFO(origin);
      CHECK_FALSE(tokend::api::check_origin(with_headers({{"Host", host}, {"Origin", origin}}), *h.ctx));
    }
    CHECK_FALSE(tokend::api::check_origin(
        with_headers({{"Host", host}, {"Referer", "https://Portal.Example:443/page"}}), *h.ctx));
    for (const char* origin : {"https://portal.example:8443", "http://portal.example", "https://tools.example",
                               "https://portal.example.evil"}) {
      INFO(origin);
      CHECK(status_of(tokend::api::check_origin(with_headers({{"Host", host}, {"Origin", origin}}), *h.ctx)) == 403);
    }
  }
  SECTION("the server's own origin with the default port on either side") {
    Harness h;
    CHECK_FALSE(tokend::api::check_origin(
        with_headers({{"Host", "tokend.example:80"}, {"Origin", "http://tokend.example"}}), *h.ctx));
    CHECK_FALSE(tokend::api::check_origin(
        with_headers({{"Host", "tokend.example"}, {"Origin", "http://tokend.example:80"}}), *h.ctx));
    HttpRequest tls = with_headers({{"Host", "Tokend.Example:443"}, {"Origin", "https://tokend.example"}});
    tls.tls = true;
    CHECK_FALSE(tokend::api::check_origin(tls, *h.ctx));
    CHECK_FALSE(
        tokend::api::check_origin(with_headers({{"Host", "[::1]:8080"}, {"Origin", "http://[::1]:8080"}}), *h.ctx));
    // A Host that is not host[:port] is the origin of nothing.
    CHECK(status_of(tokend::api::check_origin(
              with_headers({{"Host", "tokend.example/x"}, {"Origin", "http://tokend.example"}}), *h.ctx)) == 403);
  }
}

TEST_CASE("authenticate_caller accepts a live token or session cookie", "[api][caller]") {
  using tokend::api::Accept;
  using tokend::api::Caller;
  Harness h;
  const auto uid = h.add_user("alice");
  auto issued = h.tokens->issue(uid, "userpass", "cli", std::nullopt);
  REQUIRE(issued.ok());
  auto session = h.sessions->create(uid, "userpass");
  REQUIRE(session.ok());
  const std::string cookie = h.config.sessions.cookie_name + "=" + session->value;

  SECTION("bearer token") {
    auto c = tokend::api::authenticate_caller(with_headers({{"Authorization", "Bearer " + issued->token}}), *h.ctx,
                                              Accept::kTokenOrCookie);
    REQUIRE(std::holds_alternative<Caller>(c));
    const auto& caller = std::get<Caller>(c);
    CHECK(caller.user.id == uid);
    REQUIRE(caller.token);
    CHECK(caller.token->id == issued->record.id);
    CHECK_FALSE(caller.session);
  }
  SECTION("session cookie") {
    auto c = tokend::api::authenticate_caller(with_headers({{"Cookie", cookie}}), *h.ctx, Accept::kTokenOrCookie);
    REQUIRE(std::holds_alternative<Caller>(c));
    const auto& caller = std::get<Caller>(c);
    CHECK(caller.user.username == "alice");
    REQUIRE(caller.session);
    CHECK(caller.session->id == session->record.id);
    CHECK_FALSE(caller.token);
  }
  SECTION("a bad Authorization header is not rescued by a good cookie") {
    auto c = tokend::api::authenticate_caller(
        with_headers({{"Authorization", "Bearer " + std::string(256, 'a')}, {"Cookie", cookie}}), *h.ctx,
        Accept::kTokenOrCookie);
    REQUIRE(std::holds_alternative<HttpResponse>(c));
    CHECK(std::get<HttpResponse>(c).status == 401);
    CHECK(json::parse(std::get<HttpResponse>(c).body).at("error") == "unauthenticated");
  }
  SECTION("kToken ignores cookies, kCookie ignores tokens") {
    auto t = tokend::api::authenticate_caller(with_headers({{"Cookie", cookie}}), *h.ctx, Accept::kToken);
    REQUIRE(std::holds_alternative<HttpResponse>(t));
    CHECK(std::get<HttpResponse>(t).status == 401);
    auto k = tokend::api::authenticate_caller(with_headers({{"Authorization", "Bearer " + issued->token}}), *h.ctx,
                                              Accept::kCookie);
    REQUIRE(std::holds_alternative<HttpResponse>(k));
    CHECK(std::get<HttpResponse>(k).status == 401);
  }
  SECTION("no credentials at all") {
    auto n = tokend::api::authenticate_caller(with_headers({}), *h.ctx, Accept::kTokenOrCookie);
    REQUIRE(std::holds_alternative<HttpResponse>(n));
    const auto& r = std::get<HttpResponse>(n);
    CHECK(r.status == 401);
    CHECK(r.header("WWW-Authenticate") == std::optional<std::string_view>("Bearer"));
  }
  SECTION("a wrong cookie value") {
    auto w = tokend::api::authenticate_caller(
        with_headers({{"Cookie", h.config.sessions.cookie_name + "=" + std::string(64, '0')}}), *h.ctx,
        Accept::kTokenOrCookie);
    REQUIRE(std::holds_alternative<HttpResponse>(w));
    CHECK(std::get<HttpResponse>(w).status == 401);
  }
}
