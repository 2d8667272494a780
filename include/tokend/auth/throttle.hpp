// LoginThrottle: the brute-force brake shared by every password login
// (userpass, ldap, the browser sign-in). Failed attempts are counted per
// normalised username and per client address in a sliding window; once either
// reaches its limit, further attempts are refused with 429 and Retry-After
// until the oldest failure leaves the window. A success clears the username's
// count. Memory is bounded (max_tracked keys).
//
// An attempt is admitted with reserve(), which checks the limits and counts
// the attempt as a failure in flight in one step under the lock; the
// Reservation then settles it: fail() turns it into a recorded failure,
// succeed() drops it and clears the username's count, and destroying an
// unsettled Reservation (an upstream error, an exception) just drops it. So
// however many attempts race, no more than max_failures minus the recorded
// failures are ever admitted at once, and at most max_failures reach the
// password check within a window (a success resets the username's budget).
//
// The counts live in this process: several instances behind a load balancer
// each count on their own (docs/operations.md says so).
//
// Thread-safety: all methods are safe from any thread (one mutex). A
// Reservation is used by one thread at a time; it must not outlive the
// throttle.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "tokend/common/result.hpp"
#include "tokend/common/time.hpp"
#include "tokend/config/config.hpp"

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
    // Seconds to wait when refused (>= 1); 0 when admitted.
    int retry_after() const { return retry_after_s_; }

    // Moves the per-username part of the reservation to `canonical` (the
    // account's real name, learnt from a directory before its password is
    // checked), so that every spelling of one account shares one count.
    // Returns 0 when the attempt may still go ahead; otherwise the seconds to
    // wait, and the reservation is released (the attempt counts nothing).
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
    LoginThrottle* throttle_ = nullptr;
    std::string user_key_;  // empty: no per-username part
    std::string addr_key_;  // empty: no per-address part
    int retry_after_s_ = 0;
  };

  explicit LoginThrottle(const config::ThrottleConfig& config);

  // Admits one attempt for (username, address) when both keys are below their
  // limit, counting the failures recorded in the window plus the attempts in
  // flight; refused (admitted() false, retry_after() >= 1) otherwise. An empty
  // username or address leaves that rule out.
  Reservation reserve(std::string_view username, std::string_view address, TimeMs now);

  // Seconds to wait before (username, address) may try again; 0 when allowed.
  // Only a prediction: reserve() is what admits an attempt.
  int retry_after(std::string_view username, std::string_view address, TimeMs now);
  // Direct bookkeeping without a reservation (tests, tools).
  void record_failure(std::string_view username, std::string_view address, TimeMs now);
  void record_success(std::string_view username);

  // Lifts the lock of `username` (REQUIRES: normalised; every method's count
  // of that name, "<method>:<username>" as the login service keys them, and
  // the bare name): its recorded failures are forgotten, so its next attempt
  // is admitted. Attempts in flight are left alone. Ok also when nothing was
  // recorded. The admin API's POST /api/admin/throttle/unlock.
  Status unlock_username(std::string_view username);
  // The same for a client address (IPv6: its /64, as counted). Ok also when
  // nothing was recorded.
  Status unlock_address(std::string_view address);

  // Attempts currently in flight (reserved, not settled): for tests.
  int in_flight() const;

 private:
  int wait_for(const std::string& key, const config::ThrottleRule& rule, TimeMs now);
  void add(const std::string& key, const config::ThrottleRule& rule, TimeMs now);
  void make_room(TimeMs now);
  void unpend(const std::string& key);
  void sweep(TimeMs now);
  void evict_oldest();

  config::ThrottleConfig config_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, std::deque<TimeMs>> failures_;
  // Attempts admitted and not yet settled, per key. Bounded by the number of
  // attempts that can run at once (the worker pools), so never swept.
  std::unordered_map<std::string, int> pending_;
};

}  // namespace tokend::auth
