// LdapAuthenticator in search mode: an unknown (or ambiguous) username costs
// the directory exactly the operations a wrong password costs (one search,
// one simple bind, no new connection), counted in the real slapd's "stats"
// log rather than by the wall clock (the test machine is noisy).
#include <catch2/catch.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "e2e/support/slapd_fixture.hpp"
#include "tokend/auth/ldap/ldap_authenticator.hpp"
#include "tokend/metrics/metrics.hpp"

using nlohmann::json;
using tokend::auth::AuthOutcome;
using tokend::auth::AuthRequest;
using tokend::auth::ldap::LdapAuthenticator;
using tokend::auth::ldap::parse_ldap_settings;
using Kind = tokend::auth::AuthOutcome::Kind;

namespace {

// What reached the directory, from slapd's log (one line per operation).
struct DirectoryOps {
  int connections = 0;  // "fd=N ACCEPT"
  int binds = 0;        // simple binds: "BIND dn=... method=128"
  int searches = 0;     // "SRCH base=..."
  bool operator==(const DirectoryOps& o) const {
    return connections == o.connections && binds == o.binds && searches == o.searches;
  }
  DirectoryOps operator-(const DirectoryOps& o) const {
    return {connections - o.connections, binds - o.binds, searches - o.searches};
  }
};

int occurrences(const std::string& text, const std::string& needle) {
  int n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + needle.size())) ++n;
  return n;
}

DirectoryOps ops_so_far(const e2e::SlapdFixture& fx) {
  const std::string log = fx.log();
  DirectoryOps d;
  d.connections = occurrences(log, " ACCEPT from ");
  d.searches = occurrences(log, " SRCH base=");
  // Every simple bind line ends its DN with `" method=128`.
  d.binds = occurrences(log, "\" method=128");
  return d;
}

std::ostream& operator<<(std::ostream& os, const DirectoryOps& d) {
  return os << "{connections " << d.connections << ", binds " << d.binds << ", searches " << d.searches << "}";
}

json search_config(const e2e::SlapdFixture& fx) {
  return json{{"type", "ldap"},
              {"url", fx.ldaps_url()},
              {"ca_file", fx.ca_file()},
              {"bind_dn", e2e::SlapdFixture::kReaderDn},
              {"bind_password", e2e::SlapdFixture::kReaderPassword},
              {"base_dn", e2e::SlapdFixture::kSuffix},
              {"user_filter", "(&(objectClass=inetOrgPerson)(uid={username}))"},
              {"pool_size", 1}};
}

AuthOutcome login(LdapAuthenticator& a, const std::string& username, const std::string& password) {
  AuthRequest request;
  request.username = username;
  request.password = password;
  request.peer = "127.0.0.1";
  return a.authenticate(request);
}

// The operations one login made, and its outcome.
DirectoryOps ops_of(const e2e::SlapdFixture& fx, LdapAuthenticator& a, const std::string& username,
                    const std::string& password, const char* reason) {
  const DirectoryOps before = ops_so_far(fx);
  const AuthOutcome outcome = login(a, username, password);
  CHECK(outcome.kind == Kind::kRejected);
  CHECK(outcome.reason == reason);
  return ops_so_far(fx) - before;
}

}  // namespace

TEST_CASE("LDAP search mode: an unknown user costs the directory what a wrong password costs",
          "[ldap][slapd][security]") {
  e2e::SlapdFixture fx;
  tokend::metrics::Metrics metrics;
  auto settings = parse_ldap_settings("ldap", search_config(fx));
  REQUIRE(settings.ok());
  LdapAuthenticator auth("ldap", std::move(settings).value(), metrics);
  // Warm the pools: both connections open, the service account bound.
  REQUIRE(login(auth, "alice", "alice-password-1").kind == Kind::kAccepted);

  const DirectoryOps wrong = ops_of(fx, auth, "alice", "not-her-password", "wrong_password");
  const DirectoryOps unknown = ops_of(fx, auth, "mallory", "not-her-password", "unknown_user");
  const DirectoryOps ambiguous = ops_of(fx, auth, "twin", "not-her-password", "ambiguous_user");
  INFO("wrong " << wrong << ", unknown " << unknown << ", ambiguous " << ambiguous);
  // Not vacuous: a wrong password is one search and one bind on the pooled
  // connections.
  CHECK(wrong == DirectoryOps{0, 1, 1});
  CHECK(unknown == wrong);
  CHECK(ambiguous == wrong);
  // The pools were reused after the refused dummy bind just as after a wrong password.
  CHECK(ops_of(fx, auth, "alice", "not-her-password", "wrong_password") == wrong);

  // The extra bind is as a DN nobody has, not as any user of the directory,
  // and it sends a random password, not the one typed for the unknown name.
  const std::string log = fx.log();
  CHECK(occurrences(log, "BIND dn=\"cn=tokend-no-such-user,dc=example,dc=org\" method=128") == 2);
  CHECK(fx.binds_as("uid=mallory,ou=people,dc=example,dc=org") == 0);
  CHECK(metrics.counter("tokend_ldap_logins_total", "", {{"result", "rejected"}}).value() == 4);
}
