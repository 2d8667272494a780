// ConnectionPool: the bounded set of connections of one PostgreSQL store
// (database.pool_size), opened lazily.
//
// - No connection is opened before the first lease(), so a server starts while
//   PostgreSQL is down. The first connection that succeeds runs the
//   migrations (`on_first_connect`) before it is lent; until they succeed no
//   connection is lent.
// - While PostgreSQL is known to be down (the last connect failed), lease()
//   fails at once with the last error for a short backoff (250 ms doubling up
//   to 2 s) instead of waiting connect_timeout_ms on every call; after it, the
//   next lease() tries again.
// - A connection that broke (server restarted, backend terminated, timed out)
//   is dropped when its lease ends, together with every idle connection (they
//   most likely broke too); the next lease() opens fresh ones.
// - When all pool_size connections are lent, lease() waits for one up to
//   connect_timeout_ms + statement_timeout_ms, then fails.
//
// Thread-safety: lease() is safe from any number of threads; a Lease belongs
// to the thread that took it. REQUIRES: no Lease outlives the pool.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/postgres/connection.hpp"
#include "tokend/common/result.hpp"

namespace tokend::store::postgres {

class ConnectionPool final {
 public:
  using OnFirstConnect = std::function<Status(Connection&)>;
  ConnectionPool(ConnectSettings settings, int size, OnFirstConnect on_first_connect);
  ~ConnectionPool();
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  class Lease {
   public:
    Lease(Lease&& o) noexcept : pool_(o.pool_), conn_(std::move(o.conn_)), reused_(o.reused_) { o.pool_ = nullptr; }
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    Connection& operator*() { return *conn_; }
    Connection* operator->() { return conn_.get(); }
    // Whether the connection had served earlier leases (it may have gone
    // stale meanwhile, e.g. across a server restart).
    bool reused() const { return reused_; }
    // Closes the connection now instead of returning it to the pool (it
    // holds session state that must not reach the next borrower, e.g. a
    // session-level advisory lock it could not release); the pool opens a
    // fresh one when needed. Other connections are untouched.
    void discard();

   private:
    friend class ConnectionPool;
    Lease(ConnectionPool* pool, std::unique_ptr<Connection> c, bool reused)
        : pool_(pool), conn_(std::move(c)), reused_(reused) {}
    ConnectionPool* pool_;
    std::unique_ptr<Connection> conn_;
    bool reused_;
  };

  // A connection for the caller. Error kStorageError when PostgreSQL cannot
  // be reached (or is within its backoff), the migrations fail, or no
  // connection frees up in time.
  Result<Lease> lease();

  // A connection of the caller's own, not counted in size() and never lent
  // (the change feed's reader has one: store/postgres/feed_reader.hpp). The
  // same rules as lease() opening one: within connect_timeout_ms, the
  // migrations first if they have not run, and fails at once while the
  // server is known to be down (the backoff, which a failure here extends).
  // Error kStorageError as lease().
  Result<std::unique_ptr<Connection>> open_unpooled();

  // The most connections this pool opens at once (database.pool_size).
  int size() const { return size_; }
  // Whether the migrations have run on this pool's database.
  bool migrated() const;
  // Whether the last failed lease() failed to reach the server (or was
  // within the backoff after that), rather than on the migrations.
  bool unreachable() const;

 private:
  // Opens one connection (migrating first when needed) and keeps the
  // backoff's state. Takes mu_ itself: call without it.
  Result<std::unique_ptr<Connection>> connect();
  void give_back(std::unique_ptr<Connection> c);
  void drop(std::unique_ptr<Connection> c);

  const ConnectSettings settings_;
  const int size_;
  const OnFirstConnect on_first_connect_;
  mutable std::mutex mu_;
  std::condition_variable freed_;
  std::vector<std::unique_ptr<Connection>> idle_;
  int open_ = 0;  // lent + idle + being opened
  bool migrated_ = false;
  std::mutex migrate_mu_;  // one migration at a time per pool
  std::chrono::steady_clock::time_point down_until_{};
  int backoff_ms_ = 0;
  std::string last_error_;
  bool unreachable_ = false;
};

}  // namespace tokend::store::postgres
