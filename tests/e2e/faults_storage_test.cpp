// End-to-end injected storage faults against the real binary: the database's
// file system fills up while tokens are issued, another process holds the
// database's write lock past busy_timeout_ms, and the kernel forces the
// database's file system read-only after an error. Each test checks what a
// user of tokend would: the status codes (503 storage_unavailable with
// Retry-After, never a 200 for a token that was not stored), that every token
// answered with 200 still validates afterwards (on the file system gone
// read-only: every one answered before the kernel's error), that validation
// keeps answering, that issuing resumes (by itself once space or the lock
// returns; after a repair and a restart for a file system gone read-only), and
// that the file passes PRAGMA integrity_check once the server has stopped.
#include <catch2/catch.hpp>
#include <sqlite3.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/process.hpp"
#include "support/ext4_loop_mount.hpp"
#include "support/tmpfs_mount.hpp"

using e2e::bearer;
using e2e::is_token;
using e2e::Response;
using e2e::TokendProcess;

namespace {

using Clock = std::chrono::steady_clock;

// Signs in (POST /api/login) and returns "name=value" of the session cookie:
// the cheapest way to issue many tokens (no password hash per token).
std::string sign_in(TokendProcess& t, const std::string& user, const std::string& password) {
  auto r = t.post("/api/login", nlohmann::json{{"username", user}, {"password", password}}.dump());
  REQUIRE(r.status == 200);
  const std::string set = r.header("set-cookie");
  REQUIRE(!set.empty());
  return set.substr(0, set.find(';'));
}

Response issue(TokendProcess& t, const std::string& cookie) {
  return t.post("/api/token", "{}", {{"Cookie", cookie}});
}

// What every 503 of a storage fault must look like.
void check_storage_unavailable(const Response& r) {
  INFO(r.body);
  CHECK(r.status == 503);
  CHECK(r.json()["error"] == "storage_unavailable");
  CHECK(r.header("retry-after") == "1");
}

// The answers of a burst of POST /api/token: the tokens acknowledged with
// 200, and the 503s.
struct Burst {
  std::vector<std::string> tokens;
  std::vector<Response> refused;
  std::vector<Response> other;
};

// `threads` clients each issue `per_thread` tokens at once (so the store's
// committer groups several rows per transaction).
Burst issue_burst(TokendProcess& t, const std::string& cookie, int threads, int per_thread) {
  Burst b;
  std::mutex mu;
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&] {
      for (int j = 0; j < per_thread; ++j) {
        Response r = issue(t, cookie);
        std::lock_guard lock(mu);
        if (r.status == 200) {
          b.tokens.push_back(r.json()["token"].get<std::string>());
        } else if (r.status == 503) {
          b.refused.push_back(std::move(r));
        } else {
          b.other.push_back(std::move(r));
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  return b;
}

void require_all_validate(TokendProcess& t, const std::vector<std::string>& tokens) {
  for (const auto& tok : tokens) {
    REQUIRE(is_token(tok));
    auto r = t.get("/api/user", bearer(tok));
    INFO(r.body);
    REQUIRE(r.status == 200);
  }
}

// Opens the stopped server's database and returns PRAGMA integrity_check's
// answer and the number of token rows.
std::pair<std::string, long long> inspect(const std::string& db_path) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
  std::string check;
  long long rows = -1;
  sqlite3_stmt* st = nullptr;
  REQUIRE(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, nullptr) == SQLITE_OK);
  while (sqlite3_step(st) == SQLITE_ROW) {
    check += reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
    check += "\n";
  }
  sqlite3_finalize(st);
  REQUIRE(sqlite3_prepare_v2(db, "SELECT COUNT(*) FROM tokens", -1, &st, nullptr) == SQLITE_OK);
  if (sqlite3_step(st) == SQLITE_ROW) rows = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return {check, rows};
}

// The number of live tokens GET /api/tokens lists for the session's account.
std::size_t listed_tokens(TokendProcess& t, const std::string& cookie) {
  auto r = t.get("/api/tokens", {{"Cookie", cookie}});
  REQUIRE(r.status == 200);
  return r.json()["tokens"].size();
}

}  // namespace

