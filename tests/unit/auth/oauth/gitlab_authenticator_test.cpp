// The gitlab authenticator against the fake GitLab (REST API v4 shapes) over TLS.
#include "unit/auth/oauth/oauth_test_support.hpp"

#include "tokend/auth/oauth/gitlab_authenticator.hpp"

using namespace oauth_test;
using tokend::auth::oauth::make_gitlab_authenticator;

namespace {

nlohmann::json gitlab_settings(const e2e::FakeProvider& fake) {
  auto s = base_settings(fake, "gitlab");
  s["base_url"] = fake.base_url();
  return s;
}

}  // namespace

TEST_CASE("gitlab: confirmed primary and secondary emails are accepted", "[auth][gitlab]") {
  e2e::FakeProvider fake;
  Context ctx;
  auto gl = make(make_gitlab_authenticator, ctx, "gitlab", gitlab_settings(fake));
  CHECK(gl->type() == "gitlab");
  CHECK(gl->run_on() == tokend::RunOn::kUpstream);
  CHECK(gl->accepts_single_quoted_json());

  auto primary = gl->authenticate(request("Alice@Example.COM", "tok-alice"));
  REQUIRE(primary.kind == Kind::kAccepted);
  CHECK(primary.identity.provider == "gitlab");
  CHECK(primary.identity.subject == "2001");
  CHECK(primary.identity.username == "alice");
  CHECK(primary.identity.display_name == "Alice Liddell");
  CHECK(primary.identity.email == "Alice@Example.COM");
  // The confirmed primary email needs no second call.
  CHECK(fake.hits("/api/v4/user/emails") == 0);

  auto secondary = gl->authenticate(request("alice@second.example", "tok-alice"));
  REQUIRE(secondary.kind == Kind::kAccepted);
  CHECK(secondary.identity.subject == "2001");
  // Three addresses, two per page: every page is read.
  CHECK(fake.hits("/api/v4/user/emails") == 2);
  CHECK(ctx.logins("gitlab", "accepted") == 2);
}

TEST_CASE("gitlab: unconfirmed, foreign emails and bad tokens are rejected", "[auth][gitlab]") {
  e2e::FakeProvider fake;
  Context ctx;
  auto gl = make(make_gitlab_authenticator, ctx, "gitlab", gitlab_settings(fake));

  auto unconfirmed_secondary = gl->authenticate(request("alice@unverified.example", "tok-alice"));
  CHECK(unconfirmed_secondary.kind == Kind::kRejected);
  CHECK(unconfirmed_secondary.reason == "email_not_verified");
  // Bob's account itself was never confirmed: his primary email proves nothing.
  auto unconfirmed_primary = gl->authenticate(request("bob@example.org", "tok-bob"));
  CHECK(unconfirmed_primary.kind == Kind::kRejected);
  CHECK(unconfirmed_primary.reason == "email_not_verified");
  auto foreign = gl->authenticate(request("bob@example.org", "tok-alice"));
  CHECK(foreign.kind == Kind::kRejected);
  CHECK(foreign.reason == "email_not_of_account");
  auto revoked = gl->authenticate(request("alice@example.com", "tok-revoked"));
  CHECK(revoked.kind == Kind::kRejected);
  CHECK(revoked.reason == "invalid_token");
  auto noscope = gl->authenticate(request("alice@example.com", "tok-noscope"));
  CHECK(noscope.kind == Kind::kRejected);
  CHECK(noscope.reason == "insufficient_scope");
  CHECK(ctx.logins("gitlab", "rejected") == 5);
}

TEST_CASE("gitlab: allowed_groups restricts who gets in", "[auth][gitlab]") {
  e2e::FakeProvider fake;
  Context ctx;
  auto with_groups = [&](nlohmann::json groups) {
    auto s = gitlab_settings(fake);
    s["allowed_groups"] = std::move(groups);
    return make(make_gitlab_authenticator, ctx, "gitlab", s);
  };
  // Alice is in alpha, beta | acme/platform (two pages).
  auto subgroup = with_groups({"ACME"})->authenticate(request("alice@example.com", "tok-alice"));
  REQUIRE(subgroup.kind == Kind::kAccepted);
  CHECK(subgroup.identity.groups == std::vector<std::string>{"acme/platform"});
  CHECK(fake.hits("/api/v4/groups") == 2);

  CHECK(with_groups({"beta"})->authenticate(request("alice@example.com", "tok-alice")).kind == Kind::kAccepted);
  auto prefix_only = with_groups({"acm"})->authenticate(request("alice@example.com", "tok-alice"));
  CHECK(prefix_only.kind == Kind::kRejected);
  CHECK(prefix_only.reason == "not_in_allowed_groups");
  CHECK(with_groups({"other"})->authenticate(request("alice@example.com", "tok-alice")).kind == Kind::kRejected);
  auto evil = with_groups({"acme"})->authenticate(request("alice@example.com", "tok-evil-link"));
  CHECK(evil.kind == Kind::kFailed);
  CHECK(evil.failure == tokend::auth::FailureKind::kUpstreamBadAnswer);
}

