#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <memory>
#include <set>
#include <string>


#include "tokend/common/time.hpp"
#include "tokend/crypto/crypto.hpp"
#include "tokend/metrics/metrics.hpp"
#include "tokend/store/sqlite/sqlite_store.hpp"
#include "tokend/token/token_service.hpp"
#include "unit/support/sqlite_exec.hpp"
#include "unit/support/temp_dir.hpp"

using tokend::kNever;
using tokend::TimeMs;
using tokend::token::TokenService;

namespace {

constexpr TimeMs kDay = 86'400'000;

struct Harness {
  explicit Harness(tokend::config::TokenConfig tc = {}) {
    tokend::config::DatabaseConfig db;
    db.path = dir.file("tokend.db");
    auto opened = tokend::store::sqlite::SqliteStore::open(db);
    REQUIRE(opened.ok());
    store = std::move(*opened);
    tokens = std::make_unique<TokenService>(*store, tc, metrics);
    tokend::store::NewUser u;
    u.username = "alice";
    auto made = store->create_user(u);
    REQUIRE(made.ok());
    user_id = made->id;
  }

  tokend::testing::TempDir dir;
  std::unique_ptr<tokend::store::sqlite::SqliteStore> store;
  tokend::metrics::Metrics metrics;
  std::unique_ptr<TokenService> tokens;
  std::int64_t user_id = 0;
};

// Every text and blob value of every table in the SQLite file, as text and as hex.
std::vector<std::string> every_value(const std::string& path) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK);
  std::vector<std::string> tables;
  {
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table'", -1, &st, nullptr) ==
            SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) tables.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
    sqlite3_finalize(st);
  }
  std::vector<std::string> values;
  for (const auto& t : tables) {
    sqlite3_stmt* st = nullptr;
    REQUIRE(sqlite3_prepare_v2(db, ("SELECT * FROM \"" + t + "\"").c_str(), -1, &st, nullptr) == SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
      for (int c = 0; c < sqlite3_column_count(st); ++c) {
        const auto* p = static_cast<const char*>(sqlite3_column_blob(st, c));
        const int n = sqlite3_column_bytes(st, c);
        std::string v = p ? std::string(p, static_cast<std::size_t>(n)) : std::string();
        values.push_back(v);
        values.push_back(tokend::crypto::to_hex(v));
      }
    }
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  REQUIRE(tables.size() >= 4);
  return values;
}

void raw_exec(const std::string& path, const std::string& sql) { tokend::testing::exec_sqlite(path, sql); }

void check_not_live(TokenService& t, const std::string& token) {
  auto v = t.validate(token);
  REQUIRE_FALSE(v.ok());
  CHECK(v.error().is_not_found());
}

}  // namespace