TEST_CASE("faults: a full disk refuses new tokens with 503 and issuing resumes when space returns",
          "[e2e][faults]") {
  // Declared first: the server stops before the file system is unmounted,
  // whatever fails below.
  e2e::TmpfsMount disk(8u << 20);
  // Four clients issue as fast as they can: the per-account creation rate
  // and live-token cap (tested in limits_test.cpp) are off so that only the
  // disk refuses them.
  TokendProcess t({{"database", {{"path", disk.path() + "/tokend.db"}}},
                   {"threads", {{"workers", 2}}},
                   {"tokens", {{"max_created_per_minute", 0}, {"max_live_per_account", 0}}}});
  t.add_user("alice", "alices password");
  const std::string cookie = sign_in(t, "alice", "alices password");

  Burst before = issue_burst(t, cookie, 4, 5);
  REQUIRE(before.tokens.size() == 20);
  std::vector<std::string> acknowledged = before.tokens;

  REQUIRE(disk.fill() > 0);
  REQUIRE(disk.free_bytes() == 0);

  // Every commit needs new WAL frames, and there is no page left for them:
  // each request is refused with 503, or (when a failed group left WAL space
  // behind that a smaller group fits in) stored and answered 200; never
  // anything else.
  Burst full = issue_burst(t, cookie, 4, 10);
  for (const auto& r : full.other) {
    INFO(r.status << " " << r.body);
    CHECK(false);
  }
  REQUIRE(!full.refused.empty());
  for (const auto& r : full.refused) check_storage_unavailable(r);
  acknowledged.insert(acknowledged.end(), full.tokens.begin(), full.tokens.end());

  // Validation keeps answering meanwhile, for the tokens stored before and
  // any that made it while the disk filled up.
  require_all_validate(t, acknowledged);
  CHECK(t.get("/healthz").status == 200);
  // A lone request (a group of one, committed without BEGIN): refused, or
  // stored in WAL space a failed bigger group had already taken, but never
  // a 200 for nothing (checked with all the others below).
  Response lone = issue(t, cookie);
  if (lone.status == 200) {
    acknowledged.push_back(lone.json()["token"].get<std::string>());
  } else {
    check_storage_unavailable(lone);
  }

  // Space returns: the very next request is stored, without a restart.
  disk.remove_filler();
  Response again = issue(t, cookie);
  INFO(again.body);
  REQUIRE(again.status == 200);
  acknowledged.push_back(again.json()["token"].get<std::string>());
  Burst after = issue_burst(t, cookie, 4, 5);
  CHECK(after.refused.empty());
  CHECK(after.other.empty());
  REQUIRE(after.tokens.size() == 20);
  acknowledged.insert(acknowledged.end(), after.tokens.begin(), after.tokens.end());

  // Every 200 is a stored token, and nothing refused was stored.
  require_all_validate(t, acknowledged);
  CHECK(listed_tokens(t, cookie) == acknowledged.size());

  REQUIRE(t.terminate() == 0);
  const auto [check, rows] = inspect(disk.path() + "/tokend.db");
  CHECK(check == "ok\n");
  CHECK(rows == static_cast<long long>(acknowledged.size()));
}

TEST_CASE("faults: a database locked by another process past busy_timeout_ms gives 503, then recovers",
          "[e2e][faults]") {
  constexpr int kBusyMs = 300;
  TokendProcess t(nlohmann::json{{"database", {{"busy_timeout_ms", kBusyMs}}}});
  t.add_user("alice", "alices password");
  const std::string cookie = sign_in(t, "alice", "alices password");
  Burst before = issue_burst(t, cookie, 2, 5);
  REQUIRE(before.tokens.size() == 10);
  std::vector<std::string> acknowledged = before.tokens;

  // Another process's writer: a connection of this test holding the write
  // lock (in WAL mode readers go on; every writer waits for it).
  sqlite3* other = nullptr;
  REQUIRE(sqlite3_open_v2(t.db_path().c_str(), &other, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK);
  REQUIRE(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK);
  bool locked = true;
  struct Unlock {
    sqlite3* db;
    bool& locked;
    ~Unlock() {
      if (locked) sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      sqlite3_close(db);
    }
  } unlock{other, locked};

  const auto start = Clock::now();
  Response r = issue(t, cookie);
  const double took = std::chrono::duration<double>(Clock::now() - start).count();
  check_storage_unavailable(r);
  CHECK(took >= kBusyMs / 1000.0 * 0.9);  // it waited busy_timeout_ms for the lock
  CHECK(took < 3.0);                      // and no longer

  Burst locked_burst = issue_burst(t, cookie, 3, 2);
  CHECK(locked_burst.tokens.empty());
  CHECK(locked_burst.other.empty());
  for (const auto& x : locked_burst.refused) check_storage_unavailable(x);
  // A sign-in writes a session: refused the same way.
  check_storage_unavailable(t.post("/api/login", R"({"username":"alice","password":"alices password"})"));
  // Reads go on: every token validates while the lock is held.
  require_all_validate(t, acknowledged);

  REQUIRE(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr) == SQLITE_OK);
  locked = false;

  Response again = issue(t, cookie);
  INFO(again.body);
  REQUIRE(again.status == 200);
  acknowledged.push_back(again.json()["token"].get<std::string>());
  Burst after = issue_burst(t, cookie, 2, 5);
  REQUIRE(after.tokens.size() == 10);
  acknowledged.insert(acknowledged.end(), after.tokens.begin(), after.tokens.end());
  require_all_validate(t, acknowledged);
  CHECK(listed_tokens(t, cookie) == acknowledged.size());

  REQUIRE(t.terminate() == 0);
  const auto [check, rows] = inspect(t.db_path());
  CHECK(check == "ok\n");
  CHECK(rows == static_cast<long long>(acknowledged.size()));
}

