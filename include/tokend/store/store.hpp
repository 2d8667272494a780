// Store: everything tokend keeps (accounts, linked external identities, tokens,
// browser sessions) behind one interface. The embedded default is SQLite
// (src/store/sqlite/); a PostgreSQL backend for several instances behind a load
// balancer implements the same interface, and tests/unit/store/ runs one
// conformance suite against every backend.
//
// Secrets never reach the store in plaintext: tokens and session ids arrive as
// SHA-256 digests, passwords as argon2id PHC strings.
//
// Thread-safety: implementations must be safe to call from many worker threads
// at once. Calls block on disk I/O: never call them from an I/O thread.
// Errors: every method returns an Error{ErrorCode::kStorageError, ...} when the
// database fails; the message is for the log, not for clients.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokend/common/result.hpp"
#include "tokend/common/time.hpp"
#include "tokend/crypto/crypto.hpp"

namespace tokend::store {

struct User {
  std::int64_t id = 0;
  std::string username;      // normalised: trimmed, lower-case
  std::string email;
  std::string display_name;
  std::string password_hash; // argon2id PHC string; empty when the account has no password
  bool disabled = false;
  TimeMs created_at = 0;
};

struct NewUser {
  std::string username;  // REQUIRES: normalised
  std::string email;
  std::string display_name;
  std::string password_hash;
};

// A profile from an external authenticator (ldap, github, ...), to link to a
// local account. See upsert_external_user().
struct ExternalProfile {
  std::string provider;  // authenticator name
  std::string subject;   // stable id at the provider
  std::string username;  // preferred local username (normalised)
  std::string email;
  std::string display_name;
  bool link_by_email = false;
};

struct TokenRecord {
  std::int64_t id = 0;
  std::int64_t user_id = 0;
  std::string name;
  std::string source;    // userpass, ldap, a provider name, session
  TimeMs created_at = 0;
  TimeMs expires_at = kNever;
  std::optional<TimeMs> last_used_at;
  std::optional<TimeMs> revoked_at;
  // Space-separated scope names; nullopt (NULL): "the configured defaults"
  // (token/scopes.hpp).
  std::optional<std::string> scopes;
};

// Where a page of tokens ends: the last token's created_at and id.
struct TokenPosition {
  TimeMs created_at = 0;
  std::int64_t id = 0;
};

struct NewToken {
  crypto::Sha256 digest{};
  std::int64_t user_id = 0;
  std::string name;
  std::string source;
  TimeMs created_at = 0;
  TimeMs expires_at = kNever;
  std::optional<std::string> scopes;  // as TokenRecord::scopes
};

// The user of a token or session lookup comes without its password_hash
// (empty): those paths never check a password.
struct TokenLookup {
  TokenRecord token;
  User user;
};

struct SessionRecord {
  std::int64_t id = 0;
  std::int64_t user_id = 0;
  std::string method;    // the authenticator that signed the person in
  TimeMs created_at = 0;
  TimeMs last_seen_at = 0;
  TimeMs expires_at = 0; // absolute timeout
  bool revoked = false;
};

struct NewSession {
  crypto::Sha256 digest{};
  std::int64_t user_id = 0;
  std::string method;
  TimeMs created_at = 0;
  TimeMs expires_at = 0;
};

struct SessionLookup {
  SessionRecord session;
  User user;
};

class Store {
 public:
  virtual ~Store() = default;

  // ---- accounts
  // The new user. Error code "conflict" when the username is taken.
  virtual Result<User> create_user(const NewUser& user) = 0;
  // The user, or nullopt when there is none. REQUIRES: username normalised.
  virtual Result<std::optional<User>> find_user_by_username(std::string_view username) = 0;
  virtual Result<std::optional<User>> find_user(std::int64_t id) = 0;
  virtual Result<std::vector<User>> list_users() = 0;
  // Error code "not_found" when there is no such user.
  virtual Status set_password_hash(std::int64_t user_id, const std::string& phc) = 0;
  // Disabling also revokes every token and session of the account, at once.
  // Error code "not_found" when there is no such user.
  virtual Status set_disabled(std::int64_t user_id, bool disabled, TimeMs now) = 0;
  // Ends every browser session of the account (after a password change).
  virtual Status revoke_sessions(std::int64_t user_id, TimeMs now) = 0;
  // The local account linked to (provider, subject): found and refreshed
  // (email, display name; username when free), or created on first sight. The
  // preferred username is used when free, else "<username>@<provider>", else
  // with a numeric suffix: an external login never takes over a local account
  // by name. With link_by_email, an unlinked identity is linked to the one
  // existing local password account (not yet linked at this provider) whose
  // email equals profile.email, if exactly one does.
  virtual Result<User> upsert_external_user(const ExternalProfile& profile, TimeMs now) = 0;

