#include "tokend/auth/throttle.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <vector>

namespace tokend::auth {

namespace {
std::string user_key(std::string_view u) { return "u:" + std::string(u); }
// IPv6 clients are counted per /64: one subscriber usually holds a whole /64,
// so per-address counting would hand an attacker 2^64 fresh budgets.
std::string addr_key(std::string_view a) {
  const std::string text(a);
  unsigned char buf[sizeof(in6_addr)];
  if (text.find(':') != std::string::npos && inet_pton(AF_INET6, text.c_str(), buf) == 1) {
    std::fill(buf + 8, buf + 16, 0);
    char out[INET6_ADDRSTRLEN];
    if (inet_ntop(AF_INET6, buf, out, sizeof out)) return "a:" + std::string(out) + "/64";
  }
  return "a:" + text;
}
}  // namespace

LoginThrottle::LoginThrottle(const config::ThrottleConfig& config) : config_(config) {}

int LoginThrottle::wait_for(const std::string& key, const config::ThrottleRule& rule, TimeMs now) {
  if (rule.max_failures <= 0) return 0;
  auto it = failures_.find(key);
  if (it == failures_.end()) return 0;
  auto& q = it->second;
  const TimeMs window = static_cast<TimeMs>(rule.window_s) * 1000;
  while (!q.empty() && q.front() <= now - window) q.pop_front();
  if (q.empty()) {
    failures_.erase(it);
    return 0;
  }
  if (static_cast<int>(q.size()) < rule.max_failures) return 0;
  const TimeMs until = q.front() + window;
  return static_cast<int>(std::max<TimeMs>(1, (until - now + 999) / 1000));
}

int LoginThrottle::retry_after(std::string_view username, std::string_view address, TimeMs now) {
  std::lock_guard lock(mu_);
  return std::max(wait_for(user_key(username), config_.per_username, now),
                  wait_for(addr_key(address), config_.per_address, now));
}

void LoginThrottle::add(const std::string& key, const config::ThrottleRule& rule, TimeMs now) {
  if (rule.max_failures <= 0) return;
  auto& q = failures_[key];
  q.push_back(now);
  // Only the newest max_failures timestamps matter for the decision.
  while (static_cast<int>(q.size()) > rule.max_failures) q.pop_front();
}

void LoginThrottle::record_failure(std::string_view username, std::string_view address, TimeMs now) {
  std::lock_guard lock(mu_);
  if (failures_.size() >= config_.max_tracked) sweep(now);
  if (failures_.size() >= config_.max_tracked) evict_oldest();
  if (!username.empty()) add(user_key(username), config_.per_username, now);
  if (!address.empty()) add(addr_key(address), config_.per_address, now);
}

void LoginThrottle::record_success(std::string_view username) {
  std::lock_guard lock(mu_);
  failures_.erase(user_key(username));
}

void LoginThrottle::evict_oldest() {
  // Still full after dropping expired keys: a flood of distinct usernames.
  // Forget the tenth of the keys whose last failure is oldest. Never all of
  // them: a flood must not reset the count of the flooder's own address or of
  // a username under attack, which are the most recently failed.
  std::vector<std::pair<TimeMs, const std::string*>> by_age;
  by_age.reserve(failures_.size());
  for (const auto& [key, q] : failures_) by_age.emplace_back(q.empty() ? 0 : q.back(), &key);
  const std::size_t n = std::max<std::size_t>(1, by_age.size() / 10);
  std::nth_element(by_age.begin(), by_age.begin() + static_cast<std::ptrdiff_t>(n - 1), by_age.end());
  std::vector<std::string> victims;
  for (std::size_t i = 0; i < n; ++i) victims.push_back(*by_age[i].second);
  for (const auto& k : victims) failures_.erase(k);
}

void LoginThrottle::sweep(TimeMs now) {
  const TimeMs longest =
      static_cast<TimeMs>(std::max(config_.per_username.window_s, config_.per_address.window_s)) * 1000;
  for (auto it = failures_.begin(); it != failures_.end();) {
    if (it->second.empty() || it->second.back() <= now - longest) it = failures_.erase(it);
    else ++it;
  }
}

}  // namespace tokend::auth
