// Authenticator: the one interface behind every way of proving who you are
// (userpass, ldap, github, gitlab, oidc). One folder per implementation under
// src/auth/. Modelled on Dex's connector and Vault's credential backends.
//
// An authenticator only answers "who is this?". It does not issue tokens or
// create sessions; the API layer does that with the Identity it returns, after
// linking a non-local identity to a local account (AccountService).
//
// Thread-safety: authenticate() is called concurrently from worker threads and
// must be safe for that. It may block (hash a password, talk to a directory or
// a provider) but never longer than its configured timeouts; only the worker
// pools call it, never an I/O thread.
#pragma once

#include <functional>
#include <memory>
#include <string>
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
};

// The result of authenticate(): exactly one of accepted / rejected / failed.
// A wrong password must never look like a directory that is down, and the
// reverse: rejected -> 401 with the one generic body; failed -> 502/503/504.
struct AuthOutcome {
  enum class Kind { kAccepted, kRejected, kFailed };
  Kind kind = Kind::kRejected;
  Identity identity;   // kAccepted only
  // For the log only, never for a client: "unknown_user", "wrong_password",
  // "not_in_group", "email_not_verified", "directory_unreachable", ...
  std::string reason;
  int status = 401;    // kFailed: 502 (bad upstream answer), 503 (down), 504 (timeout)

  static AuthOutcome accepted(Identity identity);
  static AuthOutcome rejected(std::string reason);
  static AuthOutcome failed(int status, std::string reason);
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
