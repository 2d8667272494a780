#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokend/auth/registry.hpp"
#include "tokend/auth/userpass/password_hasher.hpp"
#include "tokend/auth/userpass/userpass_authenticator.hpp"
#include "tokend/config/config.hpp"
#include "tokend/metrics/metrics.hpp"
#include "tokend/store/sqlite/sqlite_store.hpp"
#include "unit/support/temp_dir.hpp"

using nlohmann::json;
using tokend::auth::Authenticator;
using tokend::auth::Registry;

namespace {

struct Harness {
  Harness() : hasher(cheap()) {
    tokend::config::DatabaseConfig db;
    db.path = dir.file("tokend.db");
    auto opened = tokend::store::sqlite::SqliteStore::open(db);
    REQUIRE(opened.ok());
    store = std::move(*opened);
  }
  static tokend::config::PasswordConfig cheap() {
    tokend::config::PasswordConfig c;
    c.memory_kib = 64;
    c.iterations = 1;
    return c;
  }

  // Builds a registry from `auth` the way the server does: through parse_config.
  tokend::Result<Registry> build(const json& auth) {
    auto parsed = tokend::config::parse_config(json{{"auth", auth}});
    REQUIRE(parsed.ok());
    config = std::make_unique<tokend::config::Config>(std::move(*parsed));
    return Registry::build(tokend::auth::FactoryContext{*config, *store, metrics, hasher});
  }

  tokend::testing::TempDir dir;
  tokend::auth::PasswordHasher hasher;
  std::unique_ptr<tokend::store::sqlite::SqliteStore> store;
  tokend::metrics::Metrics metrics;
  std::unique_ptr<tokend::config::Config> config;
};

// A minimal provider-style authenticator, to check password_methods() filters.
class FakeProvider final : public Authenticator {
 public:
  explicit FakeProvider(std::string name) : name_(std::move(name)) {}
  const std::string& name() const override { return name_; }
  std::string_view type() const override { return "fake"; }
  Credentials credentials() const override { return Credentials::kProviderToken; }
  tokend::RunOn run_on() const override { return tokend::RunOn::kUpstream; }
  tokend::auth::AuthOutcome authenticate(const tokend::auth::AuthRequest&) override {
    return tokend::auth::AuthOutcome::rejected("fake");
  }

 private:
  std::string name_;
};

}  // namespace

TEST_CASE("Registry builds the default userpass method", "[auth][registry]") {
  Harness h;
  auto r = h.build(json::object());  // empty auth: the default
  REQUIRE(r.ok());
  REQUIRE(r->all().size() == 1);
  Authenticator* up = r->find("userpass");
  REQUIRE(up != nullptr);
  CHECK(up->type() == "userpass");
  CHECK(up->name() == "userpass");
  CHECK(r->find("ldap") == nullptr);
  CHECK(r->find("") == nullptr);
  CHECK(r->find("USERPASS") == nullptr);
}

TEST_CASE("Registry takes the type from the name when absent", "[auth][registry]") {
  Harness h;
  auto r = h.build(json{{"userpass", json::object()}, {"staff", {{"type", "userpass"}, {"label", "Staff"}}}});
  REQUIRE(r.ok());
  CHECK(r->all().size() == 2);
  REQUIRE(r->find("staff") != nullptr);
  CHECK(r->find("staff")->type() == "userpass");
  CHECK(r->find("staff")->label() == "Staff");
  REQUIRE(r->find("userpass") != nullptr);
}

TEST_CASE("Registry refuses an unknown type and names the key", "[auth][registry]") {
  Harness h;
  auto r = h.build(json{{"corp", {{"type", "no-such-type"}}}});
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == tokend::ErrorCode::kInvalidConfig);
  CHECK(r.error().message.find("auth.corp") != std::string::npos);
  CHECK(r.error().message.find("no-such-type") != std::string::npos);

  // A name that is not a type, without "type", is unknown too.
  auto n = h.build(json{{"mystery", json::object()}});
  REQUIRE_FALSE(n.ok());
  CHECK(n.error().message.find("auth.mystery") != std::string::npos);
}