TEST_CASE("TokenService issues 256 lower-case hex characters", "[token]") {
  Harness h;
  const TimeMs before = tokend::now_ms();
  auto issued = h.tokens->issue(h.user_id, "userpass", "laptop", std::nullopt);
  const TimeMs after = tokend::now_ms();
  REQUIRE(issued.ok());
  CHECK(issued->token.size() == 256);
  CHECK(issued->token.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(tokend::token::well_formed_token(issued->token));
  CHECK(issued->record.id > 0);
  CHECK(issued->record.user_id == h.user_id);
  CHECK(issued->record.name == "laptop");
  CHECK(issued->record.source == "userpass");
  CHECK(issued->record.created_at >= before);
  CHECK(issued->record.created_at <= after);
  CHECK(issued->record.expires_at == issued->record.created_at + 90 * kDay);
  CHECK_FALSE(issued->record.revoked_at);
}

TEST_CASE("TokenService names a token after its source when no name is given", "[token]") {
  Harness h;
  auto issued = h.tokens->issue(h.user_id, "github", "", std::nullopt);
  REQUIRE(issued.ok());
  CHECK(issued->record.name == "github");
  CHECK(issued->record.source == "github");
}

TEST_CASE("TokenService never issues the same token twice", "[token]") {
  Harness h;
  std::set<std::string> seen;
  std::set<std::int64_t> ids;
  for (int i = 0; i < 200; ++i) {
    auto issued = h.tokens->issue(h.user_id, "userpass", "", std::nullopt);
    REQUIRE(issued.ok());
    seen.insert(issued->token);
    ids.insert(issued->record.id);
  }
  CHECK(seen.size() == 200);
  CHECK(ids.size() == 200);
}

TEST_CASE("TokenService stores only the token's SHA-256", "[token][security]") {
  Harness h;
  auto issued = h.tokens->issue(h.user_id, "userpass", "cli", std::nullopt);
  REQUIRE(issued.ok());
  const std::string& token = issued->token;
  const auto values = every_value(h.dir.file("tokend.db"));
  bool digest_found = false;
  for (const auto& v : values) {
    // Not the token, nor any 32-character piece of it, in any column.
    for (std::size_t off = 0; off + 32 <= token.size(); off += 32) {
      INFO("column value contains a piece of the token at " << off);
      CHECK(v.find(token.substr(off, 32)) == std::string::npos);
    }
    if (v == tokend::crypto::sha256_hex(token)) digest_found = true;
  }
  CHECK(digest_found);
}

TEST_CASE("TokenService validates a live token", "[token]") {
  Harness h;
  auto issued = h.tokens->issue(h.user_id, "ldap", "ci", std::nullopt);
  REQUIRE(issued.ok());
  auto v = h.tokens->validate(issued->token);
  REQUIRE(v.ok());
  CHECK(v->token.id == issued->record.id);
  CHECK(v->token.source == "ldap");
  CHECK(v->token.name == "ci");
  CHECK(v->user.id == h.user_id);
  CHECK(v->user.username == "alice");
  REQUIRE(v->token.last_used_at);
  CHECK(*v->token.last_used_at >= issued->record.created_at);
}

TEST_CASE("TokenService rejects malformed tokens as unauthorized", "[token]") {
  Harness h;
  auto issued = h.tokens->issue(h.user_id, "userpass", "", std::nullopt);
  REQUIRE(issued.ok());
  const std::string good = issued->token;
  std::string upper = good;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const std::string& bad : {std::string(), std::string("abc"), good.substr(0, 255), good + "0", upper,
                                 std::string(256, 'g'), " " + good.substr(1), good.substr(0, 255) + "\n"}) {
    INFO("'" << bad << "'");
    check_not_live(*h.tokens, bad);
  }
  CHECK_FALSE(tokend::token::well_formed_token(upper));
  // One bad byte anywhere, whatever it is, spoils the whole token.
  for (const char bad_char : {'G', 'A', '/', ':', '`', 'g', '\0', '\xff', '\x80'}) {
    for (const std::size_t at : {std::size_t{0}, std::size_t{128}, std::size_t{255}}) {
      std::string t = good;
      t[at] = bad_char;
      CHECK_FALSE(tokend::token::well_formed_token(t));
    }
  }
  CHECK(tokend::token::well_formed_token(std::string(256, '0') ));
  CHECK(tokend::token::well_formed_token(std::string(128, 'f') + std::string(128, '9')));
  CHECK(h.tokens->validate(good).ok());
}

TEST_CASE("TokenService rejects unknown tokens", "[token]") {
  Harness h;
  check_not_live(*h.tokens, std::string(256, '0'));
  check_not_live(*h.tokens, tokend::crypto::to_hex(tokend::crypto::random_bytes(128)));
}

TEST_CASE("TokenService rejects revoked tokens", "[token]") {
  Harness h;
  auto issued = h.tokens->issue(h.user_id, "userpass", "", std::nullopt);
  REQUIRE(issued.ok());
  REQUIRE(h.tokens->validate(issued->token).ok());
  auto revoked = h.store->revoke_token(h.user_id, issued->record.id, tokend::now_ms());
  REQUIRE(revoked.ok());
  check_not_live(*h.tokens, issued->token);
}

TEST_CASE("TokenService rejects expired tokens", "[token]") {
  Harness h;
  const std::string token = tokend::crypto::to_hex(tokend::crypto::random_bytes(128));
  tokend::store::NewToken t;
  t.digest = tokend::crypto::sha256(token);
  t.user_id = h.user_id;
  t.name = "old";
  t.source = "userpass";
  t.created_at = tokend::now_ms() - 10 * kDay;
  t.expires_at = tokend::now_ms() - 1000;
  REQUIRE(h.store->insert_token(t).ok());
  check_not_live(*h.tokens, token);

  // An issued token whose expiry passes (moved into the past in the file).
  auto issued = h.tokens->issue(h.user_id, "userpass", "", kDay);
  REQUIRE(issued.ok());
  REQUIRE(h.tokens->validate(issued->token).ok());
  raw_exec(h.dir.file("tokend.db"), "UPDATE tokens SET expires_at = " + std::to_string(tokend::now_ms() - 1) +
                                        " WHERE id = " + std::to_string(issued->record.id));
  check_not_live(*h.tokens, issued->token);
}

