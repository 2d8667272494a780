// End-to-end: the validation cache's bound on PostgreSQL (docs/operations.md,
// "Validation cache"). Two instances on one database: a token issued on A
// validates on B, and a revoke, an account disabled through the admin API and
// a rotation on A are honoured on B, each for every validation sent later
// than max_staleness_ms after A answered. And when the feed is lost: with the
// `changes` table renamed away, the instance reports
// tokend_validation_cache_fresh 0 within the bound and answers from the
// database (a token revoked with plain SQL, which records no change, is
// refused at once), and is fresh again once the table is back; with every
// tokend connection killed (pg_terminate_backend), a live token gets only 200
// or 503 and a revoked one never a 200 after the bound.
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/instances.hpp"
#include "support/pg_cluster.hpp"
#include "support/process.hpp"
#include "support/staleness.hpp"

using e2e::bearer;
using e2e::check_within_bound;
using e2e::Instances;
using e2e::kMaxStalenessMs;
using e2e::remember;
using e2e::StalenessClock;
using e2e::TokendProcess;
using e2e::check_refused_within_bound;
using e2e::watch_change;
using nlohmann::json;
using tokend::testing::PgCluster;
using tokend::testing::PgDatabase;

namespace {

const std::string kFresh = "tokend_validation_cache_fresh";

// Polls `done` every 20 ms until it holds or `seconds` pass; whether it held.
template <typename F>
bool wait_until(F done, double seconds) {
  const auto deadline = StalenessClock::now() + std::chrono::duration<double>(seconds);
  while (!done()) {
    if (StalenessClock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

std::string login(TokendProcess& t, const std::string& user, const std::string& password) {
  auto r = t.post("/api/authenticate/userpass", json{{"username", user}, {"password", password}}.dump());
  INFO(r.body);
  REQUIRE(r.status == 200);
  return r.json()["token"];
}

}  // namespace

TEST_CASE("two instances on PostgreSQL: issue, revoke, disable by an admin and rotation on A reach B within max_staleness_ms",
          "[e2e][cache][staleness][postgresql]") {
  PgDatabase db;
  Instances inst(db, 2, e2e::staleness_config());
  TokendProcess& a = inst[0];
  TokendProcess& b = inst[1];
  a.add_user("alice", "alices password");
  a.add_user("bob", "bobs password");
  REQUIRE(a.cli({"add", "root", "--admin"}, "roots password\n").exit_code == 0);
  const std::string admin = login(a, "root", "roots password");
  const std::string alices = login(a, "alice", "alices password");
  // Issued on A: B may need the bound to learn of it.
  REQUIRE(wait_until([&] { return b.get("/api/user", bearer(alices)).status == 200; }, 5));
  remember(b, alices);

  SECTION("a token issued on A validates on B") {
    const std::string issued = login(a, "alice", "alices password");
    const auto t0 = StalenessClock::now();
    check_within_bound("issued on A, validated on B", watch_change(t0, kMaxStalenessMs, [&] {
                         return b.get("/api/user", bearer(issued)).status;
                       }, [](int s) { return s == 200; }));
  }
  SECTION("a token revoked on A is refused on B") {
    const std::string victim = login(a, "alice", "alices password");
    // Known to B (it may need the bound to learn of it), then remembered.
    REQUIRE(wait_until([&] { return b.get("/api/user", bearer(victim)).status == 200; }, 5));
    remember(b, victim);
    const long long id = e2e::token_id(a, victim);
    auto del = e2e::http(a.port(), "DELETE", "/api/tokens/" + std::to_string(id), "", bearer(alices));
    const auto t0 = StalenessClock::now();
    REQUIRE(del.status == 204);
    CHECK(a.get("/api/user", bearer(victim)).status == 401);  // on A: at once
    check_refused_within_bound("revoked on A, validated on B", t0, [&] {
                         return b.get("/api/user", bearer(victim)).status;
                       });
    CHECK(b.get("/api/user", bearer(alices)).status == 200);
  }
  SECTION("an account disabled through the admin API on A is refused on B") {
    const std::string bobs = login(a, "bob", "bobs password");
    REQUIRE(wait_until([&] { return b.get("/api/user", bearer(bobs)).status == 200; }, 5));
    remember(b, bobs);
    const long long bob_id = b.get("/api/user", bearer(bobs)).json()["id"].get<long long>();
    auto r = e2e::http(a.port(), "POST", "/api/admin/users/" + std::to_string(bob_id) + "/disable", "", bearer(admin));
    const auto t0 = StalenessClock::now();
    INFO(r.body);
    REQUIRE(r.status == 200);
    CHECK(a.get("/api/user", bearer(bobs)).status == 401);  // on A: at once
    check_refused_within_bound("disabled on A by an admin, validated on B", t0, [&] {
                         return b.get("/api/user", bearer(bobs)).status;
                       });
    CHECK(b.get("/api/user", bearer(alices)).status == 200);
  }
  SECTION("a session signed out on A: on B its cookie no longer mints tokens") {
    const std::string cookie = e2e::sign_in(a.port(), "alice", "alices password");
    const std::map<std::string, std::string> page = {{"Cookie", cookie}, {"Origin", e2e::kPublicOrigin}};
    // Used on B twice: the second exchange resolves the session from memory.
    REQUIRE(e2e::via(b.port(), "POST", "/api/token", "{}", page).status == 200);
    const long long before = e2e::metric(b.port(), "tokend_session_cache_hits_total");
    REQUIRE(e2e::via(b.port(), "POST", "/api/token", "{}", page).status == 200);
    REQUIRE(e2e::metric(b.port(), "tokend_session_cache_hits_total") == before + 1);
    auto out = e2e::via(a.port(), "POST", "/api/logout", "", page);
    const auto t0 = StalenessClock::now();
    REQUIRE(out.status == 204);
    CHECK(e2e::via(a.port(), "POST", "/api/token", "{}", page).status == 401);  // on A: at once
    check_refused_within_bound("signed out on A, cookie exchanged on B", t0, [&] {
                         return e2e::via(b.port(), "POST", "/api/token", "{}", page).status;
                       });
  }
  SECTION("a token rotated on A: on B the old one is refused and the new one validates") {
    const std::string old = login(a, "alice", "alices password");
    REQUIRE(wait_until([&] { return b.get("/api/user", bearer(old)).status == 200; }, 5));
    remember(b, old);
    const long long id = e2e::token_id(a, old);
    auto r = e2e::http(a.port(), "POST", "/api/tokens/" + std::to_string(id) + "/rotate", "", bearer(old));
    const auto t0 = StalenessClock::now();
    INFO(r.body);
    REQUIRE(r.status == 200);
    const std::string fresh = r.json()["token"];
    CHECK(a.get("/api/user", bearer(old)).status == 401);  // on A: at once
    CHECK(a.get("/api/user", bearer(fresh)).status == 200);
    // The answer code: the old token's status times 1000 plus the new one's.
    check_within_bound("rotated on A, both tokens validated on B", watch_change(t0, kMaxStalenessMs, [&] {
                         return b.get("/api/user", bearer(old)).status * 1000 + b.get("/api/user", bearer(fresh)).status;
                       }, [](int s) { return s == 401 * 1000 + 200; }));
  }
}

TEST_CASE("feed lost on PostgreSQL: the instance goes stale within max_staleness_ms, answers from the database, and is fresh again",
          "[e2e][cache][staleness][faults][postgresql]") {
  auto cluster = PgCluster::start_private();
  PgDatabase db(*cluster);
  Instances inst(db, 1, e2e::staleness_config());
  TokendProcess& t = inst[0];
  t.add_user("alice", "alices password");
  const std::string live = login(t, "alice", "alices password");
  const std::string victim = login(t, "alice", "alices password");
  const std::string later = login(t, "alice", "alices password");
  for (const auto& tok : {live, victim, later}) remember(t, tok);
  const long long victim_id = e2e::token_id(t, victim);
  const long long later_id = e2e::token_id(t, later);
  REQUIRE(wait_until([&] { return e2e::metric(t.port(), kFresh) == 1; }, 5));

  // Only the feed breaks: every other table still answers.
  cluster->exec(db.name(), "ALTER TABLE changes RENAME TO changes_gone");
  const auto t0 = StalenessClock::now();
  check_within_bound("feed lost: tokend_validation_cache_fresh 0", watch_change(t0, kMaxStalenessMs, [&] {
                       return static_cast<int>(e2e::metric(t.port(), kFresh));
                     }, [](int v) { return v == 0; }));

  // Answers come from the database: a revoke that records no change (plain
  // SQL) is refused at the very next validation; the live token still works.
  cluster->exec(db.name(), "UPDATE tokens SET revoked_at = (extract(epoch FROM now()) * 1000)::bigint WHERE id = " +
                               std::to_string(victim_id));
  CHECK(t.get("/api/user", bearer(victim)).status == 401);
  CHECK(t.get("/api/user", bearer(live)).status == 200);
  CHECK(e2e::metric(t.port(), kFresh) == 0);

  // The feed back: fresh again, and the answers are still right.
  cluster->exec(db.name(), "ALTER TABLE changes_gone RENAME TO changes");
  const auto back = StalenessClock::now();
  REQUIRE(wait_until([&] { return e2e::metric(t.port(), kFresh) == 1; }, 10));
  std::cout << "[staleness] feed back: fresh again after "
            << std::chrono::duration<double, std::milli>(StalenessClock::now() - back).count() << " ms" << std::endl;
  for (int i = 0; i < 3; ++i) {
    CHECK(t.get("/api/user", bearer(victim)).status == 401);
    CHECK(t.get("/api/user", bearer(live)).status == 200);
    CHECK(t.get("/api/user", bearer(later)).status == 200);
  }
  // And the feed carries other writers' changes again: the CLI's revoke.
  auto r = e2e::tokend_cli(t, {"token", "revoke", std::to_string(later_id)});
  const auto t1 = StalenessClock::now();
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  check_refused_within_bound("feed back: revoked by the CLI", t1, [&] {
                       return t.get("/api/user", bearer(later)).status;
                     });
  CHECK(t.get("/api/user", bearer(live)).status == 200);
}

TEST_CASE("every tokend connection killed on PostgreSQL: only 200 or 503 for a live token, never a stale 200 for a revoked one",
          "[e2e][cache][staleness][faults][postgresql]") {
  auto cluster = PgCluster::start_private();
  PgDatabase db(*cluster);
  Instances inst(db, 1, e2e::staleness_config());
  TokendProcess& t = inst[0];
  t.add_user("alice", "alices password");
  const std::string live = login(t, "alice", "alices password");
  const std::string victim = login(t, "alice", "alices password");
  remember(t, live);
  remember(t, victim);
  const long long victim_id = e2e::token_id(t, victim);

  struct Answer {
    StalenessClock::time_point sent;
    bool is_victim = false;
    int status = 0;
  };
  std::mutex mu;
  std::vector<Answer> answers;
  std::atomic<bool> stop{false};
  std::vector<std::thread> clients;
  for (int c = 0; c < 2; ++c) {
    clients.emplace_back([&, c] {
      const std::string& token = c == 0 ? live : victim;
      while (!stop) {
        Answer a;
        a.sent = StalenessClock::now();
        a.is_victim = c == 1;
        a.status = t.get("/api/user", bearer(token)).status;
        {
          std::lock_guard lock(mu);
          answers.push_back(a);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(3));
      }
    });
  }
  auto pause = [](int ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); };

  pause(200);
  int killed = 0;
  for (int i = 0; i < 3; ++i) {
    killed += cluster->terminate_backends(db.name());
    pause(150);
  }
  // Revoked by another writer (the CLI) between two rounds of kills.
  auto r = e2e::tokend_cli(t, {"token", "revoke", std::to_string(victim_id)});
  const auto t0 = StalenessClock::now();
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  for (int i = 0; i < 3; ++i) {
    killed += cluster->terminate_backends(db.name());
    pause(150);
  }
  pause(kMaxStalenessMs + 600);
  stop = true;
  for (auto& c : clients) c.join();

  const auto bound = t0 + std::chrono::milliseconds(kMaxStalenessMs);
  int live_ok = 0, live_503 = 0, victim_after = 0, victim_refused_after = 0;
  for (const auto& a : answers) {
    const double at_ms = std::chrono::duration<double, std::milli>(a.sent - t0).count();
    INFO((a.is_victim ? "revoked token" : "live token") << ": " << a.status << " sent " << at_ms
                                                        << " ms after the revoke");
    if (!a.is_victim) {
      CHECK((a.status == 200 || a.status == 503));
      live_ok += a.status == 200;
      live_503 += a.status == 503;
    } else {
      CHECK((a.status == 200 || a.status == 401 || a.status == 503));
      if (a.sent > bound) {
        ++victim_after;
        CHECK(a.status != 200);
        victim_refused_after += a.status == 401;
      }
    }
  }
  std::cout << "[staleness] connections killed: " << killed << " backends; " << answers.size() << " answers, live token "
            << live_ok << " x 200 and " << live_503 << " x 503; revoked token after the bound " << victim_refused_after
            << " x 401 of " << victim_after << std::endl;
  CHECK(killed > 0);
  CHECK(victim_after >= 10);
  // Recovered: the live token validates and the revoked one is refused.
  REQUIRE(wait_until([&] { return t.get("/api/user", bearer(live)).status == 200; }, 10));
  CHECK(t.get("/api/user", bearer(victim)).status == 401);
  REQUIRE(wait_until([&] { return e2e::metric(t.port(), kFresh) == 1; }, 10));
}
