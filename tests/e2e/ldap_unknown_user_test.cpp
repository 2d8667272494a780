// End-to-end: with LDAP search-then-bind, a sign-in for a username the
// directory does not have makes the same directory operations as a wrong
// password (one search, one bind, no new connection), through the real
// binary and the real slapd. Counted in slapd's "stats" log, not timed: the
// machine is noisy, and the round trips are what a remote attacker could time.
#include <catch2/catch.hpp>
#include <string>

#include "support/process.hpp"
#include "support/slapd_fixture.hpp"

using e2e::SlapdFixture;
using e2e::TokendProcess;
using nlohmann::json;

namespace {

struct DirectoryOps {
  int connections = 0;
  int binds = 0;
  int searches = 0;
  bool operator==(const DirectoryOps& o) const {
    return connections == o.connections && binds == o.binds && searches == o.searches;
  }
};

std::ostream& operator<<(std::ostream& os, const DirectoryOps& d) {
  return os << "{connections " << d.connections << ", binds " << d.binds << ", searches " << d.searches << "}";
}

int occurrences(const std::string& text, const std::string& needle) {
  int n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + needle.size())) ++n;
  return n;
}

DirectoryOps ops_so_far(const SlapdFixture& fx) {
  const std::string log = fx.log();
  return {occurrences(log, " ACCEPT from "), occurrences(log, "\" method=128"), occurrences(log, " SRCH base=")};
}

// The directory operations of one failed sign-in, which must be the generic 401.
DirectoryOps ops_of_failed_login(const SlapdFixture& fx, TokendProcess& t, const std::string& form) {
  const DirectoryOps before = ops_so_far(fx);
  auto r = t.post("/api/authenticate/ldap", form, {{"Content-Type", "application/x-www-form-urlencoded"}});
  CHECK(r.status == 401);
  CHECK(r.json()["error"] == "invalid_credentials");
  const DirectoryOps after = ops_so_far(fx);
  return {after.connections - before.connections, after.binds - before.binds, after.searches - before.searches};
}

}  // namespace

TEST_CASE("LDAP search mode: an unknown user makes the same directory round trips as a wrong password",
          "[e2e][ldap][security]") {
  SlapdFixture fx;
  const json ldap = {{"type", "ldap"},
                     {"url", fx.ldaps_url()},
                     {"ca_file", fx.ca_file()},
                     {"bind_dn", SlapdFixture::kReaderDn},
                     {"bind_password", SlapdFixture::kReaderPassword},
                     {"base_dn", SlapdFixture::kSuffix},
                     {"user_filter", "(&(objectClass=inetOrgPerson)(uid={username}))"},
                     {"pool_size", 1}};
  TokendProcess t(json{{"auth", {{"ldap", ldap}}}});
  // Warm the pools (connections opened, the service account bound).
  REQUIRE(t.post("/api/authenticate/ldap", "username=alice&password=alice-password-1",
                 {{"Content-Type", "application/x-www-form-urlencoded"}})
              .status == 200);

  const DirectoryOps wrong = ops_of_failed_login(fx, t, "username=alice&password=not-her-password");
  const DirectoryOps unknown = ops_of_failed_login(fx, t, "username=nobody-here&password=not-her-password");
  INFO("wrong password " << wrong << ", unknown user " << unknown);
  CHECK(wrong == DirectoryOps{0, 1, 1});
  CHECK(unknown == wrong);
  // The bind for the unknown name is the dummy one, never "uid=nobody-here".
  CHECK(fx.binds_as("cn=tokend-no-such-user,dc=example,dc=org") == 1);
  CHECK(fx.binds_as("uid=nobody-here,ou=people,dc=example,dc=org") == 0);
}
