// The github authenticator against the fake GitHub (REST API shapes) over TLS.
#include "unit/auth/oauth/oauth_test_support.hpp"

#include "tokend/auth/oauth/github_authenticator.hpp"

using namespace oauth_test;
using tokend::auth::Authenticator;
using tokend::auth::oauth::make_github_authenticator;

namespace {

nlohmann::json github_settings(const e2e::FakeProvider& fake) {
  auto s = base_settings(fake, "github");
  s["api_url"] = fake.base_url();
  return s;
}

}  // namespace

TEST_CASE("github: a valid token whose account has the posted email verified is accepted", "[auth][github]") {
  e2e::FakeProvider fake;
  Context ctx;
  auto gh = make(make_github_authenticator, ctx, "github", github_settings(fake));
  CHECK(gh->name() == "github");
  CHECK(gh->type() == "github");
  CHECK(gh->credentials() == Authenticator::Credentials::kProviderToken);
  CHECK(gh->run_on() == tokend::RunOn::kUpstream);
  CHECK(gh->accepts_single_quoted_json());

  // GitHub stores "Alice@Example.com"; emails compare case-insensitively.
  auto outcome = gh->authenticate(request("alice@example.com", "tok-alice"));
  REQUIRE(outcome.kind == Kind::kAccepted);
  const auto& id = outcome.identity;
  CHECK(id.provider == "github");
  CHECK(id.subject == "1001");
  CHECK(id.username == "alice");
  CHECK(id.email == "alice@example.com");
  CHECK(id.display_name == "Alice Liddell");
  CHECK_FALSE(id.local);
  CHECK_FALSE(id.link_by_email);

  CHECK(fake.hits("/user") == 1);
  // Alice has three addresses and the fake pages two at a time.
  CHECK(fake.hits("/user/emails") == 2);
  // No org list without an org restriction.
  CHECK(fake.hits("/user/orgs") == 0);
  CHECK(ctx.logins("github", "accepted") == 1);
  CHECK(ctx.upstream_calls("github") == 3);
  CHECK(ctx.upstream_errors("github") == 0);
  CHECK(ctx.store.calls == 0);
}

TEST_CASE("github: emails that the account has not verified, or does not have, are rejected", "[auth][github]") {
  e2e::FakeProvider fake;
  Context ctx;
  auto gh = make(make_github_authenticator, ctx, "github", github_settings(fake));

  auto unverified = gh->authenticate(request("alice@unverified.example", "tok-alice"));
  CHECK(unverified.kind == Kind::kRejected);
  CHECK(unverified.reason == "email_not_verified");

  // Bob's verified email, presented with Alice's token.
  auto foreign = gh->authenticate(request("bob@example.org", "tok-alice"));
  CHECK(foreign.kind == Kind::kRejected);
  CHECK(foreign.reason == "email_not_of_account");

  // A token that cannot read emails cannot prove one.
  auto noscope = gh->authenticate(request("alice@example.com", "tok-noscope"));
  CHECK(noscope.kind == Kind::kRejected);
  CHECK(noscope.reason == "email_scope_missing");

  CHECK(ctx.logins("github", "rejected") == 3);
  CHECK(ctx.logins("github", "accepted") == 0);
}

TEST_CASE("github: revoked, unknown and malformed tokens are rejected", "[auth][github]") {
  e2e::FakeProvider fake;
  Context ctx;
  auto gh = make(make_github_authenticator, ctx, "github", github_settings(fake));

  for (const char* token : {"tok-revoked", "gho_doesnotexist"}) {
    auto outcome = gh->authenticate(request("alice@example.com", token));
    CHECK(outcome.kind == Kind::kRejected);
    CHECK(outcome.reason == "invalid_token");
  }
  const int requests = fake.stats()["requests"].get<int>();
  // A CR/LF in the token would inject headers into the provider request: it
  // is refused before anything is sent.
  auto injected = gh->authenticate(request("alice@example.com", "tok-alice\r\nX-Evil: 1"));
  CHECK(injected.kind == Kind::kRejected);
  CHECK(injected.reason == "malformed_token");
  CHECK(gh->authenticate(request("", "tok-alice")).kind == Kind::kRejected);
  CHECK(gh->authenticate(request("alice@example.com", "")).kind == Kind::kRejected);
  CHECK(gh->authenticate(request("not-an-email", "tok-alice")).reason == "malformed_email");
  CHECK(fake.stats()["requests"].get<int>() == requests);
}

