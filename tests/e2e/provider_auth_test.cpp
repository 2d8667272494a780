// End-to-end: POST /api/authenticate/<provider> through the real binary
// against the fake GitHub / GitLab / OIDC providers over TLS.
#include <catch2/catch.hpp>

#include <chrono>
#include <future>
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

nlohmann::json provider(const FakeProvider& fake, const std::string& type, nlohmann::json extra = nlohmann::json::object()) {
  nlohmann::json s = {{"type", type}, {"ca_file", fake.ca_file()}, {"proxy", ""}};
  if (type == "github") s["api_url"] = fake.base_url();
  if (type == "gitlab") s["base_url"] = fake.base_url();
  if (type == "oidc") s["issuer"] = fake.base_url() + "/realms/test";
  s.merge_patch(extra);
  return s;
}

nlohmann::json config_with(nlohmann::json auth) {
  auth["userpass"] = {{"type", "userpass"}};
  return {{"auth", std::move(auth)}};
}

std::string strict_body(const std::string& email, const std::string& token) {
  return nlohmann::json{{"email", email}, {"info", {{"accessToken", token}}}}.dump();
}

// The documentation's body, with single quotes.
std::string seed_body(const std::string& email, const std::string& token) {
  return "{'email':'" + email + "', 'info': { 'accessToken': '" + token + "' }}";
}

