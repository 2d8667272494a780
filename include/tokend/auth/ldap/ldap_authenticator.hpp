// LdapAuthenticator: checks a username and password against an LDAP directory
// (OpenLDAP, Active Directory), for POST /api/authenticate/<name> and for
// POST /api/login with method=<name>. Modelled on Dex's connector/ldap.
//
// Two ways to find the user: a DN template (bind directly as
// `uid={username},ou=people,...`), or search-then-bind (bind as a service
// account, search for exactly one entry with a filter, bind as that entry's DN
// with the user's password). The username is escaped for its context (RFC 4514
// in DNs, RFC 4515 in filters); an empty password is refused before any bind;
// an optional group requirement is checked by the directory itself (a filter
// on the group's member/uniqueMember, or on the user's memberOf).
//
// Transport is TLS (ldaps:// or StartTLS) with the server certificate verified,
// unless plain LDAP is explicitly allowed. Connections are reused through two
// bounded pools (service account; user binds). Every step is bounded by the
// connect and operation timeouts: a directory that is down gives failed(503),
// one that does not answer gives failed(504).
//
// Thread-safety: authenticate() is safe to call from many threads at once
// (each call leases its own connections); it blocks up to the timeouts, so it
// runs on the upstream pool (run_on() == kUpstream), never on an I/O thread.
#pragma once

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>

#include "tokend/auth/authenticator.hpp"
#include "tokend/auth/authenticator_factory.hpp"
#include "tokend/auth/ldap/ldap_settings.hpp"
#include "tokend/common/result.hpp"

namespace tokend::metrics {
class Counter;
class Metrics;
}  // namespace tokend::metrics

namespace tokend::auth::ldap {

class LdapConnection;
class LdapConnectionPool;
class LdapWatchdog;
struct LdapEntry;
struct LdapSearchResult;

class LdapAuthenticator final : public Authenticator {
 public:
  // REQUIRES: `settings` came from parse_ldap_settings; `metrics` outlives this.
  LdapAuthenticator(std::string name, LdapSettings settings, metrics::Metrics& metrics);
  ~LdapAuthenticator() override;

  const std::string& name() const override { return name_; }
  std::string_view type() const override { return "ldap"; }
  Credentials credentials() const override { return Credentials::kPassword; }
  RunOn run_on() const override { return RunOn::kUpstream; }
  std::string label() const override { return settings_.label; }

  // accepted(identity) when the directory accepts the password (and the user
  // is in the required group); rejected(reason) for an empty username or
  // password, an unknown or ambiguous user, a wrong password, or a user not
  // in the group; failed(503) when the directory cannot be reached (or its
  // certificate is not trusted), failed(504) when it does not answer within
  // the timeouts, failed(502) for any other directory error (including a
  // service account the directory refuses).
  AuthOutcome authenticate(const AuthRequest& request) override;

  const LdapSettings& settings() const { return settings_; }
  // Connections open now in both pools (for tests: reuse, bounds).
  std::size_t open_connections() const;

 private:
  struct Attempt;
  AuthOutcome login_with_template(const AuthRequest& request, Attempt& attempt);
  AuthOutcome login_with_search(const AuthRequest& request, Attempt& attempt);
  // Search mode, no single entry found: a bind as dummy_dn_ so that the
  // directory sees the same operations as for a wrong password. rejected(reason),
  // or failed when the directory fails that bind.
  AuthOutcome dummy_bind(const char* reason, Attempt& attempt);
  // nullopt when the user is in required_group; else rejected or failed.
  std::optional<AuthOutcome> check_group(LdapConnection& connection, const std::string& user_dn,
                                         Attempt& attempt);
  // Sets attempt.admin from admin_group; an outcome only when the directory
  // failed to answer.
  std::optional<AuthOutcome> check_admin(LdapConnection& connection, const std::string& user_dn,
                                         Attempt& attempt);
  // The base search that answers "is `user_dn` a member of `group_dn`?" (one
  // entry: yes) by group_member_attr.
  LdapSearchResult membership(LdapConnection& connection, const std::string& user_dn,
                              const std::string& group_dn) const;
  Identity make_identity(const LdapEntry& entry, const std::string& typed,
                         const Attempt& attempt) const;

  std::string name_;
  LdapSettings settings_;
  std::string dummy_dn_;        // search mode: the DN of dummy_bind()
  std::string dummy_password_;  // random per instance, never a user's
  std::unique_ptr<LdapWatchdog> watchdog_;            // outlives the pools' connections
  std::unique_ptr<LdapConnectionPool> service_pool_;  // search mode only
  std::unique_ptr<LdapConnectionPool> user_pool_;
  metrics::Counter& success_;
  metrics::Counter& rejected_;
  metrics::Counter& error_;
};

// The Factory for type "ldap" (src/auth/registry.cpp): parse_ldap_settings,
// then the authenticator.
Result<std::unique_ptr<Authenticator>> make_ldap_authenticator(const std::string& name,
                                                               const nlohmann::json& settings,
                                                               const FactoryContext& ctx);

}  // namespace tokend::auth::ldap
