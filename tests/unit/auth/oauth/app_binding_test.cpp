// Application binding (issue 14): the parsers of the providers' answers
// ("which application is this token of?") and the client settings.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "tokend/auth/oauth/app_binding.hpp"

using namespace tokend::auth::oauth;
using tokend::ErrorCode;

namespace {

// A temporary folder, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/tokend-appbind-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string write(const std::string& name, const std::string& text) const {
    const std::string file = path_ + "/" + name;
    std::ofstream(file, std::ios::binary) << text;
    return file;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace

TEST_CASE("parse_github_token_check reads the token object's user and app", "[auth][oauth][binding]") {
  const std::string own = R"({"id":1,"url":"https://api.github.com/authorizations/1","scopes":["user:email"],
    "token":"gho_x","token_last_eight":"12345678","hashed_token":"ab",
    "app":{"url":"https://t.example","name":"tokend","client_id":"Iv1.abc"},
    "note":null,"note_url":null,"updated_at":"2026-01-01T00:00:00Z","created_at":"2026-01-01T00:00:00Z",
    "fingerprint":null,"expires_at":null,
    "user":{"login":"Alice","id":1001,"node_id":"MDQ","type":"User","site_admin":false},"installation":null})";
  auto check = parse_github_token_check(own, "Iv1.abc");
  REQUIRE(check.ok());
  CHECK(check->app == TokenApp::kOurs);
  CHECK(check->user_id == "1001");
  CHECK(check->login == "Alice");
  CHECK(check->name.empty());

  SECTION("a token object naming another application is foreign") {
    auto other = parse_github_token_check(own, "Iv1.other");
    REQUIRE(other.ok());
    CHECK(other->app == TokenApp::kForeign);
  }
  SECTION("without app, the URL's client id is trusted; the user's name is kept when present") {
    auto r = parse_github_token_check(R"({"user":{"login":"bob","id":"1002","name":"Bob B"}})", "Iv1.abc");
    REQUIRE(r.ok());
    CHECK(r->app == TokenApp::kOurs);
    CHECK(r->user_id == "1002");
    CHECK(r->name == "Bob B");
  }
  SECTION("anything else is a bad response") {
    for (const std::string bad : {R"({"user":null})", R"({"user":{"login":"a"}})", R"({"user":{"id":1}})",
                                  R"({"user":{"id":-1,"login":"a"}})", R"({"user":{"id":1.5,"login":"a"}})",
                                  R"({})", R"([])", "<html>", ""}) {
      INFO(bad);
      auto r = parse_github_token_check(bad, "Iv1.abc");
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().code == ErrorCode::kBadResponse);
    }
  }
}

TEST_CASE("parse_gitlab_token_info compares application.uid exactly", "[auth][oauth][binding]") {
  const std::string uid = "1cb242f495280beb4291e64bee2a17f330902e499882fe8e1e2aa875519cab33";
  const std::string body = R"({"resource_owner_id":2001,"scope":["read_user"],"expires_in":7140,
    "application":{"uid":")" + uid + R"("},"created_at":1575890427,"scopes":["read_user"],"expires_in_seconds":7140})";
  auto ours = parse_gitlab_token_info(body, uid);
  REQUIRE(ours.ok());
  CHECK(ours->app == TokenApp::kOurs);
  CHECK(ours->user_id == "2001");

  for (const std::string& other : {uid.substr(1), uid + "0", std::string("1CB242F495280BEB4291E64BEE2A17F330902E499882FE8E1E2AA875519CAB33"),
                                   std::string()}) {
    INFO(other);
    auto r = parse_gitlab_token_info(body, other);
    REQUIRE(r.ok());
    CHECK(r->app == TokenApp::kForeign);
  }
  SECTION("no application (a personal access token), or a malformed one, is foreign") {
    for (const std::string& app : {std::string(R"("application":null,)"), std::string(),
                                   std::string(R"("application":{"uid":7},)"), std::string(R"("application":"x",)")}) {
      INFO(app);
      auto r = parse_gitlab_token_info(R"({)" + app + R"("resource_owner_id":"2001"})", uid);
      REQUIRE(r.ok());
      CHECK(r->app == TokenApp::kForeign);
      CHECK(r->user_id == "2001");
    }
  }
  SECTION("no resource owner, or not an object: bad response") {
    for (const std::string bad : {R"({"application":{"uid":"x"}})", R"({"resource_owner_id":null})", R"([1])", "x"}) {
      INFO(bad);
      auto r = parse_gitlab_token_info(bad, "x");
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().code == ErrorCode::kBadResponse);
    }
  }
}