TEST_CASE("github: allowed_organizations and allowed_teams restrict who gets in", "[auth][github]") {
  e2e::FakeProvider fake;
  Context ctx;

  SECTION("organizations (found on the second page; names ignore case)") {
    auto s = github_settings(fake);
    s["allowed_organizations"] = {"ACME", "umbrella"};
    auto gh = make(make_github_authenticator, ctx, "github", s);
    auto alice = gh->authenticate(request("alice@example.com", "tok-alice"));
    REQUIRE(alice.kind == Kind::kAccepted);
    CHECK(alice.identity.groups == std::vector<std::string>{"acme"});
    // The fake pages by 2: alpha-org, beta-org | acme.
    CHECK(fake.hits("/user/orgs") == 2);

    auto bob = gh->authenticate(request("bob@example.org", "tok-bob"));
    CHECK(bob.kind == Kind::kRejected);
    CHECK(bob.reason == "not_in_allowed_organizations");

    // A token that may not read memberships cannot prove one.
    auto no_scope = gh->authenticate(request("alice@example.com", "tok-noorgscope"));
    CHECK(no_scope.kind == Kind::kRejected);
    CHECK(no_scope.reason == "insufficient_scope");
  }
  SECTION("teams") {
    auto s = github_settings(fake);
    s["allowed_teams"] = {"acme/developers"};
    auto gh = make(make_github_authenticator, ctx, "github", s);
    auto alice = gh->authenticate(request("alice@example.com", "tok-alice"));
    REQUIRE(alice.kind == Kind::kAccepted);
    CHECK(alice.identity.groups == std::vector<std::string>{"acme/developers"});
    // Bob is in acme/sales: same organization, another team.
    auto bob = gh->authenticate(request("bob@example.org", "tok-bob"));
    CHECK(bob.kind == Kind::kRejected);
  }
  SECTION("a next-page link to another host is not followed with the token") {
    auto s = github_settings(fake);
    s["allowed_organizations"] = {"acme"};
    auto gh = make(make_github_authenticator, ctx, "github", s);
    auto outcome = gh->authenticate(request("alice@example.com", "tok-evil-link"));
    CHECK(outcome.kind == Kind::kFailed);
    CHECK(outcome.failure == tokend::auth::FailureKind::kUpstreamBadAnswer);
  }
}

TEST_CASE("github: a GitHub Enterprise Server base URL (/api/v3) is used as given", "[auth][github]") {
  e2e::FakeProvider fake;
  Context ctx;
  auto s = github_settings(fake);
  s["api_url"] = fake.base_url() + "/api/v3/";  // trailing slash tolerated
  s["allowed_organizations"] = {"acme"};
  auto gh = make(make_github_authenticator, ctx, "ghe", s);
  auto outcome = gh->authenticate(request("alice@example.com", "tok-alice"));
  REQUIRE(outcome.kind == Kind::kAccepted);
  CHECK(outcome.identity.provider == "ghe");
  CHECK(fake.hits("/api/v3/user") == 1);
  CHECK(fake.hits("/api/v3/user/emails") == 2);  // both pages, under /api/v3
  CHECK(fake.hits("/api/v3/user/orgs") == 2);
  CHECK(fake.hits("/user") == 0);
  CHECK(ctx.logins("ghe", "accepted") == 1);
}

TEST_CASE("github: an unusable or absent provider fails with 502/503/504, not 401", "[auth][github]") {
  e2e::FakeProvider fake;
  Context ctx;

  SECTION("garbage, errors, huge bodies, rate limits") {
    auto s = github_settings(fake);
    s["max_response_bytes"] = 64 * 1024;
    auto gh = make(make_github_authenticator, ctx, "github", s);
    struct Case {
      const char* token;
      tokend::auth::FailureKind failure;
    };
    for (const Case& c : {Case{"tok-garbage", tokend::auth::FailureKind::kUpstreamBadAnswer}, Case{"tok-500", tokend::auth::FailureKind::kUpstreamBadAnswer},
                          Case{"tok-huge", tokend::auth::FailureKind::kUpstreamBadAnswer}, Case{"tok-huge-declared", tokend::auth::FailureKind::kUpstreamBadAnswer},
                          Case{"tok-ratelimit", tokend::auth::FailureKind::kUpstreamDown}}) {
      INFO(c.token);
      auto outcome = gh->authenticate(request("alice@example.com", c.token));
      CHECK(outcome.kind == Kind::kFailed);
      CHECK(outcome.failure == c.failure);
    }
    CHECK(ctx.logins("github", "failed") == 5);
    CHECK(ctx.upstream_errors("github") == 5);
  }
  SECTION("a provider that hangs: 504 within timeout_ms") {
    auto s = github_settings(fake);
    s["timeout_ms"] = 800;
    auto gh = make(make_github_authenticator, ctx, "github", s);
    const auto start = std::chrono::steady_clock::now();
    auto outcome = gh->authenticate(request("alice@example.com", "tok-hang"));
    const double took = seconds_since(start);
    CHECK(outcome.kind == Kind::kFailed);
    CHECK(outcome.failure == tokend::auth::FailureKind::kUpstreamTimeout);
    CHECK(took >= 0.7);
    CHECK(took < 2.0);
  }
  SECTION("nothing listening: 503") {
    auto s = github_settings(fake);
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    s["api_url"] = "https://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
    auto gh = make(make_github_authenticator, ctx, "github", s);
    auto outcome = gh->authenticate(request("alice@example.com", "tok-alice"));
    CHECK(outcome.kind == Kind::kFailed);
    CHECK(outcome.failure == tokend::auth::FailureKind::kUpstreamDown);
  }
  SECTION("a certificate from an unknown CA: refused, the token never sent") {
    auto s = github_settings(fake);
    s.erase("ca_file");  // the system store only
    auto gh = make(make_github_authenticator, ctx, "github", s);
    auto outcome = gh->authenticate(request("alice@example.com", "tok-alice"));
    CHECK(outcome.kind == Kind::kFailed);
    CHECK(outcome.failure == tokend::auth::FailureKind::kUpstreamBadAnswer);
    CHECK(fake.stats()["requests"] == 0);
  }
  SECTION("through the configured proxy") {
    auto s = github_settings(fake);
    s["proxy"] = fake.proxy_url();
    s["no_proxy"] = nlohmann::json::array();
    auto gh = make(make_github_authenticator, ctx, "github", s);
    auto outcome = gh->authenticate(request("alice@example.com", "tok-alice"));
    CHECK(outcome.kind == Kind::kAccepted);
    CHECK(fake.stats()["proxyConnects"] == 1);
  }
}

