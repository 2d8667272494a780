// Settings from the security review: the session cookie's prefix rules and
// the metrics endpoint's switch and bearer token file.
#include <catch2/catch.hpp>

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "tokend/config/config.hpp"
#include "unit/support/temp_dir.hpp"

using nlohmann::json;
using tokend::config::parse_config;

namespace {

std::string error_of(const json& doc) {
  auto c = parse_config(doc);
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().code == tokend::ErrorCode::kInvalidConfig);
  return c.error().message;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

std::string write(const tokend::testing::TempDir& dir, const std::string& name, const std::string& text) {
  const std::string path = dir.file(name);
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

}  // namespace

TEST_CASE("config: the session cookie's __Host- and __Secure- prefixes", "[config][security]") {
  const json proxy = {{"behind_tls_proxy", true}};
  SECTION("a plain name is fine everywhere") {
    CHECK(parse_config(json{{"sessions", {{"cookie_name", "sid"}}}}).ok());
    CHECK(parse_config(json{{"sessions", {{"cookie_name", "sid"}, {"behind_tls_proxy", true}}}}).ok());
  }
  SECTION("__Host- in the name needs Secure cookies") {
    auto ok = parse_config(json{{"sessions", {{"cookie_name", "__Host-sid"}, {"behind_tls_proxy", true}}}});
    REQUIRE(ok.ok());
    CHECK(ok->sessions.cookie_name == "__Host-sid");
    CHECK(contains(error_of(json{{"sessions", {{"cookie_name", "__Host-sid"}}}}), "needs Secure"));
    CHECK(contains(error_of(json{{"sessions", {{"cookie_name", "__host-sid"}, {"behind_tls_proxy", true}}}}),
                   "sessions.cookie_name"));
    CHECK(contains(error_of(json{{"sessions", {{"cookie_name", "__Host-"}, {"behind_tls_proxy", true}}}}),
                   "sessions.cookie_name"));
  }
  SECTION("__Secure- is refused: it would allow a Domain") {
    CHECK(contains(error_of(json{{"sessions", {{"cookie_name", "__Secure-sid"}, {"behind_tls_proxy", true}}}}),
                   "__Secure-"));
  }
}

TEST_CASE("config: metrics.enabled and metrics.bearer_token_file", "[config][metrics][security]") {
  tokend::testing::TempDir dir;
  SECTION("defaults: enabled, no token") {
    auto c = parse_config(json::object());
    REQUIRE(c.ok());
    CHECK(c->metrics.enabled);
    CHECK(c->metrics.bearer_token_file.empty());
    CHECK(c->metrics.bearer_token.empty());
  }
  SECTION("the token is read from the file, surrounding whitespace trimmed") {
    const std::string path = write(dir, "metrics.token", "  s3cret-metrics-token-0123456789\n");
    auto c = parse_config(json{{"metrics", {{"bearer_token_file", path}}}});
    REQUIRE(c.ok());
    CHECK(c->metrics.bearer_token == "s3cret-metrics-token-0123456789");
  }
  SECTION("unusable files are refused at start") {
    CHECK(contains(error_of(json{{"metrics", {{"bearer_token_file", dir.file("missing")}}}}),
                   "metrics.bearer_token_file: cannot read"));
    CHECK(contains(error_of(json{{"metrics", {{"bearer_token_file", write(dir, "empty", "\n\n")}}}}), "empty"));
    CHECK(contains(error_of(json{{"metrics", {{"bearer_token_file", write(dir, "short", "short-token\n")}}}}),
                   "at least 16"));
    CHECK(contains(error_of(json{{"metrics", {{"bearer_token_file", write(dir, "space", "two words of a token\n")}}}}),
                   "visible ASCII"));
    CHECK(contains(error_of(json{{"metrics", {{"bearer_token_file", write(dir, "big", std::string(5000, 'x'))}}}}),
                   "4096"));
    const std::string good = write(dir, "good", "0123456789abcdef0123");
    CHECK(contains(error_of(json{{"metrics", {{"enabled", false}, {"bearer_token_file", good}}}}),
                   "metrics.enabled is false"));
    CHECK(contains(error_of(json{{"metrics", {{"enabeld", false}}}}), "metrics.enabeld: unknown setting"));
    CHECK(contains(error_of(json{{"metrics", {{"enabled", "no"}}}}), "metrics.enabled"));
  }
}
