#include "tokend/auth/ldap/ldap_authenticator.hpp"

#include <ldap.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include "auth/ldap/ldap_connection.hpp"
#include "auth/ldap/ldap_connection_pool.hpp"
#include "auth/ldap/ldap_watchdog.hpp"
#include "tokend/auth/ldap/ldap_escape.hpp"
#include "tokend/auth/username.hpp"
#include "tokend/common/text.hpp"
#include "tokend/crypto/crypto.hpp"
#include "tokend/log/log.hpp"
#include "tokend/metrics/metrics.hpp"

namespace tokend::auth::ldap {
namespace {

constexpr std::size_t kMaxUsernameBytes = 256;

// ---------------------------------------------------------------- helpers

// An attribute value usable as a stable id: printable text as is, binary
// values (Active Directory's objectGUID) as lower-case hex.
std::string id_text(const std::string& value) {
  const bool binary = std::any_of(value.begin(), value.end(), [](char ch) {
    const auto c = static_cast<unsigned char>(ch);
    return c < 0x20 || c >= 0x7f;
  });
  if (!binary) return value;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (char ch : value) {
    const auto c = static_cast<unsigned char>(ch);
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0x0f]);
  }
  return out;
}

AuthOutcome failure_from(const LdapStatus& status) {
  switch (status.rc) {
    case LDAP_SERVER_DOWN:
    case LDAP_CONNECT_ERROR:
    case LDAP_UNAVAILABLE:
    case LDAP_BUSY:
      return AuthOutcome::failed(FailureKind::kUpstreamDown, "directory_unavailable");
    case LDAP_TIMEOUT:
    case LDAP_TIMELIMIT_EXCEEDED:
      return AuthOutcome::failed(FailureKind::kUpstreamTimeout, "directory_timeout");
    default:
      return AuthOutcome::failed(FailureKind::kUpstreamBadAnswer, "directory_error");
  }
}

LdapStatus status_of(const LdapStatus& s) { return s; }
LdapStatus status_of(const LdapSearchResult& r) { return r.status; }

// Runs the first operation `op` of a lease. When the lease's connection was
// idle in the pool and turns out to be dead (the directory restarted, or
// closed it for idleness), the other idle connections are dropped too and
// `op` runs once more on a fresh connection.
// `stage` names the step for the log: `op_stage`, or the pool's step
// ("connect", "service_bind", "pool") when no connection could be had.
template <typename Op>
auto first_op(LdapConnectionPool& pool, LdapConnectionPool::Lease& lease, std::string& stage,
              const char* op_stage, Op op) -> decltype(op(std::declval<LdapConnection&>())) {
  using R = decltype(op(std::declval<LdapConnection&>()));
  for (int attempt = 0;; ++attempt) {
    stage = op_stage;
    auto acquired = pool.acquire();
    if (!acquired.status.ok()) {
      stage = acquired.step;
      R failed{};
      if constexpr (std::is_same_v<R, LdapStatus>) {
        failed = acquired.status;
      } else {
        failed.status = acquired.status;
      }
      return failed;
    }
    lease = std::move(acquired.lease);
    R result = op(*lease);
    const int rc = status_of(result).rc;
    if (attempt == 0 && lease.reused() && (rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR)) {
      lease->mark_broken();
      lease = LdapConnectionPool::Lease();
      pool.drop_idle();
      continue;
    }
    return result;
  }
}

}  // namespace

// ---------------------------------------------------------------- authenticator

// What one login went through, for its log line.
struct LdapAuthenticator::Attempt {
  std::string stage;  // the step that decided the outcome
  LdapStatus status;  // its libldap status
  std::string dn;
  bool group_checked = false;
  std::optional<bool> admin;  // set when admin_group is configured and was checked
};

