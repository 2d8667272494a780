// Authenticator: the one interface behind every way of proving who you are
// (userpass, ldap, github, gitlab, oidc). One folder per implementation under
// src/auth/. Modelled on Dex's connector and Vault's credential backends.
//
// An authenticator only answers "who is this?". It does not throttle, link
// accounts, issue tokens or create sessions: the login service
// (auth/login_service.hpp) does the rest of a login with the Identity it
// returns, and the API layer issues the token or session.
//
// Thread-safety: authenticate() is called concurrently from worker threads and
// must be safe for that. It may block (hash a password, talk to a directory or
// a provider) but never longer than its configured timeouts; only the worker
// pools call it, never an I/O thread.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokend/common/run_on.hpp"

namespace tokend::auth {

// What the client presented. Password authenticators read username and
// password; provider authenticators read email and access_token.
struct AuthRequest {
  std::string username;      // as sent (authenticators normalise as they need)
  std::string password;
  std::string email;         // providers: the posted "email"
  std::string access_token;  // providers: the posted "info.accessToken"
  std::string peer;          // client IP address, for logs
  // Set by the login service for password methods. An authenticator that
  // learns the account's canonical username before it checks the password
  // (LDAP search mode: the entry's username attribute) calls this with it, so
  // the per-username throttle counts every spelling of one account as one.
  // False: the account is throttled; return AuthOutcome::rejected("throttled")
  // at once, without checking the password. Unset: nothing to call.
  std::function<bool(const std::string& canonical)> admit_canonical;
};

// Who the request proved to be.
struct Identity {
  std::string provider;  // the authenticator's name(): "userpass", "ldap", "github"...
  // Stable id at the provider: the local user id (userpass), the entry's DN or
  // entryUUID (ldap), the numeric account id (github, gitlab), `sub` (oidc).
  std::string subject;
  std::string username;      // preferred local username
  std::string email;
  std::string display_name;
  std::vector<std::string> groups;
  // True when `subject` is already a local account id (userpass): no linking.
  bool local = false;
  // Opt-in (provider config): when no account is linked to this identity yet,
  // an existing local account with this exact, provider-verified email may be
  // linked. Off by default: an email alone never takes over an account.
  bool link_by_email = false;
  // The admin role as the provider says (LDAP admin_group): the login service
  // sets the account's flag to it at each login. nullopt: the provider does
  // not manage the role, the account keeps what the CLI set.
  std::optional<bool> admin;
};

// Why an attempt did not end in an account. Authenticators produce
// kInvalidCredentials (rejected) and the upstream and local failures (failed);
// the login service adds kThrottled. Nothing here knows HTTP: api/ maps each
// kind to a status and body in one table (login_failure_response in src/api/auth_routes.cpp).
enum class FailureKind {
  kNone,                // accepted
  kInvalidCredentials,  // rejected: unknown user, wrong password, disabled, not in group...
  kThrottled,           // too many failed attempts (the login service, never an authenticator)
  kUpstreamDown,        // the directory or provider cannot be reached or is rate-limiting us
  kUpstreamTimeout,     // it did not answer in time
  kUpstreamBadAnswer,   // it answered something unusable (TLS, status, body, a service bind refused)
  kStorageError,        // the local database failed
  kServerBusy,          // no resources to check the password now (the hasher's memory)
};

// The stable snake_case name of `kind`, for the log.
std::string_view to_string(FailureKind kind);

// The result of authenticate(): exactly one of accepted / rejected / failed.
// A wrong password must never look like a directory that is down, and the
// reverse: rejected is always kInvalidCredentials; failed carries the kind of
// failure (upstream down, timed out, bad answer; local storage or hasher).
struct AuthOutcome {
  enum class Kind { kAccepted, kRejected, kFailed };
  Kind kind = Kind::kRejected;
  Identity identity;   // kAccepted only
  FailureKind failure = FailureKind::kInvalidCredentials;  // kNone when accepted
  // For the log only, never for a client, and never branched on: "unknown_user",
  // "wrong_password", "not_in_group", "email_not_verified", "directory_unavailable"...
  std::string reason;

  static AuthOutcome accepted(Identity identity);
  // kInvalidCredentials.
  static AuthOutcome rejected(std::string reason);
  // REQUIRES: `failure` is neither kNone nor kInvalidCredentials.
  static AuthOutcome failed(FailureKind failure, std::string reason);
  bool ok() const { return kind == Kind::kAccepted; }
};

class Authenticator {
 public:
  // What a request to this authenticator must carry.
  enum class Credentials { kPassword, kProviderToken };

  virtual ~Authenticator() = default;

  // The route key: POST /api/authenticate/<name>. Also the token `source`.
  virtual const std::string& name() const = 0;
  // The implementation: "userpass", "ldap", "github", "gitlab", "oidc".
  virtual std::string_view type() const = 0;
  virtual Credentials credentials() const = 0;
  // kWorker for local work (hashing, SQLite); kUpstream when authenticate()
  // waits on another server, so a slow upstream cannot starve the database.
  virtual RunOn run_on() const = 0;
  // True when the documented curl body with single quotes
  // ({'email': '...', 'info': {'accessToken': '...'}}) must be accepted.
  virtual bool accepts_single_quoted_json() const { return false; }
  // A short label for the sign-in form's method picker ("Password", "Directory").
  virtual std::string label() const { return name(); }

  // See the class comment. Never throws for bad credentials or a down backend.
  virtual AuthOutcome authenticate(const AuthRequest& request) = 0;
};

}  // namespace tokend::auth