TEST_CASE("parse_introspection wants active and our client in client_id or aud", "[auth][oauth][binding]") {
  auto check = [](const std::string& body) {
    auto r = parse_introspection(body, "tokend");
    REQUIRE(r.ok());
    return *r;
  };
  CHECK(check(R"({"active":false})").app == TokenApp::kInactive);
  // Only the JSON boolean true is active (RFC 7662 §2.2).
  CHECK(check(R"({"active":"true","client_id":"tokend"})").app == TokenApp::kInactive);
  CHECK(check(R"({"active":1,"client_id":"tokend"})").app == TokenApp::kInactive);
  CHECK(check(R"({"client_id":"tokend"})").app == TokenApp::kInactive);

  auto ours = check(R"({"active":true,"client_id":"tokend","sub":"7b1e-alice","aud":"account"})");
  CHECK(ours.app == TokenApp::kOurs);
  CHECK(ours.user_id == "7b1e-alice");
  CHECK(check(R"({"active":true,"client_id":"spa","aud":["account","tokend"]})").app == TokenApp::kOurs);
  CHECK(check(R"({"active":true,"client_id":"spa","aud":"tokend"})").app == TokenApp::kOurs);
  CHECK(check(R"({"active":true,"aud":["tokend"]})").app == TokenApp::kOurs);

  CHECK(check(R"({"active":true,"client_id":"other","aud":"account"})").app == TokenApp::kForeign);
  CHECK(check(R"({"active":true,"client_id":"other","aud":["account","tokend2",7,null]})").app == TokenApp::kForeign);
  CHECK(check(R"({"active":true,"client_id":"Tokend"})").app == TokenApp::kForeign);
  CHECK(check(R"({"active":true})").app == TokenApp::kForeign);
  CHECK(check(R"({"active":true,"aud":{"tokend":true}})").app == TokenApp::kForeign);

  for (const std::string bad : {"[]", "null", "", "active=true"}) {
    INFO(bad);
    auto r = parse_introspection(bad, "tokend");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::kBadResponse);
  }
}

