#include "auth/ldap/ldap_connection_pool.hpp"

#include <ldap.h>

#include <chrono>
#include <utility>
#include <vector>

namespace tokend::auth::ldap {

LdapConnectionPool::Lease::Lease(LdapConnectionPool* pool,
                                 std::unique_ptr<LdapConnection> connection, bool reused)
    : pool_(pool), connection_(std::move(connection)), reused_(reused) {}

LdapConnectionPool::Lease::Lease(Lease&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)),
      connection_(std::move(other.connection_)),
      reused_(other.reused_) {}

LdapConnectionPool::Lease& LdapConnectionPool::Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    reset();
    pool_ = std::exchange(other.pool_, nullptr);
    connection_ = std::move(other.connection_);
    reused_ = other.reused_;
  }
  return *this;
}

LdapConnectionPool::Lease::~Lease() { reset(); }

void LdapConnectionPool::Lease::reset() {
  if (pool_ != nullptr && connection_ != nullptr) {
    pool_->give_back(std::move(connection_));
  }
  pool_ = nullptr;
  connection_.reset();
}

LdapConnectionPool::LdapConnectionPool(Options options) : options_(std::move(options)) {}

LdapConnectionPool::~LdapConnectionPool() {
  // REQUIRES: no lease outlives the pool (the authenticator owns both and
  // only leases inside authenticate()).
  std::lock_guard lock(mu_);
  idle_.clear();
}

LdapConnectionPool::Acquired LdapConnectionPool::acquire() {
  {
    std::unique_lock lock(mu_);
    const bool got_slot =
        cv_.wait_for(lock, std::chrono::milliseconds(options_.acquire_timeout_ms),
                     [this] { return !idle_.empty() || open_ < options_.max_size; });
    if (!got_slot) {
      return {LdapStatus{LDAP_BUSY, "all LDAP connections are in use"}, Lease(), "pool"};
    }
    if (!idle_.empty()) {
      auto connection = std::move(idle_.front());
      idle_.pop_front();
      return {LdapStatus{}, Lease(this, std::move(connection), true)};
    }
    ++open_;  // reserve the slot; the connection is opened without the lock
  }

  auto opened = LdapConnection::open(options_.connection);
  LdapStatus status = opened.status;
  const char* step = "connect";
  if (status.ok() && !options_.bind_dn.empty()) {
    step = "service_bind";
    status = opened.connection->simple_bind(options_.bind_dn, options_.bind_password);
  }
  if (!status.ok()) {
    opened.connection.reset();
    {
      std::lock_guard lock(mu_);
      --open_;
    }
    cv_.notify_one();
    return {std::move(status), Lease(), step};
  }
  return {LdapStatus{}, Lease(this, std::move(opened.connection), false)};
}

void LdapConnectionPool::give_back(std::unique_ptr<LdapConnection> connection) {
  if (connection->broken()) {
    connection.reset();  // closes the socket outside the lock
    std::lock_guard lock(mu_);
    --open_;
  } else {
    std::lock_guard lock(mu_);
    // Most recently used first: it is the least likely to have been closed
    // by the server's idle timeout.
    idle_.push_front(std::move(connection));
  }
  cv_.notify_one();
}

void LdapConnectionPool::drop_idle() {
  std::deque<std::unique_ptr<LdapConnection>> doomed;
  {
    std::lock_guard lock(mu_);
    doomed.swap(idle_);
    open_ -= doomed.size();
  }
  doomed.clear();
  cv_.notify_all();
}

std::size_t LdapConnectionPool::open_count() const {
  std::lock_guard lock(mu_);
  return open_;
}

std::size_t LdapConnectionPool::idle_count() const {
  std::lock_guard lock(mu_);
  return idle_.size();
}

}  // namespace tokend::auth::ldap
