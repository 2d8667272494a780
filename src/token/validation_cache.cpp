#include "tokend/token/validation_cache.hpp"

#include <algorithm>
#include <cstring>

#include "tokend/metrics/metrics.hpp"

namespace tokend::token {

namespace {

constexpr std::size_t kMinSlots = 1024;

// Prefixes are the start of a SHA-256 digest: already uniform, so the low
// bits index the table directly; mixed anyway (cheaply) so that a caller
// passing structured values in tests does not cluster.
std::size_t slot_of(std::uint64_t prefix, std::size_t mask) {
  return static_cast<std::size_t>((prefix * 0x9e3779b97f4a7c15ULL) >> 17) & mask;
}

std::size_t slots_for(std::size_t expected) {
  std::size_t n = kMinSlots;
  // At most 70 % full after loading `expected` prefixes.
  while (n * 7 < expected * 10) n *= 2;
  return n;
}

}  // namespace

PrefixFilter::PrefixFilter(std::size_t expected) : slots_(slots_for(expected), 0) {}

bool PrefixFilter::insert(std::uint64_t prefix) {
  if (full_after_one_more()) grow();
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = slot_of(prefix, mask);; i = (i + 1) & mask) {
    if (slots_[i] == prefix) return false;
    if (slots_[i] == 0) {
      slots_[i] = prefix;
      ++size_;
      return true;
    }
  }
}

bool PrefixFilter::contains(std::uint64_t prefix) const {
  const std::size_t mask = slots_.size() - 1;
  for (std::size_t i = slot_of(prefix, mask);; i = (i + 1) & mask) {
    if (slots_[i] == prefix) return true;
    // Never all full (at most 70 %): every probe ends at an empty slot.
    if (slots_[i] == 0) return false;
  }
}

bool PrefixFilter::full_after_one_more() const { return (size_ + 1) * 10 > slots_.size() * 7; }

std::unique_ptr<PrefixFilter> PrefixFilter::grown() const {
  auto out = std::make_unique<PrefixFilter>(*this);
  out->grow();
  return out;
}

void PrefixFilter::grow() {
  std::vector<std::uint64_t> old(slots_.size() * 2, 0);
  old.swap(slots_);
  size_ = 0;
  const std::size_t mask = slots_.size() - 1;
  for (std::uint64_t p : old) {
    if (p == 0) continue;
    std::size_t i = slot_of(p, mask);
    while (slots_[i] != 0) i = (i + 1) & mask;
    slots_[i] = p;
    ++size_;
  }
}

std::size_t ValidationCache::DigestHash::operator()(const crypto::Sha256& d) const noexcept {
  // A SHA-256 digest is uniform: eight of its bytes are a hash already (not
  // the first eight, which pick the shard).
  std::uint64_t v;
  std::memcpy(&v, d.data() + 8, sizeof v);
  return static_cast<std::size_t>(v);
}

ValidationCache::ValidationCache(const config::ValidationCacheConfig& config, metrics::Metrics& metrics)
    : max_tokens_(config.max_tokens),
      max_sessions_(config.max_tokens == 0 ? 0 : std::max<std::size_t>(1, config.max_tokens / 4)),
      max_staleness_ms_(config.max_staleness_ms),
      // Accounts whose invalidation is remembered one by one; past that, a
      // whole epoch shard is invalidated at once (its floor) and forgotten.
      max_epochs_per_shard_(std::max<std::size_t>(4096, 4 * config.max_tokens / kShards)),
      filter_(std::make_unique<PrefixFilter>()),
      hits_(&metrics.counter("tokend_validation_cache_hits_total",
                             "Token validations answered from memory with a remembered token.")),
      misses_(&metrics.counter("tokend_validation_cache_misses_total",
                               "Token validations that read the database (not remembered, invalidated, or the "
                               "cache not fresh).")),
      rejects_(&metrics.counter("tokend_validation_cache_rejects_total",
                                "Token validations refused from memory: no live token has the digest's prefix.")),
      session_hits_(&metrics.counter("tokend_session_cache_hits_total",
                                     "Session cookies resolved from memory with a remembered session.")),
      session_misses_(&metrics.counter("tokend_session_cache_misses_total",
                                       "Session cookies resolved by reading the database (not remembered, "
                                       "invalidated, or the cache not fresh).")) {}

