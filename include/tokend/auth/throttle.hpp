// LoginThrottle: the brute-force brake shared by every password login
// (userpass, ldap, the browser sign-in). Failed attempts are counted per
// normalised username and per client address in a sliding window; once either
// reaches its limit, further attempts are refused with 429 and Retry-After
// until the oldest failure leaves the window. A success clears the username's
// count. Memory is bounded (max_tracked keys).
//
// The counts live in this process: several instances behind a load balancer
// each count on their own (docs/operations.md says so).
//
// Thread-safety: all methods are safe from any thread (one mutex).
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "tokend/common/time.hpp"
#include "tokend/config/config.hpp"

namespace tokend::auth {

class LoginThrottle final {
 public:
  explicit LoginThrottle(const config::ThrottleConfig& config);

  // Seconds to wait before (username, address) may try again; 0 when allowed.
  int retry_after(std::string_view username, std::string_view address, TimeMs now);
  void record_failure(std::string_view username, std::string_view address, TimeMs now);
  void record_success(std::string_view username);

 private:
  int wait_for(const std::string& key, const config::ThrottleRule& rule, TimeMs now);
  void add(const std::string& key, const config::ThrottleRule& rule, TimeMs now);
  void sweep(TimeMs now);
  void evict_oldest();

  config::ThrottleConfig config_;
  std::mutex mu_;
  std::unordered_map<std::string, std::deque<TimeMs>> failures_;
};

}  // namespace tokend::auth
