#include <catch2/catch.hpp>

#include <malloc.h>
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
// The sanitizers' runtime (libasan, libtsan) has it; GCC ships no header.
extern "C" std::size_t __sanitizer_get_current_allocated_bytes();
#endif

#include <cstdio>
#include <fstream>
#include <iostream>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tokend/crypto/crypto.hpp"
#include "tokend/metrics/metrics.hpp"
#include "tokend/token/validation_cache.hpp"
#include "unit/token/feed_store.hpp"

using tokend::TimeMs;
using tokend::crypto::Sha256;
using tokend::store::Change;
using tokend::store::TokenLookup;
using tokend::token::PrefixFilter;
using tokend::token::ValidationCache;
using Kind = ValidationCache::Kind;

namespace {

Sha256 digest_of(std::uint64_t n) { return tokend::crypto::sha256("token-" + std::to_string(n)); }

TokenLookup lookup_for(std::int64_t token_id, std::int64_t user_id) {
  TokenLookup l;
  l.token.id = token_id;
  l.token.user_id = user_id;
  l.token.name = "t" + std::to_string(token_id);
  l.token.source = "userpass";
  l.user.id = user_id;
  l.user.username = "user" + std::to_string(user_id);
  l.user.password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";
  return l;
}

tokend::config::ValidationCacheConfig cfg(std::size_t max_tokens = 1000, TimeMs staleness = 500) {
  tokend::config::ValidationCacheConfig c;
  c.max_tokens = max_tokens;
  c.max_staleness_ms = staleness;
  return c;
}

// A cache loaded (fresh at `t0`) from an empty FeedStore.
struct Loaded {
  explicit Loaded(tokend::config::ValidationCacheConfig c = cfg()) : cache(c, metrics) {
    REQUIRE(cache.reload(store, t0, t0).ok());
  }
  // Fills `d` as a database read begun now would.
  void fill(const Sha256& d, std::int64_t token_id, std::int64_t user_id) {
    cache.fill(d, lookup_for(token_id, user_id), cache.begin_fill());
  }
  Kind kind(const Sha256& d, TimeMs at = 0) {
    const TimeMs when = at == 0 ? t0 + 1 : at;
    return cache.lookup(d, when).kind;
  }
  tokend::testing::FeedStore store;
  tokend::metrics::Metrics metrics;
  ValidationCache cache;
  TimeMs t0 = 1'000'000;
};

// Bytes the allocator has handed out and not taken back: glibc's count, or
// the sanitizer's (whose allocator replaces glibc's, so mallinfo2() says 0).
std::size_t allocated_bytes() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return __sanitizer_get_current_allocated_bytes();
#else
  return mallinfo2().uordblks;
#endif
}

long rss_bytes() {
  std::ifstream f("/proc/self/statm");
  long pages = 0, resident = 0;
  f >> pages >> resident;
  return resident * 4096;
}

}  // namespace

TEST_CASE("PrefixFilter holds exactly the prefixes inserted, past every growth", "[token][cache]") {
  PrefixFilter f;
  std::mt19937_64 rng(7);
  std::set<std::uint64_t> in;
  for (int i = 0; i < 20'000; ++i) {
    const std::uint64_t p = rng() | 1;
    f.insert(p);
    in.insert(p);
  }
  CHECK(f.size() == in.size());
  // A power of two, at most 70 % full.
  CHECK((f.slots() & (f.slots() - 1)) == 0);
  CHECK(f.size() * 10 <= f.slots() * 7);
  for (std::uint64_t p : in) REQUIRE(f.contains(p));
  int present = 0;
  for (int i = 0; i < 20'000; ++i) {
    const std::uint64_t p = rng() | 1;
    if (f.contains(p) != (in.count(p) == 1)) FAIL("membership differs for a prefix never inserted");
    present += f.contains(p) ? 1 : 0;
  }
  CHECK(present == 0);
  CHECK_FALSE(f.insert(*in.begin()));  // already there
}

TEST_CASE("token_prefix never gives 0, the filter's empty slot", "[token][cache]") {
  Sha256 zero{};
  CHECK(tokend::store::token_prefix(zero) == 1);
  Sha256 d = zero;
  d[7] = 2;
  CHECK(tokend::store::token_prefix(d) == 2);
  d[0] = 0x80;
  CHECK(tokend::store::token_prefix(d) == 0x8000000000000002ULL);
  // A token whose digest starts with eight zero bytes is found through prefix 1.
  Loaded l;
  Sha256 z{};
  z[20] = 9;
  CHECK(l.kind(z) == Kind::kUnknown);
  l.fill(z, 1, 1);
  CHECK(l.cache.contains_prefix(1));
  CHECK(l.kind(z) == Kind::kHit);
}

