#include "tokend/auth/throttle.hpp"

#include <arpa/inet.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <tuple>
#include <utility>

#include "tokend/audit/audit_log.hpp"
#include "tokend/auth/username.hpp"
#include "tokend/store/store.hpp"

namespace tokend::auth {

namespace {

constexpr std::string_view kUserPrefix = "u:";
constexpr std::string_view kAddrPrefix = "a:";

std::string user_key(std::string_view u) { return std::string(kUserPrefix) + std::string(u); }
// IPv6 clients are counted per /64: one subscriber usually holds a whole /64,
// so per-address counting would hand an attacker 2^64 fresh budgets.
std::string addr_key(std::string_view a) {
  const std::string text(a);
  unsigned char buf[sizeof(in6_addr)];
  if (text.find(':') != std::string::npos && inet_pton(AF_INET6, text.c_str(), buf) == 1) {
    std::fill(buf + 8, buf + 16, 0);
    char out[INET6_ADDRSTRLEN];
    if (inet_ntop(AF_INET6, buf, out, sizeof out)) return std::string(kAddrPrefix) + out + "/64";
  }
  return std::string(kAddrPrefix) + text;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

TimeMs window_ms(const config::ThrottleRule& rule) { return static_cast<TimeMs>(rule.window_s) * 1000; }

// A username key is "u:<name>" or, from the login service, "u:<method>:<name>"
// (method names hold no ':'). Splits it into (method, name).
std::pair<std::string, std::string> split_user_key(std::string_view key) {
  std::string_view rest = key.substr(kUserPrefix.size());
  const auto colon = rest.find(':');
  if (colon == std::string_view::npos) return {std::string(), std::string(rest)};
  return {std::string(rest.substr(0, colon)), std::string(rest.substr(colon + 1))};
}

// Runs `body` in a throttle transaction and turns a throw into a storage
// error: the callers run in destructors and must not throw.
Status run(store::Store& s, const store::Store::ThrottleBody& body) {
  try {
    return s.in_throttle_transaction(body);
  } catch (const std::exception& e) {
    return Error{ErrorCode::kStorageError, std::string("throttle transaction threw: ") + e.what()};
  }
}

}  // namespace

LoginThrottle::LoginThrottle(const config::ThrottleConfig& config, store::Store& store, audit::AuditLog* audit)
    : config_(config), store_(store), audit_(audit) {}

const config::ThrottleRule& LoginThrottle::rule_of(const std::string& key) const {
  return starts_with(key, kUserPrefix) ? config_.per_username : config_.per_address;
}

int LoginThrottle::wait_for(store::ThrottleTransaction& tx, const std::string& key, const config::ThrottleRule& rule,
                            TimeMs now, Status& status) {
  if (key.empty() || rule.max_failures <= 0 || !status) return 0;
  const TimeMs since = now - window_ms(rule);
  auto c = tx.count(key, since);
  if (!c) {
    status = c.error();
    return 0;
  }
  // Attempts in flight (on any instance) count as failures until they
  // settle: that is what keeps N parallel guesses from all passing a check
  // made before any of them was recorded.
  if (c->failures + c->in_flight < rule.max_failures) return 0;
  if (c->failures < rule.max_failures) return 1;  // full only with attempts in flight
  // Blocked until the max_failures-th newest failure leaves the window.
  auto at = tx.nth_newest_failure(key, since, rule.max_failures);
  if (!at) {
    status = at.error();
    return 0;
  }
  return static_cast<int>(std::max<TimeMs>(1, (*at + window_ms(rule) - now + 999) / 1000));
}

Status LoginThrottle::make_room(store::ThrottleTransaction& tx, TimeMs now) {
  const auto cap = static_cast<std::int64_t>(config_.max_tracked);
  // This runs on every failure, and counting the distinct keys reads the
  // whole table. The span of the row ids bounds the rows, so the keys, for
  // the price of two index lookups: keys are counted only when that bound
  // reaches the cap even without the expired rows. Once those are gone the
  // span covers the row ids handed out within the longest window (every
  // reserve() takes one or two), so keys are counted on each failure only
  // while attempts come faster than about max_tracked per window.
  auto bound = tx.rows_upper_bound();
  if (!bound) return bound.error();
  if (*bound < cap) return ok_status();
  const TimeMs longest = static_cast<TimeMs>(std::max(config_.per_username.window_s, config_.per_address.window_s)) * 1000;
  // Expired rows count for nothing: deleting them early changes no answer.
  if (auto s = tx.erase_before(now - longest); !s) return s;
  bound = tx.rows_upper_bound();
  if (!bound) return bound.error();
  if (*bound < cap) return ok_status();
  auto keys = tx.count_keys();
  if (!keys) return keys.error();
  if (*keys < cap) return ok_status();
  // Still full after dropping expired rows: a flood of distinct usernames.
  // Forget the tenth of the keys whose newest row is oldest. Never all of
  // them: a flood must not reset the count of the flooder's own address or of
  // a username under attack, which are the most recently failed.
  return tx.erase_oldest_keys(std::max<std::int64_t>(1, *keys / 10));
}

Status LoginThrottle::add_failure(store::ThrottleTransaction& tx, const std::string& key, std::int64_t row,
                                  const config::ThrottleRule& rule, TimeMs now, std::vector<std::string>& locked) {
  if (key.empty() || rule.max_failures <= 0) return row ? tx.erase(row) : ok_status();
  const TimeMs since = now - window_ms(rule);
  auto before = tx.count(key, since);
  if (!before) return before.error();
  if (row) {
    if (auto s = tx.settle(row, now); !s) return s;
  } else if (auto id = tx.insert(key, now, false); !id) {
    return id.error();
  }
  // Only the newest max_failures failures matter for the decision.
  if (auto s = tx.trim(key, rule.max_failures); !s) return s;
  if (before->failures < rule.max_failures && before->failures + 1 >= rule.max_failures) locked.push_back(key);
  return ok_status();
}

void LoginThrottle::audit_locked(const std::vector<std::string>& keys, TimeMs now) {
  for (const auto& key : keys) {
    const config::ThrottleRule& rule = rule_of(key);
    spdlog::warn("throttle: {} locked for {} s", starts_with(key, kUserPrefix) ? "a username" : "an address",
                 rule.window_s);
    if (!audit_) continue;
    audit::Event e;
    e.event = "throttle.locked";
    e.actor = "system";
    if (starts_with(key, kUserPrefix)) {
      auto [method, name] = split_user_key(key);
      e.subject = "username:" + name;
      if (!method.empty()) e.detail["method"] = method;
    } else {
      e.subject = "address:" + key.substr(kAddrPrefix.size());
    }
    e.detail["failures"] = rule.max_failures;
    e.detail["windowSeconds"] = rule.window_s;
    e.detail["until"] = format_iso8601(now + window_ms(rule));
    audit_->record(e);
  }
}

int LoginThrottle::retry_after(std::string_view username, std::string_view address, TimeMs now) {
  const std::string ukey = username.empty() ? std::string() : user_key(username);
  const std::string akey = address.empty() ? std::string() : addr_key(address);
  int wait = 0;
  auto s = run(store_, [&](store::ThrottleTransaction& tx) -> Status {
    Status st = ok_status();
    wait = std::max(wait_for(tx, ukey, config_.per_username, now, st), wait_for(tx, akey, config_.per_address, now, st));
    return st;
  });
  if (!s) {
    spdlog::error("throttle: cannot read the counts: {}", s.error().message);
    return -1;
  }
  return wait;
}

LoginThrottle::Reservation LoginThrottle::reserve(std::string_view username, std::string_view address, TimeMs now) {
  Reservation r;
  std::string ukey = username.empty() ? std::string() : user_key(username);
  std::string akey = address.empty() ? std::string() : addr_key(address);
  int wait = 0;
  std::int64_t urow = 0;
  std::int64_t arow = 0;
  // Check and insert in one throttle transaction: the whole point.
  auto s = run(store_, [&](store::ThrottleTransaction& tx) -> Status {
    wait = 0;
    urow = arow = 0;
    Status st = ok_status();
    wait = std::max(wait_for(tx, ukey, config_.per_username, now, st), wait_for(tx, akey, config_.per_address, now, st));
    if (!st || wait > 0) return st;
    if (!ukey.empty() && config_.per_username.max_failures > 0) {
      auto id = tx.insert(ukey, now, true);
      if (!id) return id.error();
      urow = *id;
    }
    if (!akey.empty() && config_.per_address.max_failures > 0) {
      auto id = tx.insert(akey, now, true);
      if (!id) return id.error();
      arow = *id;
    }
    return ok_status();
  });
  if (!s) {
    spdlog::error("throttle: cannot reserve an attempt: {}", s.error().message);
    r.failed_ = true;
    return r;
  }
  if (wait > 0) {
    r.retry_after_s_ = wait;
    return r;
  }
  r.throttle_ = this;
  r.user_key_ = std::move(ukey);
  r.addr_key_ = std::move(akey);
  r.user_row_ = urow;
  r.addr_row_ = arow;
  in_flight_ += (urow ? 1 : 0) + (arow ? 1 : 0);
  return r;
}

void LoginThrottle::record_failure(std::string_view username, std::string_view address, TimeMs now) {
  const std::string ukey = username.empty() ? std::string() : user_key(username);
  const std::string akey = address.empty() ? std::string() : addr_key(address);
  std::vector<std::string> locked;
  auto s = run(store_, [&](store::ThrottleTransaction& tx) -> Status {
    locked.clear();
    if (auto st = make_room(tx, now); !st) return st;
    if (auto st = add_failure(tx, ukey, 0, config_.per_username, now, locked); !st) return st;
    return add_failure(tx, akey, 0, config_.per_address, now, locked);
  });
  if (!s) return spdlog::error("throttle: cannot record a failure: {}", s.error().message);
  audit_locked(locked, now);
}

void LoginThrottle::record_success(std::string_view username) {
  const std::string ukey = user_key(username);
  auto s = run(store_, [&](store::ThrottleTransaction& tx) -> Status {
    auto n = tx.clear_failures(ukey);
    return n ? ok_status() : Status(n.error());
  });
  if (!s) spdlog::error("throttle: cannot record a success: {}", s.error().message);
}

Status LoginThrottle::unlock_username(std::string_view username) {
  const std::string name = normalize_username(username);
  if (name.empty()) return Error{ErrorCode::kInvalidRequest, "empty username"};
  std::int64_t cleared = 0;
  auto s = run(store_, [&](store::ThrottleTransaction& tx) -> Status {
    cleared = 0;
    auto keys = tx.list_keys(0);
    if (!keys) return keys.error();
    for (const auto& k : *keys) {
      if (!starts_with(k.key, kUserPrefix) || split_user_key(k.key).second != name) continue;
      auto n = tx.clear_failures(k.key);
      if (!n) return n.error();
      cleared += *n;
    }
    return ok_status();
  });
  if (!s) return s;
  if (cleared == 0) return Error{ErrorCode::kNotFound, "no failures recorded for this username"};
  spdlog::info("throttle: a username was unlocked ({} failures cleared)", cleared);
  return ok_status();
}

Status LoginThrottle::unlock_address(std::string_view address) {
  if (address.empty()) return Error{ErrorCode::kInvalidRequest, "empty address"};
  const std::string key = addr_key(address);
  std::int64_t cleared = 0;
  auto s = run(store_, [&](store::ThrottleTransaction& tx) -> Status {
    auto n = tx.clear_failures(key);
    if (!n) return n.error();
    cleared = *n;
    return ok_status();
  });
  if (!s) return s;
  if (cleared == 0) return Error{ErrorCode::kNotFound, "no failures recorded for this address"};
  spdlog::info("throttle: address {} unlocked ({} failures cleared)", key.substr(kAddrPrefix.size()), cleared);
  return ok_status();
}

Result<std::vector<LoginThrottle::Lock>> LoginThrottle::locks(TimeMs now) {
  std::vector<Lock> out;
  const TimeMs longest = static_cast<TimeMs>(std::max(config_.per_username.window_s, config_.per_address.window_s)) * 1000;
  auto s = run(store_, [&](store::ThrottleTransaction& tx) -> Status {
    out.clear();
    auto keys = tx.list_keys(now - longest);
    if (!keys) return keys.error();
    for (const auto& k : *keys) {
      const config::ThrottleRule& rule = rule_of(k.key);
      if (rule.max_failures <= 0) continue;
      auto c = tx.count(k.key, now - window_ms(rule));
      if (!c) return c.error();
      if (c->failures < rule.max_failures) continue;
      // Admitted again once the max_failures-th newest failure leaves the window.
      auto at = tx.nth_newest_failure(k.key, now - window_ms(rule), rule.max_failures);
      if (!at) return at.error();
      Lock l;
      if (starts_with(k.key, kUserPrefix)) {
        l.kind = "username";
        std::tie(l.method, l.name) = split_user_key(k.key);
      } else {
        l.kind = "address";
        l.name = k.key.substr(kAddrPrefix.size());
      }
      l.failures = c->failures;
      l.until = *at + window_ms(rule);
      out.push_back(std::move(l));
    }
    return ok_status();
  });
  if (!s) return s.error();
  std::stable_sort(out.begin(), out.end(), [](const Lock& a, const Lock& b) {
    if (a.kind != b.kind) return a.kind == "username";
    return std::tie(a.name, a.method) < std::tie(b.name, b.method);
  });
  return out;
}

Status LoginThrottle::purge(TimeMs now) {
  const TimeMs longest = static_cast<TimeMs>(std::max(config_.per_username.window_s, config_.per_address.window_s)) * 1000;
  return run(store_, [&](store::ThrottleTransaction& tx) { return tx.erase_before(now - longest); });
}

LoginThrottle::Reservation::Reservation(Reservation&& other) noexcept
    : throttle_(std::exchange(other.throttle_, nullptr)),
      user_key_(std::move(other.user_key_)),
      addr_key_(std::move(other.addr_key_)),
      user_row_(std::exchange(other.user_row_, 0)),
      addr_row_(std::exchange(other.addr_row_, 0)),
      retry_after_s_(other.retry_after_s_),
      failed_(other.failed_) {}

LoginThrottle::Reservation& LoginThrottle::Reservation::operator=(Reservation&& other) noexcept {
  if (this != &other) {
    release();
    throttle_ = std::exchange(other.throttle_, nullptr);
    user_key_ = std::move(other.user_key_);
    addr_key_ = std::move(other.addr_key_);
    user_row_ = std::exchange(other.user_row_, 0);
    addr_row_ = std::exchange(other.addr_row_, 0);
    retry_after_s_ = other.retry_after_s_;
    failed_ = other.failed_;
  }
  return *this;
}

LoginThrottle::Reservation::~Reservation() { release(); }

void LoginThrottle::Reservation::forget() {
  throttle_->in_flight_ -= (user_row_ ? 1 : 0) + (addr_row_ ? 1 : 0);
  user_row_ = addr_row_ = 0;
  throttle_ = nullptr;
}

void LoginThrottle::Reservation::release() {
  if (!throttle_) return;
  const std::int64_t urow = user_row_;
  const std::int64_t arow = addr_row_;
  auto s = run(throttle_->store_, [&](store::ThrottleTransaction& tx) -> Status {
    if (urow) {
      if (auto st = tx.erase(urow); !st) return st;
    }
    return arow ? tx.erase(arow) : ok_status();
  });
  // A row left behind counts as one failure until it leaves the window:
  // conservative, like a crashed process.
  if (!s) spdlog::error("throttle: cannot release an attempt: {}", s.error().message);
  forget();
}

void LoginThrottle::Reservation::fail(TimeMs now) {
  if (!throttle_) return;
  LoginThrottle& t = *throttle_;
  std::vector<std::string> locked;
  auto s = run(t.store_, [&](store::ThrottleTransaction& tx) -> Status {
    locked.clear();
    if (auto st = t.make_room(tx, now); !st) return st;
    if (auto st = t.add_failure(tx, user_key_, user_row_, t.config_.per_username, now, locked); !st) return st;
    return t.add_failure(tx, addr_key_, addr_row_, t.config_.per_address, now, locked);
  });
  // The in-flight rows stay and still count, as failures at reserve time.
  if (!s) spdlog::error("throttle: cannot record a failure: {}", s.error().message);
  forget();
  if (s) t.audit_locked(locked, now);
}

void LoginThrottle::Reservation::succeed() {
  if (!throttle_) return;
  const std::int64_t urow = user_row_;
  const std::int64_t arow = addr_row_;
  auto s = run(throttle_->store_, [&](store::ThrottleTransaction& tx) -> Status {
    if (urow) {
      if (auto st = tx.erase(urow); !st) return st;
    }
    if (arow) {
      if (auto st = tx.erase(arow); !st) return st;
    }
    if (user_key_.empty()) return ok_status();
    auto n = tx.clear_failures(user_key_);
    return n ? ok_status() : Status(n.error());
  });
  if (!s) spdlog::error("throttle: cannot record a success: {}", s.error().message);
  forget();
}

int LoginThrottle::Reservation::rekey(std::string_view canonical, TimeMs now) {
  if (!throttle_ || canonical.empty()) return 0;
  std::string key = user_key(canonical);
  if (key == user_key_) return 0;
  LoginThrottle& t = *throttle_;
  int wait = 0;
  const std::int64_t urow = user_row_;
  const std::int64_t arow = addr_row_;
  auto s = run(t.store_, [&](store::ThrottleTransaction& tx) -> Status {
    Status st = ok_status();
    wait = t.wait_for(tx, key, t.config_.per_username, now, st);
    if (!st) return st;
    if (wait > 0) {
      if (urow) {
        if (auto e = tx.erase(urow); !e) return e;
      }
      return arow ? tx.erase(arow) : ok_status();
    }
    return urow ? tx.move(urow, key) : ok_status();
  });
  if (!s) {
    spdlog::error("throttle: cannot rekey an attempt: {}", s.error().message);
    // Refused, and not as a limit: the rows were not touched and stay (a
    // failure each until they leave the window).
    forget();
    failed_ = true;
    return 1;
  }
  if (wait > 0) {
    forget();
    retry_after_s_ = wait;
    return wait;
  }
  user_key_ = std::move(key);
  return 0;
}

}  // namespace tokend::auth
