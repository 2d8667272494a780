#include "store/sqlite/connection_cache.hpp"

#include <atomic>
#include <functional>
#include <utility>

namespace tokend::store::sqlite {

struct ConnectionCache::Lease::Entry {
  std::unique_ptr<Connection> conn;
  // Lent to a Lease right now. Read and written only by the entry's own
  // thread (the entry is keyed by its id), so no lock; atomic because a
  // thread id may be recycled by a later thread, which then takes over the
  // entry without any other synchronisation with the one that ended.
  std::atomic<bool> in_use{false};
};

ConnectionCache::Lease::Lease(Entry* cached) : cached_(cached), conn_(cached->conn.get()) {
  cached->in_use.store(true, std::memory_order_relaxed);
}

ConnectionCache::Lease::Lease(ConnectionCache* cache, std::unique_ptr<Connection> c)
    : cache_(cache), owned_(std::move(c)), conn_(owned_.get()) {}

ConnectionCache::Lease::Lease(Lease&& o) noexcept
    : cache_(o.cache_), cached_(std::exchange(o.cached_, nullptr)), owned_(std::move(o.owned_)), conn_(o.conn_) {}

ConnectionCache::Lease::~Lease() {
  if (cached_) cached_->in_use.store(false, std::memory_order_release);
  if (owned_) cache_->give_back(std::move(owned_));
}

ConnectionCache::ConnectionCache(config::DatabaseConfig config) : config_(std::move(config)) {}

ConnectionCache::~ConnectionCache() = default;

Result<std::unique_ptr<Connection>> ConnectionCache::connect() {
  auto c = Connection::open(config_.path, config_.busy_timeout_ms, config_.synchronous);
  if (!c) return c.error();
  return std::unique_ptr<Connection>(*c);
}

Result<ConnectionCache::Lease> ConnectionCache::lease() {
  const std::thread::id me = std::this_thread::get_id();
  Shard& shard = shards_[std::hash<std::thread::id>{}(me) % kShards];
  Lease::Entry* entry = nullptr;
  {
    std::lock_guard lock(shard.mu);
    auto it = shard.entries.find(me);
    if (it != shard.entries.end()) entry = it->second.get();
  }
  if (entry) {
    if (!entry->in_use.load(std::memory_order_acquire)) return Lease(entry);
    // Nested use on one thread: a second connection from the pool.
    {
      std::lock_guard lock(idle_mu_);
      if (!idle_.empty()) {
        auto c = std::move(idle_.back());
        idle_.pop_back();
        return Lease(this, std::move(c));
      }
    }
    auto c = connect();
    if (!c) return c.error();
    return Lease(this, std::move(*c));
  }
  // First use on this thread: opened outside the shard's lock (opening reads
  // the file), then published. Only this thread adds an entry for its id.
  auto c = connect();
  if (!c) return c.error();
  auto made = std::make_unique<Lease::Entry>();
  made->conn = std::move(*c);
  entry = made.get();
  {
    std::lock_guard lock(shard.mu);
    shard.entries.emplace(me, std::move(made));
  }
  return Lease(entry);
}

void ConnectionCache::give_back(std::unique_ptr<Connection> c) {
  std::lock_guard lock(idle_mu_);
  idle_.push_back(std::move(c));
}

}  // namespace tokend::store::sqlite
