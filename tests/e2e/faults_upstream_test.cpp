// End-to-end injected upstream faults against the real binary: slapd killed
// (SIGKILL) and restarted in the middle of LDAP logins under load, and an
// OAuth provider that resets its connections mid-answer or answers one byte
// at a time. What a user would check: only bounded 502/503/504 answers
// (never a 401 for a directory that died, never a hang), every token answered
// with 200 validates, the rest of the server keeps answering, and logins
// succeed again afterwards without a restart (no upstream worker is stuck,
// the LDAP and HTTPS connection pools recover).
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/fake_provider.hpp"
#include "support/process.hpp"
#include "support/slapd_fixture.hpp"

using e2e::bearer;
using e2e::is_token;
using e2e::Response;
using e2e::SlapdFixture;
using e2e::TokendProcess;
using nlohmann::json;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Polls `done` every 10 ms until it holds or `seconds` pass; whether it held.
template <typename F>
bool wait_until(F done, double seconds) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

struct Outcome {
  int status = 0;
  std::string error;  // the JSON error code, "" for a 200
  std::string retry_after;
  double seconds = 0;
};

// Logins recorded by several client threads.
struct Record {
  std::mutex mu;
  std::vector<Outcome> outcomes;
  std::vector<std::string> tokens;
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};

  void add(const Response& r, double seconds) {
    Outcome o{r.status, "", r.header("retry-after"), seconds};
    std::lock_guard lock(mu);
    if (r.status == 200) {
      tokens.push_back(r.json()["token"].get<std::string>());
      ++ok;
    } else {
      const auto j = r.json();
      o.error = j.is_object() && j.contains("error") ? j["error"].get<std::string>() : "(no JSON) " + r.body;
      ++failed;
    }
    outcomes.push_back(std::move(o));
  }
};

void require_all_validate(TokendProcess& t, const std::vector<std::string>& tokens) {
  for (const auto& tok : tokens) {
    REQUIRE(is_token(tok));
    REQUIRE(t.get("/api/user", bearer(tok)).status == 200);
  }
}

Response ldap_login(TokendProcess& t, const std::string& user, const std::string& password) {
  return t.post("/api/authenticate/ldap", json{{"username", user}, {"password", password}}.dump());
}

Response github_login(TokendProcess& t, const std::string& access_token) {
  return t.post("/api/authenticate/github",
                json{{"email", "alice@example.com"}, {"info", {{"accessToken", access_token}}}}.dump());
}

}  // namespace

TEST_CASE("faults: slapd killed and restarted under LDAP logins: 503 with Retry-After, then logins succeed again",
          "[e2e][faults][ldap]") {
  SlapdFixture fx;
  constexpr int kConnectMs = 1000, kOperationMs = 2000;
  const json ldap = {{"type", "ldap"},
                     {"url", fx.ldaps_url()},
                     {"ca_file", fx.ca_file()},
                     {"bind_dn", SlapdFixture::kReaderDn},
                     {"bind_password", SlapdFixture::kReaderPassword},
                     {"base_dn", SlapdFixture::kSuffix},
                     {"user_filter", "(&(objectClass=inetOrgPerson)(uid={username}))"},
                     {"connect_timeout_ms", kConnectMs},
                     {"operation_timeout_ms", kOperationMs}};
  TokendProcess t({{"auth", {{"ldap", ldap}}}, {"threads", {{"upstream_workers", 4}}}});
  const std::vector<std::pair<std::string, std::string>> users = {{"alice", "alice-password-1"},
                                                                  {"bob", "bob-password-2"}};
  // First logins create the accounts; the load below only reuses them.
  for (const auto& [u, p] : users) REQUIRE(ldap_login(t, u, p).status == 200);

  Record rec;
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i) {
    clients.emplace_back([&, i] {
      const auto& [u, p] = users[static_cast<std::size_t>(i) % users.size()];
      // Bounded even if the test's waits below never end it.
      for (int n = 0; n < 5000 && !stop.load(); ++n) {
        const auto start = Clock::now();
        Response r = ldap_login(t, u, p);
        rec.add(r, seconds_since(start));
      }
    });
  }
  struct Join {
    std::atomic<bool>& stop;
    std::vector<std::thread>& threads;
    ~Join() {
      stop = true;
      for (auto& th : threads) th.join();
    }
  } join{stop, clients};

  REQUIRE(wait_until([&] { return rec.ok.load() >= 8; }, 30));
  fx.kill();  // mid-login for some of the four clients
  REQUIRE(wait_until([&] { return rec.failed.load() >= 8; }, 30));
  // The rest of the server keeps answering while the directory is down.
  const auto health_start = Clock::now();
  CHECK(t.get("/healthz").status == 200);
  CHECK(seconds_since(health_start) < 1.0);
  fx.start();
  const int ok_at_restart = rec.ok.load();
  REQUIRE(wait_until([&] { return rec.ok.load() >= ok_at_restart + 8; }, 30));
  stop = true;
  for (auto& th : clients) th.join();
  clients.clear();

  // Only the documented failure: 503 upstream_unavailable with Retry-After
  // (for a login in flight when slapd died: the kernel reset its connections,
  // so nobody waits for a timeout; and for a connection refused while it was
  // down); never 401 (a dead directory is not a wrong password), 500 or a
  // hang.
  std::set<std::string> seen;
  for (const auto& o : rec.outcomes) {
    INFO(o.status << " " << o.error << " after " << o.seconds << " s");
    CHECK((o.status == 200 || o.status == 503));
    if (o.status == 503) {
      CHECK(o.error == "upstream_unavailable");
      CHECK(o.retry_after == "5");
    }
    // A login's worst case: connect + three operations, and a retry's connect.
    CHECK(o.seconds < (2 * kConnectMs + 3 * kOperationMs) / 1000.0 + 1.0);
    seen.insert(std::to_string(o.status) + " " + o.error);
  }
  INFO("answers seen: " << nlohmann::json(seen).dump());
  CHECK(rec.failed.load() >= 8);
  require_all_validate(t, rec.tokens);

  // Recovered: a round of parallel logins (more than the upstream workers)
  // all succeed, quickly.
  const auto round_start = Clock::now();
  std::vector<std::future<int>> round;
  for (int i = 0; i < 8; ++i) {
    round.push_back(std::async(std::launch::async, [&, i] {
      const auto& [u, p] = users[static_cast<std::size_t>(i) % users.size()];
      return ldap_login(t, u, p).status;
    }));
  }
  for (auto& f : round) CHECK(f.get() == 200);
  CHECK(seconds_since(round_start) < 5.0);
}

