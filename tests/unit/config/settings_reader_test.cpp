#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokend/config/settings_reader.hpp"

using nlohmann::json;
using tokend::config::SettingsReader;

namespace {
std::string message_of(const tokend::Status& s) {
  REQUIRE_FALSE(s.ok());
  CHECK(s.error().code == tokend::ErrorCode::kInvalidConfig);
  return s.error().message;
}
}  // namespace

TEST_CASE("SettingsReader: typed getters, absent keys and one error format", "[config][settings_reader]") {
  const json doc = {{"name", "x"}, {"on", true}, {"n", 42}, {"list", {"a", "b"}}, {"sub", {{"k", 1}}}};
  const SettingsReader r(doc, "auth.ldap");
  CHECK(**r.string("name") == "x");
  CHECK(**r.boolean("on") == true);
  CHECK(**r.integer("n", 0, 100) == 42);
  CHECK(**r.strings("list") == std::vector<std::string>{"a", "b"});
  CHECK_FALSE(r.string("missing")->has_value());
  CHECK_FALSE(r.boolean("missing")->has_value());
  CHECK_FALSE(r.integer("missing", 0, 1)->has_value());

  CHECK(r.string("n").error().message == "auth.ldap.n: must be a string");
  CHECK(r.boolean("name").error().message == "auth.ldap.name: must be true or false");
  CHECK(r.integer("name", 1, 64).error().message == "auth.ldap.name: must be an integer from 1 to 64");
  CHECK(r.integer("n", 1, 10).error().message == "auth.ldap.n: must be an integer from 1 to 10");
  CHECK(r.strings("name").error().message == "auth.ldap.name: must be an array of non-empty strings");
  CHECK(r.section("name").error().message == "auth.ldap.name: must be an object");
  for (const auto& e : {r.string("n").error(), r.boolean("name").error()}) {
    CHECK(e.code == tokend::ErrorCode::kInvalidConfig);
  }
}

TEST_CASE("SettingsReader: read() keeps the default when absent", "[config][settings_reader]") {
  const json doc = {{"port", 8080}, {"big", 70000}, {"neg", -1}};
  const SettingsReader r(doc, "listen");
  std::uint16_t port = 1;
  std::uint16_t big = 1;
  int absent = 7;
  CHECK(r.read("port", port).ok());
  CHECK(port == 8080);
  CHECK(r.read("absent", absent).ok());
  CHECK(absent == 7);
  CHECK(message_of(r.read("big", big)) == "listen.big: must be an integer from 0 to 65535");
  CHECK(message_of(r.read("neg", absent)) == "listen.neg: must be an integer from 0 to 2147483647");
}

TEST_CASE("SettingsReader: refuses NUL, empty list items and unknown keys", "[config][settings_reader]") {
  const json doc = {{"path", std::string("a\0b", 3)}, {"list", {"a", ""}}, {"typo", 1}};
  const SettingsReader r(doc, "");
  CHECK(r.string("path").error().message == "path: must not contain NUL");
  CHECK_FALSE(r.strings("list").ok());
  // Every key read so far is known; "typo" is not.
  CHECK(message_of(r.check_unknown()) == "typo: unknown setting");
  CHECK(r.check_keys([](std::string_view) { return true; }).ok());
  CHECK(message_of(SettingsReader(json::array(), "tls").check_object()) == "tls: must be an object");
}

TEST_CASE("SettingsReader: sections and first_error", "[config][settings_reader]") {
  const json doc = {{"limits", {{"max_connections", "many"}}}};
  const SettingsReader root(doc, "");
  auto limits = root.section("limits");
  REQUIRE(limits.ok());
  CHECK(limits->path() == "limits");
  int n = 0;
  auto absent = root.section("tls");
  REQUIRE(absent.ok());
  CHECK(absent->check_unknown().ok());
  const tokend::Status first =
      tokend::config::first_error({tokend::ok_status(), limits->read("max_connections", n), limits->read("x", n)});
  CHECK(message_of(first) == "limits.max_connections: must be an integer from 0 to 2147483647");
}
