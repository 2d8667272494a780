// TokenService: issues, validates and revokes API access tokens.
//
// A token is 128 bytes from OpenSSL's RAND_bytes, lower-case hex: exactly 256
// characters. Only its SHA-256 digest is stored; the plaintext exists in the
// response that hands it out and nowhere else. (A fast, unsalted digest is the
// right tool here: the input has 1024 bits of entropy, so there is nothing to
// brute-force, and the lookup must be an index hit.)
//
// Last-use times are recorded in memory and written in batches (flush_usage(),
// called every second by the server), so validating a token reads the
// database but never writes it.
//
// Thread-safety: all methods are safe from any thread. They block on the
// database: call them from worker threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "tokend/audit/audit_log.hpp"
#include "tokend/common/result.hpp"
#include "tokend/config/config.hpp"
#include "tokend/store/store.hpp"

namespace tokend::metrics {
class Counter;
class Metrics;
}  // namespace tokend::metrics

namespace tokend::token {

inline constexpr std::size_t kTokenBytes = 128;
inline constexpr std::size_t kTokenHexLength = 2 * kTokenBytes;

struct IssuedToken {
  std::string token;  // the plaintext: hand it to the client, never store or log it
  store::TokenRecord record;
};

class ValidationCache;

class TokenService final {
 public:
  // `audit`: where token.issued, token.rotated and token.revoked go; null:
  // nowhere. `cache`: validations answered from memory when it can
  // (token/validation_cache.hpp); null or disabled: every validation reads
  // the database. Both outlive the service.
  TokenService(store::Store& store, const config::TokenConfig& config, metrics::Metrics& metrics,
               audit::AuditLog* audit = nullptr, ValidationCache* cache = nullptr);

  // A new token for `user_id`. `lifetime_ms`: nullopt for the configured
  // default; otherwise within tokens.min/max_lifetime (the caller validated
  // it). `scopes`: what to store (token::scopes_to_store; nullopt: NULL).
  // Records token.issued (with `rc`). Error kStorageError when it could not
  // be stored (nothing was issued).
  Result<IssuedToken> issue(std::int64_t user_id, std::string_view source, std::string_view name,
                            std::optional<std::int64_t> lifetime_ms,
                            std::optional<std::string> scopes = std::nullopt,
                            const audit::RequestContext& rc = {});

  // Like issue(), but returns at once and calls `done` with the result once
  // the token is committed (Store::insert_token_async: on the store's thread,
  // possibly before returning). `done` must not block; it must not call
  // issue() either.
  using IssueDone = std::function<void(Result<IssuedToken>)>;
  void issue_async(std::int64_t user_id, std::string_view source, std::string_view name,
                   std::optional<std::int64_t> lifetime_ms, IssueDone done,
                   std::optional<std::string> scopes = std::nullopt, const audit::RequestContext& rc = {});

  // Rotates the live token `token_id` of `user_id` (Store::rotate_token): a
  // new token with the same name, source, scopes and expiry; the old one
  // stops working after `grace_seconds` (0: at once; the caller checked it
  // against tokens.max_rotation_grace_seconds). Records token.rotated.
  // Error kNotFound when there is no such token to rotate (unknown, someone
  // else's, revoked, expired, already rotated); kStorageError.
  Result<IssuedToken> rotate(std::int64_t user_id, std::int64_t token_id, std::int64_t grace_seconds,
                             const audit::RequestContext& rc = {});

  // Revokes the live token `token_id` of `user_id` (Store::revoke_token) and
  // records token.revoked with `how` ("owner" or "holder"). Error kNotFound
  // when there is no such live token; kStorageError.
  Status revoke(std::int64_t user_id, std::int64_t token_id, std::string_view how,
                const audit::RequestContext& rc = {});

  // The token's record and owner when `token` is live: well-formed, known, not
  // revoked, not expired, and its account not disabled. Error kNotFound
  // otherwise (one code for every reason: there is no live token `token`),
  // kStorageError when the database fails.
  // With a validation cache, a remembered answer is used when the cache is
  // fresh, and what the database said is remembered.
  Result<store::TokenLookup> validate(std::string_view token);

  // validate() from memory only, without blocking (for an I/O thread): the
  // lookup for a remembered live token; Error kNotFound when memory knows
  // there is no live token `token` (malformed, no such prefix, remembered as
  // revoked, expired or disabled); nullopt when only the database can tell
  // (then call validate() on a worker).
  std::optional<Result<store::TokenLookup>> validate_in_memory(std::string_view token);

  // Counts one token creation for `user_id` against
  // tokens.max_created_per_minute (a sliding 60 s window, in this process's
  // memory). Returns 0 when admitted (and counted); otherwise the seconds until
  // the oldest creation in the window leaves it (>= 1), and nothing is counted.
  // Always 0 when the limit is off.
  int admit_creation(std::int64_t user_id, TimeMs now);

  // The creations of `user_id` in flight (begun, not yet ended), for
  // tokens.max_live_per_account. begin_creation() counts one and returns how
  // many others were in flight at that moment; end_creation() forgets it once
  // its row is committed or has failed. A caller that counts the account's
  // live tokens after begin_creation() and refuses when live + others reaches
  // the cap can never take the account past it: a creation that ended before
  // the count began is among the live tokens, one that had not is among the
  // others (counted twice at worst, which only refuses early). Without this,
  // parallel requests all counted the same live tokens and all passed.
  std::int64_t begin_creation(std::int64_t user_id);
  // REQUIRES: one earlier begin_creation(user_id) not yet ended.
  void end_creation(std::int64_t user_id);

  // Writes the batched last-use times. Called periodically and at shutdown.
  void flush_usage();

  // The expiry of a token issued at `now` with `lifetime_ms` (nullopt: the
  // default; 0: never), saturating at kNever.
  TimeMs expiry_for(TimeMs now, std::optional<std::int64_t> lifetime_ms) const;
  const config::TokenConfig& config() const { return config_; }

 private:
  store::Store& store_;
  config::TokenConfig config_;
  metrics::Metrics& metrics_;
  audit::AuditLog* audit_;
  ValidationCache* cache_;  // null when off
  // The checks of validate() on a found token, and its last-use record.
  Result<store::TokenLookup> accept_live(store::TokenLookup l, TimeMs now);
  store::NewToken new_token(std::string_view plaintext, std::int64_t user_id, std::string_view source,
                            std::string_view name, std::optional<std::int64_t> lifetime_ms) const;
  void audit_issued(const store::TokenRecord& t, const audit::RequestContext& rc);
  void count_issued(const std::string& source);
  // The issued-tokens counter of each source, looked up in Metrics once: the
  // group commit calls back on one thread, which must not build label
  // strings under the registry's lock for every token.
  std::mutex created_mu_;
  std::unordered_map<std::int64_t, std::deque<TimeMs>> created_;  // per account, last 60 s
  std::unordered_map<std::int64_t, std::int64_t> creating_;       // per account, in flight (under created_mu_)
  std::mutex issued_mu_;
  std::unordered_map<std::string, metrics::Counter*> issued_by_source_;
  // Last-use times waiting for flush_usage(), sharded by token id so that
  // concurrent validations do not all queue on one lock.
  struct alignas(64) UsageShard {
    std::mutex mu;
    std::unordered_map<std::int64_t, TimeMs> pending;
  };
  static constexpr std::size_t kUsageShards = 16;
  UsageShard usage_[kUsageShards];
};

// True when `s` has the shape of a token: 256 lower-case hex characters.
bool well_formed_token(std::string_view s);

}  // namespace tokend::token
