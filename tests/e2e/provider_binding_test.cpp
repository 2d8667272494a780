// End-to-end: provider tokens bound to the operator's OAuth application
// (issue 14), through the real binary against the fake GitHub / GitLab / OIDC
// providers' application checks over TLS.
#include <catch2/catch.hpp>

#include <string>

#include <nlohmann/json.hpp>

#include "support/fake_provider.hpp"
#include "support/process.hpp"

using e2e::bearer;
using e2e::FakeProvider;
using e2e::is_token;
using e2e::TokendProcess;

namespace {

const std::map<std::string, std::string> kJson = {{"Content-Type", "application/json"}};
const std::string kGeneric = R"({"error":"invalid_credentials","message":"Invalid credentials."})";

// The fake's applications (tests/e2e/fixtures/fake_provider.mjs).
const std::string kOwnApp = "tokend-test-app";
const std::string kOwnSecret = "own-app-secret-5f1c";

std::string secret_file(const FakeProvider& fake, const std::string& name, const std::string& secret) {
  const std::string path = fake.dir() + "/" + name;
  e2e::fake_detail::write_file(path, secret + "\n");
  return path;
}

// A provider method of `type` against the fake; bound to the fake's own app
// when `bound`, with `secret` as the client secret.
nlohmann::json method(const FakeProvider& fake, const std::string& type, bool bound,
                      const std::string& secret = kOwnSecret) {
  nlohmann::json s = {{"type", type}, {"ca_file", fake.ca_file()}, {"proxy", ""}};
  if (type == "github") s["api_url"] = fake.base_url();
  if (type == "gitlab") s["base_url"] = fake.base_url();
  if (type == "oidc") s["issuer"] = fake.base_url() + "/realms/test";
  if (bound) {
    s["client_id"] = kOwnApp;
    if (type != "gitlab") s["client_secret_file"] = secret_file(fake, type + "-" + secret, secret);
  }
  return s;
}

std::string body(const std::string& email, const std::string& token) {
  return nlohmann::json{{"email", email}, {"info", {{"accessToken", token}}}}.dump();
}

}  // namespace

TEST_CASE("bound provider methods accept their own application's tokens only", "[e2e][provider][binding]") {
  FakeProvider fake;
  TokendProcess t(nlohmann::json{{"auth",
                    {{"github", method(fake, "github", true)},
                     {"gitlab", method(fake, "gitlab", true)},
                     {"sso", method(fake, "oidc", true)},
                     {"github-open", method(fake, "github", false)},
                     {"gitlab-open", method(fake, "gitlab", false)},
                     {"sso-open", method(fake, "oidc", false)}}}});

  for (const std::string name : {"github", "gitlab", "sso"}) {
    DYNAMIC_SECTION(name << ": own app's token -> 200, another app's -> the generic 401") {
      auto own = t.post("/api/authenticate/" + name, body("alice@example.com", "tok-alice"), kJson);
      REQUIRE(own.status == 200);
      const std::string token = own.json()["token"].get<std::string>();
      CHECK(is_token(token));
      auto me = t.get("/api/user", bearer(token));
      REQUIRE(me.status == 200);
      CHECK(me.json()["email"] == "alice@example.com");
      CHECK(me.json()["authenticatedWith"] == name);

      auto foreign = t.post("/api/authenticate/" + name, body("alice@example.com", "tok-foreign"), kJson);
      CHECK(foreign.status == 401);
      CHECK(foreign.body == kGeneric);
      const std::string log = t.log();
      CHECK(log.find("provider=" + name + " outcome=rejected reason=foreign_application") != std::string::npos);
      CHECK(log.find("tok-foreign") == std::string::npos);
      CHECK(log.find("tok-alice") == std::string::npos);
      CHECK(log.find(kOwnSecret) == std::string::npos);
    }
    DYNAMIC_SECTION(name << " without binding: today's behaviour, any application's token") {
      auto foreign = t.post("/api/authenticate/" + name + "-open", body("alice@example.com", "tok-foreign"), kJson);
      CHECK(foreign.status == 200);
      auto own = t.post("/api/authenticate/" + name + "-open", body("alice@example.com", "tok-alice"), kJson);
      CHECK(own.status == 200);
      CHECK(t.log().find("foreign_application") == std::string::npos);
    }
  }
  SECTION("the checks ran against each provider's application endpoint") {
    CHECK(t.post("/api/authenticate/github", body("alice@example.com", "tok-alice"), kJson).status == 200);
    CHECK(t.post("/api/authenticate/gitlab", body("alice@example.com", "tok-alice"), kJson).status == 200);
    CHECK(t.post("/api/authenticate/sso", body("alice@example.com", "tok-aud-array"), kJson).status == 200);
    CHECK(fake.hits("/applications/" + kOwnApp + "/token") == 1);
    CHECK(fake.hits("/user") == 0);
    CHECK(fake.hits("/oauth/token/info") == 1);
    CHECK(fake.hits("/realms/test/protocol/openid-connect/token/introspect") == 1);
    // An unknown or revoked token is the same generic 401.
    for (const std::string name : {"github", "gitlab", "sso"}) {
      auto r = t.post("/api/authenticate/" + name, body("alice@example.com", "tok-revoked"), kJson);
      CHECK(r.status == 401);
      CHECK(r.body == kGeneric);
    }
  }
}

