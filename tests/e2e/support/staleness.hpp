// Test support for the validation cache's bound on other writers' changes
// (docs/operations.md, "Validation cache"): a change committed by another
// writer (another instance, the CLI) is seen by every validation *sent* more
// than validation_cache.max_staleness_ms after the change committed.
//
// How a test shows it: it records t0 when the writer's command or request
// returned (so the commit happened before t0), then sends the same request
// again and again until well past t0 + the bound (watch_change), and judges
// each answer by when it was sent: before the bound either answer is allowed,
// after it only the new one. The delay to the first new answer is printed, not
// asserted (speed is never asserted in a test).
//
// Thread-safety: one thread.
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <functional>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/process.hpp"

namespace e2e {

using StalenessClock = std::chrono::steady_clock;

// The settings every test of the bound runs with: a short bound and a fast
// poll, so that a test takes about a second per change.
inline constexpr int kMaxStalenessMs = 300;
inline constexpr int kPollIntervalMs = 20;

// The configuration patch of those tests: the bound and poll above, and no
// per-account brakes on token creation (the tests mint tokens freely).
inline nlohmann::json staleness_config() {
  return {{"validation_cache", {{"poll_interval_ms", kPollIntervalMs}, {"max_staleness_ms", kMaxStalenessMs}}},
          {"tokens", {{"max_created_per_minute", 0}, {"max_live_per_account", 0}}}};
}

struct ChangeSeen {
  int answers = 0;               // every answer received while watching
  int after_bound = 0;           // of which sent later than t0 + bound
  int old_after_bound = 0;       // of those, how many still gave the old answer (must be 0)
  int first_old_after_bound = 0; // the answer code of the first such (for the failure message)
  double first_new_ms = -1;      // when the first new answer was sent, ms after t0; -1: never
};

// Sends `ask()` (an answer code: an HTTP status, or anything the test derives
// from the answer) again and again, a few milliseconds apart, from now until
// t0 + bound_ms + extra_ms; `is_new` says which answers show the change.
inline ChangeSeen watch_change(StalenessClock::time_point t0, int bound_ms, const std::function<int()>& ask,
                               const std::function<bool(int)>& is_new, int extra_ms = 700) {
  ChangeSeen seen;
  const auto bound = t0 + std::chrono::milliseconds(bound_ms);
  const auto until = bound + std::chrono::milliseconds(extra_ms);
  while (StalenessClock::now() < until) {
    const auto sent = StalenessClock::now();
    const int answer = ask();
    ++seen.answers;
    const bool fresh = is_new(answer);
    if (fresh && seen.first_new_ms < 0) {
      seen.first_new_ms = std::chrono::duration<double, std::milli>(sent - t0).count();
    }
    if (sent > bound) {
      ++seen.after_bound;
      if (!fresh && seen.old_after_bound++ == 0) seen.first_old_after_bound = answer;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
  }
  return seen;
}

// The informational line each test prints: how long the change took to show.
inline void report_delay(const std::string& what, const ChangeSeen& seen) {
  std::cout << "[staleness] " << what << ": first new answer sent " << seen.first_new_ms << " ms after the change ("
            << seen.answers << " answers, " << seen.after_bound << " after the bound)" << std::endl;
}

// `tokend <args...> --config <t's configuration>`: the CLI as another writer
// on t's database.
inline ProcessResult tokend_cli(const TokendProcess& t, std::vector<std::string> args) {
  std::vector<std::string> argv{binary_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--config");
  argv.push_back(t.config_path());
  return run_process(argv);
}

// Validates `token` on `t` twice (the second answer may come from memory).
inline void remember(TokendProcess& t, const std::string& token) {
  for (int i = 0; i < 2; ++i) REQUIRE(t.get("/api/user", bearer(token)).status == 200);
}

// The id of a live token, as GET /api/user on `t` reports it.
inline long long token_id(TokendProcess& t, const std::string& token) {
  auto r = t.get("/api/user", bearer(token));
  REQUIRE(r.status == 200);
  return r.json()["token"]["id"].get<long long>();
}

// The guarantee itself: answers were received after the bound (so the check
// is not empty), and every one of them was the new answer.
inline void check_within_bound(const std::string& what, const ChangeSeen& seen) {
  report_delay(what, seen);
  INFO(what << ": " << seen.old_after_bound << " of " << seen.after_bound
            << " answers sent after the bound gave the old answer (the first: " << seen.first_old_after_bound
            << "); first new answer at " << seen.first_new_ms << " ms");
  CHECK(seen.after_bound >= 10);
  CHECK(seen.old_after_bound == 0);
}

// The commonest case: `ask` (a validation's status) must be 401 for every
// request sent after t0 + kMaxStalenessMs.
inline void check_refused_within_bound(const std::string& what, StalenessClock::time_point t0,
                                       const std::function<int()>& ask) {
  check_within_bound(what, watch_change(t0, kMaxStalenessMs, ask, [](int s) { return s == 401; }));
}

}  // namespace e2e