  // ---- tokens
  // The stored record (with its id). The digest must be new. Returns once the
  // row is durable (committed).
  virtual Result<TokenRecord> insert_token(const NewToken& token) = 0;
  // Like insert_token, but returns at once and calls `done` with the result
  // once the row is committed (or failed), on a thread of the store's choosing
  // (possibly this one, before returning). `done` must not block and must not
  // throw: it hands the result on (e.g. posts the answer to its connection);
  // it must not call insert_token() or wait_idle() (a backend that calls back
  // on its own thread would wait for itself).
  // This lets a backend commit the rows of many concurrent requests together
  // without holding a thread per waiting request. The default runs
  // insert_token() here.
  using InsertTokenDone = std::function<void(Result<TokenRecord>)>;
  virtual void insert_token_async(const NewToken& token, InsertTokenDone done) { done(insert_token(token)); }
  // Returns when every insert_token_async() callback has returned. Call before
  // destroying what those callbacks refer to (the HTTP server at shutdown).
  virtual void wait_idle() {}
  // The token and its owner, in whatever state (the caller checks revoked,
  // expired and disabled), or nullopt when no token has this digest.
  virtual Result<std::optional<TokenLookup>> find_token(const crypto::Sha256& digest) = 0;
  // The user's tokens that are neither revoked nor expired at `now`, newest first.
  virtual Result<std::vector<TokenRecord>> list_live_tokens(std::int64_t user_id, TimeMs now) = 0;
  // One page of list_live_tokens(), in the same order (created_at, then id,
  // both descending): at most `limit` tokens, those after `after` (the last
  // token of the previous page) when given. The default filters the whole
  // list; backends answer with one indexed query.
  virtual Result<std::vector<TokenRecord>> list_live_tokens_page(std::int64_t user_id, TimeMs now, std::size_t limit,
                                                                 const std::optional<TokenPosition>& after) {
    auto all = list_live_tokens(user_id, now);
    if (!all) return all.error();
    std::vector<TokenRecord> out;
    for (auto& t : *all) {
      if (out.size() >= limit) break;
      if (after && !(t.created_at < after->created_at || (t.created_at == after->created_at && t.id < after->id))) continue;
      out.push_back(std::move(t));
    }
    return out;
  }
  // How many tokens of `user_id` are live at `now`.
  virtual Result<std::int64_t> count_live_tokens(std::int64_t user_id, TimeMs now) {
    auto all = list_live_tokens(user_id, now);
    if (!all) return all.error();
    return static_cast<std::int64_t>(all->size());
  }
  // True when a live token `token_id` of `user_id` was revoked; false when the
  // user has no such live token (someone else's id tells nothing more).
  virtual Result<bool> revoke_token(std::int64_t user_id, std::int64_t token_id, TimeMs now) = 0;
  // Records last-use times in one transaction (batched by TokenService).
  virtual Status record_token_use(const std::vector<std::pair<std::int64_t, TimeMs>>& uses) = 0;

  // ---- browser sessions
  virtual Result<SessionRecord> insert_session(const NewSession& session) = 0;
  virtual Result<std::optional<SessionLookup>> find_session(const crypto::Sha256& digest) = 0;
  virtual Status touch_session(std::int64_t session_id, TimeMs now) = 0;
  virtual Status revoke_session(std::int64_t session_id) = 0;

  // ---- maintenance
  // Ok when the database answers a trivial query.
  virtual Status ping() = 0;
  // Deletes tokens and sessions that expired or were revoked before `cutoff`.
  virtual Status purge(TimeMs cutoff) = 0;
};

}  // namespace tokend::store
