#include "store/postgres/connection_pool.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

namespace tokend::store::postgres {

namespace {

using Clock = std::chrono::steady_clock;
constexpr int kFirstBackoffMs = 250;
constexpr int kMaxBackoffMs = 2000;

}  // namespace

ConnectionPool::ConnectionPool(ConnectSettings settings, int size, OnFirstConnect on_first_connect)
    : settings_(std::move(settings)), size_(std::max(1, size)), on_first_connect_(std::move(on_first_connect)) {}

ConnectionPool::~ConnectionPool() = default;

bool ConnectionPool::migrated() const {
  std::lock_guard l(mu_);
  return migrated_;
}

bool ConnectionPool::unreachable() const {
  std::lock_guard l(mu_);
  return unreachable_;
}

ConnectionPool::Lease::~Lease() {
  if (pool_ != nullptr && conn_) pool_->give_back(std::move(conn_));
}

void ConnectionPool::Lease::discard() {
  if (pool_ != nullptr && conn_) pool_->drop(std::move(conn_));
}

void ConnectionPool::drop(std::unique_ptr<Connection> c) {
  {
    std::lock_guard l(mu_);
    --open_;
  }
  c.reset();  // closed outside the lock: the server ends the session and its locks
  freed_.notify_all();
}

void ConnectionPool::give_back(std::unique_ptr<Connection> c) {
  // A transaction left open (a body that threw, a failed COMMIT) must not
  // reach the next borrower.
  if (!c->broken() && c->in_transaction()) (void)c->exec_simple("ROLLBACK");
  std::vector<std::unique_ptr<Connection>> dropped;  // closed outside the lock
  {
    std::lock_guard l(mu_);
    if (!c->broken() && c->in_transaction()) {
      // The ROLLBACK failed without breaking the connection: close it
      // rather than hand a transaction to the next borrower.
      dropped.push_back(std::move(c));
      --open_;
    } else if (c->broken()) {
      dropped.push_back(std::move(c));
      --open_;
      // The others most likely went with it (a restart, a failover): drop
      // the idle ones too rather than fail one call on each.
      open_ -= static_cast<int>(idle_.size());
      for (auto& i : idle_) dropped.push_back(std::move(i));
      idle_.clear();
    } else {
      idle_.push_back(std::move(c));
    }
  }
  freed_.notify_all();
}

Result<ConnectionPool::Lease> ConnectionPool::lease() {
  std::unique_lock l(mu_);
  const auto until = Clock::now() + std::chrono::milliseconds(settings_.connect_timeout_ms +
                                                              settings_.statement_timeout_ms);
  if (!freed_.wait_until(l, until, [&] { return !idle_.empty() || open_ < size_; })) {
    return Error{ErrorCode::kStorageError,
                 "PostgreSQL: all " + std::to_string(size_) + " connections of database.pool_size stayed busy"};
  }
  if (!idle_.empty()) {
    auto c = std::move(idle_.back());
    idle_.pop_back();
    return Lease(this, std::move(c), true);
  }
  if (Clock::now() < down_until_) {
    return Error{ErrorCode::kStorageError, last_error_ + " (not retried yet)"};
  }
  ++open_;
  l.unlock();
  auto opened = connect();
  if (!opened) {
    {
      std::lock_guard g(mu_);
      --open_;
    }
    freed_.notify_all();
    return opened.error();
  }
  return Lease(this, std::move(*opened), false);
}

Result<std::unique_ptr<Connection>> ConnectionPool::open_unpooled() {
  {
    std::lock_guard l(mu_);
    if (Clock::now() < down_until_) return Error{ErrorCode::kStorageError, last_error_ + " (not retried yet)"};
  }
  return connect();
}

Result<std::unique_ptr<Connection>> ConnectionPool::connect() {
  auto opened = Connection::open(settings_);
  Status ready = ok_status();
  if (opened) {
    std::lock_guard m(migrate_mu_);
    if (!migrated()) {
      ready = on_first_connect_(**opened);
      if (ready) {
        std::lock_guard g(mu_);
        migrated_ = true;
      }
    }
  }
  std::lock_guard l(mu_);
  if (!opened || !ready) {
    const Error e = opened ? ready.error() : opened.error();
    unreachable_ = !opened;
    // Fail fast for a while instead of one connect_timeout_ms per call.
    backoff_ms_ = backoff_ms_ == 0 ? kFirstBackoffMs : std::min(backoff_ms_ * 2, kMaxBackoffMs);
    down_until_ = Clock::now() + std::chrono::milliseconds(backoff_ms_);
    if (last_error_ != e.message) spdlog::error("{}", e.message);
    last_error_ = e.message;
    return e;
  }
  if (backoff_ms_ != 0) spdlog::info("PostgreSQL ({}) reachable again", (*opened)->where());
  backoff_ms_ = 0;
  unreachable_ = false;
  down_until_ = {};
  last_error_.clear();
  return std::move(*opened);
}

}  // namespace tokend::store::postgres
