// The login throttle's counts live in the database: they hold across
// concurrent requests (at most max_failures password hashes are computed,
// counted on /metrics, not guessed from status codes), across a restart, and
// across two tokend processes on one SQLite file; `tokend throttle list` and
// `tokend throttle unlock` work on them (docs/operations.md, "Login throttle").
#include <catch2/catch.hpp>

#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "support/process.hpp"

using e2e::TokendProcess;

namespace {

const std::string kHashes = "tokend_password_hash_computations_total";

// `tokend throttle <args...> --config <cfg of t>`.
e2e::ProcessResult throttle_cli(const TokendProcess& t, std::vector<std::string> args) {
  std::vector<std::string> argv{e2e::binary_path(), "throttle"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--config");
  argv.push_back(t.config_path());
  return e2e::run_process(argv);
}

struct Tally {
  std::atomic<int> unauthorized{0};
  std::atomic<int> throttled{0};
  std::atomic<int> other{0};
  std::atomic<int> bad_retry_after{0};
};

// 32 wrong passwords at once, spread over `servers` in turn; username and
// X-Forwarded-For address of request i from `user_of(i)` and `addr_of(i)`.
template <typename UserOf, typename AddrOf>
void race(const std::vector<TokendProcess*>& servers, Tally& tally, UserOf user_of, AddrOf addr_of) {
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int i = 0; i < 32; ++i) {
    threads.emplace_back([&, i] {
      while (!go.load()) std::this_thread::yield();
      TokendProcess& t = *servers[static_cast<std::size_t>(i) % servers.size()];
      const auto body = nlohmann::json{{"username", user_of(i)}, {"password", "wrong guess " + std::to_string(i)}}.dump();
      const auto r = t.post("/api/authenticate/userpass", body, {{"X-Forwarded-For", addr_of(i)}});
      if (r.status == 401) {
        ++tally.unauthorized;
      } else if (r.status == 429) {
        ++tally.throttled;
        if (r.header("retry-after").empty()) ++tally.bad_retry_after;
      } else {
        ++tally.other;
      }
    });
  }
  go = true;
  for (auto& th : threads) th.join();
}

long long hashes(const std::vector<TokendProcess*>& servers) {
  long long n = 0;
  for (auto* t : servers) n += e2e::metric(t->port(), kHashes);
  return n;
}

nlohmann::json limits(int per_user, int per_address) {
  return {{"throttle",
           {{"per_username", {{"max_failures", per_user}, {"window_s", 600}}},
            {"per_address", {{"max_failures", per_address}, {"window_s", 600}}}}},
          {"trusted_proxies", {"127.0.0.1"}}};
}

}  // namespace

TEST_CASE("32 concurrent wrong passwords for one user compute at most max_failures hashes", "[e2e][throttle][security]") {
  TokendProcess t(limits(5, 1000));
  t.add_user("alice", "alices password");
  const long long before = hashes({&t});
  Tally tally;
  race({&t}, tally, [](int) { return "alice"; }, [](int i) { return "198.51.100." + std::to_string(i + 1); });
  CHECK(hashes({&t}) - before == 5);
  CHECK(tally.unauthorized.load() == 5);
  CHECK(tally.throttled.load() == 27);
  CHECK(tally.other.load() == 0);
  CHECK(tally.bad_retry_after.load() == 0);
}

TEST_CASE("32 concurrent wrong passwords from one address compute at most max_failures hashes", "[e2e][throttle][security]") {
  TokendProcess t(limits(1000, 7));
  for (int i = 0; i < 32; ++i) t.add_user("user" + std::to_string(i), "a password " + std::to_string(i));
  const long long before = hashes({&t});
  Tally tally;
  race({&t}, tally, [](int i) { return "user" + std::to_string(i); }, [](int) { return "203.0.113.50"; });
  CHECK(hashes({&t}) - before == 7);
  CHECK(tally.unauthorized.load() == 7);
  CHECK(tally.throttled.load() == 25);
  CHECK(tally.other.load() == 0);
}

