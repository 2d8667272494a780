// End-to-end: the validation cache's bound for changes made by another
// writer on the same SQLite file (docs/operations.md, "Validation cache"):
// the CLI (`tokend token revoke`, `tokend user disable`, `tokend user
// grant-admin`) writing the file a running tokend serves, and a second tokend
// process on the same file. The token is first validated on the serving
// instance (so it is remembered), the other writer changes it, and every
// validation sent later than max_staleness_ms after the writer returned must
// get the new answer (one sent earlier may get either).
#include <catch2/catch.hpp>

#include <string>

#include <nlohmann/json.hpp>

#include "support/process.hpp"
#include "support/staleness.hpp"

using e2e::bearer;
using e2e::check_within_bound;
using e2e::kMaxStalenessMs;
using e2e::remember;
using e2e::StalenessClock;
using e2e::TokendProcess;
using e2e::check_refused_within_bound;
using e2e::watch_change;
using nlohmann::json;


TEST_CASE("the CLI writing the SQLite file: token revoke, user disable and grant-admin reach a running tokend within max_staleness_ms",
          "[e2e][cache][staleness]") {
  TokendProcess t(e2e::staleness_config());
  t.add_user("alice", "alices password");
  t.add_user("bob", "bobs password");
  const std::string alices = t.login("alice", "alices password");
  const std::string alices_other = t.login("alice", "alices password");
  const std::string bobs = t.login("bob", "bobs password");
  const std::string bobs_other = t.login("bob", "bobs password");
  for (const auto& tok : {alices, alices_other, bobs, bobs_other}) remember(t, tok);

  SECTION("tokend token revoke ID") {
    const long long id = e2e::token_id(t, alices);
    auto r = e2e::tokend_cli(t, {"token", "revoke", std::to_string(id)});
    const auto t0 = StalenessClock::now();
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    check_refused_within_bound("token revoke by the CLI", t0, [&] {
                         return t.get("/api/user", bearer(alices)).status;
                       });
    // The other token of the account is not revoked: it still validates.
    CHECK(t.get("/api/user", bearer(alices_other)).status == 200);
  }
  SECTION("tokend user disable NAME") {
    auto r = e2e::tokend_cli(t, {"user", "disable", "bob"});
    const auto t0 = StalenessClock::now();
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    check_within_bound("user disable by the CLI", watch_change(t0, kMaxStalenessMs, [&] {
                         // Both of bob's tokens: the answer counts as new only when both are refused.
                         const int a = t.get("/api/user", bearer(bobs)).status;
                         const int b = t.get("/api/user", bearer(bobs_other)).status;
                         return a == b ? a : 0;
                       }, [](int s) { return s == 401; }));
    CHECK(t.get("/api/user", bearer(alices)).status == 200);
  }
  SECTION("tokend user grant-admin NAME: GET /api/user shows the role") {
    REQUIRE(t.get("/api/user", bearer(alices)).json()["admin"] == false);
    auto r = e2e::tokend_cli(t, {"user", "grant-admin", "alice"});
    const auto t0 = StalenessClock::now();
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    // 1: a 200 saying admin; 2: a 200 saying not admin; else the status.
    check_within_bound("grant-admin by the CLI", watch_change(t0, kMaxStalenessMs, [&] {
                         auto u = t.get("/api/user", bearer(alices));
                         if (u.status != 200) return u.status;
                         return u.json()["admin"] == true ? 1 : 2;
                       }, [](int s) { return s == 1; }));
  }
}

TEST_CASE("two tokend processes on one SQLite file: issued on A validates on B, revoked on A refused on B, within max_staleness_ms",
          "[e2e][cache][staleness]") {
  TokendProcess a(e2e::staleness_config());
  a.add_user("alice", "alices password");
  json shared = e2e::staleness_config();
  shared["database"] = {{"path", a.db_path()}};
  TokendProcess b(shared);
  // B has validated something, so its filter and memory are in use.
  const std::string first = a.login("alice", "alices password");
  {
    const auto seen = watch_change(StalenessClock::now(), kMaxStalenessMs,
                                   [&] { return b.get("/api/user", bearer(first)).status; },
                                   [](int s) { return s == 200; });
    REQUIRE(seen.old_after_bound == 0);
  }

  // A token issued on A: on B, every validation sent after the bound is a 200
  // (before it, B may not know the token yet: 401).
  const std::string issued = a.login("alice", "alices password");
  const auto t_issue = StalenessClock::now();
  check_within_bound("a token issued on A, validated on B", watch_change(t_issue, kMaxStalenessMs, [&] {
                       return b.get("/api/user", bearer(issued)).status;
                     }, [](int s) { return s == 200; }));

  // Remembered on B, revoked on A (DELETE /api/tokens/{id}).
  remember(b, issued);
  const long long id = e2e::token_id(a, issued);
  auto del = e2e::http(a.port(), "DELETE", "/api/tokens/" + std::to_string(id), "", bearer(first));
  const auto t_revoke = StalenessClock::now();
  REQUIRE(del.status == 204);
  // On A itself: the very next validation refuses it (same instance: no window).
  CHECK(a.get("/api/user", bearer(issued)).status == 401);
  check_refused_within_bound("a token revoked on A, validated on B", t_revoke, [&] {
                       return b.get("/api/user", bearer(issued)).status;
                     });
  CHECK(b.get("/api/user", bearer(first)).status == 200);

  // The token revoking itself on B (DELETE /api/token): refused on A.
  remember(a, first);
  REQUIRE(e2e::http(b.port(), "DELETE", "/api/token", "", bearer(first)).status == 204);
  const auto t_self = StalenessClock::now();
  check_refused_within_bound("a token revoking itself on B, validated on A", t_self, [&] {
                       return a.get("/api/user", bearer(first)).status;
                     });
}
