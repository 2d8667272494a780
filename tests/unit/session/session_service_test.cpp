#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "tokend/common/time.hpp"
#include "tokend/crypto/crypto.hpp"
#include "tokend/metrics/metrics.hpp"
#include "tokend/session/session_service.hpp"
#include "tokend/token/validation_cache.hpp"
#include "tokend/store/sqlite/sqlite_store.hpp"
#include "unit/support/sqlite_exec.hpp"
#include "unit/support/temp_dir.hpp"

using tokend::TimeMs;
using tokend::session::SessionService;

namespace {

constexpr TimeMs kMinute = 60'000;
constexpr TimeMs kHour = 3'600'000;

struct Harness {
  explicit Harness(tokend::config::SessionConfig sc = {}) : config(std::move(sc)) {
    tokend::config::DatabaseConfig db;
    db.path = dir.file("tokend.db");
    auto opened = tokend::store::sqlite::SqliteStore::open(db);
    REQUIRE(opened.ok());
    store = std::move(*opened);
    sessions = std::make_unique<SessionService>(*store, config);
    tokend::store::NewUser u;
    u.username = "alice";
    u.email = "alice@example.org";
    auto made = store->create_user(u);
    REQUIRE(made.ok());
    user_id = made->id;
  }

  // Changes a session's times in the file, as if time had passed.
  void set_times(std::int64_t session_id, TimeMs last_seen_at, TimeMs expires_at) {
    exec("UPDATE sessions SET last_seen_at = " + std::to_string(last_seen_at) +
         ", expires_at = " + std::to_string(expires_at) + " WHERE id = " + std::to_string(session_id));
  }

  void exec(const std::string& sql) { tokend::testing::exec_sqlite(dir.file("tokend.db"), sql); }

  // The live session, or nullopt when resolve() says kNotFound.
  std::optional<tokend::store::SessionLookup> resolve(const std::string& cookie) {
    auto r = sessions->resolve(cookie);
    if (!r) {
      REQUIRE(r.error().is_not_found());
      return std::nullopt;
    }
    return std::move(*r);
  }

  tokend::testing::TempDir dir;
  tokend::config::SessionConfig config;
  std::unique_ptr<tokend::store::sqlite::SqliteStore> store;
  std::unique_ptr<SessionService> sessions;
  std::int64_t user_id = 0;
};

}  // namespace

TEST_CASE("SessionService cookie values are 64 hex characters and unique", "[session]") {
  Harness h;
  std::set<std::string> seen;
  for (int i = 0; i < 50; ++i) {
    auto c = h.sessions->create(h.user_id, "userpass");
    REQUIRE(c.ok());
    CHECK(c->value.size() == 64);
    CHECK(c->value.find_first_not_of("0123456789abcdef") == std::string::npos);
    seen.insert(c->value);
  }
  CHECK(seen.size() == 50);
}

TEST_CASE("SessionService::create records the session", "[session]") {
  Harness h;
  const TimeMs before = tokend::now_ms();
  auto c = h.sessions->create(h.user_id, "ldap");
  const TimeMs after = tokend::now_ms();
  REQUIRE(c.ok());
  CHECK(c->record.id > 0);
  CHECK(c->record.user_id == h.user_id);
  CHECK(c->record.method == "ldap");
  CHECK(c->record.created_at >= before);
  CHECK(c->record.created_at <= after);
  CHECK(c->record.last_seen_at == c->record.created_at);
  CHECK(c->record.expires_at == c->record.created_at + 12 * kHour);
  CHECK_FALSE(c->record.revoked);
  // The store has the digest, never the value.
  auto found = h.store->find_session(tokend::crypto::sha256(c->value));
  REQUIRE(found.ok());
  CHECK(found->session.id == c->record.id);
}