TEST_CASE("two tokend processes on one SQLite file share the throttle", "[e2e][throttle][security]") {
  TokendProcess a(limits(5, 1000));
  a.add_user("alice", "alices password");
  nlohmann::json shared = limits(5, 1000);
  shared["database"] = {{"path", a.db_path()}};
  TokendProcess b(shared);

  SECTION("failures on either count for both") {
    const auto wrong = R"({"username":"alice","password":"wrong guess"})";
    for (int i = 0; i < 3; ++i) CHECK(a.post("/api/authenticate/userpass", wrong).status == 401);
    for (int i = 0; i < 2; ++i) CHECK(b.post("/api/authenticate/userpass", wrong).status == 401);
    const auto right = R"({"username":"alice","password":"alices password"})";
    CHECK(a.post("/api/authenticate/userpass", right).status == 429);
    CHECK(b.post("/api/authenticate/userpass", right).status == 429);
  }
  SECTION("32 concurrent wrong passwords over both compute at most max_failures hashes in all") {
    const long long before = hashes({&a, &b});
    Tally tally;
    race({&a, &b}, tally, [](int) { return "alice"; }, [](int i) { return "198.51.100." + std::to_string(i + 1); });
    CHECK(hashes({&a, &b}) - before == 5);
    CHECK(tally.unauthorized.load() == 5);
    CHECK(tally.throttled.load() == 27);
    CHECK(tally.other.load() == 0);
  }
}

TEST_CASE("a restart keeps the lock, tokend throttle list shows it and unlock lifts it", "[e2e][throttle]") {
  TokendProcess t(limits(3, 1000));
  t.add_user("dave", "daves password");
  const auto wrong = R"({"username":"dave","password":"wrong guess"})";
  const auto right = R"({"username":"dave","password":"daves password"})";
  for (int i = 0; i < 3; ++i) CHECK(t.post("/api/authenticate/userpass", wrong).status == 401);
  REQUIRE(t.post("/api/authenticate/userpass", right).status == 429);

  REQUIRE(t.terminate() == 0);
  t.restart();
  const auto after = t.post("/api/authenticate/userpass", right);
  CHECK(after.status == 429);
  CHECK(after.json()["error"] == "too_many_attempts");
  const int retry = std::stoi(after.header("retry-after"));
  CHECK(retry > 500);  // the 600 s window, counted from the failures before the restart
  CHECK(retry <= 600);

  // The CLI works on the database, with the server up or down.
  const auto listed = throttle_cli(t, {"list"});
  CHECK(listed.exit_code == 0);
  CHECK(listed.output.find("username") != std::string::npos);
  CHECK(listed.output.find("dave") != std::string::npos);
  CHECK(listed.output.find("userpass") != std::string::npos);

  const auto unlocked = throttle_cli(t, {"unlock", "--user", "Dave"});
  INFO(unlocked.output);
  CHECK(unlocked.exit_code == 0);
  CHECK(t.post("/api/authenticate/userpass", right).status == 200);
  CHECK(throttle_cli(t, {"list"}).output.find("dave") == std::string::npos);
  // Nothing left to unlock: exit 1 and a message.
  const auto again = throttle_cli(t, {"unlock", "--user", "dave"});
  CHECK(again.exit_code == 1);
  CHECK(again.output.find("nothing to unlock") != std::string::npos);
  // Usage errors: neither or both options.
  CHECK(throttle_cli(t, {"unlock"}).exit_code == 2);
  CHECK(throttle_cli(t, {"unlock", "--user", "a", "--address", "10.0.0.1"}).exit_code == 2);
}

TEST_CASE("tokend throttle unlock --address lifts an address lock", "[e2e][throttle]") {
  TokendProcess t(limits(1000, 2));
  t.add_user("erin", "erins password");
  const std::map<std::string, std::string> from = {{"X-Forwarded-For", "203.0.113.9"}};
  for (int i = 0; i < 2; ++i) {
    CHECK(t.post("/api/authenticate/userpass", R"({"username":"nobody","password":"wrong guess"})", from).status == 401);
  }
  const auto right = R"({"username":"erin","password":"erins password"})";
  REQUIRE(t.post("/api/authenticate/userpass", right, from).status == 429);
  const auto listed = throttle_cli(t, {"list"});
  CHECK(listed.output.find("address") != std::string::npos);
  CHECK(listed.output.find("203.0.113.9") != std::string::npos);
  CHECK(throttle_cli(t, {"unlock", "--address", "203.0.113.9"}).exit_code == 0);
  CHECK(t.post("/api/authenticate/userpass", right, from).status == 200);
}
