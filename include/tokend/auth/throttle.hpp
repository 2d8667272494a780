// LoginThrottle: the brute-force brake shared by every password login
// (userpass, ldap, the browser sign-in) and the introspection client secrets.
// Failed attempts are counted per normalised username and per client address
// in a sliding window; once either reaches its limit, further attempts are
// refused with 429 and Retry-After until the oldest counted failure leaves the
// window. A success clears the username's count.
//
// The counts live in the database (store::ThrottleTransaction), so every
// instance on one database shares them and a restart keeps them. An attempt
// is admitted with reserve(), which counts the key's failures and attempts in
// flight and inserts its own "in flight" row in one throttle transaction (the
// database serialises those across processes); the Reservation then settles
// it: fail() keeps the row as a failure, succeed() deletes it and the
// username's failures, and destroying an unsettled Reservation (an upstream
// error, an exception) deletes it. So however many attempts race, on however
// many instances, at most max_failures reach the password check within a
// window (a success resets the username's budget). A process that dies with
// an attempt in flight leaves its row: it counts as a failure until it leaves
// the window (conservative: docs/operations.md).
//
// Rows are bounded: each key keeps its newest max_failures failures, at most
// max_tracked keys are kept (expired keys go first, then the tenth whose
// newest row is oldest), and purge() deletes the rows older than the longest
// window. The cap is checked before each failure is recorded: first against
// the span of the row ids (two index lookups, an upper bound on the rows),
// and only when that reaches max_tracked after the expired rows are deleted
// by counting the keys (which reads the whole table).
//
// Every method blocks on the database: call them from worker threads only.
// A database error refuses the attempt (Reservation::failed()): the throttle
// fails closed.
//
// Thread-safety: all methods are safe from any thread. A Reservation is used
// by one thread at a time; it must not outlive the throttle.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tokend/common/result.hpp"
#include "tokend/common/time.hpp"
#include "tokend/config/config.hpp"

namespace tokend::audit {
class AuditLog;
}  // namespace tokend::audit

namespace tokend::store {
class Store;
class ThrottleTransaction;
}  // namespace tokend::store

namespace tokend::auth {

class LoginThrottle final {
 public:
  // One admitted (or refused) attempt. Move-only RAII: see the class comment.
  class Reservation final {
   public:
    Reservation() = default;
    Reservation(Reservation&& other) noexcept;
    Reservation& operator=(Reservation&& other) noexcept;
    Reservation(const Reservation&) = delete;
    Reservation& operator=(const Reservation&) = delete;
    ~Reservation();  // release() when still held

    // True when the attempt may go ahead (and is held in flight).
    bool admitted() const { return throttle_ != nullptr; }
    // Seconds to wait when refused by a limit (>= 1); 0 when admitted or
    // when failed().
    int retry_after() const { return retry_after_s_; }
    // True when the throttle could not ask the database (the attempt is
    // refused: answer 503, not 429).
    bool failed() const { return failed_; }

    // Moves the per-username part of the reservation to `canonical` (the
    // account's real name, learnt from a directory before its password is
    // checked), so that every spelling of one account shares one count.
    // Returns 0 when the attempt may still go ahead; otherwise the seconds to
    // wait (or 1 with failed() true on a database error), and the
    // reservation is released (the attempt counts nothing).
    // Does nothing and returns 0 when `canonical` is the current key or empty.
    // REQUIRES: admitted().
    int rekey(std::string_view canonical, TimeMs now);
    // The attempt failed: recorded as a failure at `now` under both keys.
    void fail(TimeMs now);
    // The attempt succeeded: released, and the username's count cleared.
    void succeed();
    // Neither (the check could not be made): released, nothing recorded.
    void release();

   private:
    friend class LoginThrottle;
    void forget();  // drops the held rows from the process's in-flight count
    LoginThrottle* throttle_ = nullptr;
    std::string user_key_;  // empty: no per-username part
    std::string addr_key_;  // empty: no per-address part
    std::int64_t user_row_ = 0;  // the in-flight rows; 0: none (that rule is off)
    std::int64_t addr_row_ = 0;
    int retry_after_s_ = 0;
    bool failed_ = false;
  };

  // A username or address that is locked now (locks()).
  struct Lock {
    std::string kind;    // "username" or "address"
    std::string name;    // the username; the address (an IPv6 /64 as "prefix/64")
    std::string method;  // the login method ("userpass", "ldap", "introspect"), usernames only
    int failures = 0;    // failures in the rule's window
    TimeMs until = 0;    // when the next attempt will be admitted
  };

  // REQUIRES: `store` (and `audit`, when given) outlive the throttle.
  // `audit` (nullable) receives throttle.locked and throttle.unlocked.
  LoginThrottle(const config::ThrottleConfig& config, store::Store& store, audit::AuditLog* audit = nullptr);

  // Admits one attempt for (username, address) when both keys are below their
  // limit, counting the failures recorded in the window plus the attempts in
  // flight on every instance; refused (admitted() false, retry_after() >= 1)
  // otherwise, or failed() on a database error. An empty username or address
  // leaves that rule out.
  Reservation reserve(std::string_view username, std::string_view address, TimeMs now);

  // Seconds to wait before (username, address) may try again; 0 when allowed;
  // -1 on a database error (fail closed: the caller answers 503). Only a
  // prediction: reserve() is what admits an attempt.
  int retry_after(std::string_view username, std::string_view address, TimeMs now);
  // Direct bookkeeping without a reservation (tests, tools, a refused
  // introspection). Database errors are logged.
  void record_failure(std::string_view username, std::string_view address, TimeMs now);
  void record_success(std::string_view username);

  // Lifts the lock of `username` (normalised here): deletes its recorded
  // failures under every method. Ok when there were some; kNotFound when it
  // had none; kStorageError. Not audited here: the caller (admin API, CLI)
  // knows who asked and records "throttle.unlocked".
  Status unlock_username(std::string_view username);
  // The same for a client address (an IPv6 address lifts its /64).
  Status unlock_address(std::string_view address);

  // The usernames and addresses locked at `now`, usernames first, by name.
  Result<std::vector<Lock>> locks(TimeMs now);
  // Deletes the rows that left the longest window at `now`.
  Status purge(TimeMs now);

  // Attempts of this process currently in flight (reserved, not settled),
  // one per key: for tests.
  int in_flight() const { return in_flight_.load(); }

 private:
  int wait_for(store::ThrottleTransaction& tx, const std::string& key, const config::ThrottleRule& rule, TimeMs now,
               Status& status);
  Status make_room(store::ThrottleTransaction& tx, TimeMs now);
  Status add_failure(store::ThrottleTransaction& tx, const std::string& key, std::int64_t row,
                     const config::ThrottleRule& rule, TimeMs now, std::vector<std::string>& locked);
  void audit_locked(const std::vector<std::string>& keys, TimeMs now);
  const config::ThrottleRule& rule_of(const std::string& key) const;

  config::ThrottleConfig config_;
  store::Store& store_;
  audit::AuditLog* audit_;
  std::atomic<int> in_flight_{0};
};

}  // namespace tokend::auth
