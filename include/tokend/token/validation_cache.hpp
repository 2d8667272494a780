// ValidationCache: answers token validations from memory while keeping
// revocation prompt and bounded (issue 12).
//
// Three parts:
// - a prefix filter: the first 8 bytes (store::token_prefix) of the digest of
//   every token live in the database, loaded with
//   Store::load_live_token_prefixes and grown by the change feed and by this
//   process's listener. A digest whose prefix is absent is no token: it is
//   refused from memory. An open-addressing table of uint64_t with linear
//   probing (0 marks an empty slot, which is why token_prefix() never returns
//   0), grown by doubling at 70 % load: 8 bytes per slot, 11–23 bytes per
//   prefix. Prefixes of tokens that died stay until the next reload (a
//   false "maybe" costs one database read, never a wrong answer).
// - a capped map digest -> the token record and its account (without the
//   password hash), filled from database reads, in kShards shards, each with
//   a shared_mutex (hits from the I/O threads take shared locks). When full, a
//   fill evicts one entry of its shard picked at random (a random bucket,
//   O(1) expected). Entries hold digests, never tokens.
// - a second capped map, digest of a session cookie -> the session and its
//   account (without the password hash), for the cookie exchange and the
//   other cookie routes (SessionService::resolve), filled and invalidated
//   like the tokens; at most max_tokens / 4 entries. A remembered session is
//   used only while it is live by what was read and its idle timer needs no
//   refresh; otherwise the database is read (SessionService).
// - invalidation by account: every Change with a user_id bumps the account's
//   epoch to a new value of a global sequence; an entry filled before it (its
//   ticket is older) is a miss from then on, and a fill whose database read
//   began before it (ticket taken by begin_fill()) is dropped.
//
// Freshness: answers (hits and filter refusals) come from memory only while
// the last successful feed read (refresh() or reload()) *started* less than
// max_staleness_ms ago. Otherwise lookup() says kMiss and the caller reads
// the database. A reader whose last successful read started more than
// kReloadAfterMs ago reloads the filter and forgets every entry.
//
// Same-process changes reach on_committed() (the store's ChangeListener)
// before the call that made them returns: they take effect at once.
//
// Thread-safety: every method is safe from any thread. lookup() and
// on_committed() never block on I/O (short critical sections only);
// refresh() and reload() read the database: call them from a thread that may
// block (the poller), never from an I/O thread.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

#include "tokend/common/result.hpp"
#include "tokend/common/time.hpp"
#include "tokend/config/config.hpp"
#include "tokend/crypto/crypto.hpp"
#include "tokend/store/store.hpp"

namespace tokend::metrics {
class Counter;
class Metrics;
}  // namespace tokend::metrics

namespace tokend::token {

// The set of 8-byte token prefixes (see above). Not thread-safe by itself:
// ValidationCache guards it.
class PrefixFilter final {
 public:
  explicit PrefixFilter(std::size_t expected = 0);
  // REQUIRES: prefix != 0. Returns true when it was new.
  bool insert(std::uint64_t prefix);
  bool contains(std::uint64_t prefix) const;
  std::size_t size() const { return size_; }
  std::size_t slots() const { return slots_.size(); }
  std::size_t bytes() const { return slots_.size() * sizeof(std::uint64_t); }
  // True when one more insert() would grow the table.
  bool full_after_one_more() const;
  // A copy with twice the slots.
  std::unique_ptr<PrefixFilter> grown() const;

