// tokens.lifetime / min_lifetime / max_lifetime as durations, next to the
// older whole-day keys; tokens.max_rotation_grace_seconds; the audit section.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "tokend/config/config.hpp"

using nlohmann::json;
using tokend::config::parse_config;
using tokend::config::parse_duration;

namespace {
constexpr std::int64_t kDay = 86'400'000;

std::string error_of(const json& doc) {
  auto c = parse_config(doc);
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().code == tokend::ErrorCode::kInvalidConfig);
  return c.error().message;
}
}  // namespace

TEST_CASE("parse_duration reads d, h, m, s and refuses anything else", "[config][duration]") {
  CHECK(*parse_duration("90d", "k") == 90 * kDay);
  CHECK(*parse_duration("12h", "k") == 12 * 3'600'000LL);
  CHECK(*parse_duration("10m", "k") == 600'000);
  CHECK(*parse_duration("30s", "k") == 30'000);
  CHECK(*parse_duration("0", "k") == 0);
  CHECK(*parse_duration("0s", "k") == 0);
  CHECK(*parse_duration("100000d", "k") == 100'000 * kDay);
  for (const char* bad : {"", "d", "10", "1.5h", "-1d", "+1d", " 1d", "1d ", "1 d", "1D", "1w", "1dh", "1e3s",
                          "0x10s", "100001d", "99999999999s"}) {
    INFO(bad);
    auto r = parse_duration(bad, "tokens.lifetime");
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("tokens.lifetime") != std::string::npos);
  }
}

TEST_CASE("tokens lifetimes: durations, days, and both given", "[config][duration]") {
  SECTION("defaults") {
    auto c = parse_config(json::object());
    REQUIRE(c.ok());
    CHECK(c->tokens.lifetime_ms == 90 * kDay);
    CHECK(c->tokens.min_lifetime_ms == 60'000);
    CHECK(c->tokens.max_lifetime_ms == 365 * kDay);
    CHECK(c->tokens.max_rotation_grace_seconds == 3600);
    CHECK(c->audit.enabled);
    CHECK(c->audit.path == "-");
  }
  SECTION("durations") {
    auto c = parse_config(json{{"tokens", {{"lifetime", "12h"}, {"min_lifetime", "30s"}, {"max_lifetime", "2d"}}}});
    REQUIRE(c.ok());
    CHECK(c->tokens.lifetime_ms == 12 * 3'600'000LL);
    CHECK(c->tokens.min_lifetime_ms == 30'000);
    CHECK(c->tokens.max_lifetime_ms == 2 * kDay);
  }
  SECTION("days still work") {
    auto c = parse_config(json{{"tokens", {{"lifetime_days", 7}, {"max_lifetime_days", 30}}}});
    REQUIRE(c.ok());
    CHECK(c->tokens.lifetime_ms == 7 * kDay);
    CHECK(c->tokens.max_lifetime_ms == 30 * kDay);
  }
  SECTION("one setting given both ways is an error") {
    CHECK(error_of(json{{"tokens", {{"lifetime_days", 7}, {"lifetime", "7d"}}}}).find("lifetime_days and lifetime") !=
          std::string::npos);
    CHECK(error_of(json{{"tokens", {{"max_lifetime_days", 7}, {"max_lifetime", "7d"}}}})
              .find("max_lifetime_days and max_lifetime") != std::string::npos);
  }
  SECTION("inconsistent bounds") {
    CHECK(error_of(json{{"tokens", {{"lifetime", "2d"}, {"max_lifetime", "1d"}}}}).find("lifetime") !=
          std::string::npos);
    CHECK(error_of(json{{"tokens", {{"lifetime", "1h"}, {"min_lifetime", "2d"}, {"max_lifetime", "1d"}}}}).find("min_lifetime") !=
          std::string::npos);
    CHECK(error_of(json{{"tokens", {{"lifetime", "10m"}, {"min_lifetime", "1h"}}}}).find("min_lifetime") !=
          std::string::npos);
    CHECK(error_of(json{{"tokens", {{"min_lifetime", "0"}}}}).find("min_lifetime") != std::string::npos);
    CHECK(error_of(json{{"tokens", {{"lifetime", 90}}}}).find("tokens.lifetime") != std::string::npos);
  }
  SECTION("lifetime 0: never, also with a cap") {
    auto c = parse_config(json{{"tokens", {{"lifetime", "0"}, {"max_lifetime", "1h"}}}});
    REQUIRE(c.ok());
    CHECK(c->tokens.lifetime_ms == 0);
  }
  SECTION("rotation grace cap") {
    auto c = parse_config(json{{"tokens", {{"max_rotation_grace_seconds", 0}}}});
    REQUIRE(c.ok());
    CHECK(c->tokens.max_rotation_grace_seconds == 0);
    CHECK(error_of(json{{"tokens", {{"max_rotation_grace_seconds", 2592001}}}}).find("max_rotation_grace_seconds") !=
          std::string::npos);
    CHECK(error_of(json{{"tokens", {{"max_rotation_grace_seconds", -1}}}}).find("max_rotation_grace_seconds") !=
          std::string::npos);
  }
}

TEST_CASE("audit section: enabled, path, unknown keys", "[config][audit]") {
  auto c = parse_config(json{{"audit", {{"enabled", false}}}});
  REQUIRE(c.ok());
  CHECK_FALSE(c->audit.enabled);
  auto f = parse_config(json{{"audit", {{"path", "/var/log/tokend/audit.log"}}}});
  REQUIRE(f.ok());
  CHECK(f->audit.path == "/var/log/tokend/audit.log");
  CHECK(error_of(json{{"audit", {{"path", ""}}}}).find("audit.path") != std::string::npos);
  CHECK(error_of(json{{"audit", {{"file", "x"}}}}).find("audit") != std::string::npos);
}