TEST_CASE("gitlab: self-managed base URLs and upstream failures", "[auth][gitlab]") {
  e2e::FakeProvider fake;
  Context ctx;

  SECTION("a base URL with a trailing slash") {
    auto s = gitlab_settings(fake);
    s["base_url"] = fake.base_url() + "/";
    auto gl = make(make_gitlab_authenticator, ctx, "gitlab-corp", s);
    auto outcome = gl->authenticate(request("alice@example.com", "tok-alice"));
    REQUIRE(outcome.kind == Kind::kAccepted);
    CHECK(outcome.identity.provider == "gitlab-corp");
    CHECK(fake.hits("/api/v4/user") == 1);
  }
  SECTION("garbage, a huge body, rate limits, a hang") {
    auto s = gitlab_settings(fake);
    s["timeout_ms"] = 700;
    s["max_response_bytes"] = 32 * 1024;
    auto gl = make(make_gitlab_authenticator, ctx, "gitlab", s);
    CHECK(gl->authenticate(request("alice@example.com", "tok-garbage")).failure == tokend::auth::FailureKind::kUpstreamBadAnswer);
    CHECK(gl->authenticate(request("alice@example.com", "tok-huge")).failure == tokend::auth::FailureKind::kUpstreamBadAnswer);
    CHECK(gl->authenticate(request("alice@example.com", "tok-ratelimit")).failure == tokend::auth::FailureKind::kUpstreamDown);
    const auto start = std::chrono::steady_clock::now();
    auto hang = gl->authenticate(request("alice@example.com", "tok-hang"));
    CHECK(hang.kind == Kind::kFailed);
    CHECK(hang.failure == tokend::auth::FailureKind::kUpstreamTimeout);
    CHECK(seconds_since(start) < 2.0);
    CHECK(ctx.logins("gitlab", "failed") == 4);
    CHECK(ctx.upstream_errors("gitlab") == 4);
  }
  SECTION("settings") {
    auto s = gitlab_settings(fake);
    s["base_url"] = fake.base_url() + "/api/v4";
    CHECK(config_error(make_gitlab_authenticator, ctx, "gl", s).message.rfind("gl.base_url:", 0) == 0);
    s = gitlab_settings(fake);
    s["base_url"] = "http://gitlab.example.com";
    CHECK(config_error(make_gitlab_authenticator, ctx, "gl", s).message.rfind("gl.base_url:", 0) == 0);
    s = gitlab_settings(fake);
    s["allowed_groups"] = {"/acme"};
    CHECK(config_error(make_gitlab_authenticator, ctx, "gl", s).message.rfind("gl.allowed_groups:", 0) == 0);
    s = gitlab_settings(fake);
    s["api_url"] = fake.base_url();  // github's key: unknown here
    CHECK(config_error(make_gitlab_authenticator, ctx, "gl", s).message == "gl.api_url: unknown setting");
  }
}

TEST_CASE("gitlab: /user/emails is read page by page, following only same-origin links", "[auth][gitlab]") {
  e2e::FakeProvider fake;
  Context ctx;
  auto gl = make(make_gitlab_authenticator, ctx, "gitlab", gitlab_settings(fake));
  SECTION("a confirmed address on the second page is found") {
    auto outcome = gl->authenticate(request("alice@third.example", "tok-alice"));
    REQUIRE(outcome.kind == Kind::kAccepted);
    CHECK(outcome.identity.subject == "2001");
    CHECK(fake.hits("/api/v4/user/emails") == 2);
  }
  SECTION("a next-page link to another host is not followed with the token") {
    auto outcome = gl->authenticate(request("alice@second.example", "tok-evil-email-link"));
    CHECK(outcome.kind == Kind::kFailed);
    CHECK(outcome.failure == tokend::auth::FailureKind::kUpstreamBadAnswer);
    CHECK(outcome.reason == "upstream_foreign_link");
    CHECK(fake.hits("/api/v4/user/emails") == 1);
  }
}

TEST_CASE("gitlab: only memberships count for allowed_groups (min_access_level)", "[auth][gitlab]") {
  e2e::FakeProvider fake;
  Context ctx;
  auto with_groups = [&](nlohmann::json groups) {
    auto s = gitlab_settings(fake);
    s["allowed_groups"] = std::move(groups);
    return make(make_gitlab_authenticator, ctx, "gitlab", s);
  };
  // GET /groups without min_access_level lists every group the user can see:
  // a public group she is no member of, and one where she has "Minimal
  // Access" (5) only. Neither makes her a member.
  for (const char* group : {"public-open", "minimal-access"}) {
    INFO(group);
    auto outcome = with_groups({group})->authenticate(request("alice@example.com", "tok-alice"));
    CHECK(outcome.kind == Kind::kRejected);
    CHECK(outcome.failure == tokend::auth::FailureKind::kInvalidCredentials);
    CHECK(outcome.reason == "not_in_allowed_groups");
  }
  CHECK(with_groups({"alpha"})->authenticate(request("alice@example.com", "tok-alice")).kind == Kind::kAccepted);
}

TEST_CASE("gitlab: blocked and deactivated accounts are refused", "[auth][gitlab]") {
  e2e::FakeProvider fake;
  Context ctx;
  auto gl = make(make_gitlab_authenticator, ctx, "gitlab", gitlab_settings(fake));
  for (const std::string state : {"blocked", "deactivated"}) {
    INFO(state);
    auto outcome = gl->authenticate(request(state + "@example.com", "tok-" + state));
    CHECK(outcome.kind == Kind::kRejected);
    CHECK(outcome.failure == tokend::auth::FailureKind::kInvalidCredentials);
    CHECK(outcome.reason == "account_not_active");
  }
  CHECK(ctx.logins("gitlab", "rejected") == 2);
}
