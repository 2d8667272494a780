// FeedReader: the connection the PostgresStore's change feed reads on
// (read_changes, load_live_token_prefixes), apart from the pool, so that a
// pool saturated by requests does not delay the validation cache's polls
// (the cache falls back to the database when they stall: it would do so
// exactly when the instance is most loaded).
//
// - One connection, not counted in database.pool_size, opened on first use
//   with ConnectionPool::open_unpooled() (connect_timeout_ms, the migrations
//   first if needed, the pool's backoff while the server is known down);
//   statement_timeout applies to it as to every connection.
// - A connection that broke (server restart, terminated backend, timeout)
//   is closed after the failed call; the next call opens a new one.
//
// Thread-safety: exec() is safe from any number of threads; calls take
// turns on the one connection (there is one feed poller per process).
#pragma once

#include <memory>
#include <mutex>

#include "store/postgres/connection.hpp"
#include "store/postgres/connection_pool.hpp"

namespace tokend::store::postgres {

class FeedReader final {
 public:
  // Runs `q` on the feed's connection, opening it through `pool` first when
  // there is none.
  Result<Rows> exec(ConnectionPool& pool, const Query& q, const Params& params) {
    std::lock_guard l(mu_);
    if (conn_ && conn_->broken()) conn_.reset();
    if (!conn_) {
      auto opened = pool.open_unpooled();
      if (!opened) return opened.error();
      conn_ = std::move(*opened);
    }
    auto r = conn_->exec(q, params);
    if (!r && conn_->broken()) conn_.reset();  // the next call connects again
    return r;
  }

 private:
  std::mutex mu_;
  std::unique_ptr<Connection> conn_;
};

}  // namespace tokend::store::postgres
