// ConnectionCache: the SQLite connections of one store, one per thread that
// uses it. A thread's first lease opens its connection; later leases on that
// thread reuse it, with its prepared statements, so the hot paths (token
// lookup, token insert) prepare nothing per request. Readers run in parallel
// under WAL; writers queue on SQLite's lock with the busy timeout.
//
// The cache is a member of its store, not a thread_local or any other global:
// two stores (tests, a migration tool) never share or leak connections, and
// destroying the store closes every connection it opened. Entries are sharded
// by thread id, each shard with its own mutex held only for a map lookup, so
// concurrent validations do not queue on one lock. A thread that needs a
// second connection while its own is leased (nested use) gets one from a
// small shared pool.
//
// The connections of threads that ended stay open until the store is
// destroyed; a new thread that gets a recycled id reuses one (a connection is
// only ever used by one thread at a time, which is all SQLite's multi-thread
// mode asks). The worker pools are fixed, so their number stays bounded.
//
// Thread-safety: lease() is safe from any number of threads; a Lease belongs
// to the thread that took it. REQUIRES: no Lease outlives the cache.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "store/sqlite/connection.hpp"
#include "tokend/common/result.hpp"
#include "tokend/config/config.hpp"

namespace tokend::store::sqlite {

class ConnectionCache final {
 public:
  explicit ConnectionCache(config::DatabaseConfig config);
  ~ConnectionCache();
  ConnectionCache(const ConnectionCache&) = delete;
  ConnectionCache& operator=(const ConnectionCache&) = delete;

  // One connection, lent to the calling thread until the Lease ends.
  class Lease {
   public:
    Lease(Lease&& o) noexcept;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    Connection& operator*() { return *conn_; }
    Connection* operator->() { return conn_; }

   private:
    friend class ConnectionCache;
    struct Entry;
    explicit Lease(Entry* cached);
    Lease(ConnectionCache* cache, std::unique_ptr<Connection> c);
    ConnectionCache* cache_ = nullptr;
    Entry* cached_ = nullptr;
    std::unique_ptr<Connection> owned_;
    Connection* conn_ = nullptr;
  };

  // This thread's connection (opened on first use), or a pooled one when this
  // thread's is leased already. kStorageError when a connection cannot be
  // opened.
  Result<Lease> lease();

 private:
  Result<std::unique_ptr<Connection>> connect();
  void give_back(std::unique_ptr<Connection> c);

  static constexpr std::size_t kShards = 16;
  struct alignas(64) Shard {
    std::mutex mu;
    // unique_ptr: an entry stays put while its map grows.
    std::unordered_map<std::thread::id, std::unique_ptr<Lease::Entry>> entries;
  };

  const config::DatabaseConfig config_;
  Shard shards_[kShards];
  std::mutex idle_mu_;
  std::vector<std::unique_ptr<Connection>> idle_;  // for a thread that needs a second connection
};

}  // namespace tokend::store::sqlite
