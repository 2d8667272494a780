// The change feed of every Store backend (store.hpp, Change): which writes
// record which changes, in their own transaction; the listener told after the
// commit (and, for the group commit, before the callers hear back); the live
// prefixes and the cursor of one snapshot; read_changes; the retention in
// purge(); and a token insert racing an account disable.
#include <catch2/catch.hpp>

#include <algorithm>
#include <condition_variable>
#include <atomic>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tokend/crypto/crypto.hpp"
#include "tokend/store/store.hpp"
#include "unit/store/store_fixture.hpp"

using tokend::kNever;
namespace tokend::store {
// Found by argument-dependent lookup, from std::vector's == too.
inline bool operator==(const Change& a, const Change& b) {
  return a.user_id == b.user_id && a.token_prefix == b.token_prefix;
}
}  // namespace tokend::store

using tokend::now_ms;
using tokend::TimeMs;
using tokend::crypto::Sha256;
using tokend::store::Change;
using tokend::store::ChangeCursor;
using tokend::store::NewSession;
using tokend::store::NewToken;
using tokend::store::Store;
using tokend::store::token_prefix;
using tokend::store::User;
using tokend::testing::make_user;
using tokend::testing::StoreFixture;

namespace {

constexpr TimeMs kMinute = 60'000;

Sha256 digest(const std::string& secret) { return tokend::crypto::sha256(secret); }

std::string describe(const std::vector<Change>& cs) {
  std::string out = "[";
  for (const auto& c : cs) out += "{" + std::to_string(c.user_id) + "," + std::to_string(c.token_prefix) + "}";
  return out + "]";
}

// Keeps what it is told, for the test to take.
class RecordingListener final : public tokend::store::ChangeListener {
 public:
  void on_committed(const std::vector<Change>& changes) override {
    std::lock_guard lock(mu_);
    seen_.insert(seen_.end(), changes.begin(), changes.end());
  }
  std::vector<Change> take() {
    std::lock_guard lock(mu_);
    return std::exchange(seen_, {});
  }
  bool has_prefix(std::uint64_t p) {
    std::lock_guard lock(mu_);
    return std::any_of(seen_.begin(), seen_.end(), [&](const Change& c) { return c.token_prefix == p; });
  }

 private:
  std::mutex mu_;
  std::vector<Change> seen_;
};

NewToken new_token(std::int64_t user_id, const std::string& secret, TimeMs expires = kNever) {
  NewToken t;
  t.digest = digest(secret);
  t.user_id = user_id;
  t.name = secret;
  t.source = "userpass";
  t.created_at = now_ms();
  t.expires_at = expires;
  return t;
}

tokend::store::TokenRecord make_token(Store& s, std::int64_t user_id, const std::string& secret,
                                      TimeMs expires = kNever) {
  auto rec = s.insert_token(new_token(user_id, secret, expires));
  INFO((rec.ok() ? std::string() : rec.error().message));
  REQUIRE(rec.ok());
  return *rec;
}

tokend::store::SessionRecord make_session(Store& s, std::int64_t user_id, const std::string& secret) {
  NewSession n;
  n.digest = digest(secret);
  n.user_id = user_id;
  n.method = "userpass";
  n.created_at = now_ms();
  n.expires_at = now_ms() + 60 * kMinute;
  auto rec = s.insert_session(n);
  REQUIRE(rec.ok());
  return *rec;
}

// Every backend, each on a fresh database, with the fixture (for exec_sql)
// and whether a read never repeats a change (SQLite). PostgreSQL's may: the
// changes of transactions running at the last read (any transaction of the
// cluster, e.g. of the tests running beside this one) are read again.
void for_each_feed_backend(const std::function<void(StoreFixture&, bool exact)>& check) {
  for (const auto& b : tokend::testing::backends()) {
    SECTION(b.name) {
      auto fixture = b.make();
      check(*fixture, std::string(b.name) == "sqlite");
    }
  }
}

// Whether `got` is `tail` preceded only by changes from `before` (re-read).
bool rereads_then(const std::vector<Change>& got, const std::vector<Change>& before, const std::vector<Change>& tail) {
  if (got.size() < tail.size()) return false;
  const auto split = got.end() - static_cast<std::ptrdiff_t>(tail.size());
  if (!std::equal(split, got.end(), tail.begin())) return false;
  return std::all_of(got.begin(), split, [&](const Change& c) {
    return std::find(before.begin(), before.end(), c) != before.end();
  });
}

// Every change after `from`, following the cursor until a read brings
// nothing new.
std::vector<Change> read_all(Store& s, ChangeCursor from) {
  auto batch = s.read_changes(from);
  INFO((batch.ok() ? std::string() : batch.error().message));
  REQUIRE(batch.ok());
  return batch->changes;
}

}  // namespace

