// Application binding (issue 14) through the github, gitlab and oidc
// authenticators, against the fake providers' application checks over TLS.
#include "unit/auth/oauth/oauth_test_support.hpp"

#include "tokend/auth/oauth/github_authenticator.hpp"
#include "tokend/auth/oauth/gitlab_authenticator.hpp"
#include "tokend/auth/oauth/oidc_authenticator.hpp"

#include <thread>

using namespace oauth_test;
using tokend::auth::oauth::make_github_authenticator;
using tokend::auth::oauth::make_gitlab_authenticator;
using tokend::auth::oauth::make_oidc_authenticator;

namespace {

// The fake's applications (tests/e2e/fixtures/fake_provider.mjs).
const std::string kOwnApp = "tokend-test-app";
const std::string kOwnSecret = "own-app-secret-5f1c";

std::string secret_file(const e2e::FakeProvider& fake, const std::string& secret) {
  const std::string path = fake.dir() + "/client-secret-" + std::to_string(secret.size());
  e2e::fake_detail::write_file(path, secret + "\n");
  return path;
}

nlohmann::json github_bound(const e2e::FakeProvider& fake, const std::string& secret = kOwnSecret) {
  auto s = base_settings(fake, "github");
  s["api_url"] = fake.base_url();
  s["client_id"] = kOwnApp;
  s["client_secret_file"] = secret_file(fake, secret);
  return s;
}

nlohmann::json gitlab_bound(const e2e::FakeProvider& fake) {
  auto s = base_settings(fake, "gitlab");
  s["base_url"] = fake.base_url();
  s["client_id"] = kOwnApp;
  return s;
}

nlohmann::json oidc_bound(const e2e::FakeProvider& fake, const std::string& realm = "test",
                          const std::string& secret = kOwnSecret) {
  auto s = base_settings(fake, "oidc");
  s["issuer"] = fake.base_url() + "/realms/" + realm;
  s["client_id"] = kOwnApp;
  s["client_secret_file"] = secret_file(fake, secret);
  return s;
}

}  // namespace

TEST_CASE("github binding: the token check replaces GET /user; foreign tokens stop there", "[auth][github][binding]") {
  e2e::FakeProvider fake;
  Context ctx;
  auto gh = make(make_github_authenticator, ctx, "github", github_bound(fake));

  auto own = gh->authenticate(request("alice@example.com", "tok-alice"));
  REQUIRE(own.kind == Kind::kAccepted);
  CHECK(own.identity.subject == "1001");
  CHECK(own.identity.username == "alice");
  // The token object's user is a simple-user: no profile name.
  CHECK(own.identity.display_name.empty());
  CHECK(fake.hits("/applications/" + kOwnApp + "/token") == 1);
  CHECK(fake.hits("/user") == 0);

  auto foreign = gh->authenticate(request("alice@example.com", "tok-foreign"));
  CHECK(foreign.kind == Kind::kRejected);
  CHECK(foreign.reason == "foreign_application");
  auto unknown = gh->authenticate(request("alice@example.com", "tok-revoked"));
  CHECK(unknown.kind == Kind::kRejected);
  CHECK(unknown.reason == "foreign_application");
  // A foreign token is never used for the email list.
  CHECK(fake.hits("/user/emails") == 2);
  CHECK(ctx.logins("github", "rejected") == 2);

  SECTION("org and team restrictions still apply") {
    auto s = github_bound(fake);
    s["allowed_teams"] = {"acme/developers"};
    auto restricted = make(make_github_authenticator, ctx, "github", s);
    auto alice = restricted->authenticate(request("alice@example.com", "tok-alice"));
    REQUIRE(alice.kind == Kind::kAccepted);
    CHECK(alice.identity.groups == std::vector<std::string>{"acme/developers"});
    auto bob = restricted->authenticate(request("bob@example.org", "tok-bob"));
    CHECK(bob.kind == Kind::kRejected);
    CHECK(bob.reason == "not_in_allowed_organizations");
  }
  SECTION("GitHub Enterprise Server: under /api/v3") {
    auto s = github_bound(fake);
    s["api_url"] = fake.base_url() + "/api/v3";
    auto ghes = make(make_github_authenticator, ctx, "ghes", s);
    CHECK(ghes->authenticate(request("alice@example.com", "tok-alice")).kind == Kind::kAccepted);
    CHECK(fake.hits("/api/v3/applications/" + kOwnApp + "/token") == 1);
  }
  SECTION("a wrong client secret is an operator error, not the user's 401") {
    auto wrong = make(make_github_authenticator, ctx, "github", github_bound(fake, "not-the-secret"));
    auto r = wrong->authenticate(request("alice@example.com", "tok-alice"));
    CHECK(r.kind == Kind::kFailed);
    CHECK(r.failure == tokend::auth::FailureKind::kUpstreamBadAnswer);
    CHECK(r.reason == "client_credentials_refused");
    CHECK(ctx.upstream_errors("github") == 1);
  }
}