LdapAuthenticator::LdapAuthenticator(std::string name, LdapSettings settings,
                                     metrics::Metrics& metrics)
    : name_(std::move(name)),
      settings_(std::move(settings)),
      success_(metrics.counter("tokend_ldap_logins_total", "LDAP logins by result.",
                               {{"result", "success"}})),
      rejected_(metrics.counter("tokend_ldap_logins_total", "LDAP logins by result.",
                                {{"result", "rejected"}})),
      error_(metrics.counter("tokend_ldap_logins_total", "LDAP logins by result.",
                             {{"result", "error"}})) {
  watchdog_ = std::make_unique<LdapWatchdog>();
  LdapConnection::Options connection;
  connection.watchdog = watchdog_.get();
  connection.url = settings_.url;
  connection.start_tls = settings_.start_tls;
  connection.tls = settings_.uses_tls();
  connection.ca_file = settings_.ca_file;
  connection.connect_timeout_ms = settings_.connect_timeout_ms;
  connection.operation_timeout_ms = settings_.operation_timeout_ms;

  LdapConnectionPool::Options user;
  user.connection = connection;
  user.max_size = static_cast<std::size_t>(settings_.pool_size);
  user.acquire_timeout_ms = settings_.operation_timeout_ms;
  user_pool_ = std::make_unique<LdapConnectionPool>(user);

  if (settings_.search_mode()) {
    // A DN under base_dn that no directory has (the random password makes a
    // successful bind impossible even if someone created it).
    dummy_dn_ = "cn=tokend-no-such-user," + settings_.base_dn;
    dummy_password_ = crypto::to_hex(crypto::random_bytes(16));
    LdapConnectionPool::Options service = user;
    service.bind_dn = settings_.bind_dn;
    service.bind_password = settings_.bind_password;
    service_pool_ = std::make_unique<LdapConnectionPool>(service);
  }
  if (!settings_.uses_tls()) {
    spdlog::warn(
        "ldap {}: plain ldap:// without StartTLS (insecure_allow_plain): passwords "
        "cross the network in clear text",
        name_);
  }
}

LdapAuthenticator::~LdapAuthenticator() = default;

std::size_t LdapAuthenticator::open_connections() const {
  return user_pool_->open_count() + (service_pool_ ? service_pool_->open_count() : 0);
}

AuthOutcome LdapAuthenticator::authenticate(const AuthRequest& request) {
  Attempt attempt;
  AuthOutcome outcome = [&] {
    // Refused before any bind: an empty password makes a simple bind an
    // "unauthenticated" bind (RFC 4513 5.1.2) that many directories accept.
    if (request.password.empty()) {
      attempt.stage = "input";
      return AuthOutcome::rejected("empty_password");
    }
    if (normalize_username(request.username).empty()) {
      attempt.stage = "input";
      return AuthOutcome::rejected("empty_username");
    }
    if (request.username.size() > kMaxUsernameBytes) {
      attempt.stage = "input";
      return AuthOutcome::rejected("invalid_username");
    }
    return settings_.search_mode() ? login_with_search(request, attempt)
                                   : login_with_template(request, attempt);
  }();

  // Usernames, reasons and directory codes only: never the password.
  const std::string user = log::printable(request.username);
  switch (outcome.kind) {
    case AuthOutcome::Kind::kAccepted:
      success_.inc();
      spdlog::info("ldap {}: login ok for \"{}\" (dn \"{}\", local username \"{}\") from {}", name_,
                   user, log::printable(attempt.dn), log::printable(outcome.identity.username), request.peer);
      break;
    case AuthOutcome::Kind::kRejected:
      rejected_.inc();
      spdlog::warn("ldap {}: login rejected for \"{}\" from {}: {} (at {}, ldap code {})", name_,
                   user, request.peer, outcome.reason, attempt.stage, attempt.status.rc);
      break;
    case AuthOutcome::Kind::kFailed:
      error_.inc();
      spdlog::warn("ldap {}: login failed for \"{}\" from {}: {} (at {}: ldap code {} {}: {})",
                   name_, user, request.peer, outcome.reason, attempt.stage, attempt.status.rc,
                   ldap_err2string(attempt.status.rc), log::printable(attempt.status.diagnostic));
      break;
  }
  return outcome;
}

