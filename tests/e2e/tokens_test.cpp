// End-to-end: token listing, revocation, expiry, disabled accounts, format,
// uniqueness under concurrency.
#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <chrono>
#include <ctime>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

#include "support/sql.hpp"
#include "support/process.hpp"

using e2e::bearer;
using e2e::is_token;
using e2e::TokendProcess;

using e2e::sql;

namespace {

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// "2026-12-01T15:07:42.123Z" as milliseconds since the epoch; REQUIREs that
// exact format (UTC, three fraction digits).
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

constexpr std::int64_t kDayMs = 86'400'000;

}  // namespace

TEST_CASE("GET /api/tokens lists live tokens without their values", "[e2e][tokens]") {
  TokendProcess t;
  t.add_user("alice", "alices password");
  const std::string a = t.login("alice", "alices password");
  const std::int64_t before = now_ms();
  auto named = t.post("/api/authenticate/userpass",
                      R"({"username":"alice","password":"alices password","name":"ci job","expiresInDays":7})");
  const std::int64_t after = now_ms();
  REQUIRE(named.status == 200);
  const std::string b = named.json()["token"];
  const std::int64_t answered_expiry = parse_ms(named.json()["expiresOn"].get<std::string>());
  auto r = t.get("/api/tokens", bearer(a));
  REQUIRE(r.status == 200);
  const auto list = r.json()["tokens"];
  REQUIRE(list.size() == 2);
  CHECK(list[0]["name"] == "ci job");  // newest first
  CHECK(list[0]["source"] == "userpass");
  CHECK(list[1]["name"] == "userpass");
  for (const auto& tok : list) {
    CHECK(tok["id"].is_number_integer());
    CHECK(tok["createdAt"].is_string());
    CHECK(tok["expiresOn"].is_string());
    CHECK(tok.contains("lastUsedAt"));
  }
  CHECK(r.body.find(a) == std::string::npos);
  CHECK(r.body.find(b) == std::string::npos);
  SECTION("expiresInDays shortens the life; out-of-range values are 400") {
    // Exactly 7 days from when it was issued (the clock read during the
    // request), to the millisecond: not the 90-day default, not 7 days from
    // midnight, not off by a time zone.
    const std::int64_t created = parse_ms(list[0]["createdAt"].get<std::string>());
    const std::int64_t expires = parse_ms(list[0]["expiresOn"].get<std::string>());
    CHECK(created >= before);
    CHECK(created <= after);
    CHECK(expires == created + 7 * kDayMs);
    CHECK(answered_expiry == expires);
    // The other token has the default 90-day life.
    const std::int64_t default_created = parse_ms(list[1]["createdAt"].get<std::string>());
    CHECK(parse_ms(list[1]["expiresOn"].get<std::string>()) == default_created + 90 * kDayMs);
    for (const char* bad : {R"("expiresInDays":0)", R"("expiresInDays":366)", R"("expiresInDays":"x")",
                            R"("expiresInDays":1.5)"}) {
      auto rr = t.post("/api/authenticate/userpass",
                       std::string(R"({"username":"alice","password":"alices password",)") + bad + "}");
      CHECK(rr.status == 400);
      CHECK(rr.json()["error"] == "invalid_field");
    }
  }
  SECTION("lastUsedAt is recorded (batched within about a second)") {
    REQUIRE(t.get("/api/user", bearer(b)).status == 200);
    bool seen = false;
    for (int i = 0; i < 50 && !seen; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      auto l = t.get("/api/tokens", bearer(a)).json()["tokens"];
      seen = l[0]["lastUsedAt"].is_string();
    }
    CHECK(seen);
  }
}