// The one way a database turns read-only under a running tokend: the kernel
// forces its file system read-only after an error (errors=remount-ro), here
// an ext4 in a loop device whose error is triggered while clients issue
// tokens. A plain `mount -o remount,ro` is refused while tokend has the file
// open for writing, so no operator can do it by accident.
TEST_CASE("faults: the kernel forces the database's file system read-only: 503, reads go on, recovery after repair",
          "[e2e][faults]") {
  // Declared first: the server stops before the file system is unmounted
  // and its loop device detached, whatever fails below.
  e2e::Ext4LoopMount disk(32u << 20);
  const std::string db = disk.path() + "/tokend.db";
  TokendProcess t({{"database", {{"path", db}}},
                   {"threads", {{"workers", 2}}},
                   {"tokens", {{"max_created_per_minute", 0}, {"max_live_per_account", 0}}}});
  t.add_user("alice", "alices password");
  const std::string cookie = sign_in(t, "alice", "alices password");
  Burst before = issue_burst(t, cookie, 4, 5);
  REQUIRE(before.tokens.size() == 20);
  std::vector<std::string> acknowledged = before.tokens;

  CHECK(disk.remount_ro() == EBUSY);
  REQUIRE(disk.try_write() == 0);

  // Four clients issue tokens without pause; the error is triggered once
  // they are under way, and they go on until the refusals have come in (or
  // a deadline passes, which the checks below then report).
  Burst during;
  // When each token of the burst answered 200 was sent and answered, in
  // seconds from `origin`: what the test may demand of it after the repair
  // depends on where it falls against the error (see below).
  const auto origin = Clock::now();
  auto since = [&](Clock::time_point at) { return std::chrono::duration<double>(at - origin).count(); };
  std::vector<std::pair<double, double>> during_times;
  std::mutex mu;
  std::condition_variable changed;
  bool stop = false;
  std::size_t answered = 0;
  std::vector<std::thread> clients;
  for (int i = 0; i < 4; ++i) {
    clients.emplace_back([&] {
      const auto give_up = Clock::now() + std::chrono::seconds(60);
      for (;;) {
        {
          std::lock_guard lock(mu);
          if (stop) return;
        }
        if (Clock::now() > give_up) return;
        const auto sent = Clock::now();
        Response r = issue(t, cookie);
        const auto answered_at = Clock::now();
        std::lock_guard lock(mu);
        if (r.status == 200) {
          during.tokens.push_back(r.json()["token"].get<std::string>());
          during_times.emplace_back(since(sent), since(answered_at));
        } else if (r.status == 503) {
          during.refused.push_back(std::move(r));
        } else {
          during.other.push_back(std::move(r));
        }
        ++answered;
        changed.notify_all();
      }
    });
  }
  struct Join {
    std::vector<std::thread>& threads;
    std::mutex& mu;
    bool& stop;
    ~Join() {
      {
        std::lock_guard lock(mu);
        stop = true;
      }
      for (auto& th : threads) th.join();
    }
  } join{clients, mu, stop};
  {
    std::unique_lock lock(mu);
    CHECK(changed.wait_for(lock, std::chrono::seconds(20), [&] { return answered >= 8; }));
  }
  const double trigger_from = since(Clock::now());
  disk.trigger_error();
  const double trigger_to = since(Clock::now());
  {
    std::unique_lock lock(mu);
    CHECK(changed.wait_for(lock, std::chrono::seconds(20), [&] { return during.refused.size() >= 12; }));
    stop = true;
  }
  for (auto& th : clients) th.join();
  clients.clear();

  INFO(disk.super_options());
  REQUIRE(disk.try_write() == EROFS);
  // Each request was stored and answered 200 (before the error), or refused
  // with 503 and Retry-After; never anything else.
  for (const auto& r : during.other) {
    INFO(r.status << " " << r.body);
    CHECK(false);
  }
  REQUIRE(!during.refused.empty());
  for (const auto& r : during.refused) check_storage_unavailable(r);
  acknowledged.insert(acknowledged.end(), during.tokens.begin(), during.tokens.end());

  // What the platform promises. A token answered before the error was
  // triggered had its fdatasync (synchronous=FULL) complete on a healthy
  // file system: it must survive the repair. A request sent after the error
  // was recorded (the sysfs write returned) must never get a 200: every
  // write fails with EROFS from then on. A request in flight while the kernel
  // handled the error is the kernel's: on Linux 6.18, an fdatasync of the WAL
  // that was under way when ext4 aborted its journal returned 0 although the
  // journal transaction holding the WAL's new blocks was dropped (traced:
  // ext4_sync_file_exit ret 0 after ext4_error, then that commit's rows
  // missing after e2fsck). tokend answered exactly what the kernel told it;
  // such a token may or may not be there after the repair.
  std::vector<std::string> promised = before.tokens;
  std::vector<std::string> in_doubt;
  std::string in_doubt_times;
  for (std::size_t i = 0; i < during.tokens.size(); ++i) {
    const auto [sent, answered_at] = during_times[i];
    INFO("a 200 for a request sent at " << sent << " s, after the error (recorded by " << trigger_to << " s)");
    CHECK(sent <= trigger_to);
    if (answered_at < trigger_from) {
      promised.push_back(during.tokens[i]);
    } else {
      in_doubt.push_back(during.tokens[i]);
      in_doubt_times += " [" + std::to_string(sent) + ", " + std::to_string(answered_at) + "]";
    }
  }

  // Read-only: every write is refused the same way (a token, a sign-in's
  // session), while reads go on: each acknowledged token validates, the
  // account's tokens are listed, and the health check answers.
  check_storage_unavailable(issue(t, cookie));
  check_storage_unavailable(t.post("/api/login", R"({"username":"alice","password":"alices password"})"));
  require_all_validate(t, acknowledged);
  CHECK(listed_tokens(t, cookie) >= acknowledged.size());
  CHECK(t.get("/healthz").status == 200);
  {
    // A group commit's failed COMMIT logs "...issuing a token: disk I/O
    // error"; a group of one, whose INSERT commits by itself, "...issuing a
    // token: inserting a token: disk I/O error". Which ones fail depends on
    // how the requests fell into groups.
    const std::string log = t.log();
    std::istringstream lines(log);
    std::string line;
    bool found = false;
    while (std::getline(lines, line)) {
      found = found || (line.find("storage error while issuing a token: ") != std::string::npos &&
                        line.find("disk I/O error") != std::string::npos);
    }
    INFO(log.substr(log.size() > 4000 ? log.size() - 4000 : 0));
    CHECK(found);
  }
  // Kernels that mark such a file system "emergency_ro" (this one's 6.18)
  // keep it read-only through a remount (mount(8)'s `-o remount,rw` even
  // fails, on that unknown option): it must be repaired first.
  if (disk.super_options().find("emergency_ro") != std::string::npos) {
    (void)disk.remount_rw();
    CHECK(disk.try_write() == EROFS);
  }

  // tokend stops cleanly (exit 0, checked here and again at teardown) and,
  // while the file system is still read-only, refuses to start.
  REQUIRE(t.terminate() == 0);
  std::string why;
  try {
    t.start();
  } catch (const std::exception& e) {
    why = e.what();
  }
  INFO(why);
  CHECK(why.find("tokend exited at start") != std::string::npos);
  CHECK(why.find("cannot open the database: cannot create " + db + ": Read-only file system") != std::string::npos);

  // The operator's repair: unmount, e2fsck, mount. tokend starts on the same
  // database; every token ever answered with 200 validates, and issuing works.
  const std::string fsck = disk.repair();
  INFO(fsck);
  REQUIRE(disk.try_write() == 0);
  t.start();
  // Every token answered 200 before the error validates.
  INFO("error triggered from " << trigger_from << " s to " << trigger_to << " s; in flight across it (sent, answered):"
                               << in_doubt_times);
  require_all_validate(t, promised);
  std::size_t in_doubt_kept = 0;
  for (const auto& tok : in_doubt) in_doubt_kept += t.get("/api/user", bearer(tok)).status == 200 ? 1 : 0;
  Response again = issue(t, cookie);
  INFO(again.body);
  REQUIRE(again.status == 200);
  acknowledged.push_back(again.json()["token"].get<std::string>());
  promised.push_back(acknowledged.back());
  require_all_validate(t, {acknowledged.back()});
  REQUIRE(t.terminate() == 0);
  const auto [check, rows] = inspect(db);
  CHECK(check == "ok\n");
  // A refused token's transaction may still have reached the disk before the
  // error (its 503 says "not known to be stored"); its value never left the
  // server, so such a row is unusable. Every promised one is there.
  INFO("tokens acknowledged: " << acknowledged.size() << " (" << in_doubt.size()
                               << " in flight across the error, of which " << in_doubt_kept
                               << " kept), refused while read-only: " << during.refused.size()
                               << ", rows after repair: " << rows);
  CHECK(rows >= static_cast<long long>(promised.size() + in_doubt_kept));
}
