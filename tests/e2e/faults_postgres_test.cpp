// End-to-end PostgreSQL faults against the real binary, each on a private
// throwaway cluster (tests/support/pg_cluster.hpp) that the test stops and
// starts: the server down when tokend starts, and the server restarted and
// its connections killed (pg_terminate_backend) under load. What a user
// would check: tokend starts and says it is not ready (GET /healthz 503, GET
// /livez 200), requests answer 503 storage_unavailable with Retry-After
// quickly (never 401 for a database that is down, never 500, never a hang),
// it recovers by itself once the server is back, and every token that got a
// 200 is valid afterwards.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/instances.hpp"
#include "support/pg_cluster.hpp"
#include "support/process.hpp"

using e2e::bearer;
using e2e::is_token;
using e2e::Response;
using e2e::TokendProcess;
using nlohmann::json;
using tokend::testing::PgCluster;
using tokend::testing::PgDatabase;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// One tokend on `db`, its password in a file of its own folder.
nlohmann::json pg_config(const PgDatabase& db, const std::string& password_file) {
  json c = e2e::postgres_config(db, password_file);
  c.merge_patch({{"tokens", {{"max_created_per_minute", 0}, {"max_live_per_account", 0}}}});
  return c;
}

std::string write_password_file(const PgCluster& cluster) {
  char tmpl[] = "/tmp/tokend-pgpass-XXXXXX";
  const int fd = ::mkstemp(tmpl);
  REQUIRE(fd >= 0);
  const std::string text = cluster.password() + "\n";
  REQUIRE(::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  ::close(fd);
  return tmpl;
}

struct PasswordFile {
  explicit PasswordFile(const PgCluster& c) : path(write_password_file(c)) {}
  ~PasswordFile() { ::unlink(path.c_str()); }
  std::string path;
};

// Polls `done` every 50 ms until it holds or `seconds` pass; whether it held.
template <typename F>
bool wait_until(F done, double seconds) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

// What every answer of a database that is down must look like.
void check_storage_unavailable(const Response& r) {
  INFO(r.status << " " << r.body);
  CHECK(r.status == 503);
  CHECK(r.json()["error"] == "storage_unavailable");
  CHECK(r.header("retry-after") == "1");
}

std::string sign_in(TokendProcess& t, const std::string& user, const std::string& password) {
  auto r = t.post("/api/login", json{{"username", user}, {"password", password}}.dump());
  INFO(r.body);
  REQUIRE(r.status == 200);
  const std::string set = r.header("set-cookie");
  return set.substr(0, set.find(';'));
}

// The bound every answer must meet while the database is down or flapping:
// well under tokend's timeouts toward PostgreSQL, far from a hang.
constexpr double kQuick = 5.0;

}  // namespace

TEST_CASE("faults: PostgreSQL down when tokend starts: tokend starts not ready, answers 503 fast, then connects by itself",
          "[e2e][faults][postgresql]") {
  auto cluster = PgCluster::start_private();
  PgDatabase db(*cluster);
  PasswordFile pw(*cluster);
  TokendProcess t(pg_config(db, pw.path), false);
  // The schema and an account exist (a deployment that ran before).
  t.add_user("alice", "alices password");
  cluster->halt();

  const auto started = Clock::now();
  REQUIRE_NOTHROW(t.start());
  INFO("started in " << seconds_since(started) << " s");

  // Alive, not ready.
  auto live = t.get("/livez");
  CHECK(live.status == 200);
  CHECK(live.json()["status"] == "ok");
  for (int i = 0; i < 3; ++i) {
    const auto t0 = Clock::now();
    auto h = t.get("/healthz");
    const double took = seconds_since(t0);
    INFO("GET /healthz took " << took << " s: " << h.body);
    CHECK(h.status == 503);
    CHECK(h.json()["status"] == "unavailable");
    CHECK(h.json()["error"] == "storage_unavailable");
    CHECK(h.header("retry-after") == "1");
    CHECK(took < kQuick);
  }
  // Requests that need the database: 503 storage_unavailable with
  // Retry-After, quickly; never a 401 for a token the database could not
  // look up.
  const std::string unknown(256, 'a');
  for (int i = 0; i < 3; ++i) {
    auto t0 = Clock::now();
    auto r = t.get("/api/user", bearer(unknown));
    CHECK(seconds_since(t0) < kQuick);
    check_storage_unavailable(r);
  }
  {
    // A login cannot read the account: the same 503, never a 401.
    auto t0 = Clock::now();
    auto r = t.post("/api/authenticate/userpass", json{{"username", "alice"}, {"password", "alices password"}}.dump());
    CHECK(seconds_since(t0) < kQuick);
    check_storage_unavailable(r);
  }
  CHECK(t.get("/livez").status == 200);

  // The server comes up: tokend connects by itself, without a restart.
  cluster->resume();
  const auto up = Clock::now();
  REQUIRE(wait_until([&] { return t.get("/healthz").status == 200; }, 30));
  INFO("ready " << seconds_since(up) << " s after the server came up");
  const std::string token = t.login("alice", "alices password");
  CHECK(t.get("/api/user", bearer(token)).status == 200);
  const auto log = t.log();
  CHECK(log.find("health check: not ready") != std::string::npos);
  CHECK(log.find("health check: ready") != std::string::npos);
  // The password never reaches the log.
  CHECK(log.find(cluster->password()) == std::string::npos);
}