TEST_CASE("a client secret the provider refuses is a 502 for the user and an error line for the operator",
          "[e2e][provider][binding]") {
  FakeProvider fake;
  TokendProcess t(nlohmann::json{{"auth",
                    {{"github", method(fake, "github", true, "stale-secret-0001")},
                     {"sso", method(fake, "oidc", true, "stale-secret-0001")}}}});
  for (const std::string name : {"github", "sso"}) {
    auto r = t.post("/api/authenticate/" + name, body("alice@example.com", "tok-alice"), kJson);
    CHECK(r.status == 502);
    CHECK(r.json()["error"] == "upstream_error");
    const std::string log = t.log();
    CHECK(log.find("provider " + name + ": ") != std::string::npos);
    CHECK(log.find("refused tokend's client credentials (" + name + ".client_id, " + name + ".client_secret_file)") !=
          std::string::npos);
    CHECK(log.find("reason=client_credentials_refused") != std::string::npos);
    CHECK(log.find("stale-secret") == std::string::npos);
    CHECK(log.find("tok-alice") == std::string::npos);
  }
}

TEST_CASE("binding settings that cannot work stop the start, without the secret", "[e2e][provider][binding]") {
  FakeProvider fake;
  const std::string empty = secret_file(fake, "empty-secret", "");
  struct Case {
    nlohmann::json settings;
    std::string expected;
  };
  auto with = [&](nlohmann::json s, const nlohmann::json& patch) {
    s.merge_patch(patch);
    return s;
  };
  const Case cases[] = {
      {with(method(fake, "github", true), {{"client_secret_file", fake.dir() + "/missing"}}),
       "auth.github.client_secret_file: cannot open"},
      {with(method(fake, "github", true), {{"client_secret_file", empty}}), "auth.github.client_secret_file: "},
      {with(method(fake, "github", true), {{"client_secret_file", nullptr}}), "auth.github.client_secret_file: is required"},
      {with(method(fake, "oidc", false), {{"client_secret_file", secret_file(fake, "s", kOwnSecret)}}),
       "auth.github.client_id: is required"},
  };
  for (const auto& c : cases) {
    INFO(c.settings.dump());
    TokendProcess t(nlohmann::json{{"auth", {{"github", c.settings}}}}, /*start_now=*/false);
    REQUIRE_THROWS(t.start());
    const std::string err = e2e::fake_detail::read_file(t.dir() + "/stderr.log") + t.log();
    INFO(err);
    CHECK(err.find(c.expected) != std::string::npos);
    CHECK(err.find(kOwnSecret) == std::string::npos);
  }
}