namespace {

std::vector<std::string> wanted_attributes(const LdapSettings& s) {
  std::vector<std::string> out;
  const auto add = [&out](const std::string& a) {
    if (a.empty() || a == "dn") return;
    for (const auto& have : out) {
      if (iequals(have, a)) return;
    }
    out.push_back(a);
  };
  add(s.username_attr);
  add(s.email_attr);
  add(s.display_name_attr);
  add(s.id_attr);   // entryUUID is operational: it must be asked for by name
  add("memberOf");  // the user's groups, when the directory keeps them
  return out;
}

bool is_user_bind_refusal(int rc) {
  // The directory's ways of saying "not with these credentials": unknown DN,
  // wrong password, locked or disabled account, password policy.
  switch (rc) {
    case LDAP_INVALID_CREDENTIALS:
    case LDAP_INAPPROPRIATE_AUTH:
    case LDAP_UNWILLING_TO_PERFORM:
    case LDAP_CONSTRAINT_VIOLATION:
    case LDAP_INSUFFICIENT_ACCESS:
    case LDAP_INVALID_DN_SYNTAX:
    case LDAP_NO_SUCH_OBJECT:
      return true;
    default:
      return false;
  }
}

}  // namespace

AuthOutcome LdapAuthenticator::login_with_template(const AuthRequest& request, Attempt& attempt) {
  // RFC 4514 escaping: `alice,ou=admins` stays one attribute value instead of
  // naming an entry elsewhere in the tree.
  attempt.dn = replace_username(settings_.user_dn_template, escape_dn_value(request.username));
  const std::string& dn = attempt.dn;

  LdapConnectionPool::Lease lease;
  attempt.status = first_op(*user_pool_, lease, attempt.stage, "user_bind",
                            [&](LdapConnection& c) { return c.simple_bind(dn, request.password); });
  if (!attempt.status.ok()) {
    if (attempt.stage == "user_bind" && is_user_bind_refusal(attempt.status.rc)) {
      // Unknown DN and wrong password look the same, to the client and here.
      return AuthOutcome::rejected("invalid_credentials");
    }
    return failure_from(attempt.status);
  }

  // Read the entry as the user (after the bind, the connection has the user's
  // rights) for the profile and the stable id.
  attempt.stage = "read_entry";
  auto read =
      lease->search(dn, LDAP_SCOPE_BASE, "(objectClass=*)", wanted_attributes(settings_), 0);
  attempt.status = read.status;
  LdapEntry entry;
  entry.dn = dn;
  if (read.status.ok() && read.entries.size() == 1) {
    entry = std::move(read.entries.front());
    if (entry.dn.empty()) entry.dn = dn;
  } else if (!read.status.ok() && read.status.rc != LDAP_NO_SUCH_OBJECT &&
             read.status.rc != LDAP_INSUFFICIENT_ACCESS) {
    return failure_from(read.status);
  }
  // An entry the user may not read leaves us with its DN (the stable id) and
  // the typed username; the login itself succeeded.

  if (!settings_.required_group.empty()) {
    attempt.stage = "group_check";
    if (auto outcome = check_group(*lease, entry.dn, attempt)) return *outcome;
  }
  if (!settings_.admin_group.empty()) {
    attempt.stage = "admin_group_check";
    if (auto outcome = check_admin(*lease, entry.dn, attempt)) return *outcome;
  }
  return AuthOutcome::accepted(make_identity(entry, request.username, attempt));
}