TEST_CASE("TokenService rejects tokens of disabled accounts", "[token]") {
  Harness h;
  auto issued = h.tokens->issue(h.user_id, "userpass", "", std::nullopt);
  REQUIRE(issued.ok());
  SECTION("disabled through the store (which also revokes)") {
    REQUIRE(h.store->set_disabled(h.user_id, true, tokend::now_ms()).ok());
    check_not_live(*h.tokens, issued->token);
  }
  SECTION("the disabled flag alone is enough") {
    raw_exec(h.dir.file("tokend.db"), "UPDATE users SET disabled = 1 WHERE id = " + std::to_string(h.user_id));
    auto found = h.store->find_token(tokend::crypto::sha256(issued->token));
    REQUIRE(found.ok());
    REQUIRE_FALSE(found->token.revoked_at);
    check_not_live(*h.tokens, issued->token);
  }
}

TEST_CASE("TokenService::expiry_for uses the default, an explicit lifetime, or never", "[token]") {
  constexpr TimeMs now = 1'800'000'000'000;
  SECTION("configured default") {
    Harness h;
    CHECK(h.tokens->expiry_for(now, std::nullopt) == now + 90 * kDay);
    CHECK(h.tokens->expiry_for(now, kDay) == now + kDay);
    CHECK(h.tokens->expiry_for(now, 365 * kDay) == now + 365 * kDay);
    CHECK(h.tokens->expiry_for(now, 600'000) == now + 600'000);
    CHECK(h.tokens->expiry_for(now, 0) == kNever);
    CHECK(h.tokens->expiry_for(now, kNever - 5) == kNever);
  }
  SECTION("lifetime 0 means tokens never expire") {
    tokend::config::TokenConfig tc;
    tc.lifetime_ms = 0;
    Harness h(tc);
    CHECK(h.tokens->expiry_for(now, std::nullopt) == kNever);
    CHECK(h.tokens->expiry_for(now, 7 * kDay) == now + 7 * kDay);
    auto issued = h.tokens->issue(h.user_id, "userpass", "", std::nullopt);
    REQUIRE(issued.ok());
    CHECK(issued->record.expires_at == kNever);
    CHECK(tokend::format_iso8601(issued->record.expires_at) == "292278994-08-17T07:12:55.807Z");
    CHECK(h.tokens->validate(issued->token).ok());
  }
  SECTION("another default") {
    tokend::config::TokenConfig tc;
    tc.lifetime_ms = 30 * kDay;
    Harness h(tc);
    CHECK(h.tokens->expiry_for(now, std::nullopt) == now + 30 * kDay);
    auto issued = h.tokens->issue(h.user_id, "userpass", "", 2 * kDay);
    REQUIRE(issued.ok());
    CHECK(issued->record.expires_at == issued->record.created_at + 2 * kDay);
  }
}

TEST_CASE("TokenService::flush_usage writes last_used_at", "[token]") {
  Harness h;
  auto a = h.tokens->issue(h.user_id, "userpass", "a", std::nullopt);
  auto b = h.tokens->issue(h.user_id, "userpass", "b", std::nullopt);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  const auto last_used = [&](const std::string& token) {
    auto f = h.store->find_token(tokend::crypto::sha256(token));
    REQUIRE(f.ok());
    return f->token.last_used_at;
  };
  // Nothing pending: a no-op.
  h.tokens->flush_usage();
  CHECK_FALSE(last_used(a->token));

  const TimeMs before = tokend::now_ms();
  REQUIRE(h.tokens->validate(a->token).ok());
  // Validation itself does not write.
  CHECK_FALSE(last_used(a->token));
  h.tokens->flush_usage();
  const auto used = last_used(a->token);
  REQUIRE(used);
  CHECK(*used >= before);
  CHECK(*used <= tokend::now_ms());
  CHECK_FALSE(last_used(b->token));

  // A failed validation is not a use.
  REQUIRE(h.store->revoke_token(h.user_id, b->record.id, tokend::now_ms()).ok());
  CHECK_FALSE(h.tokens->validate(b->token).ok());
  h.tokens->flush_usage();
  CHECK_FALSE(last_used(b->token));
}

TEST_CASE("TokenService counts issued tokens by source", "[token][metrics]") {
  Harness h;
  REQUIRE(h.tokens->issue(h.user_id, "userpass", "", std::nullopt).ok());
  REQUIRE(h.tokens->issue(h.user_id, "userpass", "", std::nullopt).ok());
  REQUIRE(h.tokens->issue(h.user_id, "github", "", std::nullopt).ok());
  const std::string text = h.metrics.render();
  CHECK(text.find("tokend_tokens_issued_total{source=\"userpass\"} 2\n") != std::string::npos);
  CHECK(text.find("tokend_tokens_issued_total{source=\"github\"} 1\n") != std::string::npos);
}