ValidationCache::~ValidationCache() = default;

ValidationCache::Shard& ValidationCache::shard_of(const crypto::Sha256& d) { return shards_[d[0] % kShards]; }

ValidationCache::EpochShard& ValidationCache::epoch_shard_of(std::int64_t user_id) {
  return epoch_shards_[static_cast<std::uint64_t>(user_id) % kShards];
}

std::uint64_t ValidationCache::epoch_locked(const EpochShard& s, std::int64_t user_id) const {
  std::uint64_t e = s.floor;
  if (auto it = s.epochs.find(user_id); it != s.epochs.end()) e = std::max(e, it->second);
  return e;
}

bool ValidationCache::fresh(TimeMs mono) const {
  if (!enabled()) return false;
  const TimeMs since = fresh_since_.load(std::memory_order_acquire);
  return since != kNotYet && mono >= since && mono - since < max_staleness_ms_;
}

ValidationCache::Answer ValidationCache::lookup(const crypto::Sha256& digest, TimeMs mono) {
  Answer a;
  if (!fresh(mono)) return a;
  if (!contains_prefix(store::token_prefix(digest))) {
    rejects_->inc();
    a.kind = Kind::kUnknown;
    return a;
  }
  if (find_current(&Shard::map, digest, a.lookup)) {
    a.kind = Kind::kHit;
    hits_->inc();
  }
  return a;
}

template <class Lookup>
bool ValidationCache::find_current(Map<Lookup> Shard::*which, const crypto::Sha256& digest, Lookup& out) {
  Shard& s = shard_of(digest);
  std::uint64_t ticket = 0;
  {
    std::shared_lock lock(s.mu);
    const Map<Lookup>& m = s.*which;
    auto it = m.find(digest);
    if (it != m.end()) {
      ticket = it->second.ticket;
      out = it->second.lookup;
    }
  }
  bool current = false;
  // The account's epoch is checked after the shard's lock is released (fill()
  // takes the two locks the other way round).
  if (ticket != 0 && ticket >= global_floor_.load(std::memory_order_acquire)) {
    EpochShard& es = epoch_shard_of(out.user.id);
    std::shared_lock elock(es.mu);
    // An entry whose read began after the account's last invalidation
    // (ticket >= epoch: begin_fill() read the value the bump left) is
    // current; one whose read began before is not.
    current = epoch_locked(es, out.user.id) <= ticket;
  }
  if (!current) out = {};
  return current;
}

std::optional<store::SessionLookup> ValidationCache::lookup_session(const crypto::Sha256& digest, TimeMs mono) {
  if (!fresh(mono)) return std::nullopt;
  store::SessionLookup l;
  if (!find_current(&Shard::sessions, digest, l)) return std::nullopt;
  return l;
}

void ValidationCache::count_session(bool answered_from_memory) {
  (answered_from_memory ? session_hits_ : session_misses_)->inc();
}

void ValidationCache::fill_session(const crypto::Sha256& digest, const store::SessionLookup& found,
                                   std::uint64_t ticket) {
  if (!enabled() || ticket < global_floor_.load(std::memory_order_acquire)) return;
  insert_current(&Shard::sessions, digest, Entry<store::SessionLookup>{found, ticket}, session_count_, max_sessions_);
}

void ValidationCache::count_miss() { misses_->inc(); }

void ValidationCache::fill(const crypto::Sha256& digest, const store::TokenLookup& found, std::uint64_t ticket) {
  if (!enabled()) return;
  // A token this process read exists in the database: the filter must say
  // "maybe" for it, whatever happens to the entry.
  add_prefix(store::token_prefix(digest));
  if (ticket < global_floor_.load(std::memory_order_acquire)) return;
  insert_current(&Shard::map, digest, Entry<store::TokenLookup>{found, ticket}, count_, max_tokens_);
}

