// LoginService: the login use case, once, for every sign-in route and every
// authenticator: throttle -> authenticator -> outcome -> the local account
// (found, linked or created) -> the User a token or session is issued to.
//
// Every rule of a login lives here and nowhere else, written against the Store
// interface only, so every storage backend inherits it unchanged:
//   - the brute-force brake (auth/throttle.hpp): an attempt is reserved before
//     the password is checked, per method and normalised username and per
//     client address; a rejection records a failure, a success clears the
//     username's count, an upstream failure records nothing;
//   - an external identity (provider, subject) is linked to one local account,
//     created on first sight with the provider's preferred username when free,
//     else "<username>@<provider>", else "<username>@<provider>-<n>": an
//     external login never takes over a local account by name;
//   - link by email only when the provider opts in (Identity::link_by_email,
//     whose email the authenticator verified), and only to the one local
//     password account with that email not yet linked at that provider;
//   - a disabled account, or a local one that vanished, is refused like a
//     wrong password.
// What the outcome means in HTTP is api/'s business (login_failure_response in src/api/auth_routes.cpp).
//
// Thread-safety: safe from any number of threads (the throttle and the store
// are). login() blocks (hashes, directories, providers, the database): worker
// threads only.
#pragma once

#include <string>

#include "tokend/audit/audit_log.hpp"
#include "tokend/auth/authenticator.hpp"
#include "tokend/common/result.hpp"
#include "tokend/common/time.hpp"
#include "tokend/store/store.hpp"

namespace tokend::metrics {
class Metrics;
}  // namespace tokend::metrics

namespace tokend::auth {

class LoginThrottle;

// The end of one login: the account, or why there is none.
struct LoginResult {
  FailureKind failure = FailureKind::kNone;
  store::User user;     // failure == kNone only
  int retry_after = 0;  // kThrottled only: seconds to wait (>= 1)
  bool ok() const { return failure == FailureKind::kNone; }
};

class LoginService final {
 public:
  // All outlive the service. `audit`: where login.succeeded, login.failed,
  // account.created and account.linked go; null: nowhere.
  LoginService(store::Store& store, LoginThrottle& throttle, metrics::Metrics& metrics,
               audit::AuditLog* audit = nullptr);

  // Runs one login with `authenticator` on the credentials in `request`
  // (username and password for password methods, email and access_token for
  // providers; peer always). The service sets request.admit_canonical.
  // On success: the account (not disabled), the throttle told of the success.
  // On failure: kThrottled (with retry_after) when the throttle refuses the
  // attempt, before or during the check; kInvalidCredentials when the
  // authenticator rejects it, or the account is disabled or gone (a failure is
  // recorded); the authenticator's failure kind when it failed (nothing is
  // recorded); kStorageError when the account cannot be found or linked.
  // Logs, counts (tokend_logins_total and friends) and audits every attempt
  // (login.succeeded / login.failed with a reason category, `rc` for where
  // it came from).
  LoginResult login(Authenticator& authenticator, AuthRequest request, const audit::RequestContext& rc = {});

  // The local account of an accepted identity: for a local identity the user
  // `identity.subject` names; for an external one the account linked to
  // (provider, subject), refreshed (email, display name; the username follows
  // a rename at the provider when the new one is free), or linked or created
  // on first sight, in one transaction (see the header comment for the rules).
  // The account is returned even when disabled (login() refuses it).
  // Error kNotFound when a local identity's account is gone; kStorageError
  // when the database fails.
  // Records account.created / account.linked (with `rc`) when it made one.
  Result<store::User> account_for(const Identity& identity, TimeMs now, const audit::RequestContext& rc = {});

 private:
  store::Store& store_;
  LoginThrottle& throttle_;
  metrics::Metrics& metrics_;
  audit::AuditLog* audit_;
};

}  // namespace tokend::auth
