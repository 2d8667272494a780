// End-to-end: durability across kill -9, graceful SIGTERM, no secrets at rest
// or in logs, the TLS listener, the command line.
#include <catch2/catch.hpp>
#include <signal.h>

#include <atomic>
#include <mutex>
#include <set>
#include <vector>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "support/fake_provider.hpp"
#include "support/process.hpp"

using e2e::bearer;
using e2e::TokendProcess;

namespace {
std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

TEST_CASE("every token that got a 200 survives kill -9", "[e2e][lifecycle]") {
  TokendProcess t;
  t.add_user("alice", "alices password");
  std::vector<std::string> tokens;
  std::vector<std::thread> threads;
  std::mutex mu;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int k = 0; k < 5; ++k) {
        auto r = t.post("/api/authenticate/userpass", R"({"username":"alice","password":"alices password"})");
        if (r.status == 200) {
          std::lock_guard lock(mu);
          tokens.push_back(r.json()["token"]);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  REQUIRE(tokens.size() == 20);
  t.kill9();
  t.restart();
  for (const auto& tok : tokens) CHECK(t.get("/api/user", bearer(tok)).status == 200);
}

TEST_CASE("concurrent cookie exchanges share commits, and every answered token survives kill -9",
          "[e2e][lifecycle]") {
  // 160 tokens for one account in about a second: above the default creation
  // rate (tokens.max_created_per_minute), which limits_test.cpp tests.
  TokendProcess t(nlohmann::json{{"tokens", {{"max_created_per_minute", 0}}}});
  t.add_user("alice", "alices password");
  auto login = t.post("/api/login", R"({"username":"alice","password":"alices password"})");
  REQUIRE(login.status == 200);
  const std::string set = login.header("set-cookie");
  const std::string cookie = set.substr(0, set.find(';'));
  // 16 clients at once: the store's committer writes their tokens in shared
  // transactions, and answers none before its commit.
  std::vector<std::string> tokens;
  std::vector<std::thread> threads;
  std::mutex mu;
  std::atomic<int> failures{0};
  for (int i = 0; i < 16; ++i) {
    threads.emplace_back([&] {
      for (int k = 0; k < 10; ++k) {
        auto r = t.post("/api/token", "", {{"Cookie", cookie}});
        if (r.status != 200) {
          ++failures;
          continue;
        }
        std::lock_guard lock(mu);
        tokens.push_back(r.json()["token"]);
      }
    });
  }
  for (auto& th : threads) th.join();
  CHECK(failures == 0);
  REQUIRE(tokens.size() == 160);
  CHECK(std::set<std::string>(tokens.begin(), tokens.end()).size() == 160);
  t.kill9();
  t.restart();
  for (const auto& tok : tokens) CHECK(t.get("/api/user", bearer(tok)).status == 200);
}

TEST_CASE("SIGTERM lets the request in flight finish, then exits 0", "[e2e][lifecycle]") {
  // The fake GitHub holds its answer to GET /user for 1.5 s (tok-slow): the
  // login is in flight from the moment the fake has that request until well
  // after the signal.
  e2e::FakeProvider fake;
  TokendProcess t(nlohmann::json{
      {"auth",
       {{"github", {{"type", "github"}, {"api_url", fake.base_url()}, {"ca_file", fake.ca_file()}, {"proxy", ""}}}}}});
  auto pending = std::async(std::launch::async, [&] {
    return t.post("/api/authenticate/github",
                  nlohmann::json{{"email", "alice@example.com"}, {"info", {{"accessToken", "tok-slow"}}}}.dump());
  });
  // Wait for the event itself: the fake has received tokend's call.
  for (int i = 0; i < 500 && fake.hits("/user") == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  REQUIRE(fake.hits("/user") == 1);
  REQUIRE(pending.wait_for(std::chrono::milliseconds(0)) == std::future_status::timeout);
  const int code = t.terminate();
  auto r = pending.get();
  CHECK(r.status == 200);
  CHECK(e2e::is_token(r.json()["token"]));
  CHECK(code == 0);
  const std::string log = t.log();
  // The signal really came while the login was in flight.
  const auto signalled = log.find("received signal");
  const auto finished = log.find("login ok: method=github");
  REQUIRE(signalled != std::string::npos);
  REQUIRE(finished != std::string::npos);
  CHECK(signalled < finished);
  CHECK(log.find("tokend stopped") != std::string::npos);
  // And it no longer accepts connections.
  CHECK(e2e::connect_to(t.port()) == -1);
}

TEST_CASE("neither the database nor the log holds a token or password in plaintext", "[e2e][lifecycle]") {
  TokendProcess t;
  const std::string password = "unmistakable-password-4711";
  t.add_user("alice", password);
  const std::string token = t.login("alice", password);
  REQUIRE(t.get("/api/user", bearer(token)).status == 200);
  t.post("/api/authenticate/userpass", nlohmann::json{{"username", "alice"}, {"password", "other-secret-0815"}}.dump());
  t.get("/api/user/" + token);  // a token pasted into a path
  auto login = t.post("/api/login", nlohmann::json{{"username", "alice"}, {"password", password}}.dump());
  REQUIRE(login.status == 200);
  const std::string cookie = login.header("set-cookie");
  const std::string session = cookie.substr(cookie.find('=') + 1, 64);
  REQUIRE(t.post("/api/token", "", {{"Cookie", "tokend_session=" + session}}).status == 200);
  REQUIRE(t.terminate() == 0);
  std::string at_rest;
  for (const auto& entry : std::filesystem::directory_iterator(t.dir())) {
    if (entry.path().filename() == "config.json") continue;
    at_rest += read_file(entry.path());
  }
  CHECK(at_rest.find(token) == std::string::npos);
  CHECK(at_rest.find(password) == std::string::npos);
  CHECK(at_rest.find("other-secret-0815") == std::string::npos);
  CHECK(at_rest.find(session) == std::string::npos);
  CHECK(t.log().find("login ok: method=userpass user=alice") != std::string::npos);
}

TEST_CASE("the TLS listener serves HTTPS with the configured certificate", "[e2e][lifecycle]") {
  char tmpl[] = "/tmp/tokend-tls-XXXXXX";
  REQUIRE(mkdtemp(tmpl));
  const std::string d = tmpl;
  auto r = e2e::run_shell("cd " + d +
                          " && openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 2 "
                          "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1");
  REQUIRE(r.exit_code == 0);
  TokendProcess t(nlohmann::json{{"tls", {{"enabled", true}, {"cert_file", d + "/cert.pem"}, {"key_file", d + "/key.pem"}}}});
  t.add_user("alice", "alices password");
  auto ok = e2e::run_shell("curl -s -i --cacert " + d + "/cert.pem --data \"username=alice&password=alices password\" " +
                           "https://127.0.0.1:" + std::to_string(t.port()) + "/api/authenticate/userpass");
  CHECK(ok.output.find("HTTP/1.1 200 OK") != std::string::npos);
  // The session cookie is Secure on a TLS listener.
  auto login = e2e::run_shell("curl -s -i --cacert " + d + "/cert.pem --data \"username=alice&password=alices password\" " +
                              "https://127.0.0.1:" + std::to_string(t.port()) + "/api/login");
  CHECK(login.output.find("; Secure") != std::string::npos);
  // Plain HTTP on the TLS port gets no answer from the API.
  CHECK(t.get("/healthz").status == 0);
  std::filesystem::remove_all(d);
}

TEST_CASE("the command line: help, user management, bad input", "[e2e][lifecycle]") {
  TokendProcess t({}, /*start_now=*/false);
  for (const std::vector<std::string>& args : std::vector<std::vector<std::string>>{
           {"--help"}, {"serve", "--help"}, {"user", "--help"}}) {
    std::vector<std::string> argv{e2e::binary_path()};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = e2e::run_process(argv);
    CHECK(r.exit_code == 0);
    CHECK(r.output.find("Usage") != std::string::npos);
  }
  CHECK(t.cli({"add", "alice"}, "short\n").exit_code == 2);  // too short a password
  CHECK(t.cli({"add", "alice"}, "long enough password\n").exit_code == 0);
  CHECK(t.cli({"add", "ALICE"}, "long enough password\n").exit_code == 1);  // exists (normalised)
  CHECK(t.cli({"passwd", "alice"}, "a new long password\n").exit_code == 0);
  CHECK(t.cli({"disable", "nobody"}).exit_code == 1);
  // Usage errors are exit code 2 and say what is wrong; --x=y works.
  auto no_value = t.cli({"add", "bob", "--email"});  // cli() appends --config FILE
  CHECK(no_value.exit_code == 2);
  CHECK(no_value.output.find("--email needs a value") != std::string::npos);
  CHECK(t.cli({"list", "--email", "x@example.org"}).exit_code == 2);
  auto eq = e2e::run_process({e2e::binary_path(), "user", "list", "--config=" + t.config_path()});
  CHECK(eq.exit_code == 0);
  CHECK(eq.output.find("alice") != std::string::npos);
  auto bad = e2e::run_process({e2e::binary_path(), "serve", "--listen", "nonsense"});
  CHECK(bad.exit_code == 1);
  auto unknown_key = e2e::run_shell("echo '{\"listne\": 1}' > " + t.dir() + "/bad.json && " + e2e::binary_path() +
                                    " serve --config " + t.dir() + "/bad.json");
  CHECK(unknown_key.exit_code == 1);
  CHECK(unknown_key.output.find("listne: unknown setting") != std::string::npos);
  t.start();
  CHECK(t.login("alice", "a new long password").size() == 256);
}