TEST_CASE("ValidationCache answers nothing from memory before its first load", "[token][cache]") {
  tokend::testing::FeedStore store;
  tokend::metrics::Metrics metrics;
  ValidationCache cache(cfg(), metrics);
  CHECK_FALSE(cache.fresh(5'000));
  cache.fill(digest_of(1), lookup_for(1, 1), cache.begin_fill());
  CHECK(cache.lookup(digest_of(1), 5'000).kind == Kind::kMiss);
  CHECK(cache.lookup(digest_of(2), 5'000).kind == Kind::kMiss);  // not refused: not loaded
  REQUIRE(cache.refresh(store, 5'000, 5'000).ok());                     // the first refresh loads
  CHECK(cache.fresh(5'000));
  CHECK(cache.lookup(digest_of(2), 5'001).kind == Kind::kUnknown);
}

TEST_CASE("ValidationCache: the filter says unknown, maybe, and remembered", "[token][cache]") {
  Loaded l;
  const Sha256 d = digest_of(1);
  CHECK(l.kind(d) == Kind::kUnknown);
  // A token this process added: in the filter at once, not remembered yet.
  l.cache.on_committed({Change{0, tokend::store::token_prefix(d)}});
  CHECK(l.kind(d) == Kind::kMiss);
  l.fill(d, 1, 7);
  auto a = l.cache.lookup(d, l.t0 + 1);
  REQUIRE(a.kind == Kind::kHit);
  CHECK(a.lookup.token.id == 1);
  CHECK(a.lookup.user.id == 7);
  CHECK(a.lookup.user.username == "user7");
  CHECK(a.lookup.user.password_hash.empty());  // never kept
  CHECK(l.metrics.render().find("tokend_validation_cache_hits_total 1") != std::string::npos);
  CHECK(l.metrics.render().find("tokend_validation_cache_rejects_total 1") != std::string::npos);
}

TEST_CASE("ValidationCache keeps at most max_tokens entries, evicting when full", "[token][cache]") {
  Loaded l(cfg(5));
  for (int i = 0; i < 100; ++i) {
    l.fill(digest_of(i), i, 1);
    REQUIRE(l.cache.entries() <= 5);
  }
  CHECK(l.cache.entries() == 5);
  int hits = 0;
  for (int i = 0; i < 100; ++i) hits += l.kind(digest_of(i)) == Kind::kHit ? 1 : 0;
  CHECK(hits >= 1);
  CHECK(hits <= 5);
  // Every filled token's prefix stays in the filter: evicted ones are misses
  // (read again), never refused.
  for (int i = 0; i < 100; ++i) REQUIRE(l.kind(digest_of(i)) != Kind::kUnknown);
  // Refilling a remembered digest does not take a second slot.
  for (int i = 0; i < 100; ++i) {
    if (l.kind(digest_of(i)) == Kind::kHit) l.fill(digest_of(i), i, 1);
  }
  CHECK(l.cache.entries() == 5);
}

TEST_CASE("ValidationCache forgets every token of an invalidated account, and only those", "[token][cache]") {
  Loaded l;
  l.fill(digest_of(1), 1, 10);
  l.fill(digest_of(2), 2, 10);
  l.fill(digest_of(3), 3, 11);
  l.cache.on_committed({Change{10, 0}});
  CHECK(l.kind(digest_of(1)) == Kind::kMiss);
  CHECK(l.kind(digest_of(2)) == Kind::kMiss);
  CHECK(l.kind(digest_of(3)) == Kind::kHit);
  // Read again after the change: remembered again.
  l.fill(digest_of(1), 1, 10);
  CHECK(l.kind(digest_of(1)) == Kind::kHit);
}

TEST_CASE("ValidationCache drops a fill whose read began before its account was invalidated", "[token][cache]") {
  Loaded l;
  const Sha256 d = digest_of(1);
  const std::uint64_t ticket = l.cache.begin_fill();  // the database read begins
  l.cache.on_committed({Change{10, 0}});             // a revoke commits meanwhile
  l.cache.fill(d, lookup_for(1, 10), ticket);         // what the read saw: maybe before it
  CHECK(l.kind(d) == Kind::kMiss);
  CHECK(l.cache.entries() == 0);
  // Another account's invalidation does not drop it.
  const std::uint64_t t2 = l.cache.begin_fill();
  l.cache.on_committed({Change{11, 0}});
  l.cache.fill(d, lookup_for(1, 10), t2);
  CHECK(l.kind(d) == Kind::kHit);
}

TEST_CASE("ValidationCache answers from memory only while fresh, then recovers", "[token][cache]") {
  Loaded l(cfg(1000, 100));
  const Sha256 d = digest_of(1);
  l.fill(d, 1, 1);
  CHECK(l.cache.fresh(l.t0 + 99));
  CHECK(l.kind(d, l.t0 + 99) == Kind::kHit);
  CHECK(l.kind(digest_of(2), l.t0 + 99) == Kind::kUnknown);
  // max_staleness_ms after the last successful read began: fallback.
  CHECK_FALSE(l.cache.fresh(l.t0 + 100));
  CHECK(l.kind(d, l.t0 + 100) == Kind::kMiss);
  CHECK(l.kind(digest_of(2), l.t0 + 100) == Kind::kMiss);
  // The feed is lost: still no answers from memory.
  l.store.fail_feed = true;
  CHECK_FALSE(l.cache.refresh(l.store, l.t0 + 150, l.t0 + 150).ok());
  CHECK_FALSE(l.cache.fresh(l.t0 + 160));
  CHECK(l.kind(d, l.t0 + 160) == Kind::kMiss);
  // It comes back: what happened meanwhile is applied, then answers resume.
  l.store.record_external(Change{1, 0});
  l.store.fail_feed = false;
  REQUIRE(l.cache.refresh(l.store, l.t0 + 200, l.t0 + 200).ok());
  CHECK(l.cache.fresh(l.t0 + 201));
  CHECK(l.kind(d, l.t0 + 201) == Kind::kMiss);  // invalidated by the change it missed
  CHECK(l.kind(digest_of(2), l.t0 + 201) == Kind::kUnknown);
}

TEST_CASE("ValidationCache applies other writers' changes at its next feed read", "[token][cache]") {
  Loaded l;
  const Sha256 d = digest_of(1);
  l.fill(d, 1, 5);
  const Sha256 fresh_token = digest_of(2);
  l.store.record_external(Change{5, 0});
  l.store.record_external(Change{0, tokend::store::token_prefix(fresh_token)});
  // Not read yet: memory does not know.
  CHECK(l.kind(d) == Kind::kHit);
  CHECK(l.kind(fresh_token) == Kind::kUnknown);
  REQUIRE(l.cache.refresh(l.store, l.t0 + 10, l.t0 + 10).ok());
  CHECK(l.kind(d, l.t0 + 11) == Kind::kMiss);
  CHECK(l.kind(fresh_token, l.t0 + 11) == Kind::kMiss);  // maybe: read the database
}

TEST_CASE("ValidationCache reloads the filter and forgets every entry after a long gap", "[token][cache]") {
  Loaded l;
  // A live token in the database, and one that is revoked meanwhile.
  auto user = l.store.create_user(tokend::store::NewUser{"alice", "", "", "", false});
  REQUIRE(user.ok());
  tokend::store::NewToken live;
  live.digest = digest_of(100);
  live.user_id = user->id;
  live.created_at = l.t0;
  live.expires_at = tokend::kNever;
  REQUIRE(l.store.insert_token(live).ok());
  tokend::store::NewToken dead = live;
  dead.digest = digest_of(101);
  auto dead_rec = l.store.insert_token(dead);
  REQUIRE(dead_rec.ok());
  REQUIRE(l.cache.refresh(l.store, l.t0 + 10, l.t0 + 10).ok());
  CHECK(l.cache.contains_prefix(tokend::store::token_prefix(dead.digest)));
  l.fill(digest_of(1), 1, 77);
  REQUIRE(l.cache.entries() == 1);
  REQUIRE(l.store.inner().revoke_token(user->id, dead_rec->id, l.t0 + 20).ok());  // unheard of
  const int reads = l.store.feed_reads.load();
  const TimeMs later = l.t0 + 10 + ValidationCache::kReloadAfterMs + 1;
  REQUIRE(l.cache.refresh(l.store, later, later).ok());
  CHECK(l.store.feed_reads.load() == reads + 1);
  CHECK(l.cache.entries() == 0);
  CHECK(l.kind(digest_of(1), later + 1) == Kind::kUnknown);
  CHECK(l.kind(live.digest, later + 1) == Kind::kMiss);
  CHECK_FALSE(l.cache.contains_prefix(tokend::store::token_prefix(dead.digest)));
  CHECK(l.cache.filter_prefixes() == 1);
}

TEST_CASE("ValidationCache keeps a prefix added while a reload reads its snapshot", "[token][cache]") {
  Loaded l;
  const Sha256 before = digest_of(5);
  const Sha256 during = digest_of(6);
  // Told before the reload began, with no such token in the database: the
  // reloaded filter drops it (the snapshot is the truth).
  l.cache.on_committed({Change{0, tokend::store::token_prefix(before)}});
  // Committed by this process after the snapshot was taken, before the swap:
  // the new filter must have it (the feed is read again only at the next poll).
  l.store.after_snapshot = [&] { l.cache.on_committed({Change{0, tokend::store::token_prefix(during)}}); };
  REQUIRE(l.cache.reload(l.store, l.t0 + 5, l.t0 + 5).ok());
  CHECK_FALSE(l.cache.contains_prefix(tokend::store::token_prefix(before)));
  CHECK(l.cache.contains_prefix(tokend::store::token_prefix(during)));
}

TEST_CASE("ValidationCache under concurrent lookups, fills and invalidations", "[token][cache][threads]") {
  Loaded l(cfg(200));
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      while (!stop) {
        const int i = static_cast<int>(rng() % 500);
        const Sha256 d = digest_of(i);
        if (l.cache.lookup(d, l.t0 + 1).kind != Kind::kHit) l.fill(d, i, i % 7);
      }
    });
  }
  threads.emplace_back([&] {
    for (int n = 0; n < 2000; ++n) l.cache.on_committed({Change{n % 7, 0}});
    stop = true;
  });
  for (auto& th : threads) th.join();
  CHECK(l.cache.entries() <= 200);
  // With nothing in flight, an invalidation leaves no entry of the account.
  l.cache.on_committed({Change{3, 0}});
  for (int i = 0; i < 500; ++i) {
    if (i % 7 == 3) REQUIRE(l.kind(digest_of(i)) != Kind::kHit);
  }
}

TEST_CASE("ValidationCache memory per entry and per prefix (printed, for docs/operations.md)", "[token][cache][memory]") {
  constexpr int kTokens = 100'000;
  std::vector<TokenLookup> lookups;
  std::vector<Sha256> digests;
  for (int i = 0; i < kTokens; ++i) digests.push_back(digest_of(i));
  tokend::testing::FeedStore store;
  tokend::metrics::Metrics metrics;
  ValidationCache cache(cfg(kTokens), metrics);
  REQUIRE(cache.reload(store, 1000, 1000).ok());
  const long before = rss_bytes();
  for (int i = 0; i < kTokens; ++i) {
    // A realistic record: a token name, an email, a display name, scopes.
    TokenLookup l = lookup_for(i, i / 10);
    l.token.name = "ci deploy key " + std::to_string(i);
    l.token.scopes = "read write";
    l.user.email = "someone" + std::to_string(i / 10) + "@example.org";
    l.user.display_name = "Some One " + std::to_string(i / 10);
    cache.fill(digests[i], l, cache.begin_fill());
  }
  const long after = rss_bytes();
  REQUIRE(cache.entries() == static_cast<std::size_t>(kTokens));
  const double per_token = static_cast<double>(after - before) / kTokens;
  const double per_prefix = static_cast<double>(cache.filter_bytes()) / static_cast<double>(cache.filter_prefixes());
  std::cout << "validation cache: " << kTokens << " entries: RSS +" << (after - before) / 1024 << " KiB, "
            << per_token << " bytes per entry (filter included: " << cache.filter_bytes() / 1024 << " KiB for "
            << cache.filter_prefixes() << " prefixes, " << per_prefix << " bytes per prefix)\n";
  // Sanity, not a target: the entries exist and are not absurdly large.
  CHECK(per_token > 64);
  CHECK(per_token < 4096);
}

TEST_CASE("ValidationCache measures freshness on the monotonic clock only", "[token][cache]") {
  // lookup(), fresh() and refresh() take the monotonic time (steady_ms())
  // for freshness; the wall clock only says what is live (load, expiry). So
  // a refresh whose wall time is an hour in the past (the clock stepped
  // back) is fresh for exactly max_staleness_ms of monotonic time.
  Loaded l(cfg(1000, 100));
  const Sha256 d = digest_of(1);
  l.fill(d, 1, 1);
  const TimeMs mono = l.t0 + 1000;
  REQUIRE(l.cache.refresh(l.store, l.t0 - 3'600'000, mono).ok());
  CHECK(l.cache.lookup(d, mono + 99).kind == Kind::kHit);
  CHECK(l.cache.lookup(d, mono + 100).kind == Kind::kMiss);
  // A monotonic time before the read (cannot happen) is never fresh.
  CHECK_FALSE(l.cache.fresh(mono - 1));
  // And TokenService passes steady_ms(), never now_ms().
  CHECK(tokend::steady_ms() < tokend::now_ms() / 2);  // since boot, not since 1970
}

TEST_CASE("ValidationCache reloads every kFullReloadEveryMs even while the feed is read", "[token][cache]") {
  Loaded l;
  l.fill(digest_of(1), 1, 1);
  TimeMs t = l.t0;
  // Polls 30 s apart (each well inside kReloadAfterMs): feed reads only.
  while (t + 30'000 - l.t0 <= ValidationCache::kFullReloadEveryMs) {
    t += 30'000;
    REQUIRE(l.cache.refresh(l.store, t, t).ok());
    REQUIRE(l.cache.entries() == 1);
  }
  // The first poll past it reloads: entries forgotten, the filter rebuilt,
  // so a writer that announced nothing (an older version during a rolling
  // upgrade) is caught up with within kFullReloadEveryMs.
  t += 30'000;
  REQUIRE(l.cache.refresh(l.store, t, t).ok());
  CHECK(l.cache.entries() == 0);
  CHECK(l.kind(digest_of(1), t + 1) == Kind::kUnknown);
}

TEST_CASE("ValidationCache reloads when the store says its cursor cannot be continued", "[token][cache]") {
  Loaded l;
  l.fill(digest_of(1), 1, 1);
  l.store.conflict_feed = true;
  const int reads = l.store.feed_reads.load();
  // read_changes says kConflict (a database restored under the server): the
  // refresh loads a new snapshot instead and is fresh.
  REQUIRE(l.cache.refresh(l.store, l.t0 + 10, l.t0 + 10).ok());
  CHECK(l.store.feed_reads.load() == reads + 2);  // the refused read, then the load
  CHECK(l.cache.entries() == 0);
  CHECK(l.cache.fresh(l.t0 + 11));
}

TEST_CASE("ValidationCache keeps reading the feed when a periodic reload fails", "[token][cache]") {
  Loaded l;
  l.fill(digest_of(1), 1, 1);
  TimeMs t = l.t0;
  while (t + 30'000 - l.t0 <= ValidationCache::kFullReloadEveryMs) {
    t += 30'000;
    REQUIRE(l.cache.refresh(l.store, t, t).ok());
  }
  // The periodic reload is due, and loading fails (say, past
  // statement_timeout): the refresh reads the feed instead and is fresh.
  l.store.fail_load = true;
  l.store.record_external(Change{1, 0});
  t += 30'000;
  const int reads = l.store.feed_reads.load();
  REQUIRE(l.cache.refresh(l.store, t, t).ok());
  CHECK(l.store.feed_reads.load() == reads + 2);  // the failed load, then the feed
  CHECK(l.cache.fresh(t + 1));
  CHECK(l.kind(digest_of(1), t + 1) == Kind::kMiss);  // the change was applied
  // The next polls do not retry the load at every poll...
  const int reads2 = l.store.feed_reads.load();
  REQUIRE(l.cache.refresh(l.store, t + 50, t + 50).ok());
  CHECK(l.store.feed_reads.load() == reads2 + 1);
  // ...but a required one (after a gap) still must succeed to be fresh.
  const TimeMs later = t + 50 + ValidationCache::kReloadAfterMs + 1;
  CHECK_FALSE(l.cache.refresh(l.store, later, later).ok());
  CHECK_FALSE(l.cache.fresh(later + 1));
  l.store.fail_load = false;
  REQUIRE(l.cache.refresh(l.store, later + 10, later + 10).ok());
  CHECK(l.cache.fresh(later + 11));
}

namespace {

tokend::store::SessionLookup session_for(std::int64_t session_id, std::int64_t user_id) {
  tokend::store::SessionLookup l;
  l.session.id = session_id;
  l.session.user_id = user_id;
  l.session.method = "userpass";
  l.user.id = user_id;
  l.user.username = "user" + std::to_string(user_id);
  l.user.password_hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA";
  return l;
}

Sha256 cookie_digest(std::uint64_t n) { return tokend::crypto::sha256("cookie-" + std::to_string(n)); }

}  // namespace

TEST_CASE("ValidationCache remembers sessions apart from tokens, and forgets them with their account",
          "[token][cache][session]") {
  Loaded l;
  const Sha256 d = cookie_digest(1);
  CHECK_FALSE(l.cache.lookup_session(d, l.t0 + 1).has_value());
  l.cache.fill_session(d, session_for(7, 10), l.cache.begin_fill());
  l.cache.fill_session(cookie_digest(2), session_for(8, 11), l.cache.begin_fill());
  auto hit = l.cache.lookup_session(d, l.t0 + 1);
  REQUIRE(hit.has_value());
  CHECK(hit->session.id == 7);
  CHECK(hit->user.username == "user10");
  CHECK(hit->user.password_hash.empty());  // never kept
  CHECK(l.cache.session_entries() == 2);
  // A session digest is no token: the token side neither knows nor counts it.
  CHECK(l.kind(d) == Kind::kUnknown);
  CHECK(l.cache.entries() == 0);
  // A sign-out, a disable, a role change: the account's change drops it.
  l.cache.on_committed({Change{10, 0}});
  CHECK_FALSE(l.cache.lookup_session(d, l.t0 + 1).has_value());
  CHECK(l.cache.lookup_session(cookie_digest(2), l.t0 + 1).has_value());
  // A read that began before the change is not remembered.
  const std::uint64_t ticket = l.cache.begin_fill();
  l.cache.on_committed({Change{10, 0}});
  l.cache.fill_session(d, session_for(7, 10), ticket);
  CHECK_FALSE(l.cache.lookup_session(d, l.t0 + 1).has_value());
  // Not fresh: nothing from memory.
  CHECK_FALSE(l.cache.lookup_session(cookie_digest(2), l.t0 + 10'000).has_value());
  // A reload forgets every session.
  REQUIRE(l.cache.reload(l.store, l.t0 + 2, l.t0 + 2).ok());
  CHECK(l.cache.session_entries() == 0);
  CHECK_FALSE(l.cache.lookup_session(cookie_digest(2), l.t0 + 3).has_value());
}

TEST_CASE("ValidationCache keeps at most max_tokens / 4 sessions", "[token][cache][session]") {
  Loaded l(cfg(20));
  REQUIRE(l.cache.max_sessions() == 5);
  for (int i = 0; i < 50; ++i) {
    l.cache.fill_session(cookie_digest(i), session_for(i, 1), l.cache.begin_fill());
    REQUIRE(l.cache.session_entries() <= 5);
  }
  CHECK(l.cache.session_entries() == 5);
  int hits = 0;
  for (int i = 0; i < 50; ++i) hits += l.cache.lookup_session(cookie_digest(i), l.t0 + 1).has_value() ? 1 : 0;
  CHECK(hits == 5);
}

TEST_CASE("ValidationCache memory per remembered session (printed, for docs/operations.md)",
          "[token][cache][memory][session]") {
  constexpr int kSessions = 25'000;  // the cap with the default max_tokens 100000
  std::vector<Sha256> digests;
  for (int i = 0; i < kSessions; ++i) digests.push_back(cookie_digest(i));
  tokend::testing::FeedStore store;
  tokend::metrics::Metrics metrics;
  ValidationCache cache(cfg(4 * kSessions), metrics);
  REQUIRE(cache.reload(store, 1000, 1000).ok());
  // Bytes the allocator handed out (not RSS, which memory freed by an
  // earlier test in the same process would hide).
  const std::size_t before = allocated_bytes();
  for (int i = 0; i < kSessions; ++i) {
    // A realistic record: the sign-in method, an email and a display name.
    tokend::store::SessionLookup l = session_for(i, i);
    l.session.method = "github";
    l.user.email = "someone" + std::to_string(i) + "@example.org";
    l.user.display_name = "Some One " + std::to_string(i);
    cache.fill_session(digests[i], l, cache.begin_fill());
  }
  const std::size_t after = allocated_bytes();
  REQUIRE(cache.session_entries() == static_cast<std::size_t>(kSessions));
  const double per_session = static_cast<double>(after - before) / kSessions;
  std::cout << "validation cache: " << kSessions << " sessions: allocated +" << (after - before) / 1024 << " KiB, "
            << per_session << " bytes per session\n";
  CHECK(per_session > 64);
  CHECK(per_session < 4096);
}
