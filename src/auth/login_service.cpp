#include "tokend/auth/login_service.hpp"

#include <spdlog/spdlog.h>

#include <optional>
#include <utility>
#include <vector>

#include "tokend/auth/throttle.hpp"
#include "tokend/auth/username.hpp"
#include "tokend/log/log.hpp"
#include "tokend/metrics/metrics.hpp"

namespace tokend::auth {

namespace {

// True when `name` is no account's username.
Result<bool> username_free(store::Transaction& tx, const std::string& name) {
  auto u = tx.find_user_by_username(name);
  if (u) return false;
  if (u.error().is_not_found()) return true;
  return u.error();
}

// The account of an external identity, inside one transaction: the reads and
// the writes that depend on them (a free username, an unlinked identity) see
// one database, so two first logins of one identity cannot make two accounts.
// `username`: the preferred local username, normalised and valid, or empty.
// What link_external did beyond finding the account.
enum class LinkOutcome { kKnown, kLinkedByEmail, kCreated };

Result<store::User> link_external(store::Transaction& tx, const Identity& id, const std::string& username,
                                  TimeMs now, LinkOutcome& outcome) {
  outcome = LinkOutcome::kKnown;
  std::optional<std::int64_t> user_id;
  if (auto link = tx.find_link(id.provider, id.subject)) {
    user_id = link->user_id;
  } else if (!link.error().is_not_found()) {
    return link.error();
  }

  if (user_id) {
    // Known identity: refresh what the provider says about it. The username
    // follows a rename at the provider only when the new name is free.
    auto current = tx.find_user(*user_id);
    if (!current) return current.error();
    std::string name = current->username;
    if (!username.empty() && name != username && name != username + "@" + id.provider) {
      auto free = username_free(tx, username);
      if (!free) return free.error();
      if (*free) name = username;
    }
    if (auto s = tx.update_profile(*user_id, store::ProfileUpdate{name, id.email, id.display_name}, now); !s) {
      return s.error();
    }
  } else {
    if (id.link_by_email && !id.email.empty()) {
      // Opt-in only (the provider's config; the authenticator checked that
      // the provider verified the email): link to the one existing account
      // with this email. Two candidates is ambiguous: a new account instead.
      // Only local password accounts not yet linked at this provider: an
      // account that came from another provider (an LDAP mail attribute, say)
      // must not be claimable through this provider's email check.
      auto same_email = tx.find_users_by_email(id.email);
      if (!same_email) return same_email.error();
      std::vector<std::int64_t> candidates;
      for (const store::User& u : *same_email) {
        if (u.password_hash.empty()) continue;
        auto links = tx.list_links(u.id);
        if (!links) return links.error();
        bool linked_here = false;
        for (const store::Link& l : *links) linked_here = linked_here || l.provider == id.provider;
        if (!linked_here) candidates.push_back(u.id);
      }
      if (candidates.size() == 1) {
        user_id = candidates.front();
        outcome = LinkOutcome::kLinkedByEmail;
      }
    }
    if (!user_id) {
      // A new account. Never reuse an existing username: that would hand a
      // local account to whoever controls the same name at the provider.
      const std::string base = username.empty() ? id.provider + "-" + id.subject : username;
      std::string name = base;
      for (int n = 0;; ++n) {
        if (n == 1) name = base + "@" + id.provider;
        if (n > 1) name = base + "@" + id.provider + "-" + std::to_string(n);
        auto free = username_free(tx, name);
        if (!free) return free.error();
        if (*free) break;
        if (n > 1000) return Error{ErrorCode::kStorageError, "no free username for " + base};
      }
      auto created = tx.insert_user(store::NewUser{name, id.email, id.display_name, ""}, now);
      if (!created) return created.error();
      user_id = created->id;
      outcome = LinkOutcome::kCreated;
    }
    if (auto s = tx.insert_link(store::Link{id.provider, id.subject, *user_id, now}); !s) return s.error();
  }
  return tx.find_user(*user_id);
}

}  // namespace

LoginService::LoginService(store::Store& store, LoginThrottle& throttle, metrics::Metrics& metrics,
                           audit::AuditLog* audit)
    : store_(store), throttle_(throttle), metrics_(metrics), audit_(audit) {}

Result<store::User> LoginService::account_for(const Identity& id, TimeMs now, const audit::RequestContext& rc) {
  if (id.local) return store_.find_user(std::stoll(id.subject));
  // A provider or directory chooses these names: keep only ones that are
  // valid local usernames (no control characters, bounded), else derive one
  // from the provider and subject.
  std::string username = normalize_username(id.username);
  if (!valid_username(username)) username.clear();
  Result<store::User> out = Error{ErrorCode::kInternalError, "the transaction did not run"};
  LinkOutcome outcome = LinkOutcome::kKnown;
  auto s = store_.in_transaction([&](store::Transaction& tx) -> Status {
    out = link_external(tx, id, username, now, outcome);
    if (!out) return out.error();
    return ok_status();
  });
  if (!s) return s.error();
  // Recorded once committed: a rolled-back account never appears in the trail.
  if (audit_ && outcome != LinkOutcome::kKnown) {
    const std::string who = "user:" + std::to_string(out->id);
    if (outcome == LinkOutcome::kCreated) {
      audit::record(audit_,
                    audit::Event{"account.created", "system", who, "", "", {{"method", id.provider},
                                                                            {"username", out->username},
                                                                            {"source", "external_login"}}},
                    rc);
    }
    audit::record(audit_,
                  audit::Event{"account.linked", "system", who, "", "", {{"provider", id.provider},
                                                                        {"provider_subject", log::printable(id.subject)},
                                                                        {"username", out->username},
                                                                        {"by_email", outcome == LinkOutcome::kLinkedByEmail}}},
                  rc);
  }
  return out;
}

LoginResult LoginService::login(Authenticator& a, AuthRequest request, const audit::RequestContext& rc) {
  const std::string& method = a.name();
  const std::string peer = request.peer;
  // As typed (escaped, bounded): the trail must show what was tried, also for
  // names that match no account. Provider logins name the email given.
  const std::string typed = audit::typed_username(
      a.credentials() == Authenticator::Credentials::kPassword ? request.username : request.email);
  auto audit_failed = [&](const char* reason, nlohmann::json extra = nlohmann::json::object()) {
    if (!audit_) return;
    extra["method"] = method;
    extra["username"] = typed;
    extra["reason"] = reason;
    audit::record(audit_, audit::Event{"login.failed", typed, "username:" + typed, "", "", std::move(extra)}, rc);
  };
  auto count = [this, &method](const char* result) {
    metrics_.counter("tokend_logins_total", "Login attempts, by method and result.",
                     {{"method", method}, {"result", result}}).inc();
  };
  // Password methods count failures per username too; provider tokens only
  // per address: they cannot be guessed, and a per-email count would let
  // anyone lock a victim out with a few junk tokens.
  std::string key;
  if (a.credentials() == Authenticator::Credentials::kPassword) key = normalize_username(request.username);
  // Security: the per-username count is kept per method. Each method's
  // usernames name different credentials (a local "bob" and a directory "bob"
  // are two accounts), so a shared count would let a success on one method
  // (the attacker's own directory account "bob") clear the failures guessed
  // against the other (the local "bob"). /api/login and /api/authenticate/<m>
  // reach the same authenticator, so they share its count.
  const auto method_key = [&method](const std::string& name) { return name.empty() ? name : method + ":" + name; };

  auto throttled = [&](int wait) {
    count("throttled");
    spdlog::warn("login throttled: method={} user={} peer={}", method, log::printable(key), peer);
    audit_failed("throttled", {{"retry_after", wait}});
    LoginResult r;
    r.failure = FailureKind::kThrottled;
    r.retry_after = wait;
    return r;
  };
  // The attempt is reserved before the password is checked and counted as a
  // failure until it settles, so parallel guesses cannot all pass the check:
  // at most the limit ever reach the hash or the directory (docs/api.md).
  // The throttle's counts are in the database: a storage error refuses the
  // attempt (fails closed) with 503 rather than letting it through unchecked.
  auto throttle_unavailable = [&] {
    count("error");
    LoginResult r;
    r.failure = FailureKind::kStorageError;
    return r;
  };
  LoginThrottle::Reservation reservation = throttle_.reserve(method_key(key), peer, now_ms());
  if (reservation.failed()) return throttle_unavailable();
  if (!reservation.admitted()) return throttled(reservation.retry_after());
  if (!key.empty()) {
    request.admit_canonical = [&reservation, &key, &method_key](const std::string& canonical) {
      const std::string normal = normalize_username(canonical);
      if (reservation.rekey(method_key(normal), now_ms()) > 0) return false;
      if (!normal.empty()) key = normal;
      return true;
    };
  }

  // Counts what the throttle let through to the password check (a hash, a
  // directory bind): the number the limits are about.
  metrics_.counter("tokend_login_checks_total",
                   "Login attempts admitted by the throttle and handed to the authenticator, by method.",
                   {{"method", method}}).inc();
  const AuthOutcome outcome = a.authenticate(request);
  // A rekey to a throttled canonical name released the reservation.
  if (reservation.failed()) return throttle_unavailable();
  if (!reservation.admitted()) return throttled(reservation.retry_after());

  auto fail = [&](const std::string& reason) {
    const TimeMs failed_at = now_ms();
    reservation.fail(failed_at);
    // The category only; the authenticator's detailed reason stays in the log.
    audit_failed(reason == "account_disabled" ? "disabled" : "invalid_credentials");
    // The one place a lock is set: this failure brought the username (or the
    // address) to its limit. The throttle's prediction says so (attempts of
    // the same key still in flight count too, so a lock may be reported by
    // each of them).
    if (audit_) {
      if (const int wait = throttle_.retry_after(method_key(key), peer, failed_at); wait > 0) {
        audit::record(audit_,
                      audit::Event{"throttle.locked", "system", key.empty() ? "address:" + peer : "username:" + typed,
                                   "", "", {{"method", method}, {"username", typed}, {"address", peer},
                                            {"retry_after", wait}}},
                      rc);
      }
    }
    count("rejected");
    metrics_.counter("tokend_failed_logins_total", "Failed logins (bad credentials), by method.",
                     {{"method", method}}).inc();
    spdlog::warn("login failed: method={} user={} reason={} peer={}", method, log::printable(key), reason, peer);
    LoginResult r;
    r.failure = FailureKind::kInvalidCredentials;
    return r;
  };
  switch (outcome.kind) {
    case AuthOutcome::Kind::kRejected:
      return fail(outcome.reason);
    case AuthOutcome::Kind::kFailed: {
      // Not the client's fault: nothing is recorded against the username.
      count("error");
      spdlog::error("login error: method={} user={} failure={} reason={} peer={}", method, log::printable(key),
                    to_string(outcome.failure), outcome.reason, peer);
      audit_failed("upstream_error", {{"failure", to_string(outcome.failure)}});
      LoginResult r;
      r.failure = outcome.failure;
      return r;
    }
    case AuthOutcome::Kind::kAccepted:
      break;
  }

  const Identity& id = outcome.identity;
  auto user = account_for(id, now_ms(), rc);
  if (!user) {
    if (id.local && user.error().is_not_found()) return fail("account_vanished");
    spdlog::error("storage error while {}: {}", id.local ? "loading an account" : "linking an account",
                  user.error().message);
    audit_failed("storage_error");
    LoginResult r;
    r.failure = FailureKind::kStorageError;
    return r;
  }
  if (user->disabled) return fail("account_disabled");
  if (id.admin && *id.admin != user->admin) {
    // The directory decides the role of its accounts (LDAP admin_group), at
    // every login: leaving the group takes the role away at the next one.
    if (auto s = store_.set_admin(user->id, *id.admin, now_ms()); !s) {
      spdlog::error("storage error while setting the admin role: {}", s.error().message);
      LoginResult r;
      r.failure = FailureKind::kStorageError;
      return r;
    }
    user->admin = *id.admin;
    spdlog::info("admin role {}: method={} user={} (admin_group)", *id.admin ? "granted" : "withdrawn", method,
                 log::printable(user->username));
    audit::record(audit_,
                  audit::Event{*id.admin ? "admin.granted" : "admin.revoked", "system",
                               "user:" + std::to_string(user->id), "", "",
                               {{"method", method}, {"username", user->username}, {"reason", "admin_group"}}},
                  rc);
  }
  reservation.succeed();
  count("success");
  spdlog::info("login ok: method={} user={} subject={} peer={}", method, log::printable(user->username),
               log::printable(id.subject), peer);
  if (audit_) {
    audit::record(audit_,
                  audit::Event{"login.succeeded", "user:" + std::to_string(user->id), "user:" + std::to_string(user->id),
                               "", "", {{"method", method}, {"username", user->username}}},
                  rc);
  }
  LoginResult r;
  r.user = std::move(*user);
  return r;
}

}  // namespace tokend::auth
