// The oidc authenticator against the fake OpenID Connect provider (discovery
// document + userinfo, Keycloak-style realm paths) over TLS.
#include "unit/auth/oauth/oauth_test_support.hpp"

#include "tokend/auth/oauth/oidc_authenticator.hpp"

using namespace oauth_test;
using tokend::auth::oauth::make_oidc_authenticator;

namespace {

nlohmann::json oidc_settings(const e2e::FakeProvider& fake, const std::string& realm = "test") {
  auto s = base_settings(fake, "oidc");
  s["issuer"] = fake.base_url() + "/realms/" + realm;
  return s;
}

const std::string kDiscovery = "/realms/test/.well-known/openid-configuration";
const std::string kUserinfo = "/realms/test/protocol/openid-connect/userinfo";

}  // namespace

TEST_CASE("oidc: discovery, then userinfo with a verified matching email", "[auth][oidc]") {
  e2e::FakeProvider fake;
  Context ctx;
  auto oidc = make(make_oidc_authenticator, ctx, "sso", oidc_settings(fake));
  CHECK(oidc->type() == "oidc");
  CHECK(oidc->accepts_single_quoted_json());

  auto first = oidc->authenticate(request("alice@example.com", "tok-alice"));
  REQUIRE(first.kind == Kind::kAccepted);
  CHECK(first.identity.provider == "sso");
  CHECK(first.identity.subject == "7b1e-alice");
  CHECK(first.identity.username == "alice");
  CHECK(first.identity.display_name == "Alice Liddell");
  CHECK(first.identity.email == "alice@example.com");

  auto second = oidc->authenticate(request("alice@example.com", "tok-alice"));
  REQUIRE(second.kind == Kind::kAccepted);
  // The discovery document is fetched once and cached.
  CHECK(fake.hits(kDiscovery) == 1);
  CHECK(fake.hits(kUserinfo) == 2);
  CHECK(ctx.logins("sso", "accepted") == 2);
}

TEST_CASE("oidc: an issuer without a path, and a configured userinfo_url", "[auth][oidc]") {
  e2e::FakeProvider fake;
  Context ctx;
  SECTION("root issuer") {
    auto s = base_settings(fake, "oidc");
    s["issuer"] = fake.base_url();
    auto oidc = make(make_oidc_authenticator, ctx, "oidc", s);
    REQUIRE(oidc->authenticate(request("alice@example.com", "tok-alice")).kind == Kind::kAccepted);
    CHECK(fake.hits("/.well-known/openid-configuration") == 1);
  }
  SECTION("userinfo_url skips discovery") {
    auto s = base_settings(fake, "oidc");
    s["issuer"] = "https://sso.example.com/realms/acme";  // never contacted
    s["userinfo_url"] = fake.base_url() + "/userinfo";
    auto oidc = make(make_oidc_authenticator, ctx, "oidc", s);
    REQUIRE(oidc->authenticate(request("alice@example.com", "tok-alice")).kind == Kind::kAccepted);
    CHECK(fake.hits("/userinfo") == 1);
    CHECK(fake.stats()["requests"] == 1);
  }
}

TEST_CASE("oidc: unverified or foreign emails, bad tokens and foreign domains are rejected", "[auth][oidc]") {
  e2e::FakeProvider fake;
  Context ctx;
  auto oidc = make(make_oidc_authenticator, ctx, "oidc", oidc_settings(fake));

  auto unverified = oidc->authenticate(request("bob@example.org", "tok-bob"));
  CHECK(unverified.kind == Kind::kRejected);
  CHECK(unverified.reason == "email_not_verified");
  auto foreign = oidc->authenticate(request("bob@example.org", "tok-alice"));
  CHECK(foreign.kind == Kind::kRejected);
  CHECK(foreign.reason == "email_not_of_account");
  auto revoked = oidc->authenticate(request("alice@example.com", "tok-revoked"));
  CHECK(revoked.kind == Kind::kRejected);
  CHECK(revoked.reason == "invalid_token");
  CHECK(oidc->authenticate(request("alice@example.com", "tok-noscope")).reason == "insufficient_scope");

  auto s = oidc_settings(fake);
  s["allowed_email_domains"] = {"Example.com"};
  auto restricted = make(make_oidc_authenticator, ctx, "corp", s);
  CHECK(restricted->authenticate(request("alice@example.com", "tok-alice")).kind == Kind::kAccepted);
  s["allowed_email_domains"] = {"corp.example"};
  auto other = make(make_oidc_authenticator, ctx, "corp2", s);
  auto outside = other->authenticate(request("alice@example.com", "tok-alice"));
  CHECK(outside.kind == Kind::kRejected);
  CHECK(outside.reason == "email_domain_not_allowed");
}