template <class Lookup>
void ValidationCache::insert_current(Map<Lookup> Shard::*which, const crypto::Sha256& digest, Entry<Lookup> entry,
                                     std::atomic<std::size_t>& count, std::size_t cap) {
  // Never kept: no route answered from memory checks a password.
  entry.lookup.user.password_hash.clear();
  entry.lookup.user.password_hash.shrink_to_fit();
  const std::int64_t user = entry.lookup.user.id;
  const std::uint64_t ticket = entry.ticket;
  EpochShard& es = epoch_shard_of(user);
  // The account's epoch lock is held across the insert: an invalidation of
  // this account either came before (and the check drops the fill) or comes
  // after (and its higher epoch makes the entry a miss).
  std::shared_lock elock(es.mu);
  const std::uint64_t epoch = epoch_locked(es, user);
  if (epoch > ticket) return;  // invalidated after the read began
  Shard& s = shard_of(digest);
  std::unique_lock lock(s.mu);
  Map<Lookup>& m = s.*which;
  auto it = m.find(digest);
  if (it != m.end()) {
    it->second = std::move(entry);
    return;
  }
  if (count.fetch_add(1, std::memory_order_relaxed) >= cap) {
    count.fetch_sub(1, std::memory_order_relaxed);
    if (m.empty()) return;  // full, and nothing of this shard to give up
    // Random eviction: a random bucket, then the next non-empty one.
    std::uint64_t r = evict_rng_.fetch_add(0x9e3779b97f4a7c15ULL, std::memory_order_relaxed);
    r ^= r >> 31;
    const std::size_t buckets = m.bucket_count();
    for (std::size_t b = r % buckets;; b = (b + 1) % buckets) {
      if (m.bucket_size(b) > 0) {
        m.erase(m.begin(b)->first);
        break;
      }
    }
    m.emplace(digest, std::move(entry));
    return;
  }
  m.emplace(digest, std::move(entry));
}

void ValidationCache::invalidate(std::int64_t user_id) {
  EpochShard& es = epoch_shard_of(user_id);
  std::unique_lock lock(es.mu);
  const std::uint64_t epoch = seq_.fetch_add(1, std::memory_order_acq_rel) + 1;
  if (es.epochs.size() >= max_epochs_per_shard_ && !es.epochs.contains(user_id)) {
    // Bounded memory: every account of this shard counts as invalidated now.
    es.epochs.clear();
    es.floor = epoch;
    return;
  }
  es.epochs[user_id] = epoch;
}

void ValidationCache::add_prefix(std::uint64_t prefix) {
  std::lock_guard w(filter_write_mu_);
  {
    std::shared_lock r(filter_mu_);
    if (filter_->contains(prefix)) {
      if (reloading_) added_in_reload_.push_back(prefix);
      return;
    }
  }
  if (reloading_) added_in_reload_.push_back(prefix);
  if (filter_->full_after_one_more()) {
    // Grown outside the exclusive lock (readers go on meanwhile: writers are
    // serialised by filter_write_mu_, so the table cannot change), then
    // swapped in: an I/O thread never waits for a rehash.
    auto bigger = filter_->grown();
    bigger->insert(prefix);
    {
      std::unique_lock x(filter_mu_);
      filter_.swap(bigger);
    }
    return;  // the old table is freed here, outside the lock
  }
  std::unique_lock x(filter_mu_);
  filter_->insert(prefix);
}

void ValidationCache::on_committed(const std::vector<store::Change>& changes) {
  if (!enabled()) return;
  for (const store::Change& c : changes) {
    if (c.user_id != 0) invalidate(c.user_id);
    if (c.token_prefix != 0) add_prefix(c.token_prefix);
  }
}

bool ValidationCache::contains_prefix(std::uint64_t prefix) const {
  std::shared_lock r(filter_mu_);
  return filter_->contains(prefix);
}

std::size_t ValidationCache::filter_prefixes() const {
  std::shared_lock r(filter_mu_);
  return filter_->size();
}

std::size_t ValidationCache::filter_bytes() const {
  std::shared_lock r(filter_mu_);
  return filter_->bytes();
}

