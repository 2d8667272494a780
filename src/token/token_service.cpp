#include "tokend/token/token_service.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include <array>
#include <vector>

#include "tokend/crypto/crypto.hpp"
#include "tokend/metrics/metrics.hpp"

namespace tokend::token {

bool well_formed_token(std::string_view s) {
  // A table and no early exit: every presented token costs the same 256
  // lookups (this runs for each request, and for every token of a flood).
  static constexpr auto kLowerHex = [] {
    std::array<unsigned char, 256> t{};
    for (char c = '0'; c <= '9'; ++c) t[static_cast<unsigned char>(c)] = 1;
    for (char c = 'a'; c <= 'f'; ++c) t[static_cast<unsigned char>(c)] = 1;
    return t;
  }();
  if (s.size() != kTokenHexLength) return false;
  unsigned char all = 1;
  for (char c : s) all &= kLowerHex[static_cast<unsigned char>(c)];
  return all == 1;
}

TokenService::TokenService(store::Store& store, const config::TokenConfig& config, metrics::Metrics& metrics)
    : store_(store), config_(config), metrics_(metrics) {}

TimeMs TokenService::expiry_for(TimeMs now, std::optional<std::int64_t> lifetime_days) const {
  const std::int64_t days = lifetime_days ? *lifetime_days : config_.lifetime_days;
  if (days <= 0) return kNever;
  // Saturate instead of overflowing: a lifetime past the end of int64
  // milliseconds is "never", not a date in the distant past.
  if (days >= (kNever - now) / 86'400'000) return kNever;
  return now + days * 86'400'000;
}

store::NewToken TokenService::new_token(std::string_view plaintext, std::int64_t user_id, std::string_view source,
                                        std::string_view name, std::optional<std::int64_t> lifetime_days) const {
  store::NewToken t;
  t.digest = crypto::sha256(plaintext);
  t.user_id = user_id;
  t.name = name.empty() ? std::string(source) : std::string(name);
  t.source = std::string(source);
  t.created_at = now_ms();
  t.expires_at = expiry_for(t.created_at, lifetime_days);
  return t;
}

void TokenService::count_issued(const std::string& source) {
  metrics::Counter* c = nullptr;
  {
    std::lock_guard lock(issued_mu_);
    auto it = issued_by_source_.find(source);
    if (it == issued_by_source_.end()) {
      it = issued_by_source_
               .emplace(source, &metrics_.counter("tokend_tokens_issued_total", "Tokens issued, by source.",
                                                  {{"source", source}}))
               .first;
    }
    c = it->second;
  }
  c->inc();
}

Result<IssuedToken> TokenService::issue(std::int64_t user_id, std::string_view source, std::string_view name,
                                        std::optional<std::int64_t> lifetime_days,
                                        std::optional<std::string> scopes) {
  IssuedToken out;
  out.token = crypto::to_hex(crypto::random_bytes(kTokenBytes));
  store::NewToken row = new_token(out.token, user_id, source, name, lifetime_days);
  row.scopes = std::move(scopes);
  auto rec = store_.insert_token(row);
  if (!rec) return rec.error();
  out.record = std::move(*rec);
  count_issued(out.record.source);
  return out;
}

int TokenService::admit_creation(std::int64_t user_id, TimeMs now) {
  const int max = config_.max_created_per_minute;
  if (max <= 0) return 0;
  constexpr TimeMs kWindow = 60'000;
  std::lock_guard lock(created_mu_);
  // Bounded memory: accounts with nothing in the window are forgotten once
  // the table grows (a sweep per 4096 new accounts, not per call).
  if (created_.size() >= 4096 && created_.find(user_id) == created_.end() && created_.size() % 4096 == 0) {
    for (auto it = created_.begin(); it != created_.end();) {
      if (it->second.empty() || it->second.back() <= now - kWindow) it = created_.erase(it);
      else ++it;
    }
  }
  auto& q = created_[user_id];
  while (!q.empty() && q.front() <= now - kWindow) q.pop_front();
  if (static_cast<int>(q.size()) >= max) {
    return static_cast<int>(std::max<TimeMs>(1, (q.front() + kWindow - now + 999) / 1000));
  }
  q.push_back(now);
  return 0;
}

std::int64_t TokenService::begin_creation(std::int64_t user_id) {
  std::lock_guard lock(created_mu_);
  return creating_[user_id]++;
}

void TokenService::end_creation(std::int64_t user_id) {
  std::lock_guard lock(created_mu_);
  auto it = creating_.find(user_id);
  if (it != creating_.end() && --it->second <= 0) creating_.erase(it);
}

void TokenService::issue_async(std::int64_t user_id, std::string_view source, std::string_view name,
                               std::optional<std::int64_t> lifetime_days, IssueDone done,
                               std::optional<std::string> scopes) {
  std::string token = crypto::to_hex(crypto::random_bytes(kTokenBytes));
  store::NewToken row = new_token(token, user_id, source, name, lifetime_days);
  row.scopes = std::move(scopes);
  store_.insert_token_async(
      row, [this, token = std::move(token), done = std::move(done)](Result<store::TokenRecord> rec) mutable {
        if (!rec) return done(rec.error());
        count_issued(rec->source);
        done(IssuedToken{std::move(token), std::move(*rec)});
      });
}

Result<store::TokenLookup> TokenService::validate(std::string_view token) {
  // Malformed input never reaches the database: an attacker's flood of junk
  // costs a length check.
  if (!well_formed_token(token)) return Error{ErrorCode::kNotFound, "malformed token"};
  auto found = store_.find_token(crypto::sha256(token));
  if (!found) return found.error();  // kNotFound: no token has this digest
  store::TokenLookup& l = *found;
  const TimeMs now = now_ms();
  // One code for every reason: a client learns nothing from which it was.
  if (l.token.revoked_at) return Error{ErrorCode::kNotFound, "revoked token"};
  if (l.token.expires_at <= now) return Error{ErrorCode::kNotFound, "expired token"};
  if (l.user.disabled) return Error{ErrorCode::kNotFound, "disabled account"};
  {
    UsageShard& shard = usage_[static_cast<std::uint64_t>(l.token.id) % kUsageShards];
    std::lock_guard lock(shard.mu);
    shard.pending[l.token.id] = now;
  }
  l.token.last_used_at = now;
  return std::move(l);
}

void TokenService::flush_usage() {
  std::vector<std::pair<std::int64_t, TimeMs>> uses;
  for (UsageShard& shard : usage_) {
    std::lock_guard lock(shard.mu);
    uses.insert(uses.end(), shard.pending.begin(), shard.pending.end());
    shard.pending.clear();
  }
  if (uses.empty()) return;
  if (auto s = store_.record_token_use(uses); !s) {
    spdlog::warn("could not record token use: {}", s.error().message);
  }
}

}  // namespace tokend::token
