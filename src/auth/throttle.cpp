#include "tokend/auth/throttle.hpp"

#include <algorithm>

namespace tokend::auth {

namespace {
std::string user_key(std::string_view u) { return "u:" + std::string(u); }
std::string addr_key(std::string_view a) { return "a:" + std::string(a); }
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
  if (failures_.size() >= config_.max_tracked) {
    // Still full after dropping expired keys: a flood of distinct usernames.
    // Keep memory bounded; the per-address rule still holds the flooder back.
    failures_.clear();
  }
  if (!username.empty()) add(user_key(username), config_.per_username, now);
  if (!address.empty()) add(addr_key(address), config_.per_address, now);
}

void LoginThrottle::record_success(std::string_view username) {
  std::lock_guard lock(mu_);
  failures_.erase(user_key(username));
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
