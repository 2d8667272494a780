#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

#include "tokend/common/time.hpp"
#include "tokend/crypto/crypto.hpp"
#include "tokend/metrics/metrics.hpp"
#include "tokend/token/token_service.hpp"
#include "tokend/token/validation_cache.hpp"
#include "unit/token/feed_store.hpp"

using tokend::now_ms;
using tokend::TimeMs;
using tokend::token::TokenService;
using tokend::token::ValidationCache;

namespace {

// A TokenService over a FeedStore with a validation cache that is loaded and
// kept fresh (max_staleness_ms 1000; each test is far shorter... but refresh()
// is called before each step that needs freshness, to be independent of time).
struct CachedHarness {
  explicit CachedHarness(std::size_t max_tokens = 1000) : cache(config(max_tokens), metrics) {
    if (cache.enabled()) store.set_change_listener(&cache);
    tokens = std::make_unique<TokenService>(store, tokend::config::TokenConfig{}, metrics, nullptr, &cache);
    auto made = store.create_user(tokend::store::NewUser{"alice", "", "", "", false});
    REQUIRE(made.ok());
    user_id = made->id;
    fresh();
  }
  static tokend::config::ValidationCacheConfig config(std::size_t max_tokens) {
    tokend::config::ValidationCacheConfig c;
    c.max_tokens = max_tokens;
    c.max_staleness_ms = 1000;
    return c;
  }
  void fresh() {
    if (cache.enabled()) REQUIRE(cache.refresh(store, now_ms()).ok());
  }
  std::string issue(std::optional<std::int64_t> lifetime_ms = std::nullopt) {
    auto t = tokens->issue(user_id, "userpass", "t", lifetime_ms);
    REQUIRE(t.ok());
    return t->token;
  }
  std::uint64_t counter(const std::string& name) {
    const std::string text = metrics.render();
    const auto at = text.find("\n" + name + " ");
    if (at == std::string::npos) return 0;
    return std::stoull(text.substr(at + name.size() + 2));
  }
  tokend::testing::FeedStore store;
  tokend::metrics::Metrics metrics;
  ValidationCache cache;
  std::unique_ptr<TokenService> tokens;
  std::int64_t user_id = 0;
};

}  // namespace

TEST_CASE("TokenService remembers what it read and answers the next validation from memory", "[token][cache]") {
  CachedHarness h;
  const std::string t = h.issue();
  // Issued here: in the filter at once, not remembered yet.
  CHECK_FALSE(h.tokens->validate_in_memory(t).has_value());
  const int finds = h.store.finds.load();
  auto v = h.tokens->validate(t);
  REQUIRE(v.ok());
  CHECK(h.store.finds.load() == finds + 1);
  CHECK(h.counter("tokend_validation_cache_misses_total") == 1);
  auto m = h.tokens->validate_in_memory(t);
  REQUIRE(m.has_value());
  REQUIRE(m->ok());
  CHECK((*m)->token.id == v->token.id);
  CHECK((*m)->user.username == "alice");
  CHECK((*m)->token.last_used_at.has_value());
  REQUIRE(h.tokens->validate(t).ok());
  CHECK(h.store.finds.load() == finds + 1);  // no second read
  CHECK(h.counter("tokend_validation_cache_hits_total") == 2);
}

TEST_CASE("TokenService refuses an unknown token from memory, without reading the database", "[token][cache]") {
  CachedHarness h;
  const std::string unknown(256, 'a');
  const int finds = h.store.finds.load();
  auto m = h.tokens->validate_in_memory(unknown);
  REQUIRE(m.has_value());
  CHECK(m->error().is_not_found());
  CHECK(h.tokens->validate(unknown).error().is_not_found());
  CHECK(h.store.finds.load() == finds);
  CHECK(h.counter("tokend_validation_cache_rejects_total") == 2);
  // Malformed: refused from memory too.
  auto bad = h.tokens->validate_in_memory("nope");
  REQUIRE(bad.has_value());
  CHECK(bad->error().is_not_found());
}

