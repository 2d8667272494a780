// LdapConnectionPool: a bounded set of reusable LdapConnections to one
// directory, so that logins do not pay a TCP connect and TLS handshake each.
// A pool either binds every new connection as a service account (searches,
// group checks) or leaves them for the caller to bind (user binds: each login
// binds again, which replaces the previous identity on the connection).
//
// At most `max_size` connections exist at once; acquire() waits up to
// `acquire_timeout_ms` for one to come back. A lease returns its connection
// when it ends, unless the connection is broken(), in which case it is closed
// and a later acquire() opens a new one. After a reused connection turns out
// to be dead (the directory restarted or closed it while idle),
// drop_idle() throws away the other idle ones too: they are most likely dead
// as well.
//
// Thread-safety: acquire() and drop_idle() are safe from any thread; a Lease
// and its connection belong to one thread.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <string>

#include "auth/ldap/ldap_connection.hpp"

namespace tokend::auth::ldap {

class LdapConnectionPool final {
 public:
  struct Options {
    LdapConnection::Options connection;
    // Set: every new connection is bound as this DN before use.
    std::string bind_dn;
    std::string bind_password;
    std::size_t max_size = 4;
    int acquire_timeout_ms = 10000;
  };

  class Lease final {
   public:
    Lease() = default;
    Lease(LdapConnectionPool* pool, std::unique_ptr<LdapConnection> connection, bool reused);
    Lease(Lease&& other) noexcept;
    Lease& operator=(Lease&& other) noexcept;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();  // gives the connection back (or closes it when broken)

    LdapConnection* operator->() const { return connection_.get(); }
    LdapConnection& operator*() const { return *connection_; }
    explicit operator bool() const { return connection_ != nullptr; }
    // True when the connection was used before (it may have died while idle).
    bool reused() const { return reused_; }

   private:
    void reset();
    LdapConnectionPool* pool_ = nullptr;
    std::unique_ptr<LdapConnection> connection_;
    bool reused_ = false;
  };

  struct Acquired {
    LdapStatus status;  // ok: `lease` holds a connection
    Lease lease;
    // On failure, the step that failed: "pool" (none free in time),
    // "connect" (TCP, TLS, StartTLS) or "service_bind".
    const char* step = "";
  };

  explicit LdapConnectionPool(Options options);
  ~LdapConnectionPool();
  LdapConnectionPool(const LdapConnectionPool&) = delete;
  LdapConnectionPool& operator=(const LdapConnectionPool&) = delete;

  // A connection: an idle one, else a new one (connected, TLS, bound as the
  // service account when configured). Failures: the LdapConnection::open
  // codes; the service bind's code (LDAP_INVALID_CREDENTIALS when the service
  // account's password is wrong); LDAP_BUSY when all `max_size` connections
  // stayed in use for `acquire_timeout_ms`.
  Acquired acquire();

  // Closes every idle connection.
  void drop_idle();

  // For tests and metrics: connections open now (idle + leased).
  std::size_t open_count() const;
  std::size_t idle_count() const;

 private:
  void give_back(std::unique_ptr<LdapConnection> connection);

  const Options options_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<LdapConnection>> idle_;
  std::size_t open_ = 0;  // idle + leased + being opened
};

}  // namespace tokend::auth::ldap
