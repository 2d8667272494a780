#include "tokend/auth/throttle.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <utility>
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
  std::size_t recorded = 0;
  TimeMs oldest = 0;
  if (auto it = failures_.find(key); it != failures_.end()) {
    auto& q = it->second;
    const TimeMs window = static_cast<TimeMs>(rule.window_s) * 1000;
    while (!q.empty() && q.front() <= now - window) q.pop_front();
    if (q.empty()) {
      failures_.erase(it);
    } else {
      recorded = q.size();
      oldest = q.front() + window;
    }
  }
  int in_flight = 0;
  if (auto p = pending_.find(key); p != pending_.end()) in_flight = p->second;
  // Attempts in flight count as failures until they settle: that is what
  // keeps N parallel guesses from all passing a check made before any of
  // them was recorded.
  if (static_cast<int>(recorded) + in_flight < rule.max_failures) return 0;
  if (static_cast<int>(recorded) < rule.max_failures) return 1;  // full only with attempts in flight
  return static_cast<int>(std::max<TimeMs>(1, (oldest - now + 999) / 1000));
}

int LoginThrottle::retry_after(std::string_view username, std::string_view address, TimeMs now) {
  std::lock_guard lock(mu_);
  return std::max(username.empty() ? 0 : wait_for(user_key(username), config_.per_username, now),
                  address.empty() ? 0 : wait_for(addr_key(address), config_.per_address, now));
}

LoginThrottle::Reservation LoginThrottle::reserve(std::string_view username, std::string_view address, TimeMs now) {
  Reservation r;
  std::string ukey = username.empty() ? std::string() : user_key(username);
  std::string akey = address.empty() ? std::string() : addr_key(address);
  std::lock_guard lock(mu_);
  // Check and count in one critical section: the whole point.
  const int wait = std::max(ukey.empty() ? 0 : wait_for(ukey, config_.per_username, now),
                            akey.empty() ? 0 : wait_for(akey, config_.per_address, now));
  if (wait > 0) {
    r.retry_after_s_ = wait;
    return r;
  }
  if (!ukey.empty()) ++pending_[ukey];
  if (!akey.empty()) ++pending_[akey];
  r.throttle_ = this;
  r.user_key_ = std::move(ukey);
  r.addr_key_ = std::move(akey);
  return r;
}

void LoginThrottle::unpend(const std::string& key) {
  if (key.empty()) return;
  auto it = pending_.find(key);
  if (it == pending_.end()) return;
  if (--it->second <= 0) pending_.erase(it);
}

void LoginThrottle::add(const std::string& key, const config::ThrottleRule& rule, TimeMs now) {
  if (rule.max_failures <= 0) return;
  auto& q = failures_[key];
  q.push_back(now);
  // Only the newest max_failures timestamps matter for the decision.
  while (static_cast<int>(q.size()) > rule.max_failures) q.pop_front();
}

void LoginThrottle::make_room(TimeMs now) {
  if (failures_.size() >= config_.max_tracked) sweep(now);
  if (failures_.size() >= config_.max_tracked) evict_oldest();
}

void LoginThrottle::record_failure(std::string_view username, std::string_view address, TimeMs now) {
  std::lock_guard lock(mu_);
  make_room(now);
  if (!username.empty()) add(user_key(username), config_.per_username, now);
  if (!address.empty()) add(addr_key(address), config_.per_address, now);
}

void LoginThrottle::record_success(std::string_view username) {
  std::lock_guard lock(mu_);
  failures_.erase(user_key(username));
}

Status LoginThrottle::unlock_username(std::string_view username) {
  std::lock_guard lock(mu_);
  // The login service keys the per-username count by method
  // ("ldap:alice"): the name is what follows the method's colon. Method
  // names never hold a colon, so the first colon is the separator.
  for (auto it = failures_.begin(); it != failures_.end();) {
    const std::string& key = it->first;
    bool match = false;
    if (key.rfind("u:", 0) == 0) {
      const std::string_view rest = std::string_view(key).substr(2);
      const auto colon = rest.find(':');
      match = rest == username || (colon != std::string_view::npos && rest.substr(colon + 1) == username);
    }
    it = match ? failures_.erase(it) : std::next(it);
  }
  return ok_status();
}

Status LoginThrottle::unlock_address(std::string_view address) {
  std::lock_guard lock(mu_);
  failures_.erase(addr_key(address));
  return ok_status();
}

int LoginThrottle::in_flight() const {
  std::lock_guard lock(mu_);
  int n = 0;
  for (const auto& [key, count] : pending_) n += count;
  return n;
}

LoginThrottle::Reservation::Reservation(Reservation&& other) noexcept
    : throttle_(std::exchange(other.throttle_, nullptr)),
      user_key_(std::move(other.user_key_)),
      addr_key_(std::move(other.addr_key_)),
      retry_after_s_(other.retry_after_s_) {}

LoginThrottle::Reservation& LoginThrottle::Reservation::operator=(Reservation&& other) noexcept {
  if (this != &other) {
    release();
    throttle_ = std::exchange(other.throttle_, nullptr);
    user_key_ = std::move(other.user_key_);
    addr_key_ = std::move(other.addr_key_);
    retry_after_s_ = other.retry_after_s_;
  }
  return *this;
}

LoginThrottle::Reservation::~Reservation() { release(); }

void LoginThrottle::Reservation::release() {
  if (!throttle_) return;
  std::lock_guard lock(throttle_->mu_);
  throttle_->unpend(user_key_);
  throttle_->unpend(addr_key_);
  throttle_ = nullptr;
}

void LoginThrottle::Reservation::fail(TimeMs now) {
  if (!throttle_) return;
  std::lock_guard lock(throttle_->mu_);
  throttle_->unpend(user_key_);
  throttle_->unpend(addr_key_);
  throttle_->make_room(now);
  if (!user_key_.empty()) throttle_->add(user_key_, throttle_->config_.per_username, now);
  if (!addr_key_.empty()) throttle_->add(addr_key_, throttle_->config_.per_address, now);
  throttle_ = nullptr;
}

void LoginThrottle::Reservation::succeed() {
  if (!throttle_) return;
  std::lock_guard lock(throttle_->mu_);
  throttle_->unpend(user_key_);
  throttle_->unpend(addr_key_);
  if (!user_key_.empty()) throttle_->failures_.erase(user_key_);
  throttle_ = nullptr;
}

int LoginThrottle::Reservation::rekey(std::string_view canonical, TimeMs now) {
  if (!throttle_ || canonical.empty()) return 0;
  std::string key = user_key(canonical);
  if (key == user_key_) return 0;
  LoginThrottle& t = *throttle_;
  std::unique_lock lock(t.mu_);
  if (const int wait = t.wait_for(key, t.config_.per_username, now); wait > 0) {
    t.unpend(user_key_);
    t.unpend(addr_key_);
    throttle_ = nullptr;
    retry_after_s_ = wait;
    return wait;
  }
  t.unpend(user_key_);
  ++t.pending_[key];
  user_key_ = std::move(key);
  return 0;
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
