#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "tokend/config/config.hpp"
#include "tokend/token/scopes.hpp"

using nlohmann::json;
using tokend::ErrorCode;
using tokend::config::ScopeConfig;
namespace token = tokend::token;

namespace {

const std::vector<ScopeConfig> kDeclared = {
    {"repo:read", "Read repositories", true},
    {"repo:write", "Write repositories", false},
    {"profile", "", true},
};

using Names = std::vector<std::string>;

}  // namespace

TEST_CASE("scope names are RFC 6749 scope-tokens of bounded length", "[token][scopes]") {
  CHECK(token::valid_scope_name("repo:read"));
  CHECK(token::valid_scope_name("tokend:introspect"));
  CHECK(token::valid_scope_name("https://api.example.org/read"));
  CHECK(token::valid_scope_name(std::string(64, 'a')));
  CHECK_FALSE(token::valid_scope_name(""));
  CHECK_FALSE(token::valid_scope_name(std::string(65, 'a')));
  for (const char* bad : {"a b", "a\"b", "a\\b", "a\tb", "a\nb", "\x7f", "caf\xc3\xa9", "a\r"}) {
    INFO(bad);
    CHECK_FALSE(token::valid_scope_name(bad));
  }
}

TEST_CASE("scope lists split on spaces and join with one", "[token][scopes]") {
  CHECK(token::split_scopes("") == Names{});
  CHECK(token::split_scopes("   ") == Names{});
  CHECK(token::split_scopes("a") == Names{"a"});
  CHECK(token::split_scopes("  a   b ") == Names{"a", "b"});
  CHECK(token::join_scopes({"a", "b"}) == "a b");
  CHECK(token::join_scopes({}) == "");
  CHECK(token::default_scopes(kDeclared) == Names{"repo:read", "profile"});
}

TEST_CASE("a request's scopes: JSON array, form string, or none", "[token][scopes]") {
  SECTION("absent or null: nullopt (the defaults)") {
    auto r = token::requested_scopes(json::object(), kDeclared);
    REQUIRE(r.ok());
    CHECK_FALSE(r->has_value());
    r = token::requested_scopes(json{{"scopes", nullptr}}, kDeclared);
    REQUIRE(r.ok());
    CHECK_FALSE(r->has_value());
  }
  SECTION("a JSON array, kept once each in configured order") {
    auto r = token::requested_scopes(json{{"scopes", {"profile", "repo:read", "profile"}}}, kDeclared);
    REQUIRE(r.ok());
    CHECK(**r == Names{"repo:read", "profile"});
  }
  SECTION("an empty array asks for no scope at all") {
    auto r = token::requested_scopes(json{{"scopes", json::array()}}, kDeclared);
    REQUIRE(r.ok());
    REQUIRE(r->has_value());
    CHECK((*r)->empty());
  }
  SECTION("a form's scope=a b (OAuth) or scopes=a b") {
    auto r = token::requested_scopes(json{{"scope", "repo:write  repo:read"}}, kDeclared);
    REQUIRE(r.ok());
    CHECK(**r == Names{"repo:read", "repo:write"});
    r = token::requested_scopes(json{{"scopes", "profile"}}, kDeclared);
    REQUIRE(r.ok());
    CHECK(**r == Names{"profile"});
  }
  SECTION("an unknown scope is invalid_scope") {
    for (const json& body :
         {json{{"scopes", {"repo:read", "admin"}}}, json{{"scope", "nope"}}, json{{"scopes", {"REPO:READ"}}}}) {
      auto r = token::requested_scopes(body, kDeclared);
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().code == ErrorCode::kInvalidScope);
    }
    // Nothing declared: any scope is unknown, none is fine.
    CHECK(token::requested_scopes(json{{"scopes", {"a"}}}, {}).error().code == ErrorCode::kInvalidScope);
    CHECK(token::requested_scopes(json{{"scopes", json::array()}}, {}).ok());
  }
  SECTION("wrong types and both spellings are invalid_field") {
    for (const json& body : {json{{"scopes", 1}}, json{{"scopes", {1}}}, json{{"scopes", {{"a", 1}}}},
                             json{{"scope", "profile"}, {"scopes", {"profile"}}}}) {
      auto r = token::requested_scopes(body, kDeclared);
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().code == ErrorCode::kInvalidField);
    }
  }
  SECTION("more than kMaxScopes names is refused") {
    json many = json::array();
    for (std::size_t i = 0; i <= token::kMaxScopes; ++i) many.push_back("profile");
    CHECK(token::requested_scopes(json{{"scopes", many}}, kDeclared).error().code == ErrorCode::kInvalidScope);
  }
}

TEST_CASE("stored scopes: NULL means the current defaults", "[token][scopes]") {
  SECTION("what is stored for a new token") {
    CHECK(token::scopes_to_store(std::nullopt, kDeclared) == std::optional<std::string>("repo:read profile"));
    CHECK(token::scopes_to_store(Names{"repo:write"}, kDeclared) == std::optional<std::string>("repo:write"));
    CHECK(token::scopes_to_store(Names{}, kDeclared) == std::optional<std::string>(""));
    // Nothing declared: NULL, so that these tokens get the defaults once
    // scopes are declared, like the tokens from before scopes existed.
    CHECK_FALSE(token::scopes_to_store(std::nullopt, {}).has_value());
    // But a token that asked for none explicitly, while nothing was
    // declared, holds none later too: "" is stored, never NULL.
    CHECK(token::scopes_to_store(Names{}, {}) == std::optional<std::string>(""));
    CHECK(token::effective_scopes(token::scopes_to_store(Names{}, {}), kDeclared) == Names{});
  }
  SECTION("what a stored token holds") {
    CHECK(token::effective_scopes(std::nullopt, kDeclared) == Names{"repo:read", "profile"});
    CHECK(token::effective_scopes(std::string(""), kDeclared) == Names{});
    CHECK(token::effective_scopes(std::string("profile repo:write"), kDeclared) == Names{"repo:write", "profile"});
    // A scope no longer declared grants nothing.
    CHECK(token::effective_scopes(std::string("admin profile"), kDeclared) == Names{"profile"});
    CHECK(token::effective_scopes(std::nullopt, {}) == Names{});
  }
  SECTION("required scopes: all of them") {
    CHECK(token::has_scopes({"a", "b"}, {}));
    CHECK(token::has_scopes({"a", "b"}, {"b", "a"}));
    CHECK_FALSE(token::has_scopes({"a"}, {"a", "b"}));
    CHECK_FALSE(token::has_scopes({}, {"a"}));
  }
}