TEST_CASE("github: settings are validated at startup", "[auth][github]") {
  e2e::FakeProvider fake;
  Context ctx;
  auto with = [&](const std::string& key, nlohmann::json value) {
    auto s = github_settings(fake);
    s[key] = std::move(value);
    return s;
  };
  struct Case {
    nlohmann::json settings;
    std::string message_start;
  };
  const Case cases[] = {
      {with("api_url", "http://api.github.com"), "gh.api_url:"},
      {with("api_url", "https://api.github.com?x=1"), "gh.api_url:"},
      {with("api_url", 42), "gh.api_url:"},
      {with("allowed_organisations", {"acme"}), "gh.allowed_organisations: unknown setting"},
      {with("allowed_organizations", "acme"), "gh.allowed_organizations:"},
      {with("allowed_organizations", {""}), "gh.allowed_organizations:"},
      {with("allowed_teams", {"acme"}), "gh.allowed_teams:"},
      {with("timeout_ms", 0), "gh.timeout_ms:"},
      {with("connect_timeout_ms", "5s"), "gh.connect_timeout_ms:"},
      {with("max_response_bytes", 10), "gh.max_response_bytes:"},
      {with("ca_file", "/nonexistent/ca.pem"), "gh.ca_file:"},
      {with("proxy", "socks5://proxy:1080"), "gh.proxy:"},
      {with("no_proxy", "localhost"), "gh.no_proxy:"},
      {with("link_existing_accounts_by_email", "yes"), "gh.link_existing_accounts_by_email:"},
  };
  for (const auto& c : cases) {
    INFO(c.settings.dump());
    auto e = config_error(make_github_authenticator, ctx, "gh", c.settings);
    CHECK(e.code == tokend::ErrorCode::kInvalidConfig);
    CHECK(e.message.rfind(c.message_start, 0) == 0);
  }

  SECTION("defaults and the opt-in email linking") {
    auto plain = make(make_github_authenticator, ctx, "github", {{"type", "github"}});
    CHECK(plain->name() == "github");
    auto s = github_settings(fake);
    s["link_existing_accounts_by_email"] = true;
    auto gh = make(make_github_authenticator, ctx, "github", s);
    auto outcome = gh->authenticate(request("alice@example.com", "tok-alice"));
    REQUIRE(outcome.kind == Kind::kAccepted);
    CHECK(outcome.identity.link_by_email);
  }
}

TEST_CASE("github: /user/emails is read page by page, following only same-origin links", "[auth][github]") {
  e2e::FakeProvider fake;
  Context ctx;
  auto gh = make(make_github_authenticator, ctx, "github", github_settings(fake));
  SECTION("a verified address on the second page is found") {
    auto outcome = gh->authenticate(request("alice@third.example", "tok-alice"));
    REQUIRE(outcome.kind == Kind::kAccepted);
    CHECK(outcome.identity.subject == "1001");
    CHECK(fake.hits("/user/emails") == 2);
  }
  SECTION("a next-page link to another host is not followed with the token") {
    auto outcome = gh->authenticate(request("alice@example.com", "tok-evil-email-link"));
    CHECK(outcome.kind == Kind::kFailed);
    CHECK(outcome.failure == tokend::auth::FailureKind::kUpstreamBadAnswer);
    CHECK(outcome.reason == "upstream_foreign_link");
    CHECK(fake.hits("/user/emails") == 1);
    CHECK(ctx.upstream_errors("github") == 1);
  }
}