TEST_CASE("SessionService::set_cookie sets the protective attributes", "[session]") {
  Harness h;
  const std::string value(64, 'a');
  const std::string plain = h.sessions->set_cookie(value, false);
  CHECK(plain.rfind("tokend_session=" + value + ";", 0) == 0);
  CHECK(plain.find("; HttpOnly") != std::string::npos);
  CHECK(plain.find("; SameSite=Lax") != std::string::npos);
  CHECK(plain.find("; Path=/") != std::string::npos);
  CHECK(plain.find("; Max-Age=43200") != std::string::npos);  // the 12 h absolute timeout
  CHECK(plain.find("Secure") == std::string::npos);
  CHECK(plain.find("Domain") == std::string::npos);  // host-only cookie

  const std::string secure = h.sessions->set_cookie(value, true);
  CHECK(secure.find("; Secure") != std::string::npos);
  CHECK(secure.find("; HttpOnly") != std::string::npos);

  tokend::config::SessionConfig sc;
  sc.cookie_name = "sid";
  sc.absolute_timeout_hours = 2;
  Harness other(sc);
  const std::string named = other.sessions->set_cookie(value, false);
  CHECK(named.rfind("sid=" + value + ";", 0) == 0);
  CHECK(named.find("; Max-Age=7200") != std::string::npos);
}

TEST_CASE("SessionService::clear_cookie deletes the cookie", "[session]") {
  Harness h;
  const std::string c = h.sessions->clear_cookie(false);
  CHECK(c.rfind("tokend_session=;", 0) == 0);
  CHECK(c.find("; Max-Age=0") != std::string::npos);
  CHECK(c.find("; Path=/") != std::string::npos);
  CHECK(c.find("; HttpOnly") != std::string::npos);
  CHECK(c.find("Secure") == std::string::npos);
  CHECK(h.sessions->clear_cookie(true).find("; Secure") != std::string::npos);
}

TEST_CASE("SessionService::resolve finds a live session", "[session]") {
  Harness h;
  auto c = h.sessions->create(h.user_id, "userpass");
  REQUIRE(c.ok());
  auto s = h.resolve(c->value);
  REQUIRE(s);
  CHECK(s->session.id == c->record.id);
  CHECK(s->session.method == "userpass");
  CHECK(s->user.id == h.user_id);
  CHECK(s->user.username == "alice");
  CHECK(s->user.email == "alice@example.org");
}

TEST_CASE("SessionService::resolve ignores malformed and unknown cookies", "[session]") {
  Harness h;
  auto c = h.sessions->create(h.user_id, "userpass");
  REQUIRE(c.ok());
  std::string upper = c->value;
  for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  for (const std::string& bad : {std::string(), std::string("abc"), c->value.substr(0, 63), c->value + "0",
                                 std::string(64, 'z'), std::string(64, '0'), "\"" + c->value + "\""}) {
    INFO("'" << bad << "'");
    CHECK_FALSE(h.resolve(bad));
  }
  // Upper-case hex is a different value: its digest is unknown.
  if (upper != c->value) CHECK_FALSE(h.resolve(upper));
  CHECK(h.resolve(c->value));
}

TEST_CASE("SessionService::resolve refuses ended sessions", "[session]") {
  Harness h;
  auto c = h.sessions->create(h.user_id, "userpass");
  REQUIRE(c.ok());
  const TimeMs now = tokend::now_ms();

  SECTION("signed out") {
    REQUIRE(h.sessions->end(c->record.id).ok());
    CHECK_FALSE(h.resolve(c->value));
  }
  SECTION("past the absolute timeout, although recently used") {
    h.set_times(c->record.id, now - kMinute, now - 1);
    CHECK_FALSE(h.resolve(c->value));
  }
  SECTION("idle for longer than the idle timeout") {
    h.set_times(c->record.id, now - 31 * kMinute, now + 6 * kHour);
    CHECK_FALSE(h.resolve(c->value));
  }
  SECTION("idle for a little less than the idle timeout is fine") {
    h.set_times(c->record.id, now - 29 * kMinute, now + 6 * kHour);
    CHECK(h.resolve(c->value));
  }
  SECTION("account disabled through the store (which revokes sessions)") {
    REQUIRE(h.store->set_disabled(h.user_id, true, now).ok());
    CHECK_FALSE(h.resolve(c->value));
  }
  SECTION("the disabled flag alone is enough") {
    h.exec("UPDATE users SET disabled = 1 WHERE id = " + std::to_string(h.user_id));
    CHECK_FALSE(h.resolve(c->value));
  }
}

