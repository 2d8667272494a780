#include "tokend/token/token_service.hpp"

#include <algorithm>

#include <spdlog/spdlog.h>

#include <array>
#include <vector>

#include "tokend/crypto/crypto.hpp"
#include "tokend/metrics/metrics.hpp"
#include "tokend/token/validation_cache.hpp"

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

TokenService::TokenService(store::Store& store, const config::TokenConfig& config, metrics::Metrics& metrics,
                           audit::AuditLog* audit, ValidationCache* cache)
    : store_(store), config_(config), metrics_(metrics), audit_(audit),
      cache_(cache != nullptr && cache->enabled() ? cache : nullptr) {}

TimeMs TokenService::expiry_for(TimeMs now, std::optional<std::int64_t> lifetime_ms) const {
  const std::int64_t ms = lifetime_ms ? *lifetime_ms : config_.lifetime_ms;
  if (ms <= 0) return kNever;
  // Saturate instead of overflowing: a lifetime past the end of int64
  // milliseconds is "never", not a date in the distant past.
  if (ms >= kNever - now) return kNever;
  return now + ms;
}

namespace {

std::string token_subject(std::int64_t id) { return "token:" + std::to_string(id); }
std::string user_actor(std::int64_t id) { return "user:" + std::to_string(id); }
nlohmann::json expiry_json(TimeMs t) { return t == kNever ? nlohmann::json(nullptr) : nlohmann::json(format_iso8601(t)); }

}  // namespace

void TokenService::audit_issued(const store::TokenRecord& t, const audit::RequestContext& rc) {
  if (!audit_) return;
  audit::Event e{"token.issued", user_actor(t.user_id), token_subject(t.id), "", "", nlohmann::json::object()};
  e.detail["method"] = t.source;
  e.detail["token_id"] = t.id;
  e.detail["name"] = t.name;
  e.detail["expires_on"] = expiry_json(t.expires_at);
  // Stored scopes; null: the configured defaults (token/scopes.hpp).
  e.detail["scopes"] = t.scopes ? nlohmann::json(*t.scopes) : nlohmann::json(nullptr);
  audit::record(audit_, std::move(e), rc);
}

Result<IssuedToken> TokenService::rotate(std::int64_t user_id, std::int64_t token_id, std::int64_t grace_seconds,
                                         const audit::RequestContext& rc) {
  IssuedToken out;
  out.token = crypto::to_hex(crypto::random_bytes(kTokenBytes));
  const TimeMs now = now_ms();
  const TimeMs old_ends_at = now + std::max<std::int64_t>(0, grace_seconds) * 1000;
  auto rec = store_.rotate_token(user_id, token_id, crypto::sha256(out.token), now, old_ends_at);
  if (!rec) return rec.error();
  out.record = std::move(*rec);
  count_issued(out.record.source);
  if (audit_) {
    audit::Event e{"token.rotated", user_actor(user_id), token_subject(token_id), "", "", nlohmann::json::object()};
    e.detail["token_id"] = token_id;
    e.detail["new_token_id"] = out.record.id;
    e.detail["name"] = out.record.name;
    e.detail["method"] = out.record.source;
    e.detail["expires_on"] = expiry_json(out.record.expires_at);
    e.detail["grace_seconds"] = grace_seconds;
    e.detail["old_ends_at"] = format_iso8601(old_ends_at);
    audit::record(audit_, std::move(e), rc);
  }
  return out;
}

Status TokenService::revoke(std::int64_t user_id, std::int64_t token_id, std::string_view how,
                            const audit::RequestContext& rc) {
  auto s = store_.revoke_token(user_id, token_id, now_ms());
  if (!s) return s;
  if (audit_) {
    audit::Event e{"token.revoked", user_actor(user_id), token_subject(token_id), "", "", nlohmann::json::object()};
    e.detail["token_id"] = token_id;
    e.detail["by"] = std::string(how);
    audit::record(audit_, std::move(e), rc);
  }
  return ok_status();
}

