// End-to-end: expiresInSeconds on every way to get a token, its bounds, and
// lifetimes configured as durations.
#include <catch2/catch.hpp>

#include <chrono>
#include <ctime>
#include <regex>
#include <string>

#include "support/fake_provider.hpp"
#include "support/process.hpp"

using e2e::bearer;
using e2e::FakeProvider;
using e2e::TokendProcess;

namespace {

std::int64_t parse_ms(const std::string& text) {
  static const std::regex kFormat(R"(^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{3})Z$)");
  std::smatch m;
  INFO(text);
  REQUIRE(std::regex_match(text, m, kFormat));
  std::tm tm{};
  tm.tm_year = std::stoi(m[1]) - 1900;
  tm.tm_mon = std::stoi(m[2]) - 1;
  tm.tm_mday = std::stoi(m[3]);
  tm.tm_hour = std::stoi(m[4]);
  tm.tm_min = std::stoi(m[5]);
  tm.tm_sec = std::stoi(m[6]);
  return static_cast<std::int64_t>(timegm(&tm)) * 1000 + std::stoi(m[7]);
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The answer's expiresOn is `seconds` after a moment between `before` and now.
void check_expiry(const e2e::Response& r, std::int64_t before, std::int64_t seconds) {
  INFO(r.body);
  REQUIRE(r.status == 200);
  const std::int64_t at = parse_ms(r.json()["expiresOn"]);
  CHECK(at >= before + seconds * 1000);
  CHECK(at <= now_ms() + seconds * 1000);
}

const std::map<std::string, std::string> kForm = {{"Content-Type", "application/x-www-form-urlencoded"}};

}  // namespace

TEST_CASE("expiresInSeconds on every way in: JSON, form, cookie exchange, provider", "[e2e][lifetime]") {
  FakeProvider fake;
  TokendProcess t(nlohmann::json{
      {"auth",
       {{"userpass", {{"type", "userpass"}}},
        {"github", {{"type", "github"}, {"api_url", fake.base_url()}, {"ca_file", fake.ca_file()}, {"proxy", ""}}}}}});
  t.add_user("alice", "alices password");
  std::int64_t before = now_ms();
  check_expiry(t.post("/api/authenticate/userpass",
                      R"({"username":"alice","password":"alices password","expiresInSeconds":600})"),
               before, 600);
  before = now_ms();
  check_expiry(t.post("/api/authenticate/userpass", "username=alice&password=alices+password&expiresInSeconds=3600",
                      kForm),
               before, 3600);
  before = now_ms();
  check_expiry(t.post("/api/authenticate/github",
                      R"({"email":"alice@example.com","info":{"accessToken":"tok-alice"},"expiresInSeconds":90})"),
               before, 90);
  auto s = t.post("/api/login", R"({"username":"alice","password":"alices password"})");
  REQUIRE(s.status == 200);
  const std::string cookie = s.header("set-cookie").substr(0, s.header("set-cookie").find(';'));
  before = now_ms();
  // Verbatim the documentation's line (docs/api.md).
  auto curl = e2e::run_shell("curl -s -X POST --cookie \"" + cookie + "\" -d expiresInSeconds=600 " + t.base_url() +
                             "/api/token");
  REQUIRE(curl.exit_code == 0);
  const auto body = nlohmann::json::parse(curl.output);
  const std::int64_t at = parse_ms(body["expiresOn"]);
  CHECK(at >= before + 600'000);
  CHECK(at <= now_ms() + 600'000);
  // The session tells the page the bounds in seconds.
  auto session = t.get("/api/session", {{"Cookie", cookie}}).json();
  CHECK(session["tokenLifetimeSeconds"]["min"] == 60);
  CHECK(session["tokenLifetimeSeconds"]["max"] == 365 * 86400);
  CHECK(session["tokenLifetimeSeconds"]["default"] == 90 * 86400);
}

TEST_CASE("expiresInSeconds: bounds, types, and not together with expiresInDays", "[e2e][lifetime]") {
  TokendProcess t(nlohmann::json{{"tokens", {{"lifetime", "1d"}, {"min_lifetime", "5m"}, {"max_lifetime", "2d"}}}});
  t.add_user("alice", "alices password");
  auto ask = [&](const std::string& extra) {
    return t.post("/api/authenticate/userpass",
                  R"({"username":"alice","password":"alices password",)" + extra + "}");
  };
  auto low = ask(R"("expiresInSeconds":299)");
  CHECK(low.status == 400);
  CHECK(low.json()["error"] == "invalid_field");
  CHECK(low.json()["field"] == "expiresInSeconds");
  CHECK(low.json()["minSeconds"] == 300);
  CHECK(low.json()["maxSeconds"] == 172800);
  auto high = ask(R"("expiresInSeconds":172801)");
  CHECK(high.status == 400);
  CHECK(high.json()["maxSeconds"] == 172800);
  CHECK(ask(R"("expiresInSeconds":300)").status == 200);
  CHECK(ask(R"("expiresInSeconds":172800)").status == 200);
  CHECK(ask(R"("expiresInSeconds":"600")").status == 400);  // JSON: a number
  CHECK(ask(R"("expiresInSeconds":600.5)").status == 400);
  CHECK(ask(R"("expiresInSeconds":-600)").status == 400);
  auto both = ask(R"("expiresInSeconds":600,"expiresInDays":1)");
  CHECK(both.status == 400);
  CHECK(both.json()["error"] == "invalid_field");
  // Days are checked against the same bounds: 3 days is above "2d".
  auto days = ask(R"("expiresInDays":3)");
  CHECK(days.status == 400);
  CHECK(days.json()["maxDays"] == 2);
  CHECK(ask(R"("expiresInDays":2)").status == 200);
  auto form = t.post("/api/authenticate/userpass", "username=alice&password=alices+password&expiresInSeconds=6e2",
                     kForm);
  CHECK(form.status == 400);
}

TEST_CASE("a configured lifetime in hours is the default, to the millisecond", "[e2e][lifetime]") {
  TokendProcess t(nlohmann::json{{"tokens", {{"lifetime", "12h"}}}});
  t.add_user("alice", "alices password");
  const std::int64_t before = now_ms();
  check_expiry(t.post("/api/authenticate/userpass", R"({"username":"alice","password":"alices password"})"), before,
               12 * 3600);
}

TEST_CASE("both lifetime forms in the configuration: tokend refuses to start", "[e2e][lifetime]") {
  TokendProcess t(nlohmann::json{{"tokens", {{"lifetime", "12h"}, {"lifetime_days", 1}}}}, false);
  auto r = e2e::run_process({e2e::binary_path(), "serve", "--config", t.config_path()});
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("lifetime_days and lifetime both given") != std::string::npos);
}