TEST_CASE("faults: PostgreSQL restarted and its connections killed under load: bounded 503s, recovery, no 200 lost",
          "[e2e][faults][postgresql]") {
  auto cluster = PgCluster::start_private();
  PgDatabase db(*cluster);
  PasswordFile pw(*cluster);
  TokendProcess a(pg_config(db, pw.path));
  TokendProcess b(pg_config(db, pw.path));
  a.add_user("alice", "alices password");
  const std::string cookie = sign_in(a, "alice", "alices password");
  const std::string seed = a.login("alice", "alices password");
  // Issued on A: B knows of it within validation_cache.max_staleness_ms.
  e2e::wait_for_other_writers();

  // Four clients on two instances: tokens issued (cookie exchange, a write
  // per token) and validated (a read per request).
  struct Seen {
    int status = 0;
    std::string error, retry_after, token;
    double seconds = 0;
  };
  std::mutex mu;
  std::vector<Seen> seen;
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      TokendProcess& t = c % 2 ? b : a;
      while (!stop) {
        const auto t0 = Clock::now();
        Response r = c < 2 ? t.post("/api/token", "{}", {{"Cookie", cookie}}) : t.get("/api/user", bearer(seed));
        Seen s;
        s.seconds = seconds_since(t0);
        s.status = r.status;
        if (r.status != 200) {
          s.error = r.json().is_object() ? r.json().value("error", "") : "";
          s.retry_after = r.header("retry-after");
        } else if (c < 2) {
          s.token = r.json()["token"];
        }
        const bool refused = s.status != 200;
        {
          std::lock_guard lock(mu);
          seen.push_back(std::move(s));
        }
        // A client that was refused waits a little (less than the 1 s of
        // Retry-After, so that recovery shows quickly), instead of spinning.
        if (refused) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
    });
  }
  auto count = [&] {
    std::lock_guard lock(mu);
    return seen.size();
  };
  auto wait_more = [&](std::size_t n) {
    const std::size_t target = count() + n;
    return wait_until([&] { return count() >= target; }, 60);
  };

  REQUIRE(wait_more(40));
  // Every server connection of the database killed, twice.
  std::size_t before_kill = count();
  CHECK(cluster->terminate_backends(db.name()) > 0);
  REQUIRE(wait_more(40));
  CHECK(cluster->terminate_backends(db.name()) >= 0);
  REQUIRE(wait_more(40));
  std::size_t after_kill = count();

  // The server restarted (an immediate stop: like a crash) while they run.
  cluster->halt();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const std::size_t while_down = count();
  cluster->resume();
  // Recovery: without a restart of tokend, each instance answers again once
  // its reconnect backoff (at most 2 s) has passed.
  const auto back = Clock::now();
  REQUIRE(wait_until([&] {
    return a.get("/api/user", bearer(seed)).status == 200 && b.get("/api/user", bearer(seed)).status == 200;
  }, 30));
  const double recovered_after = seconds_since(back);
  REQUIRE(wait_more(40));
  stop = true;
  for (auto& t : clients) t.join();

  // Only 200 or 503 storage_unavailable with Retry-After, each answered
  // quickly (no hang past the timeouts), never a 401 or a 500.
  int refused_at_kill = 0, refused_total = 0;
  std::vector<std::string> tokens;
  double slowest = 0;
  for (std::size_t i = 0; i < seen.size(); ++i) {
    const Seen& s = seen[i];
    slowest = std::max(slowest, s.seconds);
    if (s.status == 200) {
      if (!s.token.empty()) tokens.push_back(s.token);
      continue;
    }
    INFO("answer " << i << ": " << s.status << " " << s.error);
    CHECK(s.status == 503);
    CHECK(s.error == "storage_unavailable");
    CHECK(s.retry_after == "1");
    ++refused_total;
    if (i >= before_kill && i < after_kill) ++refused_at_kill;
  }
  INFO("both instances answered again " << recovered_after << " s after the server was back");
  INFO("slowest answer " << slowest << " s; 503s: " << refused_at_kill << " when connections were killed, "
                         << refused_total << " in all (" << seen.size() << " requests, " << while_down
                         << " before the server came back)");
  CHECK(slowest < 15.0);
  // Killed connections cost at most the requests that were using them (and
  // one more per pooled connection found dead): a few.
  CHECK(refused_at_kill <= 16);
  // Every token answered 200 is committed: it validates on both instances.
  REQUIRE(!tokens.empty());
  for (const auto& tok : tokens) {
    REQUIRE(is_token(tok));
    CHECK(a.get("/api/user", bearer(tok)).status == 200);
    CHECK(b.get("/api/user", bearer(tok)).status == 200);
  }
  CHECK(a.get("/healthz").status == 200);
  CHECK(b.get("/healthz").status == 200);
}