TEST_CASE("Store feed: each write records exactly its changes, told to the listener and read back",
          "[store][feed]") {
  for_each_feed_backend([](StoreFixture& f, bool exact) {
    Store& s = f.store();
    RecordingListener heard;
    s.set_change_listener(&heard);
    const User alice = make_user(s, "alice");
    const User bob = make_user(s, "bob");
    CHECK(heard.take().empty());  // creating an account changes nothing remembered
    auto start = s.load_live_token_prefixes(now_ms());
    REQUIRE(start.ok());
    std::vector<Change> expected;
    // Each step: what the listener heard since the last one must be exactly `want`.
    auto step = [&](const std::vector<Change>& want) {
      const auto got = heard.take();
      INFO("heard " << describe(got) << ", expected " << describe(want));
      CHECK(got == want);
      expected.insert(expected.end(), want.begin(), want.end());
    };

    const auto t1 = make_token(s, alice.id, "t1");
    step({{0, token_prefix(digest("t1"))}});

    // The group commit tells the listener before it calls anyone back.
    std::atomic<int> known_before_done{-1};
    std::atomic<std::int64_t> t2_id{0};
    s.insert_token_async(new_token(alice.id, "t2"), [&](tokend::Result<tokend::store::TokenRecord> r) {
      known_before_done = heard.has_prefix(token_prefix(digest("t2"))) ? 1 : 0;
      if (r) t2_id = r->id;
    });
    s.wait_idle();
    CHECK(known_before_done == 1);
    REQUIRE(t2_id != 0);
    step({{0, token_prefix(digest("t2"))}});

    REQUIRE(s.revoke_token(alice.id, t1.id, now_ms()).ok());
    step({{alice.id, 0}});
    CHECK(s.revoke_token(alice.id, t1.id, now_ms()).error().is_not_found());  // already revoked: a no-op
    CHECK(s.revoke_token(bob.id, t2_id, now_ms()).error().is_not_found());    // someone else's
    step({});

    auto rotated = s.rotate_token(alice.id, t2_id, digest("t3"), now_ms(), now_ms());
    REQUIRE(rotated.ok());
    step({{alice.id, token_prefix(digest("t3"))}});
    CHECK(s.rotate_token(alice.id, t2_id, digest("t4"), now_ms(), now_ms()).error().is_not_found());
    step({});

    REQUIRE(s.revoke_any_token(rotated->id, now_ms()).ok());
    step({{alice.id, 0}});
    CHECK(s.revoke_any_token(rotated->id, now_ms()).error().is_not_found());
    step({});

    REQUIRE(s.set_admin(bob.id, true, now_ms()).ok());
    step({{bob.id, 0}});
    CHECK(s.set_admin(999'999, true, now_ms()).error().is_not_found());
    step({});

    const auto s1 = make_session(s, bob.id, "s1");
    const auto s2 = make_session(s, bob.id, "s2");
    step({});  // a new session changes nothing remembered
    REQUIRE(s.revoke_session(s1.id).ok());
    step({{bob.id, 0}});
    REQUIRE(s.revoke_session(s1.id).ok());  // already revoked: ok, nothing done
    REQUIRE(s.revoke_session(999'999).ok());
    step({});
    REQUIRE(s.end_session(s2.id, now_ms()).ok());
    step({{bob.id, 0}});
    CHECK(s.end_session(s2.id, now_ms()).error().is_not_found());
    step({});
    make_session(s, bob.id, "s3");
    REQUIRE(s.revoke_sessions(bob.id, now_ms()).ok());
    step({{bob.id, 0}});
    REQUIRE(s.revoke_sessions(bob.id, now_ms()).ok());  // none left: nothing changed
    step({});

    REQUIRE(s.in_transaction([&](tokend::store::Transaction& tx) {
                return tx.update_profile(bob.id, {"bobby", "bobby@example.org", "Bobby"}, now_ms());
              }).ok());
    step({{bob.id, 0}});
    // A transaction that fails after the update commits nothing: no change.
    auto failed = s.in_transaction([&](tokend::store::Transaction& tx) -> tokend::Status {
      if (auto st = tx.update_profile(bob.id, {"robert", "r@example.org", "Robert"}, now_ms()); !st) return st;
      return tokend::Error{tokend::ErrorCode::kConflict, "changed my mind"};
    });
    CHECK_FALSE(failed.ok());
    CHECK(s.in_transaction([&](tokend::store::Transaction& tx) {
             return tx.update_profile(999'999, {"nobody", "", ""}, now_ms());
           }).error().is_not_found());
    step({});

    // Writes that cannot make a remembered validation wrong record nothing.
    REQUIRE(s.set_password_hash(bob.id, "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$b3RoZXI").ok());
    REQUIRE(s.record_token_use({{t1.id, now_ms()}}).ok());
    REQUIRE(s.touch_session(s1.id, now_ms()).ok());
    step({});

    REQUIRE(s.set_disabled(alice.id, true, now_ms()).ok());
    step({{alice.id, 0}});
    REQUIRE(s.set_disabled(alice.id, false, now_ms()).ok());
    step({{alice.id, 0}});
    CHECK(s.set_disabled(999'999, true, now_ms()).error().is_not_found());
    step({});

    // The table holds the same changes, in commit order, after the cursor
    // of the snapshot taken before them.
    const auto all = read_all(s, start->cursor);
    INFO("read " << describe(all) << ", expected " << describe(expected));
    CHECK(all == expected);
    auto again = s.read_changes(start->cursor);
    REQUIRE(again.ok());
    auto after = s.read_changes(again->next);
    REQUIRE(after.ok());
    // Nothing new since (PostgreSQL may repeat some).
    CHECK(rereads_then(after->changes, expected, {}));
    if (exact) CHECK(after->changes.empty());
    s.set_change_listener(nullptr);
  });
}

TEST_CASE("Store feed: every caller of a group commit hears back after the listener knows its token",
          "[store][feed]") {
  for_each_feed_backend([](StoreFixture& f, bool /*exact*/) {
    Store& s = f.store();
    RecordingListener heard;
    s.set_change_listener(&heard);
    const User alice = make_user(s, "alice");
    constexpr int kRows = 200;  // several groups, some of many rows
    std::atomic<int> ok{0}, known{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = t; i < kRows; i += 4) {
          const std::string secret = "group-" + std::to_string(i);
          s.insert_token_async(new_token(alice.id, secret), [&, secret](tokend::Result<tokend::store::TokenRecord> r) {
            if (!r) return;
            ++ok;
            if (heard.has_prefix(token_prefix(digest(secret)))) ++known;
          });
        }
      });
    }
    for (auto& th : threads) th.join();
    s.wait_idle();
    CHECK(ok == kRows);
    CHECK(known == kRows);
    CHECK(heard.take().size() == kRows);  // one change per token, no more
    s.set_change_listener(nullptr);
  });
}

TEST_CASE("Store feed: the live prefixes and the cursor come from one snapshot", "[store][feed]") {
  for_each_feed_backend([](StoreFixture& f, bool exact) {
    Store& s = f.store();
    const User alice = make_user(s, "alice");
    const User bob = make_user(s, "bob");
    const TimeMs now = now_ms();
    auto empty = s.load_live_token_prefixes(now);
    REQUIRE(empty.ok());
    CHECK(empty->prefixes.empty());
    std::vector<std::uint64_t> live;
    for (int i = 0; i < 300; ++i) {
      const std::string secret = "live-" + std::to_string(i);
      make_token(s, i % 2 ? alice.id : bob.id, secret);
      live.push_back(token_prefix(digest(secret)));
    }
    const auto revoked = make_token(s, alice.id, "revoked");
    REQUIRE(s.revoke_token(alice.id, revoked.id, now).ok());
    make_token(s, alice.id, "expired", now - 1);
    // A rotation's grace period: the old token is still live until it ends.
    const auto graced = make_token(s, bob.id, "graced");
    auto rotated = s.rotate_token(bob.id, graced.id, digest("graced-next"), now, now + 10 * kMinute);
    INFO((rotated.ok() ? std::string() : rotated.error().message));
    REQUIRE(rotated.ok());
    live.push_back(token_prefix(digest("graced")));
    live.push_back(token_prefix(digest("graced-next")));

    auto loaded = s.load_live_token_prefixes(now_ms());
    INFO((loaded.ok() ? std::string() : loaded.error().message));
    REQUIRE(loaded.ok());
    auto got = loaded->prefixes;
    std::sort(got.begin(), got.end());
    std::sort(live.begin(), live.end());
    CHECK(got == live);
    // The prefixes are uint64 values: about half have the top bit set, which
    // the databases store as a negative int64; they must come back whole.
    CHECK(std::any_of(got.begin(), got.end(),
                      [](std::uint64_t p) { return p > std::uint64_t(std::numeric_limits<std::int64_t>::max()); }));

    // The cursor is where the snapshot ends: nothing before it is read again,
    // everything after it is.
    const auto before = read_all(s, empty->cursor);  // everything written above
    auto nothing = s.read_changes(loaded->cursor);
    REQUIRE(nothing.ok());
    CHECK(rereads_then(nothing->changes, before, {}));
    if (exact) CHECK(nothing->changes.empty());
    make_token(s, bob.id, "after");
    REQUIRE(s.set_disabled(alice.id, true, now_ms()).ok());
    const auto later = read_all(s, loaded->cursor);
    const std::vector<Change> want{{0, token_prefix(digest("after"))}, {alice.id, 0}};
    INFO("read " << describe(later));
    CHECK(rereads_then(later, before, want));
    if (exact) CHECK(later == want);
  });
}

TEST_CASE("Store feed: update_profile records a change only when the profile differs", "[store][feed]") {
  for_each_feed_backend([](StoreFixture& f, bool exact) {
    Store& s = f.store();
    RecordingListener heard;
    s.set_change_listener(&heard);
    const User alice = make_user(s, "alice");
    auto start = s.load_live_token_prefixes(now_ms());
    REQUIRE(start.ok());
    auto update = [&](const tokend::store::ProfileUpdate& p) {
      return s.in_transaction([&](tokend::store::Transaction& tx) { return tx.update_profile(alice.id, p, now_ms()); });
    };
    // The very profile it has (as every external login sends it): ok, nothing recorded.
    REQUIRE(update({alice.username, alice.email, alice.display_name}).ok());
    CHECK(heard.take().empty());
    auto same = s.read_changes(start->cursor);
    REQUIRE(same.ok());
    CHECK(same->changes.empty());
    // Another email: one change, heard and read.
    REQUIRE(update({alice.username, "alice@elsewhere.example", alice.display_name}).ok());
    CHECK(heard.take() == std::vector<Change>{{alice.id, 0}});
    auto one = s.read_changes(start->cursor);
    REQUIRE(one.ok());
    CHECK(one->changes == std::vector<Change>{{alice.id, 0}});
    auto stored = s.find_user(alice.id);
    REQUIRE(stored.ok());
    CHECK(stored->email == "alice@elsewhere.example");
    // The new values again: nothing. Another display name, another username: one each.
    REQUIRE(update({alice.username, "alice@elsewhere.example", alice.display_name}).ok());
    CHECK(heard.take().empty());
    REQUIRE(update({alice.username, "alice@elsewhere.example", "Alice A."}).ok());
    CHECK(heard.take() == std::vector<Change>{{alice.id, 0}});
    REQUIRE(update({"alice2", "alice@elsewhere.example", "Alice A."}).ok());
    CHECK(heard.take() == std::vector<Change>{{alice.id, 0}});
    auto all = s.read_changes(start->cursor);
    REQUIRE(all.ok());
    CHECK(all->changes == std::vector<Change>{{alice.id, 0}, {alice.id, 0}, {alice.id, 0}});
    // kNotFound and kConflict as before, and nothing recorded.
    const User bob = make_user(s, "bob");
    CHECK(s.in_transaction([&](tokend::store::Transaction& tx) {
             return tx.update_profile(999'999, {"nobody", "", ""}, now_ms());
           }).error().is_not_found());
    CHECK(s.in_transaction([&](tokend::store::Transaction& tx) {
             return tx.update_profile(bob.id, {"alice2", bob.email, bob.display_name}, now_ms());
           }).error().code == tokend::ErrorCode::kConflict);
    CHECK(heard.take().empty());
    if (exact) {
      auto none = s.read_changes(all->next);
      REQUIRE(none.ok());
      CHECK(none->changes.empty());
    }
    s.set_change_listener(nullptr);
  });
}

TEST_CASE("Store feed: purge drops changes older than the retention, not younger ones", "[store][feed]") {
  for_each_feed_backend([](StoreFixture& f, bool /*exact*/) {
    Store& s = f.store();
    const User alice = make_user(s, "alice");
    make_token(s, alice.id, "old-1");
    make_token(s, alice.id, "old-2");
    // Recorded now, then aged past the retention behind the store's back.
    f.exec_sql("UPDATE changes SET at = at - " + std::to_string(Store::kChangeRetentionMs + kMinute));
    make_token(s, alice.id, "young");
    REQUIRE(s.set_admin(alice.id, true, now_ms()).ok());
    REQUIRE(read_all(s, ChangeCursor{0}).size() == 4);

    REQUIRE(s.purge(0).ok());
    CHECK(read_all(s, ChangeCursor{0}) ==
          std::vector<Change>{{0, token_prefix(digest("young"))}, {alice.id, 0}});
    REQUIRE(s.purge(0).ok());  // again: nothing more to drop
    CHECK(read_all(s, ChangeCursor{0}).size() == 2);
    // The tokens themselves are untouched (they are live).
    CHECK(s.find_token(digest("old-1")).ok());
  });
}

TEST_CASE("Store feed: a token insert refuses a disabled or unknown account", "[store][feed][security]") {
  for_each_feed_backend([](StoreFixture& f, bool /*exact*/) {
    Store& s = f.store();
    RecordingListener heard;
    s.set_change_listener(&heard);
    const User alice = make_user(s, "alice");
    REQUIRE(s.set_disabled(alice.id, true, now_ms()).ok());
    heard.take();

    auto r = s.insert_token(new_token(alice.id, "while-disabled"));
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().is_not_found());
    std::atomic<int> async_not_found{0};
    s.insert_token_async(new_token(alice.id, "async-while-disabled"), [&](tokend::Result<tokend::store::TokenRecord> a) {
      if (!a && a.error().is_not_found()) ++async_not_found;
    });
    auto unknown = s.insert_token(new_token(999'999, "no-such-account"));
    REQUIRE_FALSE(unknown.ok());
    CHECK(unknown.error().is_not_found());
    s.wait_idle();
    CHECK(async_not_found == 1);
    CHECK(s.find_token(digest("while-disabled")).error().is_not_found());
    CHECK(s.find_token(digest("async-while-disabled")).error().is_not_found());
    CHECK(heard.take().empty());  // nothing written, nothing recorded

    // Enabled again, the same insert works.
    REQUIRE(s.set_disabled(alice.id, false, now_ms()).ok());
    CHECK(s.insert_token(new_token(alice.id, "while-disabled")).ok());
    s.set_change_listener(nullptr);
  });
}

TEST_CASE("Store feed: a token insert racing a disable never leaves a live token on the account",
          "[store][feed][security]") {
  for_each_feed_backend([](StoreFixture& f, bool /*exact*/) {
    Store& s = f.store();
    const User alice = make_user(s, "alice");
    constexpr int kRounds = 5;
    constexpr int kPerThread = 40;
    int inserted = 0, refused = 0;
    for (int round = 0; round < kRounds; ++round) {
      REQUIRE(s.set_disabled(alice.id, false, now_ms()).ok());
      std::atomic<int> ok{0}, not_found{0}, other{0};
      std::vector<std::thread> writers;
      for (int t = 0; t < 3; ++t) {
        writers.emplace_back([&, t] {
          for (int i = 0; i < kPerThread; ++i) {
            const std::string secret = "race-" + std::to_string(round) + "-" + std::to_string(t) + "-" + std::to_string(i);
            if (i % 2) {
              auto r = s.insert_token(new_token(alice.id, secret));
              ++(r ? ok : r.error().is_not_found() ? not_found : other);
            } else {
              s.insert_token_async(new_token(alice.id, secret), [&](tokend::Result<tokend::store::TokenRecord> r) {
                ++(r ? ok : r.error().is_not_found() ? not_found : other);
              });
            }
          }
        });
      }
      // The disable lands somewhere in the middle of the inserts.
      std::this_thread::sleep_for(std::chrono::milliseconds(2 + round));
      REQUIRE(s.set_disabled(alice.id, true, now_ms()).ok());
      for (auto& w : writers) w.join();
      s.wait_idle();
      CHECK(other == 0);
      CHECK(ok + not_found == 3 * kPerThread);
      inserted += ok;
      refused += not_found;
      // Whatever got in before the disable was revoked by it; whatever came
      // after was refused: enabled again, the account holds no live token.
      REQUIRE(s.set_disabled(alice.id, false, now_ms()).ok());
      auto live = s.count_live_tokens(alice.id, now_ms());
      REQUIRE(live.ok());
      CHECK(*live == 0);
      REQUIRE(s.set_disabled(alice.id, true, now_ms()).ok());
    }
    INFO("inserted " << inserted << ", refused " << refused);
    CHECK(inserted + refused == kRounds * 3 * kPerThread);
  });
}

TEST_CASE("Store feed: a cursor ahead of the feed (the database replaced) is kConflict", "[store][feed]") {
  for_each_feed_backend([](StoreFixture& f, bool /*exact*/) {
    Store& s = f.store();
    const User alice = make_user(s, "alice");
    make_token(s, alice.id, "one");
    REQUIRE(s.set_admin(alice.id, true, now_ms()).ok());
    auto read = s.read_changes(ChangeCursor{});
    REQUIRE(read.ok());
    REQUIRE(read->changes.size() == 2);
    const ChangeCursor here = read->next;
    // At the feed's end: ok, nothing.
    auto at_end = s.read_changes(here);
    REQUIRE(at_end.ok());
    CHECK(at_end->changes.empty());
    // Beyond it (SQLite: a seq never given out; PostgreSQL: an id the server
    // has not given out): kConflict, and again on the next try.
    ChangeCursor ahead = here;
    ahead.position += 1'000'000'000;
    for (int i = 0; i < 2; ++i) {
      auto r = s.read_changes(ahead);
      REQUIRE_FALSE(r.ok());
      CHECK(r.error().code == tokend::ErrorCode::kConflict);
    }
    // A reload gives a cursor that works again.
    auto reloaded = s.load_live_token_prefixes(now_ms());
    REQUIRE(reloaded.ok());
    REQUIRE(s.set_admin(alice.id, false, now_ms()).ok());
    auto after = s.read_changes(reloaded->cursor);
    REQUIRE(after.ok());
    CHECK(after->changes == std::vector<Change>{{alice.id, 0}});
  });
}

TEST_CASE("SqliteStore feed: a cursor beyond every seq ever given out is kConflict, purged rows are not",
          "[store][feed][sqlite]") {
  tokend::testing::SqliteFixture f;
  Store& s = f.store();
  const User alice = make_user(s, "alice");
  make_token(s, alice.id, "one");
  make_token(s, alice.id, "two");
  auto read = s.read_changes(ChangeCursor{});
  REQUIRE(read.ok());
  REQUIRE(read->changes.size() == 2);
  const ChangeCursor here = read->next;
  CHECK(here.position == 2);
  ChangeCursor one_ahead = here;
  ++one_ahead.position;
  auto r = s.read_changes(one_ahead);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == tokend::ErrorCode::kConflict);

  // purge() deleting every row does not make the cursor "ahead": seqs are
  // never reused, and the next change is read.
  f.exec_sql("UPDATE changes SET at = at - " + std::to_string(Store::kChangeRetentionMs + kMinute));
  REQUIRE(s.purge(0).ok());
  auto emptied = s.read_changes(ChangeCursor{});
  REQUIRE(emptied.ok());
  REQUIRE(emptied->changes.empty());
  auto still = s.read_changes(here);
  REQUIRE(still.ok());
  CHECK(still->changes.empty());
  REQUIRE(s.set_admin(alice.id, true, now_ms()).ok());
  auto next = s.read_changes(here);
  REQUIRE(next.ok());
  CHECK(next->changes == std::vector<Change>{{alice.id, 0}});
  const ChangeCursor later = next->next;  // position 3

  // The file restored from a copy taken before those changes (as a restore
  // writes it: the changes gone and the sequence back at 1).
  f.exec_sql("DELETE FROM changes; UPDATE sqlite_sequence SET seq = 1 WHERE name = 'changes'");
  auto restored = s.read_changes(later);
  REQUIRE_FALSE(restored.ok());
  CHECK(restored.error().code == tokend::ErrorCode::kConflict);
  // No row in sqlite_sequence: MAX(seq) decides (the insert of seq 3 raises
  // sqlite_sequence to 3, so its row goes after it).
  f.exec_sql("INSERT INTO changes (seq, at, user_id) VALUES (3, 0, 7); "
             "DELETE FROM sqlite_sequence WHERE name = 'changes'");
  auto by_max = s.read_changes(later);
  REQUIRE(by_max.ok());
  CHECK(by_max->changes.empty());
  ChangeCursor past_max = later;
  ++past_max.position;
  auto r2 = s.read_changes(past_max);
  REQUIRE_FALSE(r2.ok());
  CHECK(r2.error().code == tokend::ErrorCode::kConflict);
}

// ================================================================ PostgreSQL specifics

namespace {

// A libpq connection of its own, to hold a transaction open across steps.
class RawPg {
 public:
  explicit RawPg(const std::string& url) : c_(PQconnectdb(url.c_str())) {
    INFO(PQerrorMessage(c_));
    REQUIRE(PQstatus(c_) == CONNECTION_OK);
  }
  ~RawPg() { PQfinish(c_); }
  RawPg(const RawPg&) = delete;
  RawPg& operator=(const RawPg&) = delete;
  // The first column of the first row ("" when none).
  std::string exec(const std::string& sql) {
    PGresult* r = PQexec(c_, sql.c_str());
    const auto st = PQresultStatus(r);
    std::string out = (st == PGRES_TUPLES_OK && PQntuples(r) > 0) ? PQgetvalue(r, 0, 0) : "";
    INFO(sql << ": " << PQerrorMessage(c_));
    PQclear(r);
    REQUIRE((st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK));
    return out;
  }

 private:
  PGconn* c_;
};

}  // namespace

TEST_CASE("PostgresStore feed: a change committed after a later one is still read", "[store][feed][postgresql]") {
  tokend::testing::PostgresFixture f;
  Store& s = f.store();
  auto start = s.load_live_token_prefixes(now_ms());
  REQUIRE(start.ok());
  RawPg t1(f.database().url());
  RawPg t2(f.database().url());
  // T1 takes its change row (and seq) first, T2 second; T2 commits first.
  t1.exec("BEGIN");
  const auto seq1 = std::stoll(t1.exec("INSERT INTO changes (user_id) VALUES (101) RETURNING seq"));
  t2.exec("BEGIN");
  const auto seq2 = std::stoll(t2.exec("INSERT INTO changes (user_id) VALUES (102) RETURNING seq"));
  REQUIRE(seq1 < seq2);  // a reader that followed seq would now skip seq1 for good
  t2.exec("COMMIT");

  // A read between T2's commit and T1's: T2's change only.
  auto first = s.read_changes(start->cursor);
  REQUIRE(first.ok());
  CHECK(first->changes == std::vector<Change>{{102, 0}});

  t1.exec("COMMIT");
  // The next read, from the cursor the first one returned, has T1's change
  // (and may repeat T2's, which the interface allows).
  auto second = s.read_changes(first->next);
  REQUIRE(second.ok());
  INFO("second read " << describe(second->changes));
  CHECK(std::count(second->changes.begin(), second->changes.end(), Change{101, 0}) == 1);
}

TEST_CASE("PostgresStore feed: a transaction rolled back records nothing and holds nothing back",
          "[store][feed][postgresql]") {
  tokend::testing::PostgresFixture f;
  Store& s = f.store();
  auto start = s.load_live_token_prefixes(now_ms());
  REQUIRE(start.ok());
  RawPg t1(f.database().url());
  t1.exec("BEGIN");
  t1.exec("INSERT INTO changes (user_id) VALUES (201)");
  auto during = s.read_changes(start->cursor);
  REQUIRE(during.ok());
  CHECK(during->changes.empty());
  t1.exec("ROLLBACK");
  const User u = make_user(s, "alice");
  REQUIRE(s.set_admin(u.id, true, now_ms()).ok());
  auto after = s.read_changes(during->next);
  REQUIRE(after.ok());
  CHECK(after->changes == std::vector<Change>{{u.id, 0}});
}

TEST_CASE("PostgresStore feed: a transaction left open elsewhere does not make later reads repeat old rows",
          "[store][feed][postgresql]") {
  tokend::testing::PostgresFixture f;
  Store& s = f.store();
  const User alice = make_user(s, "alice");
  auto start = s.load_live_token_prefixes(now_ms());
  REQUIRE(start.ok());
  // Another session holds a transaction id, as another application's
  // idle-in-transaction session would (before, the cursor stopped there).
  f.exec_sql("CREATE TABLE scratch (x integer)");
  RawPg idle(f.database().url());
  idle.exec("BEGIN");
  idle.exec("INSERT INTO scratch VALUES (1)");
  const auto idle_xid = std::stoll(idle.exec("SELECT pg_current_xact_id()::text"));

  REQUIRE(s.set_admin(alice.id, true, now_ms()).ok());
  auto first = s.read_changes(start->cursor);
  REQUIRE(first.ok());
  CHECK(first->changes == std::vector<Change>{{alice.id, 0}});
  // The open transaction is in the cursor's in-progress list, below its position.
  CHECK(std::count(first->next.in_progress.begin(), first->next.in_progress.end(), idle_xid) == 1);
  CHECK(idle_xid < first->next.position);

  make_token(s, alice.id, "after-the-open-one");
  auto second = s.read_changes(first->next);
  REQUIRE(second.ok());
  INFO("second read " << describe(second->changes));
  // Only the new row: the first change is not read again.
  CHECK(second->changes == std::vector<Change>{{0, token_prefix(digest("after-the-open-one"))}});
  auto third = s.read_changes(second->next);
  REQUIRE(third.ok());
  CHECK(third->changes.empty());

  // The open transaction's own change row, committed later, is still read, once.
  idle.exec("INSERT INTO changes (user_id) VALUES (4242)");
  auto uncommitted = s.read_changes(third->next);
  REQUIRE(uncommitted.ok());
  CHECK(uncommitted->changes.empty());
  idle.exec("COMMIT");
  auto committed = s.read_changes(uncommitted->next);
  REQUIRE(committed.ok());
  CHECK(committed->changes == std::vector<Change>{{4242, 0}});
  CHECK(std::count(committed->next.in_progress.begin(), committed->next.in_progress.end(), idle_xid) == 0);
  auto after = s.read_changes(committed->next);
  REQUIRE(after.ok());
  CHECK(after->changes.empty());
}

TEST_CASE("PostgresStore feed: reads on a connection of its own while every pooled one is busy",
          "[store][feed][postgresql]") {
  // One pooled connection, and short waits so that the busy pool shows quickly.
  tokend::testing::PostgresFixture f(/*pool_size=*/1, /*connect_timeout_ms=*/300, /*statement_timeout_ms=*/300);
  Store& s = f.store();
  const User alice = make_user(s, "alice");
  make_token(s, alice.id, "before");

  // A long transaction holds the pool's only connection.
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, release = false;
  bool held_ok = false;  // checked after the join (Catch2 asserts from the test's thread only)
  std::thread holder([&] {
    auto st = s.in_transaction([&](tokend::store::Transaction& tx) -> tokend::Status {
      (void)tx.find_user(alice.id);
      std::unique_lock l(mu);
      entered = true;
      cv.notify_all();
      cv.wait(l, [&] { return release; });
      return tokend::ok_status();
    });
    held_ok = st.ok();
  });
  {
    std::unique_lock l(mu);
    cv.wait(l, [&] { return entered; });
  }
  // The pool is saturated: a pooled call waits, then fails.
  auto busy = s.find_user(alice.id);
  CHECK_FALSE(busy.ok());
  // A change written by another writer meanwhile.
  f.exec_sql("INSERT INTO changes (user_id) VALUES (31337)");
  // The feed, whose connection is opened only now, still answers.
  auto loaded = s.load_live_token_prefixes(now_ms());
  INFO((loaded.ok() ? std::string() : loaded.error().message));
  REQUIRE(loaded.ok());
  CHECK(loaded->prefixes == std::vector<std::uint64_t>{token_prefix(digest("before"))});
  auto read = s.read_changes(ChangeCursor{});
  INFO((read.ok() ? std::string() : read.error().message));
  REQUIRE(read.ok());
  CHECK(read->changes == std::vector<Change>{{0, token_prefix(digest("before"))}, {31337, 0}});
  {
    std::lock_guard l(mu);
    release = true;
  }
  cv.notify_all();
  holder.join();
  CHECK(held_ok);
  // And the pool serves again.
  CHECK(s.find_user(alice.id).ok());
}
