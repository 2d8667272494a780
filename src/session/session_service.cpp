#include "tokend/session/session_service.hpp"

#include <algorithm>

#include "tokend/crypto/crypto.hpp"
#include "tokend/token/validation_cache.hpp"

namespace tokend::session {

namespace {
constexpr std::size_t kSessionBytes = 32;
constexpr TimeMs kTouchEveryMs = 60'000;

bool well_formed(std::string_view cookie_value) {
  return cookie_value.size() == 2 * kSessionBytes && crypto::is_hex(cookie_value);
}
}  // namespace

SessionService::SessionService(store::Store& store, const config::SessionConfig& config, audit::AuditLog* audit,
                               token::ValidationCache* cache)
    : store_(store), config_(config), audit_(audit), cache_(cache != nullptr && cache->enabled() ? cache : nullptr) {}

Result<NewSessionCookie> SessionService::create(std::int64_t user_id, std::string_view method,
                                                const audit::RequestContext& rc) {
  NewSessionCookie out;
  out.value = crypto::to_hex(crypto::random_bytes(kSessionBytes));
  store::NewSession s;
  s.digest = crypto::sha256(out.value);
  s.user_id = user_id;
  s.method = std::string(method);
  s.created_at = now_ms();
  s.expires_at = s.created_at + static_cast<TimeMs>(config_.absolute_timeout_hours) * 3'600'000;
  auto rec = store_.insert_session(s);
  if (!rec) return rec.error();
  out.record = std::move(*rec);
  // The session's row number, never the cookie (the secret).
  audit::record(audit_,
                audit::Event{"session.created", "user:" + std::to_string(user_id),
                             "session:" + std::to_string(out.record.id), "", "",
                             {{"method", std::string(method)}, {"expires_on", format_iso8601(out.record.expires_at)}}},
                rc);
  return out;
}

TimeMs SessionService::expires_at(const store::SessionRecord& s) const {
  return std::min(s.expires_at, s.last_seen_at + static_cast<TimeMs>(config_.idle_timeout_minutes) * 60'000);
}

std::optional<store::SessionLookup> SessionService::remembered(const crypto::Sha256& digest) const {
  auto l = cache_->lookup_session(digest, steady_ms());
  if (!l) return std::nullopt;
  // Live by what was read, and its idle timer needs no refresh (a refresh is
  // a write: the database path). Anything else, even "over" by the
  // remembered times (another instance may have refreshed the idle timer),
  // is read again from the database.
  const TimeMs now = now_ms();
  if (l->session.revoked || l->user.disabled || expires_at(l->session) <= now ||
      now - l->session.last_seen_at >= kTouchEveryMs) {
    return std::nullopt;
  }
  cache_->count_session(true);
  return l;
}

std::optional<Result<store::SessionLookup>> SessionService::resolve_in_memory(std::string_view value) {
  if (!well_formed(value)) return Result<store::SessionLookup>(Error{ErrorCode::kNotFound, "malformed cookie"});
  if (cache_ == nullptr) return std::nullopt;
  // Not counted as a miss: resolve() on a worker looks it up again and counts.
  auto hit = remembered(crypto::sha256(value));
  if (!hit) return std::nullopt;
  return Result<store::SessionLookup>(std::move(*hit));
}

Result<store::SessionLookup> SessionService::resolve(std::string_view value) {
  if (!well_formed(value)) return Error{ErrorCode::kNotFound, "malformed cookie"};
  const crypto::Sha256 digest = crypto::sha256(value);
  std::uint64_t ticket = 0;
  if (cache_ != nullptr) {
    if (auto hit = remembered(digest)) return std::move(*hit);
    cache_->count_session(false);
    // Taken before the read: an invalidation of the account while it runs
    // (a sign-out, a disable) drops what it read instead of remembering it.
    ticket = cache_->begin_fill();
  }
  auto found = store_.find_session(digest);
  if (!found) return found.error();  // kNotFound: no session has this digest
  store::SessionLookup& l = *found;
  const TimeMs now = now_ms();
  if (l.session.revoked || l.user.disabled || expires_at(l.session) <= now) {
    return Error{ErrorCode::kNotFound, "session over"};
  }
  if (now - l.session.last_seen_at >= kTouchEveryMs) {
    if (auto s = store_.touch_session(l.session.id, now); !s) return s.error();
    l.session.last_seen_at = now;
  }
  if (cache_ != nullptr) cache_->fill_session(digest, l, ticket);
  return std::move(l);
}

Status SessionService::end(std::int64_t session_id, std::int64_t user_id, const audit::RequestContext& rc) {
  auto s = store_.revoke_session(session_id);
  if (!s) return s;
  audit::record(audit_,
                audit::Event{"session.ended", "user:" + std::to_string(user_id), "session:" + std::to_string(session_id),
                             "", "", {{"reason", "logout"}}},
                rc);
  return ok_status();
}

std::string SessionService::cookie_name(bool secure) const {
  static constexpr std::string_view kHostPrefix = "__Host-";
  // Config validation allows a configured "__Host-" name only where cookies
  // are Secure; it is not prefixed twice.
  if (!secure || config_.cookie_name.rfind(kHostPrefix, 0) == 0) return config_.cookie_name;
  return std::string(kHostPrefix) + config_.cookie_name;
}

std::string SessionService::set_cookie(std::string_view value, bool secure) const {
  // HttpOnly: scripts (an XSS) cannot read it. SameSite=Lax: other sites'
  // POSTs do not carry it. Max-Age: the browser forgets it at the absolute
  // timeout even if the server never sees the browser again. No Domain:
  // the cookie goes back to this host only (and "__Host-" requires it).
  std::string c = cookie_name(secure) + "=" + std::string(value) + "; Path=/; HttpOnly; SameSite=Lax; Max-Age=" +
                  std::to_string(static_cast<long long>(config_.absolute_timeout_hours) * 3600);
  if (secure) c += "; Secure";
  return c;
}

std::string SessionService::clear_cookie(bool secure) const {
  std::string c = cookie_name(secure) + "=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0";
  if (secure) c += "; Secure";
  return c;
}

}  // namespace tokend::session