AuthOutcome LdapAuthenticator::login_with_search(const AuthRequest& request, Attempt& attempt) {
  // RFC 4515 escaping: `*` or `*)(uid=*))(|(uid=*` stay literal characters of
  // one assertion value instead of becoming wildcards or new filter terms.
  const std::string filter =
      replace_username(settings_.user_filter, escape_filter_value(request.username));

  LdapConnectionPool::Lease service;
  // A size limit of 2 is enough to tell "exactly one" from "more than one".
  auto found = first_op(*service_pool_, service, attempt.stage, "search", [&](LdapConnection& c) {
    return c.search(settings_.base_dn, settings_.scope, filter, wanted_attributes(settings_), 2);
  });
  attempt.status = found.status;
  if (!found.status.ok() && found.status.rc != LDAP_SIZELIMIT_EXCEEDED) {
    if (attempt.stage == "service_bind" && !is_transport_error(found.status.rc)) {
      // The directory refused the service account: a configuration problem,
      // not the user's, so it is not a 401.
      return AuthOutcome::failed(FailureKind::kUpstreamBadAnswer, "service_bind_failed");
    }
    return failure_from(found.status);
  }
  if (found.entries.empty()) return dummy_bind("unknown_user", attempt);
  if (found.entries.size() > 1 || found.status.rc == LDAP_SIZELIMIT_EXCEEDED) {
    // Two entries for one login name: binding as either would be a guess.
    return dummy_bind("ambiguous_user", attempt);
  }
  LdapEntry entry = std::move(found.entries.front());
  attempt.dn = entry.dn;
  if (entry.dn.empty()) return AuthOutcome::failed(FailureKind::kUpstreamBadAnswer, "directory_error");

  if (request.admit_canonical) {
    // The per-username throttle counts the entry, not the spelling: the
    // directory's matching rule folds case, spaces and Unicode look-alikes
    // that tokend's own normalisation does not, so "ALICE", " alice" and a
    // full-width "ａｌｉｃｅ" all find this entry and must share one budget.
    // The entry's first username value (else its DN) names it whatever was
    // typed. Asked before the bind, so a throttled account costs no bind.
    const std::string first = entry.first(settings_.username_attr);
    if (!request.admit_canonical(first.empty() ? entry.dn : first)) {
      attempt.stage = "throttle";
      return AuthOutcome::rejected("throttled");
    }
  }

  {
    // The password is checked by a bind on a separate connection, so the
    // service connection keeps the service account's identity.
    LdapConnectionPool::Lease user;
    attempt.status =
        first_op(*user_pool_, user, attempt.stage, "user_bind",
                 [&](LdapConnection& c) { return c.simple_bind(entry.dn, request.password); });
    if (!attempt.status.ok()) {
      if (attempt.stage == "user_bind" && is_user_bind_refusal(attempt.status.rc)) {
        return AuthOutcome::rejected("wrong_password");
      }
      return failure_from(attempt.status);
    }
  }

  if (!settings_.required_group.empty()) {
    attempt.stage = "group_check";
    if (auto outcome = check_group(*service, entry.dn, attempt)) return *outcome;
  }
  if (!settings_.admin_group.empty()) {
    attempt.stage = "admin_group_check";
    if (auto outcome = check_admin(*service, entry.dn, attempt)) return *outcome;
  }
  return AuthOutcome::accepted(make_identity(entry, request.username, attempt));
}

AuthOutcome LdapAuthenticator::dummy_bind(const char* reason, Attempt& attempt) {
  // Security: without this, an unknown username is answered after the search
  // alone, one directory round trip sooner than a wrong password (search,
  // then bind), and the difference tells an attacker which usernames exist
  // (as the dummy hash does for userpass). So the same bind is made, through
  // the same pool, as a DN that does not exist and with a random password
  // (the typed one is not sent for nothing): the same round trips and the same
  // pooled connection use. Its result is ignored, except that a directory
  // that fails here fails the login the same way a real bind would.
  LdapConnectionPool::Lease user;
  const LdapStatus status =
      first_op(*user_pool_, user, attempt.stage, "dummy_bind",
               [&](LdapConnection& c) { return c.simple_bind(dummy_dn_, dummy_password_); });
  attempt.status = status;
  if (!status.ok() && !(attempt.stage == "dummy_bind" && is_user_bind_refusal(status.rc))) {
    return failure_from(status);
  }
  return AuthOutcome::rejected(reason);
}

LdapSearchResult LdapAuthenticator::membership(LdapConnection& connection, const std::string& user_dn,
                                               const std::string& group_dn) const {
  // The directory compares the DNs itself (distinguishedNameMatch), so case
  // and spacing differences between DN spellings do not matter. Both DNs are
  // escaped for the filter: a DN may contain `\`, `(`, `)` or `*`.
  if (settings_.group_member_attr == "memberOf") {
    return connection.search(user_dn, LDAP_SCOPE_BASE, "(memberOf=" + escape_filter_value(group_dn) + ")",
                             {"1.1"}, 1);
  }
  return connection.search(group_dn, LDAP_SCOPE_BASE,
                           "(" + settings_.group_member_attr + "=" + escape_filter_value(user_dn) + ")", {"1.1"},
                           1);
}

