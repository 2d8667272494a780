// SessionService: browser sign-in sessions behind an HttpOnly cookie.
//
// The cookie holds 32 random bytes (hex); the store keeps only their SHA-256.
// A session ends at its absolute timeout (from sign-in), after the idle
// timeout without use, at sign-out, or when its account is disabled.
//
// Thread-safety: safe from any thread; blocks on the database (worker threads).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "tokend/audit/audit_log.hpp"
#include "tokend/common/result.hpp"
#include "tokend/config/config.hpp"
#include "tokend/store/store.hpp"

namespace tokend::token {
class ValidationCache;
}  // namespace tokend::token

namespace tokend::session {

struct NewSessionCookie {
  std::string value;  // the cookie value: secret, never logged
  store::SessionRecord record;
};

class SessionService final {
 public:
  // `audit`: where session.created and session.ended go; null: nowhere.
  // `cache`: sessions remembered between requests (token/validation_cache.hpp:
  // revocations in this process count at once, other writers' within
  // validation_cache.max_staleness_ms); null or disabled: every resolve
  // reads the database.
  SessionService(store::Store& store, const config::SessionConfig& config, audit::AuditLog* audit = nullptr,
                 token::ValidationCache* cache = nullptr);

  // A new session for `user_id`, signed in with `method`. Error kStorageError
  // when it could not be stored.
  Result<NewSessionCookie> create(std::int64_t user_id, std::string_view method,
                                  const audit::RequestContext& rc = {});

  // The live session and its user for a cookie value, its idle timer
  // refreshed (at most once a minute). From memory when the cache remembers
  // it and no refresh is due; otherwise from the database. Error kNotFound when the cookie is
  // malformed, unknown, expired (idle or absolute), revoked, or its account is
  // disabled; kStorageError when the database fails.
  Result<store::SessionLookup> resolve(std::string_view cookie_value);
  // resolve() without blocking, for an I/O thread: its answer when memory can
  // tell (a malformed cookie; a remembered session that resolve() would
  // answer from memory), nullopt when only the database can.
  std::optional<Result<store::SessionLookup>> resolve_in_memory(std::string_view cookie_value);

  // Revokes the session. Ok also when it was revoked already.
  // Records session.ended for `user_id` (with `rc`).
  Status end(std::int64_t session_id, std::int64_t user_id = 0, const audit::RequestContext& rc = {});

  // The cookie's name: sessions.cookie_name, with the "__Host-" prefix when
  // `secure` (RFC 6265bis 4.1.3.2). A browser keeps a "__Host-" cookie only
  // when it is Secure, has Path=/ and no Domain, so no sibling or parent
  // domain, nor a plain-HTTP page on the same host, can plant one
  // (cookie tossing). Requests are read with this same name, so on a Secure
  // deployment an unprefixed cookie is never accepted.
  std::string cookie_name(bool secure) const;

  // Set-Cookie values: the session cookie, and one that deletes it. Both
  // carry Path=/ and never a Domain; `secure` adds Secure and the prefix.
  std::string set_cookie(std::string_view value, bool secure) const;
  std::string clear_cookie(bool secure) const;

  // When the session is over if nothing else happens: the earlier of the
  // absolute and the idle deadline.
  TimeMs expires_at(const store::SessionRecord& s) const;

  const config::SessionConfig& config() const { return config_; }

 private:
  // The remembered session of `digest` when it may answer without the
  // database (counted as a hit); nullopt otherwise. REQUIRES: cache_.
  std::optional<store::SessionLookup> remembered(const crypto::Sha256& digest) const;

  store::Store& store_;
  config::SessionConfig config_;
  audit::AuditLog* audit_;
  token::ValidationCache* cache_;  // null when off
};

}  // namespace tokend::session