TEST_CASE("introspection_endpoint_from_discovery", "[auth][oauth][binding]") {
  const std::string issuer = "https://sso.example.com/realms/acme";
  auto ok = introspection_endpoint_from_discovery(
      R"({"issuer":"https://sso.example.com/realms/acme","introspection_endpoint":"https://sso.example.com/i"})", issuer);
  REQUIRE(ok.ok());
  CHECK(*ok == std::optional<std::string>("https://sso.example.com/i"));
  auto none = introspection_endpoint_from_discovery(R"({"issuer":"https://sso.example.com/realms/acme"})", issuer);
  REQUIRE(none.ok());
  CHECK_FALSE(none->has_value());
  for (const std::string bad : {R"({"issuer":"https://evil.example","introspection_endpoint":"https://sso.example.com/i"})",
                                R"({"issuer":"https://sso.example.com/realms/acme","introspection_endpoint":"http://x/i"})",
                                R"({"issuer":"https://sso.example.com/realms/acme","introspection_endpoint":null})",
                                "[]"}) {
    INFO(bad);
    auto r = introspection_endpoint_from_discovery(bad, issuer);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::kBadResponse);
  }
}

TEST_CASE("basic_authorization and form_encode", "[auth][oauth][binding]") {
  CHECK(basic_authorization({"Aladdin", "open sesame"}, false) == "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
  // RFC 6749 §2.3.1: form-encoded first (space -> %20, ':' -> %3A).
  CHECK(basic_authorization({"a:b", "c d"}, true) == "Basic YSUzQWI6YyUyMGQ=");
  CHECK(form_encode("abc-._~XYZ019") == "abc-._~XYZ019");
  CHECK(form_encode("a+b&c=d%/ ") == "a%2Bb%26c%3Dd%25%2F%20");
}

TEST_CASE("read_client_app validates client_id and client_secret_file", "[auth][oauth][binding][config]") {
  TempDir dir;
  const std::string secret = dir.write("secret", "s3cr3t-value\n");

  SECTION("neither: binding off") {
    auto r = read_client_app("gh", nlohmann::json{{"type", "github"}}, true);
    REQUIRE(r.ok());
    CHECK_FALSE(r->has_value());
  }
  SECTION("both: the secret without its trailing newline") {
    auto r = read_client_app("gh", {{"client_id", "Iv1.abc"}, {"client_secret_file", secret}}, true);
    REQUIRE(r.ok());
    REQUIRE(r->has_value());
    CHECK((*r)->client_id == "Iv1.abc");
    CHECK((*r)->client_secret == "s3cr3t-value");
  }
  SECTION("gitlab: client_id alone; a secret file is refused") {
    auto r = read_client_app("gl", {{"client_id", "abc"}}, false);
    REQUIRE(r.ok());
    REQUIRE(r->has_value());
    CHECK((*r)->client_secret.empty());
    auto with_secret = read_client_app("gl", {{"client_id", "abc"}, {"client_secret_file", secret}}, false);
    REQUIRE_FALSE(with_secret.ok());
    CHECK(with_secret.error().message.rfind("gl.client_secret_file: not used", 0) == 0);
  }
  SECTION("every misconfiguration fails the start, never quoting the secret") {
    const std::string empty = dir.write("empty", "");
    const std::string blank = dir.write("blank", " \n\r\n");
    const std::string two_lines = dir.write("two", "s3cr3t-value\nmore\n");
    const std::string huge = dir.write("huge", std::string(5000, 'a'));
    struct Case {
      nlohmann::json settings;
      std::string message_start;
    };
    const Case cases[] = {
        {{{"client_id", "Iv1.abc"}}, "gh.client_secret_file: is required"},
        {{{"client_id", "Iv1.abc"}, {"client_secret_file", ""}}, "gh.client_secret_file: is required"},
        {{{"client_secret_file", secret}}, "gh.client_id: is required"},
        {{{"client_id", ""}, {"client_secret_file", secret}}, "gh.client_id: must be"},
        {{{"client_id", "a b"}, {"client_secret_file", secret}}, "gh.client_id: must be"},
        {{{"client_id", 42}, {"client_secret_file", secret}}, "gh.client_id: must be a string"},
        {{{"client_id", "Iv1.abc"}, {"client_secret_file", 7}}, "gh.client_secret_file: must be a string"},
        {{{"client_id", "Iv1.abc"}, {"client_secret_file", dir.path() + "/missing"}}, "gh.client_secret_file: cannot open"},
        {{{"client_id", "Iv1.abc"}, {"client_secret_file", dir.path()}}, "gh.client_secret_file: cannot read"},
        {{{"client_id", "Iv1.abc"}, {"client_secret_file", empty}}, "gh.client_secret_file: " + empty + " is empty"},
        {{{"client_id", "Iv1.abc"}, {"client_secret_file", blank}}, "gh.client_secret_file: " + blank + " is empty"},
        {{{"client_id", "Iv1.abc"}, {"client_secret_file", two_lines}}, "gh.client_secret_file: " + two_lines + " holds"},
        {{{"client_id", "Iv1.abc"}, {"client_secret_file", huge}}, "gh.client_secret_file: " + huge + " is over"},
    };
    for (const auto& c : cases) {
      INFO(c.settings.dump());
      auto r = read_client_app("gh", c.settings, true);
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().code == ErrorCode::kInvalidConfig);
      CHECK(r.error().message.rfind(c.message_start, 0) == 0);
      CHECK(r.error().message.find("s3cr3t") == std::string::npos);
      INFO(r.error().message);
    }
  }
}