store::NewToken TokenService::new_token(std::string_view plaintext, std::int64_t user_id, std::string_view source,
                                        std::string_view name, std::optional<std::int64_t> lifetime_ms) const {
  store::NewToken t;
  t.digest = crypto::sha256(plaintext);
  t.user_id = user_id;
  t.name = name.empty() ? std::string(source) : std::string(name);
  t.source = std::string(source);
  t.created_at = now_ms();
  t.expires_at = expiry_for(t.created_at, lifetime_ms);
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
                                        std::optional<std::int64_t> lifetime_ms,
                                        std::optional<std::string> scopes, const audit::RequestContext& rc) {
  IssuedToken out;
  out.token = crypto::to_hex(crypto::random_bytes(kTokenBytes));
  store::NewToken row = new_token(out.token, user_id, source, name, lifetime_ms);
  row.scopes = std::move(scopes);
  auto rec = store_.insert_token(row);
  if (!rec) return rec.error();
  out.record = std::move(*rec);
  count_issued(out.record.source);
  audit_issued(out.record, rc);
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
                               std::optional<std::int64_t> lifetime_ms, IssueDone done,
                               std::optional<std::string> scopes, const audit::RequestContext& rc) {
  std::string token = crypto::to_hex(crypto::random_bytes(kTokenBytes));
  store::NewToken row = new_token(token, user_id, source, name, lifetime_ms);
  row.scopes = std::move(scopes);
  store_.insert_token_async(
      row, [this, token = std::move(token), done = std::move(done), rc](Result<store::TokenRecord> rec) mutable {
        if (!rec) return done(rec.error());
        count_issued(rec->source);
        // On the store's completion thread (not an I/O thread): one local append.
        audit_issued(*rec, rc);
        done(IssuedToken{std::move(token), std::move(*rec)});
      });
}

Result<store::TokenLookup> TokenService::validate(std::string_view token) {
  // Malformed input never reaches the database: an attacker's flood of junk
  // costs a length check.
  if (!well_formed_token(token)) return Error{ErrorCode::kNotFound, "malformed token"};
  const crypto::Sha256 digest = crypto::sha256(token);
  if (cache_ == nullptr) {
    auto found = store_.find_token(digest);
    if (!found) return found.error();  // kNotFound: no token has this digest
    return accept_live(std::move(*found), now_ms());
  }
  ValidationCache::Answer a = cache_->lookup(digest, steady_ms());
  if (a.kind == ValidationCache::Kind::kHit) return accept_live(std::move(a.lookup), now_ms());
  if (a.kind == ValidationCache::Kind::kUnknown) return Error{ErrorCode::kNotFound, "unknown token prefix"};
  cache_->count_miss();
  // Taken before the read: an invalidation of the account while it runs
  // drops what it read instead of remembering it.
  const std::uint64_t ticket = cache_->begin_fill();
  auto found = store_.find_token(digest);
  if (!found) return found.error();
  cache_->fill(digest, *found, ticket);
  return accept_live(std::move(*found), now_ms());
}

std::optional<Result<store::TokenLookup>> TokenService::validate_in_memory(std::string_view token) {
  if (!well_formed_token(token)) return Result<store::TokenLookup>(Error{ErrorCode::kNotFound, "malformed token"});
  if (cache_ == nullptr) return std::nullopt;
  const TimeMs now = now_ms();
  ValidationCache::Answer a = cache_->lookup(crypto::sha256(token), steady_ms());
  switch (a.kind) {
    case ValidationCache::Kind::kHit:
      return accept_live(std::move(a.lookup), now);
    case ValidationCache::Kind::kUnknown:
      return Result<store::TokenLookup>(Error{ErrorCode::kNotFound, "unknown token prefix"});
    case ValidationCache::Kind::kMiss:
      break;
  }
  return std::nullopt;
}

Result<store::TokenLookup> TokenService::accept_live(store::TokenLookup l, TimeMs now) {
  // One code for every reason: a client learns nothing from which it was.
  // A revocation time in the future is a rotation's grace period: still live.
  // Checked against `now` at every use, remembered or read: an expiry or the
  // end of a grace period counts at once.
  if (l.token.revoked_at && *l.token.revoked_at <= now) return Error{ErrorCode::kNotFound, "revoked token"};
  if (l.token.expires_at <= now) return Error{ErrorCode::kNotFound, "expired token"};
  if (l.user.disabled) return Error{ErrorCode::kNotFound, "disabled account"};
  {
    UsageShard& shard = usage_[static_cast<std::uint64_t>(l.token.id) % kUsageShards];
    std::lock_guard lock(shard.mu);
    shard.pending[l.token.id] = now;
  }
  l.token.last_used_at = now;
  return l;
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