void ValidationCache::forget_all() {
  // Every entry filled before now is a miss from here on; the maps are then
  // emptied shard by shard, each freed outside its lock.
  global_floor_.store(seq_.fetch_add(1, std::memory_order_acq_rel) + 1, std::memory_order_release);
  for (Shard& s : shards_) {
    Map<store::TokenLookup> old;
    Map<store::SessionLookup> old_sessions;
    {
      std::unique_lock lock(s.mu);
      old.swap(s.map);
      old_sessions.swap(s.sessions);
      count_.fetch_sub(old.size(), std::memory_order_relaxed);
      session_count_.fetch_sub(old_sessions.size(), std::memory_order_relaxed);
    }
  }
}

Status ValidationCache::reload(store::Store& store, TimeMs now, TimeMs mono) {
  if (!enabled()) return ok_status();
  std::lock_guard feed(feed_mu_);
  return reload_locked(store, now, mono);
}

Status ValidationCache::reload_locked(store::Store& store, TimeMs now, TimeMs mono) {
  {
    std::lock_guard w(filter_write_mu_);
    reloading_ = true;
    added_in_reload_.clear();
  }
  // Whatever way this ends (an error, or an exception such as bad_alloc for
  // a million prefixes), prefixes are no longer set aside for a reload.
  struct EndReload {
    ValidationCache& c;
    ~EndReload() {
      std::lock_guard w(c.filter_write_mu_);
      c.reloading_ = false;
      c.added_in_reload_.clear();
    }
  } end_reload{*this};
  auto loaded = store.load_live_token_prefixes(now);
  if (!loaded) return loaded.error();
  auto table = std::make_unique<PrefixFilter>(loaded->prefixes.size());
  for (std::uint64_t p : loaded->prefixes) {
    if (p != 0) table->insert(p);
  }
  loaded->prefixes = {};
  {
    std::lock_guard w(filter_write_mu_);
    // Prefixes this process added while the snapshot was read: the snapshot
    // may predate them, and the feed is read again only at the next poll.
    for (std::uint64_t p : added_in_reload_) table->insert(p);
    reloading_ = false;
    added_in_reload_.clear();
    prefixes_at_load_ = table->size();
    std::unique_lock x(filter_mu_);
    filter_.swap(table);
  }
  table.reset();
  forget_all();
  cursor_ = loaded->cursor;
  loaded_ = true;
  last_success_started_ = mono;
  last_reload_started_ = mono;
  fresh_since_.store(mono, std::memory_order_release);
  return ok_status();
}

Status ValidationCache::refresh(store::Store& store, TimeMs now, TimeMs mono) {
  if (!enabled()) return ok_status();
  std::lock_guard feed(feed_mu_);
  // A reload is required when the feed cannot tell what was missed.
  const bool must_reload = !loaded_ || mono - last_success_started_ > kReloadAfterMs;
  if (must_reload) return reload_locked(store, now, mono);
  // A periodic one (the time, or the filter doubled) is housekeeping: if it
  // fails (a huge database past statement_timeout, say), the feed is read as
  // usual, so answers stay fresh, and it is tried again kFullReloadEveryMs
  // later, not at every poll.
  if (mono - last_reload_started_ > kFullReloadEveryMs || filter_prefixes() > 2 * prefixes_at_load_ + 65'536) {
    Status r = reload_locked(store, now, mono);
    if (r) return r;
    last_reload_started_ = mono;
    prefixes_at_load_ = filter_prefixes();
  }
  Status s = read_feed(store, mono);
  // The cursor cannot be continued (the database was replaced or restored
  // under the server): start again from a new snapshot.
  if (!s && s.error().code == ErrorCode::kConflict) return reload_locked(store, now, mono);
  return s;
}

Status ValidationCache::read_feed(store::Store& store, TimeMs mono) {
  auto batch = store.read_changes(cursor_);
  if (!batch) return batch.error();
  on_committed(batch->changes);
  cursor_ = batch->next;
  last_success_started_ = mono;
  // Fresh from the moment the read began: what committed before it is applied.
  fresh_since_.store(mono, std::memory_order_release);
  return ok_status();
}

}  // namespace tokend::token