TEST_CASE("revoking a token stops it at once", "[e2e][tokens]") {
  TokendProcess t;
  t.add_user("alice", "alices password");
  t.add_user("mallory", "mallorys password");
  const std::string a1 = t.login("alice", "alices password");
  const std::string a2 = t.login("alice", "alices password");
  const std::string m = t.login("mallory", "mallorys password");
  const auto list = t.get("/api/tokens", bearer(a1)).json()["tokens"];
  REQUIRE(list.size() == 2);
  const auto id_of_a2 = list[0]["id"].get<long long>();

  SECTION("DELETE /api/tokens/{id}") {
    // Someone else's token id looks exactly like a missing one.
    auto other = e2e::http(t.port(), "DELETE", "/api/tokens/" + std::to_string(id_of_a2), "", bearer(m));
    CHECK(other.status == 404);
    CHECK(t.get("/api/user", bearer(a2)).status == 200);
    auto del = e2e::http(t.port(), "DELETE", "/api/tokens/" + std::to_string(id_of_a2), "", bearer(a1));
    CHECK(del.status == 204);
    // RFC 9110 §8.6: a 204 carries neither a body nor a Content-Length.
    CHECK(del.body.empty());
    CHECK(del.header("content-length").empty());
    CHECK(t.get("/api/user", bearer(a2)).status == 401);
    CHECK(t.get("/api/user", bearer(a1)).status == 200);
    CHECK(t.get("/api/tokens", bearer(a1)).json()["tokens"].size() == 1);
    CHECK(e2e::http(t.port(), "DELETE", "/api/tokens/" + std::to_string(id_of_a2), "", bearer(a1)).status == 404);
    CHECK(e2e::http(t.port(), "DELETE", "/api/tokens/abc", "", bearer(a1)).status == 404);
    CHECK(e2e::http(t.port(), "DELETE", "/api/tokens/99999999999999999999", "", bearer(a1)).status == 404);
  }
  SECTION("DELETE /api/token revokes the presented token") {
    CHECK(e2e::http(t.port(), "DELETE", "/api/token", "", bearer(a1)).status == 204);
    CHECK(t.get("/api/user", bearer(a1)).status == 401);
    CHECK(t.get("/api/user", bearer(a2)).status == 200);
    CHECK(e2e::http(t.port(), "DELETE", "/api/token", "", bearer(a1)).status == 401);
  }
}

TEST_CASE("expired tokens are refused and not listed", "[e2e][tokens]") {
  TokendProcess t;
  t.add_user("alice", "alices password");
  const std::string keep = t.login("alice", "alices password");
  const std::string old = t.login("alice", "alices password");
  REQUIRE(t.get("/api/user", bearer(old)).status == 200);
  // Move the newest token's expiry into the past, as another writer would:
  // with a row in the change feed (the server's validation cache remembers
  // the token; a write without one is no writer it hears of).
  sql(t.db_path(),
      "UPDATE tokens SET expires_at = 1000 WHERE id = (SELECT MAX(id) FROM tokens);"
      "INSERT INTO changes (at, user_id) SELECT CAST(strftime('%s', 'now') AS INTEGER) * 1000, user_id FROM tokens"
      " WHERE id = (SELECT MAX(id) FROM tokens)");
  e2e::wait_for_other_writers();
  CHECK(t.get("/api/user", bearer(old)).status == 401);
  CHECK(t.get("/api/tokens", bearer(keep)).json()["tokens"].size() == 1);
}

TEST_CASE("tokens that never expire read like the original API", "[e2e][tokens]") {
  TokendProcess t(nlohmann::json{{"tokens", {{"lifetime_days", 0}}}});
  t.add_user("alice", "alices password");
  auto r = t.post("/api/authenticate/userpass", R"({"username":"alice","password":"alices password"})");
  REQUIRE(r.status == 200);
  CHECK(r.json()["expiresOn"] == "292278994-08-17T07:12:55.807Z");
}

TEST_CASE("disabling an account kills its tokens", "[e2e][tokens]") {
  TokendProcess t;
  t.add_user("alice", "alices password");
  const std::string token = t.login("alice", "alices password");
  REQUIRE(t.get("/api/user", bearer(token)).status == 200);
  auto r = t.cli({"disable", "alice"});
  REQUIRE(r.exit_code == 0);
  // The CLI is another writer: the server honours its change within
  // validation_cache.max_staleness_ms (docs/operations.md).
  e2e::wait_for_other_writers();
  CHECK(t.get("/api/user", bearer(token)).status == 401);
  REQUIRE(t.cli({"enable", "alice"}).exit_code == 0);
  CHECK(t.get("/api/user", bearer(token)).status == 401);  // revoked, not suspended
  CHECK(t.login("alice", "alices password").size() == 256);
  auto list = t.cli({"list"});
  CHECK(list.output.find("alice") != std::string::npos);
}

TEST_CASE("concurrent logins issue distinct valid tokens with no errors", "[e2e][tokens]") {
  TokendProcess t;
  t.add_user("alice", "alices password");
  std::mutex mu;
  std::set<std::string> tokens;
  int errors = 0;
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      for (int k = 0; k < 6; ++k) {
        auto r = t.post("/api/authenticate/userpass", R"({"username":"alice","password":"alices password"})");
        std::lock_guard lock(mu);
        if (r.status != 200) {
          ++errors;
          continue;
        }
        tokens.insert(r.json()["token"].get<std::string>());
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(errors == 0);
  CHECK(tokens.size() == 48);
  for (const auto& tok : tokens) {
    CHECK(is_token(tok));
    CHECK(t.get("/api/user", bearer(tok)).status == 200);
  }
}