TEST_CASE("the read-only checks survive a keep-alive connection the provider closed", "[auth][binding]") {
  e2e::FakeProvider fake;
  Context ctx;
  auto gh = make(make_github_authenticator, ctx, "github", github_bound(fake));
  auto op = make(make_oidc_authenticator, ctx, "sso", oidc_bound(fake));
  REQUIRE(gh->authenticate(request("alice@example.com", "tok-alice")).kind == Kind::kAccepted);
  REQUIRE(op->authenticate(request("alice@example.com", "tok-alice")).kind == Kind::kAccepted);
  fake.close_idle_connections();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  // The POSTs come first in the next sign-ins. The client retries only GETs
  // on a dead pooled connection, but its pool sees the close before reuse,
  // so the POSTs go out on new connections.
  CHECK(gh->authenticate(request("alice@example.com", "tok-alice")).kind == Kind::kAccepted);
  CHECK(op->authenticate(request("alice@example.com", "tok-alice")).kind == Kind::kAccepted);
  CHECK(ctx.upstream_errors("github") == 0);
  CHECK(ctx.upstream_errors("sso") == 0);
}

TEST_CASE("gitlab binding: application.uid must be the configured client_id", "[auth][gitlab][binding]") {
  e2e::FakeProvider fake;
  Context ctx;
  auto gl = make(make_gitlab_authenticator, ctx, "gitlab", gitlab_bound(fake));

  auto own = gl->authenticate(request("alice@example.com", "tok-alice"));
  REQUIRE(own.kind == Kind::kAccepted);
  CHECK(own.identity.subject == "2001");
  CHECK(own.identity.display_name == "Alice Liddell");
  CHECK(fake.hits("/oauth/token/info") == 1);

  auto foreign = gl->authenticate(request("alice@example.com", "tok-foreign"));
  CHECK(foreign.kind == Kind::kRejected);
  CHECK(foreign.reason == "foreign_application");
  // The foreign token went no further than the token info.
  CHECK(fake.hits("/api/v4/user") == 1);
  auto unknown = gl->authenticate(request("alice@example.com", "tok-revoked"));
  CHECK(unknown.kind == Kind::kRejected);
  CHECK(unknown.reason == "invalid_token");

  SECTION("another application id refuses every token") {
    auto s = gitlab_bound(fake);
    s["client_id"] = "other-test-app";
    auto other = make(make_gitlab_authenticator, ctx, "gitlab", s);
    CHECK(other->authenticate(request("alice@example.com", "tok-alice")).reason == "foreign_application");
    CHECK(other->authenticate(request("alice@example.com", "tok-foreign")).kind == Kind::kAccepted);
  }
}