TEST_CASE("faults: a provider that resets mid-answer or trickles byte by byte: bounded 503/504, then it recovers",
          "[e2e][faults][provider]") {
  e2e::FakeProvider fake;
  constexpr int kTimeoutMs = 2000;
  constexpr int kUpstreamWorkers = 4;
  const json github = {{"type", "github"},
                       {"ca_file", fake.ca_file()},
                       {"proxy", ""},
                       {"api_url", fake.base_url()},
                       {"timeout_ms", kTimeoutMs}};
  TokendProcess t({{"auth", {{"github", github}, {"userpass", {{"type", "userpass"}}}}},
                   {"threads", {{"upstream_workers", kUpstreamWorkers}}}});
  // A pooled keep-alive connection to the provider exists before the faults.
  Response first = github_login(t, "tok-alice");
  REQUIRE(first.status == 200);
  std::vector<std::string> tokens{first.json()["token"].get<std::string>()};

  // More faulty logins than upstream workers, all at once.
  struct Call {
    std::string token;
    std::future<std::pair<Response, double>> result;
  };
  std::vector<Call> calls;
  for (int i = 0; i < 10; ++i) {
    const std::string tok = i % 2 == 0 ? "tok-reset" : "tok-trickle";
    calls.push_back({tok, std::async(std::launch::async, [&t, tok] {
                       const auto start = Clock::now();
                       Response r = github_login(t, tok);
                       return std::make_pair(r, seconds_since(start));
                     })});
  }
  // The rest of the server answers at once meanwhile, though every upstream
  // worker may be waiting on a trickling provider.
  REQUIRE(wait_until([&] { return fake.hits("/user") >= kUpstreamWorkers; }, 10));
  const auto health_start = Clock::now();
  CHECK(t.get("/healthz").status == 200);
  CHECK(t.get("/metrics").status == 200);
  CHECK(seconds_since(health_start) < 1.0);

  for (auto& c : calls) {
    auto [r, took] = c.result.get();
    INFO(c.token << ": " << r.status << " " << r.body << " after " << took << " s");
    if (c.token == "tok-reset") {
      // A reset connection is a provider that went away: retry later.
      CHECK(r.status == 503);
      CHECK(r.json()["error"] == "upstream_unavailable");
      CHECK(r.header("retry-after") == "5");
    } else {
      CHECK(r.status == 504);
      CHECK(r.json()["error"] == "upstream_timeout");
      CHECK(took >= kTimeoutMs / 1000.0 * 0.9);
    }
    // Bounded: at worst the call waited for a worker that waited for a
    // trickle's timeout, then ran into its own timeout.
    CHECK(took < 3 * kTimeoutMs / 1000.0 + 1.0);
  }

  // Recovered: no worker is stuck and no pooled connection is broken; a
  // round of parallel good logins (more than the workers) all succeed.
  const auto round_start = Clock::now();
  std::vector<std::future<Response>> round;
  for (int i = 0; i < 2 * kUpstreamWorkers; ++i) {
    round.push_back(std::async(std::launch::async, [&t] { return github_login(t, "tok-alice"); }));
  }
  for (auto& f : round) {
    Response r = f.get();
    INFO(r.body);
    REQUIRE(r.status == 200);
    tokens.push_back(r.json()["token"].get<std::string>());
  }
  CHECK(seconds_since(round_start) < 5.0);
  require_all_validate(t, tokens);
}