TEST_CASE("TokenService: the very next validation after a same-process change refuses", "[token][cache]") {
  CachedHarness h;
  const std::string t = h.issue();
  auto v = h.tokens->validate(t);
  REQUIRE(v.ok());
  REQUIRE(h.tokens->validate_in_memory(t).has_value());  // remembered

  SECTION("revoke") { REQUIRE(h.tokens->revoke(h.user_id, v->token.id, "owner").ok()); }
  SECTION("revoke by an admin") { REQUIRE(h.store.revoke_any_token(v->token.id, now_ms()).ok()); }
  SECTION("disable") { REQUIRE(h.store.set_disabled(h.user_id, true, now_ms()).ok()); }
  SECTION("rotation without grace") {
    auto r = h.tokens->rotate(h.user_id, v->token.id, 0);
    REQUIRE(r.ok());
    REQUIRE(h.tokens->validate(r->token).ok());
  }
  // No window: not from memory, and the database says no.
  auto m = h.tokens->validate_in_memory(t);
  CHECK((!m.has_value() || !m->ok()));
  CHECK(h.tokens->validate(t).error().is_not_found());
  auto again = h.tokens->validate_in_memory(t);
  CHECK((!again.has_value() || !again->ok()));
}

TEST_CASE("TokenService: a role change is seen by the next validation", "[token][cache]") {
  CachedHarness h;
  const std::string t = h.issue();
  REQUIRE(h.tokens->validate(t).ok());
  REQUIRE_FALSE(h.tokens->validate(t)->user.admin);
  REQUIRE(h.store.set_admin(h.user_id, true, now_ms()).ok());
  CHECK(h.tokens->validate(t)->user.admin);
}

TEST_CASE("TokenService honours an expiry and a grace period's end at once, from memory", "[token][cache]") {
  CachedHarness h;
  SECTION("expiry") {
    tokend::store::NewToken row;
    const std::string t(256, 'b');
    row.digest = tokend::crypto::sha256(t);
    row.user_id = h.user_id;
    row.created_at = now_ms();
    row.expires_at = now_ms() + 300;
    REQUIRE(h.store.insert_token(row).ok());
    REQUIRE(h.tokens->validate(t).ok());
    auto m = h.tokens->validate_in_memory(t);
    REQUIRE((m.has_value() && m->ok()));
    while (now_ms() <= row.expires_at) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    h.fresh();
    const int finds = h.store.finds.load();
    auto after = h.tokens->validate_in_memory(t);
    REQUIRE(after.has_value());  // memory knows: expired
    CHECK(after->error().is_not_found());
    CHECK(h.tokens->validate(t).error().is_not_found());
    CHECK(h.store.finds.load() == finds);
  }
  SECTION("the end of a rotation's grace period") {
    const std::string t = h.issue();
    auto v = h.tokens->validate(t);
    REQUIRE(v.ok());
    const TimeMs ends = now_ms() + 300;
    const std::string next(256, 'c');
    REQUIRE(h.store.rotate_token(h.user_id, v->token.id, tokend::crypto::sha256(next), now_ms(), ends).ok());
    // The feed read applies the rotation's change once more (this process's
    // own changes come back through the feed: one more database read, never
    // a wrong answer); then the old token is read again and remembered with
    // its end.
    h.fresh();
    REQUIRE(h.tokens->validate(t).ok());
    auto m = h.tokens->validate_in_memory(t);
    REQUIRE((m.has_value() && m->ok()));
    while (now_ms() <= ends) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto after = h.tokens->validate_in_memory(t);
    REQUIRE(after.has_value());
    CHECK(after->error().is_not_found());
  }
}

TEST_CASE("TokenService with max_tokens 0 reads the database for every validation", "[token][cache]") {
  CachedHarness h(0);
  CHECK_FALSE(h.cache.enabled());
  const std::string t = h.issue();
  CHECK_FALSE(h.tokens->validate_in_memory(t).has_value());
  CHECK_FALSE(h.tokens->validate_in_memory(std::string(256, 'a')).has_value());
  const int finds = h.store.finds.load();
  REQUIRE(h.tokens->validate(t).ok());
  REQUIRE(h.tokens->validate(t).ok());
  CHECK(h.store.finds.load() == finds + 2);
  CHECK(h.counter("tokend_validation_cache_hits_total") == 0);
}

TEST_CASE("TokenService reads the database while the cache is not fresh", "[token][cache]") {
  CachedHarness h;
  const std::string t = h.issue();
  REQUIRE(h.tokens->validate(t).ok());
  h.store.fail_feed = true;
  // The last successful read began long enough ago: fallback.
  while (h.cache.fresh(now_ms())) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  CHECK_FALSE(h.cache.refresh(h.store, now_ms()).ok());
  CHECK_FALSE(h.tokens->validate_in_memory(t).has_value());
  CHECK_FALSE(h.tokens->validate_in_memory(std::string(256, 'a')).has_value());
  const int finds = h.store.finds.load();
  REQUIRE(h.tokens->validate(t).ok());
  CHECK(h.tokens->validate(std::string(256, 'a')).error().is_not_found());
  CHECK(h.store.finds.load() == finds + 2);
}
