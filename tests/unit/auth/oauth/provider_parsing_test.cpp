#include <catch2/catch.hpp>

#include <optional>
#include <string>

#include "tokend/auth/oauth/oidc_authenticator.hpp"
#include "tokend/auth/oauth/provider_authenticator.hpp"

using tokend::auth::oauth::next_link;
using tokend::auth::oauth::userinfo_endpoint_from_discovery;

TEST_CASE("next_link finds rel=next in GitHub's and GitLab's Link headers", "[auth][oauth][link]") {
  CHECK(next_link(R"(<https://api.github.com/user/orgs?page=2>; rel="next", <https://api.github.com/user/orgs?page=5>; rel="last")") ==
        std::optional<std::string>("https://api.github.com/user/orgs?page=2"));
  CHECK(next_link(R"(<https://g.example/api/v4/groups?page=1>; rel="first", <https://g.example/api/v4/groups?page=3>; REL=Next)") ==
        std::optional<std::string>("https://g.example/api/v4/groups?page=3"));
  CHECK_FALSE(next_link(R"(<https://api.github.com/user/orgs?page=1>; rel="prev")"));
  CHECK_FALSE(next_link(""));
  CHECK_FALSE(next_link("<unterminated; rel=\"next\""));
  CHECK_FALSE(next_link("rel=\"next\""));
}

TEST_CASE("userinfo_endpoint_from_discovery trusts only the configured issuer's https endpoint",
          "[auth][oauth][oidc]") {
  const std::string issuer = "https://sso.example.com/realms/acme";
  auto ok = userinfo_endpoint_from_discovery(
      R"({"issuer":"https://sso.example.com/realms/acme","userinfo_endpoint":"https://sso.example.com/u"})", issuer);
  REQUIRE(ok.ok());
  CHECK(*ok == "https://sso.example.com/u");
  for (const std::string& bad : {
           std::string(R"({"issuer":"https://sso.example.com/realms/acme/","userinfo_endpoint":"https://x/u"})"),
           std::string(R"({"issuer":"https://sso.example.com/realms/acme","userinfo_endpoint":"http://x/u"})"),
           std::string(R"({"issuer":"https://sso.example.com/realms/acme","userinfo_endpoint":7})"),
           std::string(R"({"issuer":"https://sso.example.com/realms/acme"})"), std::string(R"(["issuer"])"),
           std::string("not json")}) {
    INFO(bad);
    auto r = userinfo_endpoint_from_discovery(bad, issuer);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == tokend::ErrorCode::kBadResponse);
  }
}
