#include <catch2/catch.hpp>

#include <memory>
#include <vector>

#include "tokend/api/api.hpp"
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

using tokend::http::RunOn;

TEST_CASE("token listings run on their own pool, apart from token validation", "[api][routes]") {
  // GET /api/tokens answers grow with an account's tokens; GET /api/user is
  // what every service calls. They must not share a queue (issue 13: eight
  // parallel listings raised others' validation from 1.4 ms to over 1 s).
  tokend::testing::TempDir dir;
  tokend::config::Config config;
  tokend::config::DatabaseConfig db;
  db.path = dir.file("tokend.db");
  auto store = tokend::store::sqlite::SqliteStore::open(db);
  REQUIRE(store.ok());
  tokend::metrics::Metrics metrics;
  auto registry = tokend::auth::Registry::of(std::vector<std::unique_ptr<tokend::auth::Authenticator>>{});
  tokend::auth::LoginThrottle throttle{config.throttle, **store};
  tokend::auth::LoginService login(**store, throttle, metrics);
  tokend::token::TokenService tokens(**store, config.tokens, metrics);
  tokend::session::SessionService sessions(**store, config.sessions);
  tokend::api::ApiContext ctx{config, **store, metrics, registry, login, tokens, sessions};
  tokend::http::Router router;
  tokend::api::register_routes(router, ctx);
  CHECK(router.match("GET", "/api/tokens").run_on == RunOn::kBulk);
  CHECK(router.match("GET", "/api/user").run_on == RunOn::kWorker);
  CHECK(router.match("POST", "/api/token").run_on == RunOn::kWorker);
}

TEST_CASE("TokenService::admit_creation limits creations per account per minute", "[token][limits]") {
  tokend::testing::TempDir dir;
  tokend::config::DatabaseConfig db;
  db.path = dir.file("tokend.db");
  auto store = tokend::store::sqlite::SqliteStore::open(db);
  REQUIRE(store.ok());
  tokend::metrics::Metrics metrics;
  tokend::config::TokenConfig c;
  c.max_created_per_minute = 3;
  tokend::token::TokenService tokens(**store, c, metrics);
  const tokend::TimeMs t0 = 1'800'000'000'000;
  for (int i = 0; i < 3; ++i) CHECK(tokens.admit_creation(1, t0 + i * 1000) == 0);
  CHECK(tokens.admit_creation(1, t0 + 3000) == 57);  // the first leaves the window at t0 + 60 s
  CHECK(tokens.admit_creation(2, t0 + 3000) == 0);   // per account
  CHECK(tokens.admit_creation(1, t0 + 60'000) == 0);
  CHECK(tokens.admit_creation(1, t0 + 60'500) == 1);
  c.max_created_per_minute = 0;
  tokend::token::TokenService unlimited(**store, c, metrics);
  for (int i = 0; i < 100; ++i) CHECK(unlimited.admit_creation(1, t0) == 0);
}