TEST_CASE("Registry skips disabled methods", "[auth][registry]") {
  Harness h;
  auto r = h.build(json{{"userpass", {{"type", "userpass"}, {"enabled", false}}},
                        {"staff", {{"type", "userpass"}, {"enabled", true}}}});
  REQUIRE(r.ok());
  CHECK(r->find("userpass") == nullptr);
  CHECK(r->find("staff") != nullptr);
  CHECK(r->all().size() == 1);

  // A disabled method is not validated either: an unknown type is fine there.
  auto d = h.build(json{{"later", {{"type", "not-built-yet"}, {"enabled", false}}}, {"userpass", json::object()}});
  REQUIRE(d.ok());
  CHECK(d->find("later") == nullptr);

  auto bad = h.build(json{{"userpass", {{"enabled", "no"}}}});
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().message.find("auth.userpass.enabled") != std::string::npos);
}

TEST_CASE("Registry refuses invalid and reserved names", "[auth][registry]") {
  Harness h;
  for (const char* name : {"Bad Name", "UserPass", "a/b", "a.b", "é", "session"}) {
    INFO(name);
    auto r = h.build(json{{name, {{"type", "userpass"}}}});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == tokend::ErrorCode::kInvalidConfig);
    CHECK(r.error().message.find(std::string("auth.") + name) != std::string::npos);
  }
  auto too_long = h.build(json{{std::string(65, 'a'), {{"type", "userpass"}}}});
  CHECK_FALSE(too_long.ok());
  auto ok = h.build(json{{"corp-ldap_2", {{"type", "userpass"}}}, {std::string(64, 'a'), {{"type", "userpass"}}}});
  CHECK(ok.ok());
}

TEST_CASE("Registry refuses malformed method settings", "[auth][registry]") {
  Harness h;
  auto not_object = h.build(json{{"userpass", "yes"}});
  REQUIRE_FALSE(not_object.ok());
  CHECK(not_object.error().message.find("auth.userpass") != std::string::npos);

  auto bad_type = h.build(json{{"userpass", {{"type", 3}}}});
  REQUIRE_FALSE(bad_type.ok());
  CHECK(bad_type.error().message.find("auth.userpass.type") != std::string::npos);

  // The factory's own error is reported under auth.<name>.
  auto typo = h.build(json{{"userpass", {{"lable", "x"}}}});
  REQUIRE_FALSE(typo.ok());
  CHECK(typo.error().code == tokend::ErrorCode::kInvalidConfig);
  CHECK(typo.error().message.rfind("auth.userpass.lable", 0) == 0);
}

TEST_CASE("Registry::password_methods lists the password authenticators", "[auth][registry]") {
  Harness h;
  auto r = h.build(json{{"userpass", json::object()}, {"staff", {{"type", "userpass"}}}});
  REQUIRE(r.ok());
  const auto pm = r->password_methods();
  REQUIRE(pm.size() == 2);
  for (auto* m : pm) CHECK(m->credentials() == Authenticator::Credentials::kPassword);

  std::vector<std::unique_ptr<Authenticator>> methods;
  methods.push_back(std::make_unique<FakeProvider>("github"));
  auto up = tokend::auth::make_userpass_authenticator("userpass", json::object(),
                                                      tokend::auth::FactoryContext{*h.config, *h.store, h.metrics, h.hasher});
  REQUIRE(up.ok());
  methods.push_back(std::move(*up));
  methods.push_back(std::make_unique<FakeProvider>("gitlab"));
  Registry mixed = Registry::of(std::move(methods));
  CHECK(mixed.all().size() == 3);
  const auto only = mixed.password_methods();
  REQUIRE(only.size() == 1);
  CHECK(only[0]->name() == "userpass");
  REQUIRE(mixed.find("gitlab") != nullptr);
  CHECK(mixed.find("gitlab")->credentials() == Authenticator::Credentials::kProviderToken);
}
