#include <catch2/catch.hpp>

#include <regex>
#include <string>

#include <set>
#include <thread>
#include <vector>

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

namespace {
bool is_uuid4(const std::string& s) {
  static const std::regex kUuid4("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  return std::regex_match(s, kUuid4);
}
}  // namespace

TEST_CASE("make_request_id: a random UUID, different each time", "[http][request_id]") {
  const std::string a = make_request_id();
  const std::string b = make_request_id();
  CHECK(is_uuid4(a));
  CHECK(is_uuid4(b));
  CHECK(a != b);
  CHECK(acceptable_request_id(a));  // a generated id passes through the next hop unchanged
}

TEST_CASE("make_request_id: 100,000 ids over 4 threads are all distinct UUIDs", "[http][request_id]") {
  // The ids are numbered per thread from a random start: no repeat within a
  // thread, and threads draw their own random prefixes.
  constexpr int kThreads = 4;
  constexpr int kEach = 25'000;
  std::vector<std::vector<std::string>> ids(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&ids, t] {
      for (int i = 0; i < kEach; ++i) ids[t].push_back(make_request_id());
    });
  }
  for (auto& th : threads) th.join();
  std::set<std::string> all;
  bool all_uuid4 = true;
  for (const auto& v : ids) {
    for (const auto& id : v) {
      all_uuid4 = all_uuid4 && is_uuid4(id);
      all.insert(id);
    }
  }
  CHECK(all_uuid4);
  CHECK(all.size() == static_cast<std::size_t>(kThreads * kEach));
  // Different threads start from different random prefixes.
  CHECK(ids[0].front().substr(0, 18) != ids[1].front().substr(0, 18));
}

TEST_CASE("request_id_for keeps one acceptable id and replaces anything else", "[http][request_id]") {
  using H = std::vector<std::pair<std::string, std::string>>;
  CHECK(request_id_for(H{{"Host", "x"}, {"x-request-id", "abc-1"}}) == "abc-1");
  CHECK(is_uuid4(request_id_for(H{{"Host", "x"}})));
  CHECK(is_uuid4(request_id_for(H{{"X-Request-Id", "a\r\nb"}})));
  CHECK(is_uuid4(request_id_for(H{{"X-Request-Id", std::string(200, 'a')}})));
  // Two ids: neither is believed.
  const std::string two = request_id_for(H{{"X-Request-Id", "one"}, {"X-Request-Id", "two"}});
  CHECK(two != "one");
  CHECK(two != "two");
  CHECK(is_uuid4(two));
}