TEST_CASE("oidc binding: introspection must be active and name our client", "[auth][oidc][binding]") {
  e2e::FakeProvider fake;
  Context ctx;
  auto op = make(make_oidc_authenticator, ctx, "sso", oidc_bound(fake));

  auto own = op->authenticate(request("alice@example.com", "tok-alice"));
  REQUIRE(own.kind == Kind::kAccepted);
  CHECK(own.identity.subject == "7b1e-alice");
  CHECK(fake.hits("/realms/test/protocol/openid-connect/token/introspect") == 1);
  // Our client in the audience of another client's token counts, as an array or a string.
  CHECK(op->authenticate(request("alice@example.com", "tok-aud-array")).kind == Kind::kAccepted);
  CHECK(op->authenticate(request("alice@example.com", "tok-aud-string")).kind == Kind::kAccepted);

  auto foreign = op->authenticate(request("alice@example.com", "tok-foreign"));
  CHECK(foreign.kind == Kind::kRejected);
  CHECK(foreign.reason == "foreign_application");
  auto inactive = op->authenticate(request("alice@example.com", "tok-revoked"));
  CHECK(inactive.kind == Kind::kRejected);
  CHECK(inactive.reason == "invalid_token");
  // Neither went on to userinfo; discovery was read once.
  CHECK(fake.hits("/realms/test/protocol/openid-connect/userinfo") == 3);
  CHECK(fake.hits("/realms/test/.well-known/openid-configuration") == 1);

  SECTION("a wrong client secret is an operator error") {
    auto wrong = make(make_oidc_authenticator, ctx, "sso", oidc_bound(fake, "test", "wrong-secret"));
    auto r = wrong->authenticate(request("alice@example.com", "tok-alice"));
    CHECK(r.kind == Kind::kFailed);
    CHECK(r.failure == tokend::auth::FailureKind::kUpstreamBadAnswer);
    CHECK(r.reason == "client_credentials_refused");
  }
  SECTION("no introspection endpoint in discovery: failed; introspection_url fixes it") {
    auto missing = make(make_oidc_authenticator, ctx, "sso", oidc_bound(fake, "nointrospect"));
    auto r = missing->authenticate(request("alice@example.com", "tok-alice"));
    CHECK(r.kind == Kind::kFailed);
    CHECK(r.failure == tokend::auth::FailureKind::kUpstreamBadAnswer);
    auto s = oidc_bound(fake, "nointrospect");
    s["introspection_url"] = fake.base_url() + "/realms/test/protocol/openid-connect/token/introspect";
    auto fixed = make(make_oidc_authenticator, ctx, "sso", s);
    CHECK(fixed->authenticate(request("alice@example.com", "tok-alice")).kind == Kind::kAccepted);
  }
}

TEST_CASE("binding settings are validated by the factories", "[auth][oauth][binding][config]") {
  e2e::FakeProvider fake;
  Context ctx;
  SECTION("github and oidc: client_id needs client_secret_file, and the reverse") {
    auto gh = github_bound(fake);
    gh.erase("client_secret_file");
    CHECK(config_error(make_github_authenticator, ctx, "github", gh).message ==
          "github.client_secret_file: is required with client_id (a file holding the client secret)");
    auto op = oidc_bound(fake);
    op.erase("client_id");
    CHECK(config_error(make_oidc_authenticator, ctx, "sso", op).message ==
          "sso.client_id: is required with client_secret_file");
  }
  SECTION("an unreadable or empty secret file fails the start") {
    auto gh = github_bound(fake);
    gh["client_secret_file"] = fake.dir() + "/no-such-file";
    CHECK(config_error(make_github_authenticator, ctx, "github", gh).message.rfind("github.client_secret_file: cannot open", 0) == 0);
    e2e::fake_detail::write_file(fake.dir() + "/empty-secret", "\n");
    gh["client_secret_file"] = fake.dir() + "/empty-secret";
    CHECK(config_error(make_github_authenticator, ctx, "github", gh).message.find("is empty") != std::string::npos);
  }
  SECTION("gitlab needs no secret and refuses one") {
    auto gl = gitlab_bound(fake);
    gl["client_secret_file"] = secret_file(fake, kOwnSecret);
    CHECK(config_error(make_gitlab_authenticator, ctx, "gitlab", gl).message.rfind("gitlab.client_secret_file: not used", 0) == 0);
  }
  SECTION("oidc: introspection_url only with binding, and https only") {
    auto op = base_settings(fake, "oidc");
    op["issuer"] = fake.base_url() + "/realms/test";
    op["introspection_url"] = fake.base_url() + "/i";
    CHECK(config_error(make_oidc_authenticator, ctx, "sso", op).message.rfind("sso.introspection_url:", 0) == 0);
    auto bound = oidc_bound(fake);
    bound["introspection_url"] = "http://127.0.0.1/i";
    CHECK(config_error(make_oidc_authenticator, ctx, "sso", bound).message.rfind("sso.introspection_url:", 0) == 0);
  }
}