TEST_CASE("SessionService::resolve refreshes the idle timer", "[session]") {
  Harness h;
  auto c = h.sessions->create(h.user_id, "userpass");
  REQUIRE(c.ok());
  const TimeMs now = tokend::now_ms();
  // Last seen 20 minutes ago: resolving moves last_seen_at to now...
  h.set_times(c->record.id, now - 20 * kMinute, now + 6 * kHour);
  auto s = h.resolve(c->value);
  REQUIRE(s);
  CHECK(s->session.last_seen_at >= now);
  auto stored = h.store->find_session(tokend::crypto::sha256(c->value));
  REQUIRE(stored.ok());
  CHECK(stored->session.last_seen_at >= now);
  // ...so 20 more minutes later (31 after the first use) it is still alive.
  const TimeMs touched = stored->session.last_seen_at;
  h.set_times(c->record.id, touched - 20 * kMinute, now + 6 * kHour);
  CHECK(h.resolve(c->value));

  SECTION("within a minute of the last touch it does not write") {
    h.set_times(c->record.id, now - 10'000, now + 6 * kHour);
    auto again = h.resolve(c->value);
    REQUIRE(again);
    CHECK(again->session.last_seen_at == now - 10'000);
  }
}

TEST_CASE("SessionService::expires_at is the earlier of both deadlines", "[session]") {
  Harness h;
  tokend::store::SessionRecord r;
  r.created_at = 1'000'000;
  r.last_seen_at = 1'000'000;
  r.expires_at = r.created_at + 12 * kHour;
  CHECK(h.sessions->expires_at(r) == r.last_seen_at + 30 * kMinute);
  r.last_seen_at = r.expires_at - 5 * kMinute;
  CHECK(h.sessions->expires_at(r) == r.expires_at);
}

namespace {

// A Harness whose SessionService remembers sessions in a ValidationCache
// told of the store's changes, as serve() wires them.
struct CachedHarness {
  static constexpr TimeMs kStaleness = 300;
  CachedHarness() : cache(config(), metrics) {
    h.store->set_change_listener(&cache);
    h.sessions = std::make_unique<SessionService>(*h.store, h.config, nullptr, &cache);
    fresh();
  }
  ~CachedHarness() { h.store->set_change_listener(nullptr); }
  static tokend::config::ValidationCacheConfig config() {
    tokend::config::ValidationCacheConfig c;
    c.max_tokens = 1000;
    c.max_staleness_ms = kStaleness;
    return c;
  }
  void fresh() { REQUIRE(cache.refresh(*h.store, tokend::now_ms(), tokend::steady_ms()).ok()); }
  std::uint64_t hits() {
    const std::string text = metrics.render();
    const std::string name = "tokend_session_cache_hits_total";
    const auto at = text.find("\n" + name + " ");
    return at == std::string::npos ? 0 : std::stoull(text.substr(at + name.size() + 2));
  }
  Harness h;
  tokend::metrics::Metrics metrics;
  tokend::token::ValidationCache cache;
};

}  // namespace

TEST_CASE("SessionService with a cache answers from memory, and a change in this process counts at once",
          "[session][cache]") {
  CachedHarness c;
  auto made = c.h.sessions->create(c.h.user_id, "userpass");
  REQUIRE(made.ok());
  REQUIRE(c.h.resolve(made->value));  // read, and remembered
  CHECK(c.hits() == 0);
  // A write the store does not announce (plain SQL): memory does not see it,
  // which shows the next answer comes from memory...
  c.h.exec("UPDATE users SET username = 'bob' WHERE id = " + std::to_string(c.h.user_id));
  auto again = c.h.resolve(made->value);
  REQUIRE(again);
  CHECK(again->user.username == "alice");
  CHECK(c.hits() == 1);
  CHECK(again->user.password_hash.empty());
  // ...until max_staleness_ms without a feed read: then the database answers.
  std::this_thread::sleep_for(std::chrono::milliseconds(CachedHarness::kStaleness + 50));
  auto read = c.h.resolve(made->value);
  REQUIRE(read);
  CHECK(read->user.username == "bob");
  CHECK(c.hits() == 1);
  // That read remembered it again: once fresh, answers come from memory.
  c.fresh();
  REQUIRE(c.h.resolve(made->value));
  REQUIRE(c.h.resolve(made->value));
  CHECK(c.hits() == 3);

  const TimeMs now = tokend::now_ms();
  SECTION("signed out: the very next resolve refuses") {
    REQUIRE(c.h.sessions->end(made->record.id).ok());
    CHECK_FALSE(c.h.resolve(made->value));
  }
  SECTION("ended by an admin (end_session)") {
    REQUIRE(c.h.store->end_session(made->record.id, now).ok());
    CHECK_FALSE(c.h.resolve(made->value));
  }
  SECTION("every session of the account ended (a password change)") {
    REQUIRE(c.h.store->revoke_sessions(c.h.user_id, now).ok());
    CHECK_FALSE(c.h.resolve(made->value));
  }
  SECTION("account disabled") {
    REQUIRE(c.h.store->set_disabled(c.h.user_id, true, now).ok());
    CHECK_FALSE(c.h.resolve(made->value));
  }
  SECTION("admin role granted: the next answer carries it") {
    REQUIRE(c.h.store->set_admin(c.h.user_id, true, now).ok());
    auto s = c.h.resolve(made->value);
    REQUIRE(s);
    CHECK(s->user.admin);
  }
  SECTION("another account's sign-out leaves it remembered") {
    tokend::store::NewUser u;
    u.username = "carol";
    auto other = c.h.store->create_user(u);
    REQUIRE(other.ok());
    auto theirs = c.h.sessions->create(other->id, "userpass");
    REQUIRE(theirs.ok());
    REQUIRE(c.h.sessions->end(theirs->record.id).ok());
    const auto before = c.hits();
    REQUIRE(c.h.resolve(made->value));
    CHECK(c.hits() == before + 1);
  }
}

TEST_CASE("SessionService with a cache reads the database when the idle timer is due a refresh", "[session][cache]") {
  CachedHarness c;
  auto made = c.h.sessions->create(c.h.user_id, "userpass");
  REQUIRE(made.ok());
  const TimeMs now = tokend::now_ms();
  // Last seen two minutes ago (by the database), then read and remembered:
  // the read refreshes the timer and remembers the refreshed session.
  c.h.set_times(made->record.id, now - 2 * kMinute, now + 6 * kHour);
  auto first = c.h.resolve(made->value);
  REQUIRE(first);
  CHECK(first->session.last_seen_at >= now);
  auto stored = c.h.store->find_session(tokend::crypto::sha256(made->value));
  REQUIRE(stored.ok());
  CHECK(stored->session.last_seen_at >= now);
  // A remembered session whose refresh is due is not answered from memory:
  // remembered with last_seen two minutes ago (as another instance may have
  // left it), the next resolve reads the database, refreshes and remembers.
  tokend::store::SessionLookup old = *stored;
  old.session.last_seen_at = now - 2 * kMinute;
  c.cache.fill_session(tokend::crypto::sha256(made->value), old, c.cache.begin_fill());
  const auto before = c.hits();
  auto next = c.h.resolve(made->value);
  REQUIRE(next);
  CHECK(next->session.last_seen_at >= now);
  CHECK(c.hits() == before);  // remembered, but not usable: read from the database, not a hit
}

TEST_CASE("SessionService::resolve_in_memory answers only what memory can tell", "[session][cache]") {
  CachedHarness c;
  auto made = c.h.sessions->create(c.h.user_id, "userpass");
  REQUIRE(made.ok());
  // Malformed: refused without any lookup.
  auto bad = c.h.sessions->resolve_in_memory("nope");
  REQUIRE(bad.has_value());
  CHECK(bad->error().is_not_found());
  // Well-formed but not remembered (this one, or one that does not exist):
  // only the database can tell.
  CHECK_FALSE(c.h.sessions->resolve_in_memory(made->value).has_value());
  CHECK_FALSE(c.h.sessions->resolve_in_memory(std::string(64, 'a')).has_value());
  REQUIRE(c.h.resolve(made->value));
  auto remembered = c.h.sessions->resolve_in_memory(made->value);
  REQUIRE(remembered.has_value());
  REQUIRE(remembered->ok());
  CHECK((*remembered)->session.id == made->record.id);
  CHECK((*remembered)->user.username == "alice");
  // Signed out here: no longer answered from memory, and resolve() refuses.
  REQUIRE(c.h.sessions->end(made->record.id).ok());
  CHECK_FALSE(c.h.sessions->resolve_in_memory(made->value).has_value());
  CHECK_FALSE(c.h.resolve(made->value));
  // Without a cache: never from memory, but a malformed cookie still refused.
  SessionService plain(*c.h.store, c.h.config);
  CHECK_FALSE(plain.resolve_in_memory(std::string(64, 'a')).has_value());
  CHECK(plain.resolve_in_memory("x").has_value());
}