 private:
  void grow();
  std::vector<std::uint64_t> slots_;  // a power of two; 0: empty
  std::size_t size_ = 0;
};

class ValidationCache final : public store::ChangeListener {
 public:
  static constexpr std::size_t kShards = 16;
  // A reader away longer than this reloads instead of reading the feed: the
  // feed keeps Store::kChangeRetentionMs, and a reload after a long gap also
  // drops the prefixes of tokens that died meanwhile.
  static constexpr TimeMs kReloadAfterMs = std::min<TimeMs>(60'000, store::Store::kChangeRetentionMs);
  // A full reload at least this often (see refresh()).
  static constexpr TimeMs kFullReloadEveryMs = 5 * 60'000;

  // `config.max_tokens` 0: enabled() is false and lookup() always says kMiss.
  ValidationCache(const config::ValidationCacheConfig& config, metrics::Metrics& metrics);
  ~ValidationCache() override;

  bool enabled() const { return max_tokens_ > 0; }

  enum class Kind {
    kHit,      // `lookup` holds the remembered record and account
    kUnknown,  // fresh and the filter has no such prefix: there is no such token
    kMiss,     // read the database (entry absent, invalidated, or not fresh)
  };
  struct Answer {
    Kind kind = Kind::kMiss;
    store::TokenLookup lookup;  // kHit only
  };
  // What memory says of `digest` at `now`. Counts a hit or a refusal by the
  // filter in the metrics (a miss is counted by count_miss(), by whoever then
  // reads the database: an I/O thread's miss is looked up again on a worker).
  // Never blocks on I/O.
  // `mono`: steady_ms() (freshness; expiry is the caller's, on the wall clock).
  Answer lookup(const crypto::Sha256& digest, TimeMs mono);
  void count_miss();

  // Call before reading the database for a fill; pass the result to fill().
  std::uint64_t begin_fill() const { return seq_.load(std::memory_order_acquire); }
  // Remembers what the database said of `digest` (the account without its
  // password hash), unless the account was invalidated after `ticket` was
  // taken (then the fill is dropped). Adds the prefix to the filter.
  void fill(const crypto::Sha256& digest, const store::TokenLookup& found, std::uint64_t ticket);

  // The remembered session of a cookie digest at `mono`, when there is one
  // and it is current (fresh, and its account not invalidated since it was
  // read); nullopt: read the database. Never blocks on I/O. Counts nothing:
  // the caller, which decides whether the session is usable, calls
  // count_session().
  std::optional<store::SessionLookup> lookup_session(const crypto::Sha256& digest, TimeMs mono);
  // Counts a session answered from memory (true) or read from the database.
  void count_session(bool answered_from_memory);
  // Like fill(), for a session the database said is live (no filter: sessions
  // have none).
  void fill_session(const crypto::Sha256& digest, const store::SessionLookup& found, std::uint64_t ticket);
  std::size_t session_entries() const { return session_count_.load(std::memory_order_relaxed); }
  std::size_t max_sessions() const { return max_sessions_; }

  // ChangeListener: this process's committed changes, applied at once.
  void on_committed(const std::vector<store::Change>& changes) override;

  // Reads the feed once (the poller). Reloads instead when never loaded or
  // when the last successful read started more than kReloadAfterMs before
  // `now`. Ok when the read succeeded (answers may come from memory for
  // max_staleness_ms after `now`); the store's error otherwise.
  // `now` is the wall clock (what is live), `mono` steady_ms() taken before
  // the read began: freshness is measured on the monotonic clock, so a step
  // of the wall clock can neither stretch nor shorten the bound. Also
  // reloads every kFullReloadEveryMs, and when the filter has grown to twice
  // its size at the last load (prefixes of dead tokens are dropped only by a
  // reload; writers that do not announce their changes, such as an instance
  // of a version before the feed during a rolling upgrade, are caught up with
  // at least that often), and when the store says the cursor cannot be
  // continued (kConflict: a database restored under the server).
  Status refresh(store::Store& store, TimeMs now, TimeMs mono);
  // Loads the filter from the database and forgets every entry.
  Status reload(store::Store& store, TimeMs now, TimeMs mono);

  // True while answers may come from memory at monotonic time `mono`.
  bool fresh(TimeMs mono) const;
  std::size_t entries() const { return count_.load(std::memory_order_relaxed); }
  std::size_t filter_prefixes() const;
  std::size_t filter_bytes() const;
  bool contains_prefix(std::uint64_t prefix) const;

 private:
  template <class Lookup>
  struct Entry {
    Lookup lookup;
    std::uint64_t ticket = 0;  // the sequence value when its database read began
  };
  struct DigestHash {
    std::size_t operator()(const crypto::Sha256& d) const noexcept;
  };
  template <class Lookup>
  using Map = std::unordered_map<crypto::Sha256, Entry<Lookup>, DigestHash>;
  struct alignas(64) Shard {
    mutable std::shared_mutex mu;
    Map<store::TokenLookup> map;
    Map<store::SessionLookup> sessions;
  };
  // The one implementation of both maps: the entry of `digest` in
  // shard.*which when it is current (its account not invalidated since).
  template <class Lookup>
  bool find_current(Map<Lookup> Shard::*which, const crypto::Sha256& digest, Lookup& out);
  // Stores `entry` for `digest` in shard.*which unless its account was
  // invalidated after entry.ticket; past `cap` entries (counted in `count`)
  // one of the shard's is evicted at random.
  template <class Lookup>
  void insert_current(Map<Lookup> Shard::*which, const crypto::Sha256& digest, Entry<Lookup> entry,
                      std::atomic<std::size_t>& count, std::size_t cap);
  struct alignas(64) EpochShard {
    mutable std::shared_mutex mu;
    std::unordered_map<std::int64_t, std::uint64_t> epochs;  // account -> last invalidation
    std::uint64_t floor = 0;  // every account of this shard was invalidated at this value
  };

  Shard& shard_of(const crypto::Sha256& d);
  EpochShard& epoch_shard_of(std::int64_t user_id);
  // The value at which `user_id` was last invalidated (REQUIRES: its epoch
  // shard's lock held).
  std::uint64_t epoch_locked(const EpochShard& s, std::int64_t user_id) const;
  void invalidate(std::int64_t user_id);
  void add_prefix(std::uint64_t prefix);
  void forget_all();
  Status read_feed(store::Store& store, TimeMs mono);
  Status reload_locked(store::Store& store, TimeMs now, TimeMs mono);

  const std::size_t max_tokens_;
  const std::size_t max_sessions_;
  const TimeMs max_staleness_ms_;
  const std::size_t max_epochs_per_shard_;

  std::array<Shard, kShards> shards_;
  std::array<EpochShard, kShards> epoch_shards_;
  std::atomic<std::uint64_t> seq_{1};
  std::atomic<std::uint64_t> global_floor_{0};  // every entry older than this is a miss
  std::atomic<std::size_t> count_{0};
  std::atomic<std::size_t> session_count_{0};
  std::atomic<std::uint64_t> evict_rng_{0x9e3779b97f4a7c15ULL};

  // The filter: readers take filter_mu_ shared; writers serialise on
  // filter_write_mu_ and take filter_mu_ exclusively only to insert into or
  // swap the table.
  mutable std::shared_mutex filter_mu_;
  std::mutex filter_write_mu_;
  std::unique_ptr<PrefixFilter> filter_;
  bool reloading_ = false;                      // under filter_write_mu_
  std::vector<std::uint64_t> added_in_reload_;  // under filter_write_mu_

  // The feed reader's state (one reader at a time: feed_mu_).
  std::mutex feed_mu_;
  bool loaded_ = false;  // under feed_mu_
  store::ChangeCursor cursor_;
  TimeMs last_success_started_ = 0;  // steady_ms(), under feed_mu_
  TimeMs last_reload_started_ = 0;   // steady_ms(), under feed_mu_
  std::size_t prefixes_at_load_ = 0; // under feed_mu_
  // What fresh() reads: the start of the last successful read (steady_ms());
  // kNotYet: never.
  static constexpr TimeMs kNotYet = std::numeric_limits<TimeMs>::min();
  std::atomic<TimeMs> fresh_since_{kNotYet};

  metrics::Counter* hits_;
  metrics::Counter* misses_;
  metrics::Counter* rejects_;
  metrics::Counter* session_hits_;
  metrics::Counter* session_misses_;
};

}  // namespace tokend::token