TEST_CASE("oidc: untrustworthy discovery documents and unusable providers fail", "[auth][oidc]") {
  e2e::FakeProvider fake;
  Context ctx;
  SECTION("the document names another issuer: refused, and not cached") {
    auto oidc = make(make_oidc_authenticator, ctx, "oidc", oidc_settings(fake, "evil"));
    for (int i = 0; i < 2; ++i) {
      auto outcome = oidc->authenticate(request("alice@example.com", "tok-alice"));
      CHECK(outcome.kind == Kind::kFailed);
      CHECK(outcome.failure == tokend::auth::FailureKind::kUpstreamBadAnswer);
    }
    CHECK(fake.hits("/realms/evil/.well-known/openid-configuration") == 2);
    CHECK(fake.hits("/realms/evil/protocol/openid-connect/userinfo") == 0);
  }
  SECTION("a plain-http userinfo endpoint is refused") {
    auto oidc = make(make_oidc_authenticator, ctx, "oidc", oidc_settings(fake, "plainhttp"));
    auto outcome = oidc->authenticate(request("alice@example.com", "tok-alice"));
    CHECK(outcome.kind == Kind::kFailed);
    CHECK(outcome.failure == tokend::auth::FailureKind::kUpstreamBadAnswer);
    CHECK(fake.hits("/realms/plainhttp/protocol/openid-connect/userinfo") == 0);
  }
  SECTION("garbage, a hang") {
    auto s = oidc_settings(fake);
    s["timeout_ms"] = 700;
    auto oidc = make(make_oidc_authenticator, ctx, "oidc", s);
    CHECK(oidc->authenticate(request("alice@example.com", "tok-garbage")).failure == tokend::auth::FailureKind::kUpstreamBadAnswer);
    const auto start = std::chrono::steady_clock::now();
    CHECK(oidc->authenticate(request("alice@example.com", "tok-hang")).failure == tokend::auth::FailureKind::kUpstreamTimeout);
    CHECK(seconds_since(start) < 2.0);
    CHECK(ctx.upstream_errors("oidc") == 2);
  }
  SECTION("settings") {
    auto s = base_settings(fake, "oidc");
    CHECK(config_error(make_oidc_authenticator, ctx, "sso", s).message == "sso.issuer: is required");
    s["issuer"] = "http://sso.example.com/realms/acme";
    CHECK(config_error(make_oidc_authenticator, ctx, "sso", s).message.rfind("sso.issuer:", 0) == 0);
    s["issuer"] = "https://sso.example.com/realms/acme";
    s["userinfo_url"] = "http://sso.example.com/userinfo";
    CHECK(config_error(make_oidc_authenticator, ctx, "sso", s).message.rfind("sso.userinfo_url:", 0) == 0);
    s.erase("userinfo_url");
    s["allowed_email_domains"] = {"@example.com"};
    CHECK(config_error(make_oidc_authenticator, ctx, "sso", s).message.rfind("sso.allowed_email_domains:", 0) == 0);
  }
}

TEST_CASE("oidc: email_verified as the string \"true\" is verified, and anything else but true is not", "[auth][oidc]") {
  e2e::FakeProvider fake;
  Context ctx;
  auto oidc = make(make_oidc_authenticator, ctx, "sso", oidc_settings(fake));
  // AWS Cognito and others send the boolean as a string.
  auto carol = oidc->authenticate(request("carol@example.com", "tok-carol"));
  REQUIRE(carol.kind == Kind::kAccepted);
  CHECK(carol.identity.subject == "carol-sub");
  // "false", 1 and "True" are not true.
  for (const std::string who : {"dave", "erin", "fay"}) {
    INFO(who);
    auto outcome = oidc->authenticate(request(who + "@example.com", "tok-" + who));
    CHECK(outcome.kind == Kind::kRejected);
    CHECK(outcome.failure == tokend::auth::FailureKind::kInvalidCredentials);
    CHECK(outcome.reason == "email_not_verified");
  }
}
