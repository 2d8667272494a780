#include <catch2/catch.hpp>

#include <string>
#include <utility>
#include <vector>

#include "tokend/common/ip.hpp"
#include "tokend/http/client_address.hpp"

using tokend::http::client_address;
using Headers = std::vector<std::pair<std::string, std::string>>;

TEST_CASE("client_address: the peer unless it is a trusted proxy", "[http][client_address]") {
  const Headers xff = {{"X-Forwarded-For", "203.0.113.9"}};
  CHECK(client_address("198.51.100.1", xff, {}) == "198.51.100.1");
  CHECK(client_address("198.51.100.1", xff, {"10.0.0.1"}) == "198.51.100.1");
  CHECK(client_address("10.0.0.1", xff, {"10.0.0.1"}) == "203.0.113.9");
  CHECK(client_address("10.0.0.1", {}, {"10.0.0.1"}) == "10.0.0.1");
}

TEST_CASE("client_address: the rightmost hop that is not a trusted proxy", "[http][client_address]") {
  const std::vector<std::string> trusted = {"10.0.0.1", "10.0.0.2"};
  // The client wrote the leftmost hop itself: never believed past the first
  // untrusted one.
  CHECK(client_address("10.0.0.1", {{"X-Forwarded-For", "1.1.1.1, 203.0.113.9, 10.0.0.2"}}, trusted) ==
        "203.0.113.9");
  // Several headers are one list, in order; names compare case-insensitively.
  CHECK(client_address("10.0.0.1", {{"x-forwarded-for", "1.1.1.1"}, {"X-FORWARDED-FOR", " 203.0.113.7 ,10.0.0.2"}},
                       trusted) == "203.0.113.7");
  // Every hop trusted: the peer. Empty hops are skipped.
  CHECK(client_address("10.0.0.1", {{"X-Forwarded-For", "10.0.0.2, ,10.0.0.1"}}, trusted) == "10.0.0.1");
}

TEST_CASE("client_address: garbage in the chain means the peer", "[http][client_address]") {
  const std::vector<std::string> trusted = {"10.0.0.1"};
  for (const char* chain : {"not-an-ip", "203.0.113.9:443", "203.0.113.0/24", "1.1.1.1, evil.example"}) {
    CHECK(client_address("10.0.0.1", {{"X-Forwarded-For", chain}}, trusted) == "10.0.0.1");
  }
}

TEST_CASE("client_address: hops are canonical, IPv4-mapped IPv6 as IPv4", "[http][client_address]") {
  const std::vector<std::string> trusted = {"::1", "10.0.0.2"};
  CHECK(client_address("::1", {{"X-Forwarded-For", "2001:DB8:0:0::1"}}, trusted) == "2001:db8::1");
  CHECK(client_address("::1", {{"X-Forwarded-For", "::ffff:203.0.113.9"}}, trusted) == "203.0.113.9");
  CHECK(client_address("::1", {{"X-Forwarded-For", "203.0.113.9, ::ffff:10.0.0.2"}}, trusted) == "203.0.113.9");
}

TEST_CASE("canonical_ip: one spelling per address, empty for anything else", "[common][ip]") {
  CHECK(tokend::canonical_ip("192.0.2.1") == "192.0.2.1");
  CHECK(tokend::canonical_ip("::FFFF:192.0.2.1") == "192.0.2.1");
  CHECK(tokend::canonical_ip("0:0:0:0:0:0:0:1") == "::1");
  CHECK(tokend::canonical_ip("example.org").empty());
  CHECK(tokend::canonical_ip("192.0.2.1/24").empty());
  CHECK(tokend::canonical_ip(std::string("192.0.2.1\0x", 11)).empty());
  CHECK(tokend::canonical_ip("").empty());
}
