#include <catch2/catch.hpp>

#include <string>

#include "tokend/http/request_id.hpp"

using tokend::http::acceptable_request_id;
using tokend::http::make_request_id;
using tokend::http::request_id_for;

TEST_CASE("acceptable_request_id: 1 to 128 of [A-Za-z0-9._:-]", "[http][request_id]") {
  CHECK(acceptable_request_id("a"));
  CHECK(acceptable_request_id("3f2c1b0e-9a8d-4c7b-b6a5-0f1e2d3c4b5a"));
  CHECK(acceptable_request_id("trace:01.ab_CD-9"));
  CHECK(acceptable_request_id(std::string(128, 'x')));
  CHECK_FALSE(acceptable_request_id(""));
  CHECK_FALSE(acceptable_request_id(std::string(129, 'x')));
  CHECK_FALSE(acceptable_request_id("a\r\nX-Evil: 1"));
  CHECK_FALSE(acceptable_request_id("a\nb"));
  CHECK_FALSE(acceptable_request_id("with space"));
  CHECK_FALSE(acceptable_request_id("caf\xc3\xa9"));  // non-ASCII
  CHECK_FALSE(acceptable_request_id("a\"b"));
  CHECK_FALSE(acceptable_request_id(std::string("a\0b", 3)));
}

TEST_CASE("make_request_id: 32 hex characters, different each time", "[http][request_id]") {
  const std::string a = make_request_id();
  const std::string b = make_request_id();
  CHECK(a.size() == 32);
  CHECK(a.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(a != b);
}

TEST_CASE("request_id_for keeps one acceptable id and replaces anything else", "[http][request_id]") {
  using H = std::vector<std::pair<std::string, std::string>>;
  CHECK(request_id_for(H{{"Host", "x"}, {"x-request-id", "abc-1"}}) == "abc-1");
  const std::string fresh = request_id_for(H{{"Host", "x"}});
  CHECK(fresh.size() == 32);
  const std::string hostile = request_id_for(H{{"X-Request-Id", "a\r\nb"}});
  CHECK(hostile.size() == 32);
  CHECK(hostile.find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(request_id_for(H{{"X-Request-Id", std::string(200, 'a')}}).size() == 32);
  // Two ids: neither is believed.
  const std::string two = request_id_for(H{{"X-Request-Id", "one"}, {"X-Request-Id", "two"}});
  CHECK(two != "one");
  CHECK(two != "two");
  CHECK(two.size() == 32);
}
