#include <catch2/catch.hpp>

#include <memory>
#include <regex>
#include <string>

#include <nlohmann/json.hpp>

#include "tokend/auth/registry.hpp"
#include "tokend/auth/userpass/password_hasher.hpp"
#include "tokend/auth/userpass/userpass_authenticator.hpp"
#include "tokend/config/config.hpp"
#include "tokend/metrics/metrics.hpp"
#include "tokend/store/sqlite/sqlite_store.hpp"
#include "unit/support/temp_dir.hpp"

using tokend::auth::AuthOutcome;
using tokend::auth::AuthRequest;
using tokend::auth::PasswordHasher;
using tokend::auth::UserpassAuthenticator;
using tokend::config::PasswordConfig;

namespace {

PasswordConfig cheap(std::uint32_t m, std::uint32_t t) {
  PasswordConfig c;
  c.memory_kib = m;
  c.iterations = t;
  c.parallelism = 1;
  return c;
}

struct Harness {
  explicit Harness(PasswordConfig pc = cheap(64, 1)) : hasher(pc) {
    tokend::config::DatabaseConfig db;
    db.path = dir.file("tokend.db");
    auto opened = tokend::store::sqlite::SqliteStore::open(db);
    REQUIRE(opened.ok());
    store = std::move(*opened);
    auth = std::make_unique<UserpassAuthenticator>("userpass", "Password", *store, hasher);
  }

  tokend::store::User add_user(const std::string& name, const std::string& password, const PasswordHasher* with = nullptr) {
    tokend::store::NewUser u;
    u.username = name;
    u.email = name + "@example.org";
    u.display_name = "User " + name;
    if (!password.empty()) {
      auto phc = (with ? *with : hasher).hash(password);
      REQUIRE(phc.ok());
      u.password_hash = *phc;
    }
    auto made = store->create_user(u);
    REQUIRE(made.ok());
    return *made;
  }

  AuthOutcome login(const std::string& username, const std::string& password) {
    AuthRequest r;
    r.username = username;
    r.password = password;
    r.peer = "127.0.0.1";
    return auth->authenticate(r);
  }

  tokend::testing::TempDir dir;
  PasswordHasher hasher;
  std::unique_ptr<tokend::store::sqlite::SqliteStore> store;
  std::unique_ptr<UserpassAuthenticator> auth;
};

}  // namespace

TEST_CASE("UserpassAuthenticator describes itself", "[auth][userpass]") {
  Harness h;
  CHECK(h.auth->name() == "userpass");
  CHECK(h.auth->type() == "userpass");
  CHECK(h.auth->label() == "Password");
  CHECK(h.auth->credentials() == tokend::auth::Authenticator::Credentials::kPassword);
  CHECK(h.auth->run_on() == tokend::RunOn::kWorker);
  CHECK_FALSE(h.auth->accepts_single_quoted_json());
}

TEST_CASE("UserpassAuthenticator accepts the right password", "[auth][userpass]") {
  Harness h;
  const auto alice = h.add_user("alice", "correct horse");
  const auto out = h.login("alice", "correct horse");
  REQUIRE(out.kind == AuthOutcome::Kind::kAccepted);
  CHECK(out.ok());
  CHECK(out.failure == tokend::auth::FailureKind::kNone);
  CHECK(out.identity.local);
  CHECK(out.identity.provider == "userpass");
  CHECK(out.identity.subject == std::to_string(alice.id));
  CHECK(out.identity.username == "alice");
  CHECK(out.identity.email == "alice@example.org");
  CHECK(out.identity.display_name == "User alice");
}

TEST_CASE("UserpassAuthenticator normalises the username it is given", "[auth][userpass]") {
  Harness h;
  const auto alice = h.add_user("alice", "pw-alice-1");
  for (const char* spelling : {"Alice", "  alice", "ALICE\t"}) {
    INFO(spelling);
    const auto out = h.login(spelling, "pw-alice-1");
    REQUIRE(out.ok());
    CHECK(out.identity.subject == std::to_string(alice.id));
  }
}

TEST_CASE("UserpassAuthenticator rejects every bad login the same way", "[auth][userpass]") {
  Harness h;
  h.add_user("alice", "pw-alice-1");
  const auto bob = h.add_user("bob", "pw-bob-123");
  h.add_user("nopass", "");
  REQUIRE(h.store->set_disabled(bob.id, true, tokend::now_ms()).ok());

  struct Case {
    const char* username;
    const char* password;
    const char* reason;
  };
  for (const Case& c : {Case{"alice", "wrong", "wrong_password"},
                        Case{"alice", "", "wrong_password"},
                        Case{"alice", "PW-ALICE-1", "wrong_password"},
                        Case{"mallory", "pw-alice-1", "unknown_user"},
                        Case{"", "pw-alice-1", "unknown_user"},
                        Case{"bob", "pw-bob-123", "account_disabled"},
                        Case{"nopass", "", "no_password"},
                        Case{"nopass", "anything", "no_password"}}) {
    INFO(c.username << " / " << c.password);
    const auto before = h.hasher.memory_stats().computations;
    const auto out = h.login(c.username, c.password);
    // Exactly one argon2id computation each: a real verification, or the
    // dummy one for a user without a password hash (or without an account),
    // so that none of them answers faster than a wrong password.
    CHECK(h.hasher.memory_stats().computations == before + 1);
    CHECK(out.kind == AuthOutcome::Kind::kRejected);
    CHECK_FALSE(out.ok());
    CHECK(out.failure == tokend::auth::FailureKind::kInvalidCredentials);
    CHECK(out.reason == c.reason);
    CHECK(out.identity.subject.empty());
  }
}