nlohmann::json whoami(TokendProcess& t, const std::string& token) {
  auto r = t.get("/api/user", bearer(token));
  REQUIRE(r.status == 200);
  return r.json();
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

TEST_CASE("the seed's GitHub curl line works verbatim against the fake GitHub", "[e2e][provider]") {
  FakeProvider fake;
  TokendProcess t(config_with({{"github", provider(fake, "github")}}));

  // The original API page's line, with only the placeholders filled in (its
  // progress meter goes to /dev/null).
  const std::string line = "curl -i --header \"Content-Type: application/json\" --data \"{'email':'alice@example.com', "
                           "'info': { 'accessToken': 'tok-alice' }}\" " +
                           t.base_url() + "/api/authenticate/github";
  auto r = e2e::run_process({"/bin/sh", "-c", line + " 2>/dev/null"});
  REQUIRE(r.exit_code == 0);
  INFO(r.output);
  CHECK(r.output.rfind("HTTP/1.1 200 OK", 0) == 0);
  const auto body = nlohmann::json::parse(r.output.substr(r.output.find("\r\n\r\n") + 4));
  const std::string token = body["token"].get<std::string>();
  REQUIRE(is_token(token));
  CHECK(body["expiresOn"].get<std::string>().back() == 'Z');

  auto me = whoami(t, token);
  CHECK(me["username"] == "alice");
  CHECK(me["email"] == "alice@example.com");
  CHECK(me["displayName"] == "Alice Liddell");
  CHECK(me["authenticatedWith"] == "github");

  // Per-provider metrics, and the access token never reaches the log.
  auto metrics = t.get("/metrics");
  REQUIRE(metrics.status == 200);
  CHECK(metrics.body.find("tokend_provider_logins_total{provider=\"github\",result=\"accepted\"} 1") !=
        std::string::npos);
  // GET /user, then both pages of /user/emails (three addresses, two a page).
  CHECK(metrics.body.find("tokend_provider_upstream_seconds_count{provider=\"github\"} 3") != std::string::npos);
  const std::string log = t.log();
  CHECK(log.find("provider=github outcome=accepted") != std::string::npos);
  CHECK(log.find("provider_user_id=1001") != std::string::npos);
  CHECK(log.find("tok-alice") == std::string::npos);
}

TEST_CASE("provider logins: strict JSON, the first login creates and later logins reuse the account",
          "[e2e][provider]") {
  FakeProvider fake;
  TokendProcess t(config_with({{"github", provider(fake, "github")}}));

  auto first = t.post("/api/authenticate/github", strict_body("alice@example.com", "tok-alice"), kJson);
  REQUIRE(first.status == 200);
  const std::string token1 = first.json()["token"].get<std::string>();
  REQUIRE(is_token(token1));
  auto second = t.post("/api/authenticate/github", seed_body("alice@example.com", "tok-alice"), kJson);
  REQUIRE(second.status == 200);
  const std::string token2 = second.json()["token"].get<std::string>();
  CHECK(token1 != token2);

  const auto me1 = whoami(t, token1);
  const auto me2 = whoami(t, token2);
  CHECK(me1["id"] == me2["id"]);
  CHECK(me1["username"] == "alice");

  // Another account at the provider is another local account.
  auto bob = t.post("/api/authenticate/github", strict_body("bob@example.org", "tok-bob"), kJson);
  REQUIRE(bob.status == 200);
  const auto me_bob = whoami(t, bob.json()["token"].get<std::string>());
  CHECK(me_bob["id"] != me1["id"]);
  CHECK(me_bob["username"] == "bob");

  auto list = t.get("/api/tokens", bearer(token1));
  REQUIRE(list.status == 200);
  REQUIRE(list.json()["tokens"].size() == 2);
  CHECK(list.json()["tokens"][0]["source"] == "github");
}

TEST_CASE("provider logins never take over a local password account by email", "[e2e][provider]") {
  FakeProvider fake;
  SECTION("by default: a separate account") {
    TokendProcess t(config_with({{"github", provider(fake, "github")}}));
    t.add_user("alice", "correct horse battery", "alice@example.com", "Local Alice");
    const auto local = whoami(t, t.login("alice", "correct horse battery"));

    auto r = t.post("/api/authenticate/github", seed_body("alice@example.com", "tok-alice"), kJson);
    REQUIRE(r.status == 200);
    const auto external = whoami(t, r.json()["token"].get<std::string>());
    CHECK(external["id"] != local["id"]);
    CHECK(external["username"] != "alice");
    // The local account's password still works and is still its own.
    CHECK(whoami(t, t.login("alice", "correct horse battery"))["id"] == local["id"]);
  }
  SECTION("with link_existing_accounts_by_email: the documented opt-in links it") {
    TokendProcess t(config_with({{"github", provider(fake, "github", {{"link_existing_accounts_by_email", true}})}}));
    t.add_user("alice", "correct horse battery", "alice@example.com", "Local Alice");
    const auto local = whoami(t, t.login("alice", "correct horse battery"));
    auto r = t.post("/api/authenticate/github", seed_body("alice@example.com", "tok-alice"), kJson);
    REQUIRE(r.status == 200);
    CHECK(whoami(t, r.json()["token"].get<std::string>())["id"] == local["id"]);
  }
}

TEST_CASE("provider logins: unknown providers, rejections and malformed bodies", "[e2e][provider]") {
  FakeProvider fake;
  TokendProcess t(config_with({{"github", provider(fake, "github")},
                               {"old-gitlab", provider(fake, "gitlab", {{"enabled", false}})}}));

  for (const std::string name : {"facebook", "old-gitlab"}) {
    auto r = t.post("/api/authenticate/" + name, seed_body("alice@example.com", "tok-alice"), kJson);
    CHECK(r.status == 404);
    CHECK(r.json()["error"] == "unknown_provider");
  }

  struct Reject {
    std::string email, token;
  };
  for (const auto& c : {Reject{"alice@example.com", "tok-revoked"}, Reject{"alice@unverified.example", "tok-alice"},
                        Reject{"bob@example.org", "tok-alice"}}) {
    INFO(c.email << " " << c.token);
    auto r = t.post("/api/authenticate/github", seed_body(c.email, c.token), kJson);
    CHECK(r.status == 401);
    CHECK(r.json() == nlohmann::json{{"error", "invalid_credentials"}, {"message", "Invalid credentials."}});
  }

  for (const std::string body : {"{'email':'alice@example.com', 'info': { 'accessToken': 'tok-alice' }",
                                 "{'email':'alice@example.com, 'info': { 'accessToken': 'tok-alice' }}",
                                 "{email:'alice@example.com', info: { accessToken: 'tok-alice' }}",
                                 "{'email':'alice@example.com', 'info': { 'accessToken': 'tok-alice' }} x",
                                 "not json at all", "['alice@example.com']"}) {
    INFO(body);
    auto r = t.post("/api/authenticate/github", body, kJson);
    CHECK(r.status == 400);
  }
  auto missing = t.post("/api/authenticate/github", "{'email':'alice@example.com'}", kJson);
  CHECK(missing.status == 400);
  CHECK(missing.json()["error"] == "missing_field");
}

TEST_CASE("provider logins: a hanging provider gives 504 within the timeout while the server keeps serving",
          "[e2e][provider]") {
  FakeProvider fake;
  TokendProcess t(config_with({{"github", provider(fake, "github", {{"timeout_ms", 2000}})}}));

  const auto start = std::chrono::steady_clock::now();
  auto pending = std::async(std::launch::async, [&] {
    return t.post("/api/authenticate/github", seed_body("alice@example.com", "tok-hang"), kJson);
  });
  // Wait until the fake has the request, then check that everything else
  // still answers at once.
  for (int i = 0; i < 200 && fake.hits("/user") == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(fake.hits("/user") == 1);
  const auto health_start = std::chrono::steady_clock::now();
  auto health = t.get("/healthz");
  CHECK(health.status == 200);
  CHECK(seconds_since(health_start) < 1.0);
  auto other = t.post("/api/authenticate/github", seed_body("alice@example.com", "tok-alice"), kJson);
  CHECK(other.status == 200);
  CHECK(pending.wait_for(std::chrono::seconds(0)) != std::future_status::ready);

  auto r = pending.get();
  const double took = seconds_since(start);
  CHECK(r.status == 504);
  CHECK(r.json()["error"] == "upstream_timeout");
  CHECK(took >= 1.9);
  CHECK(took < 5.0);
}

TEST_CASE("provider logins: garbage, unreachable providers and unknown CAs are 502/503", "[e2e][provider]") {
  FakeProvider fake;
  TokendProcess t(config_with({{"github", provider(fake, "github")},
                               {"untrusted", provider(fake, "github", {{"ca_file", nullptr}})},
                               {"down", provider(fake, "github", {{"api_url", "https://127.0.0.1:1"}})}}));
  auto garbage = t.post("/api/authenticate/github", seed_body("alice@example.com", "tok-garbage"), kJson);
  CHECK(garbage.status == 502);
  CHECK(garbage.json()["error"] == "upstream_error");
  auto huge = t.post("/api/authenticate/github", seed_body("alice@example.com", "tok-huge"), kJson);
  CHECK(huge.status == 502);
  auto down = t.post("/api/authenticate/down", seed_body("alice@example.com", "tok-alice"), kJson);
  CHECK(down.status == 503);
  CHECK(down.json()["error"] == "upstream_unavailable");
  const int before = fake.stats()["requests"].get<int>();
  auto untrusted = t.post("/api/authenticate/untrusted", seed_body("alice@example.com", "tok-alice"), kJson);
  CHECK(untrusted.status == 502);
  CHECK(fake.stats()["requests"].get<int>() == before);  // the token never left
}

TEST_CASE("provider logins: GitLab, GitHub Enterprise and OIDC through the binary", "[e2e][provider]") {
  FakeProvider fake;
  TokendProcess t(config_with({{"gitlab", provider(fake, "gitlab", {{"allowed_groups", {"acme"}}})},
                               {"ghe", provider(fake, "github", {{"api_url", fake.base_url() + "/api/v3"}})},
                               {"sso", provider(fake, "oidc", {{"allowed_email_domains", {"example.com"}}})}}));
  for (const std::string name : {"gitlab", "ghe", "sso"}) {
    INFO(name);
    auto r = t.post("/api/authenticate/" + name, seed_body("alice@example.com", "tok-alice"), kJson);
    REQUIRE(r.status == 200);
    const auto me = whoami(t, r.json()["token"].get<std::string>());
    CHECK(me["authenticatedWith"] == name);
    CHECK(me["email"] == "alice@example.com");
  }
  CHECK(fake.hits("/api/v3/user") == 1);
  // Bob's email is not verified at the OIDC provider; his GitLab account is unconfirmed.
  CHECK(t.post("/api/authenticate/sso", seed_body("bob@example.org", "tok-bob"), kJson).status == 401);
  CHECK(t.post("/api/authenticate/gitlab", seed_body("bob@example.org", "tok-bob"), kJson).status == 401);
}

TEST_CASE("provider settings are checked at startup", "[e2e][provider]") {
  FakeProvider fake;
  TokendProcess t(config_with({{"github", provider(fake, "github", {{"api_url", "http://api.github.com"}})}}),
                  /*start_now=*/false);
  REQUIRE_THROWS(t.start());
  const std::string err = e2e::fake_detail::read_file(t.dir() + "/stderr.log") + t.log();
  CHECK(err.find("auth.github.api_url") != std::string::npos);
}

TEST_CASE("provider logins: what real providers send, through the binary", "[e2e][provider]") {
  FakeProvider fake;
  TokendProcess t(config_with({{"gitlab", provider(fake, "gitlab")},
                               {"gitlab-groups", provider(fake, "gitlab", {{"allowed_groups", {"public-open"}}})},
                               {"github", provider(fake, "github")},
                               {"sso", provider(fake, "oidc")}}));
  const std::string generic = R"({"error":"invalid_credentials","message":"Invalid credentials."})";
  SECTION("blocked and deactivated GitLab accounts get the generic 401") {
    for (const std::string state : {"blocked", "deactivated"}) {
      auto r = t.post("/api/authenticate/gitlab", strict_body(state + "@example.com", "tok-" + state), kJson);
      CHECK(r.status == 401);
      CHECK(r.body == generic);
    }
    CHECK(t.log().find("reason=account_not_active") != std::string::npos);
  }
  SECTION("a public GitLab group the user is no member of does not let her in") {
    auto r = t.post("/api/authenticate/gitlab-groups", strict_body("alice@example.com", "tok-alice"), kJson);
    CHECK(r.status == 401);
    CHECK(r.body == generic);
  }
  SECTION("an address on the second page of /user/emails") {
    CHECK(t.post("/api/authenticate/github", strict_body("alice@third.example", "tok-alice"), kJson).status == 200);
    CHECK(t.post("/api/authenticate/gitlab", strict_body("alice@third.example", "tok-alice"), kJson).status == 200);
  }
  SECTION("OIDC email_verified as the string \"true\"; \"false\" is not verified") {
    auto carol = t.post("/api/authenticate/sso", strict_body("carol@example.com", "tok-carol"), kJson);
    REQUIRE(carol.status == 200);
    CHECK(whoami(t, carol.json()["token"].get<std::string>())["email"] == "carol@example.com");
    auto dave = t.post("/api/authenticate/sso", strict_body("dave@example.com", "tok-dave"), kJson);
    CHECK(dave.status == 401);
    CHECK(dave.body == generic);
  }
}