std::optional<AuthOutcome> LdapAuthenticator::check_admin(LdapConnection& connection, const std::string& user_dn,
                                                          Attempt& attempt) {
  const LdapSearchResult r = membership(connection, user_dn, settings_.admin_group);
  attempt.status = r.status;
  if (r.status.ok()) {
    attempt.admin = r.entries.size() == 1;
    return std::nullopt;
  }
  if (r.status.rc == LDAP_NO_SUCH_OBJECT) {
    // A group that does not exist (or that the bound identity cannot see)
    // has no members: nobody is an admin through it.
    spdlog::warn("ldap {}: admin_group or the user's entry does not exist (or is not visible): \"{}\"", name_,
                 log::printable(settings_.group_member_attr == "memberOf" ? user_dn : settings_.admin_group));
    attempt.admin = false;
    return std::nullopt;
  }
  // Security: an unanswered membership question fails the login rather than
  // guess; guessing "not admin" would be safe, but would silently take the
  // role away from every admin while the directory misbehaves.
  return failure_from(r.status);
}

std::optional<AuthOutcome> LdapAuthenticator::check_group(LdapConnection& connection,
                                                          const std::string& user_dn,
                                                          Attempt& attempt) {
  const LdapSearchResult r = membership(connection, user_dn, settings_.required_group);
  attempt.status = r.status;
  if (r.status.ok() && r.entries.size() == 1) {
    attempt.group_checked = true;
    return std::nullopt;
  }
  if (r.status.ok() || r.status.rc == LDAP_NO_SUCH_OBJECT) {
    if (r.status.rc == LDAP_NO_SUCH_OBJECT) {
      spdlog::warn(
          "ldap {}: required_group or the user's entry does not exist (or is not "
          "visible): \"{}\"",
          name_,
          log::printable(settings_.group_member_attr == "memberOf" ? user_dn
                                                              : settings_.required_group));
    }
    return AuthOutcome::rejected("not_in_group");
  }
  return failure_from(r.status);
}

Identity LdapAuthenticator::make_identity(const LdapEntry& entry, const std::string& typed,
                                          const Attempt& attempt) const {
  Identity id;
  id.provider = name_;
  id.local = false;
  const std::string id_value =
      settings_.id_attr == "dn" ? std::string() : entry.first(settings_.id_attr);
  // The entry's DN is the fallback id: stable as long as the entry is not
  // renamed, and present everywhere.
  id.subject = id_value.empty() ? entry.dn : id_text(id_value);

  // The local username comes from the directory, not from what was typed, so
  // `ALICE` and `alice ` sign in to the same account as `alice`. With a
  // multi-valued attribute the value the person typed wins.
  const std::string wanted = normalize_username(typed);
  std::string username;
  if (const auto* values = entry.values(settings_.username_attr)) {
    for (const auto& v : *values) {
      if (normalize_username(v) == wanted) username = normalize_username(v);
    }
    if (username.empty() && !values->empty()) username = normalize_username(values->front());
  }
  id.username = username.empty() ? wanted : username;
  id.email = entry.first(settings_.email_attr);
  id.display_name = entry.first(settings_.display_name_attr);
  if (const auto* groups = entry.values("memberOf")) id.groups = *groups;
  if (attempt.group_checked) {
    const bool listed = std::any_of(id.groups.begin(), id.groups.end(), [&](const std::string& g) {
      return iequals(g, settings_.required_group);
    });
    if (!listed) id.groups.push_back(settings_.required_group);
  }
  id.admin = attempt.admin;
  return id;
}

Result<std::unique_ptr<Authenticator>> make_ldap_authenticator(const std::string& name,
                                                               const nlohmann::json& settings,
                                                               const FactoryContext& ctx) {
  auto parsed = parse_ldap_settings(name, settings);
  if (!parsed) return parsed.error();
  std::unique_ptr<Authenticator> out =
      std::make_unique<LdapAuthenticator>(name, std::move(parsed).value(), ctx.metrics);
  return out;
}

}  // namespace tokend::auth::ldap