TEST_CASE("UserpassAuthenticator: a disabled account with a wrong password looks like a wrong password",
          "[auth][userpass]") {
  Harness h;
  const auto bob = h.add_user("bob", "pw-bob-123");
  REQUIRE(h.store->set_disabled(bob.id, true, tokend::now_ms()).ok());
  const auto out = h.login("bob", "nope");
  CHECK(out.kind == AuthOutcome::Kind::kRejected);
  CHECK(out.reason == "wrong_password");
  // Re-enabled, the account works again.
  REQUIRE(h.store->set_disabled(bob.id, false, tokend::now_ms()).ok());
  CHECK(h.login("bob", "pw-bob-123").ok());
}

TEST_CASE("UserpassAuthenticator upgrades a weaker stored hash", "[auth][userpass]") {
  const std::regex params(R"(\$m=(\d+),t=(\d+),p=(\d+)\$)");
  PasswordHasher weak(cheap(32, 1));
  Harness h(cheap(128, 2));
  const auto carol = h.add_user("carol", "carol-pass", &weak);
  REQUIRE(carol.password_hash.find("$m=32,t=1,p=1$") != std::string::npos);

  SECTION("a successful login stores a hash at the configured cost") {
    REQUIRE(h.login("carol", "carol-pass").ok());
    auto after = h.store->find_user(carol.id);
    REQUIRE(after.ok());
    const std::string& phc = after->password_hash;
    CHECK(phc != carol.password_hash);
    CHECK(phc.find("$m=128,t=2,p=1$") != std::string::npos);
    const auto v = h.hasher.verify("carol-pass", phc);
    CHECK(v.match);
    CHECK_FALSE(v.needs_rehash);
    // The upgraded hash still logs in, and is not rewritten again.
    REQUIRE(h.login("carol", "carol-pass").ok());
    auto again = h.store->find_user(carol.id);
    REQUIRE(again.ok());
    CHECK(again->password_hash == phc);
  }
  SECTION("a failed login does not touch the hash") {
    CHECK_FALSE(h.login("carol", "wrong").ok());
    auto after = h.store->find_user(carol.id);
    REQUIRE(after.ok());
    CHECK(after->password_hash == carol.password_hash);
  }
}

TEST_CASE("UserpassAuthenticator keeps a hash at the current cost", "[auth][userpass]") {
  Harness h;
  const auto dave = h.add_user("dave", "dave-pass");
  REQUIRE(h.login("dave", "dave-pass").ok());
  auto after = h.store->find_user(dave.id);
  REQUIRE(after.ok());
  CHECK(after->password_hash == dave.password_hash);
}

TEST_CASE("make_userpass_authenticator reads label and refuses unknown settings", "[auth][userpass]") {
  Harness h;
  tokend::config::Config config;
  tokend::metrics::Metrics metrics;
  tokend::auth::FactoryContext ctx{config, *h.store, metrics, h.hasher};

  auto plain = tokend::auth::make_userpass_authenticator("local", nlohmann::json::object(), ctx);
  REQUIRE(plain.ok());
  CHECK((*plain)->name() == "local");
  CHECK((*plain)->label() == "Password");

  auto labelled = tokend::auth::make_userpass_authenticator(
      "staff", {{"type", "userpass"}, {"enabled", true}, {"label", "Staff password"}}, ctx);
  REQUIRE(labelled.ok());
  CHECK((*labelled)->label() == "Staff password");

  auto typo = tokend::auth::make_userpass_authenticator("local", {{"lable", "x"}}, ctx);
  REQUIRE_FALSE(typo.ok());
  CHECK(typo.error().code == tokend::ErrorCode::kInvalidConfig);
  CHECK(typo.error().message.find("lable") != std::string::npos);

  auto bad_label = tokend::auth::make_userpass_authenticator("local", {{"label", 5}}, ctx);
  REQUIRE_FALSE(bad_label.ok());
  CHECK(bad_label.error().code == tokend::ErrorCode::kInvalidConfig);
}

TEST_CASE("UserpassAuthenticator: an unusable stored hash is a 401 that costs one verification",
          "[auth][userpass][security]") {
  Harness h;
  const auto carol = h.add_user("carol", "pw-carol-1");
  // A row written by something else (or tampered with): not a hash tokend can check.
  REQUIRE(h.store->set_password_hash(carol.id, "$argon2id$v=19$m=064,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g").ok());
  const auto before = h.hasher.memory_stats().computations;
  const auto out = h.login("carol", "pw-carol-1");
  CHECK(out.kind == AuthOutcome::Kind::kRejected);
  CHECK(out.failure == tokend::auth::FailureKind::kInvalidCredentials);
  CHECK(out.reason == "unusable_hash");
  // As slow as any other login: the dummy verification ran.
  CHECK(h.hasher.memory_stats().computations == before + 1);
}
