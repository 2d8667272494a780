#include <catch2/catch.hpp>

#include <string>

#include "tokend/net/url.hpp"

using tokend::ErrorCode;
using tokend::net::normalize_origin;
using tokend::net::origin_of_url;
using tokend::net::parse_host_port;
using tokend::net::parse_url;

TEST_CASE("parse_url splits an absolute URL", "[net][url]") {
  auto u = parse_url("HTTPS://User:p%40ss@GHE.Example.com:8443/api/v3?x=1#top");
  REQUIRE(u.ok());
  CHECK(u->scheme == "https");
  CHECK(u->host == "ghe.example.com");
  CHECK(u->port == 8443);
  CHECK(u->userinfo == "User:p@ss");
  CHECK(u->target == "/api/v3?x=1");
  CHECK(u->has_fragment);

  auto v6 = parse_url("http://[2001:DB8::1]/");
  REQUIRE(v6.ok());
  CHECK(v6->host == "2001:db8::1");
  CHECK_FALSE(v6->port);
  CHECK_FALSE(v6->userinfo);

  // "host:80" is an absolute URL of scheme "host" and no authority.
  CHECK(parse_url("host:80")->host.empty());
  for (const char* bad : {"", "/path", "https://host:12a/", "http://a b/", "http://host:65536/", "http://host:123456/",
                          "http://host:/", "http://ex%41mple.com/", "http://[v1.x]/", "http://[::1/", "http://[]/",
                          "http://host/%zz", "http://host:80x/"}) {
    INFO("'" << bad << "'");
    auto r = parse_url(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::kInvalidUrl);
  }
}

TEST_CASE("parse_host_port reads host[:port] with Boost.URL's authority grammar", "[net][url]") {
  auto plain = parse_host_port("Example.ORG");
  REQUIRE(plain.ok());
  CHECK(plain->host == "example.org");
  CHECK_FALSE(plain->port);
  auto v6 = parse_host_port("[::1]:0");
  REQUIRE(v6.ok());
  CHECK(v6->host == "::1");
  CHECK(v6->port == 0);
  CHECK(tokend::net::host_port_text(v6->host, 443) == "[::1]:443");
  CHECK(tokend::net::host_port_text("example.org", 80) == "example.org:80");
  for (const char* bad : {"", ":80", "user@host:80", "host:", "host:x", "[::1", "host:80/x", "a b:1"}) {
    INFO("'" << bad << "'");
    CHECK_FALSE(parse_host_port(bad).ok());
  }
}

TEST_CASE("normalize_origin gives one spelling per origin", "[net][url][csrf]") {
  const std::vector<std::pair<std::string, std::string>> same{
      {"https://portal.example", "https://portal.example"},
      {"https://portal.example/", "https://portal.example"},
      {"HTTPS://Portal.Example", "https://portal.example"},
      {"https://portal.example:443", "https://portal.example"},
      {"https://portal.example:443/", "https://portal.example"},
      {"http://portal.example:80", "http://portal.example"},
      {"http://portal.example:443", "http://portal.example:443"},
      {"https://portal.example:80", "https://portal.example:80"},
      {"http://LOCALHOST:3000", "http://localhost:3000"},
      {"http://[::1]:8080/", "http://[::1]:8080"},
      {"http://[::1]:80", "http://[::1]"},
      {"http://127.0.0.1:8080", "http://127.0.0.1:8080"},
  };
  for (const auto& [in, out] : same) {
    INFO(in);
    auto r = normalize_origin(in);
    REQUIRE(r.ok());
    CHECK(*r == out);
    // Idempotent: a stored canonical origin normalises to itself.
    CHECK(*normalize_origin(*r) == out);
  }
  for (const char* bad : {"null", "portal.example", "ftp://portal.example", "https://", "https:///x",
                          "https://portal.example/app", "https://portal.example/?x=1", "https://portal.example#x",
                          "https://user@portal.example", "https://portal.example:99999", "chrome-extension://abc/",
                          "https://portal.example:8080.evil"}) {
    INFO(bad);
    auto r = normalize_origin(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == ErrorCode::kInvalidUrl);
  }
}

TEST_CASE("origin_of_url takes the origin of a Referer", "[net][url][csrf]") {
  CHECK(*origin_of_url("http://Tokend.Example:8080/tokens?x=1#y") == "http://tokend.example:8080");
  CHECK(*origin_of_url("https://tokend.example:443/a/b") == "https://tokend.example");
  CHECK(*origin_of_url("http://evil.example/http://tokend.example:8080/") == "http://evil.example");
  for (const char* bad : {"not a url", "/relative", "ftp://x/", "http://u:p@host/", "http:///path"}) {
    INFO(bad);
    CHECK_FALSE(origin_of_url(bad).ok());
  }
}
