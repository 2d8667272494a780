// LdapAuthenticator against a real, throwaway slapd (tests/e2e/support/
// slapd_fixture.hpp): both ways of finding the user, escaping, the group
// requirement, TLS verification, and a directory that is down or hangs.
#include "tokend/auth/ldap/ldap_authenticator.hpp"

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "e2e/support/slapd_fixture.hpp"
#include "tokend/metrics/metrics.hpp"

using nlohmann::json;
using tokend::auth::AuthOutcome;
using tokend::auth::AuthRequest;
using tokend::auth::ldap::LdapAuthenticator;
using tokend::auth::ldap::parse_ldap_settings;
using Kind = tokend::auth::AuthOutcome::Kind;

namespace {

// One slapd per test process; tests that change or stop the directory make
// their own.
e2e::SlapdFixture& shared_slapd() {
  static e2e::SlapdFixture fixture;
  return fixture;
}

const std::string kPeople = ",ou=people,dc=example,dc=org";

json template_config(const e2e::SlapdFixture& fx) {
  return json{{"type", "ldap"},
              {"url", fx.ldap_url()},
              {"start_tls", true},
              {"ca_file", fx.ca_file()},
              {"user_dn_template", "uid={username},ou=people,dc=example,dc=org"}};
}

json search_config(const e2e::SlapdFixture& fx) {
  return json{{"type", "ldap"},
              {"url", fx.ldaps_url()},
              {"ca_file", fx.ca_file()},
              {"bind_dn", e2e::SlapdFixture::kReaderDn},
              {"bind_password", e2e::SlapdFixture::kReaderPassword},
              {"base_dn", e2e::SlapdFixture::kSuffix},
              {"user_filter", "(&(objectClass=inetOrgPerson)(uid={username}))"}};
}

struct Harness {
  tokend::metrics::Metrics metrics;
  std::unique_ptr<LdapAuthenticator> auth;

  explicit Harness(const json& config, const std::string& name = "ldap") {
    auto settings = parse_ldap_settings(name, config);
    if (!settings.ok()) FAIL("config refused: " << settings.error().message);
    auth = std::make_unique<LdapAuthenticator>(name, std::move(settings).value(), metrics);
  }

  AuthOutcome login(const std::string& username, const std::string& password) {
    AuthRequest request;
    request.username = username;
    request.password = password;
    request.peer = "127.0.0.1";
    return auth->authenticate(request);
  }

  std::uint64_t count(const char* result) {
    return metrics.counter("tokend_ldap_logins_total", "", {{"result", result}}).value();
  }
};

bool is_uuid(const std::string& s) {
  return std::regex_match(
      s, std::regex("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"));
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST_CASE("LDAP DN-template login over StartTLS", "[ldap][slapd]") {
  auto& fx = shared_slapd();
  Harness h(template_config(fx));
  CHECK(h.auth->name() == "ldap");
  CHECK(h.auth->type() == "ldap");
  CHECK(h.auth->label() == "Directory");
  CHECK(h.auth->credentials() == tokend::auth::Authenticator::Credentials::kPassword);
  CHECK(h.auth->run_on() == tokend::RunOn::kUpstream);

  const AuthOutcome ok = h.login("alice", "alice-password-1");
  REQUIRE(ok.kind == Kind::kAccepted);
  const auto& id = ok.identity;
  CHECK(id.provider == "ldap");
  CHECK(is_uuid(id.subject));  // entryUUID, not the DN
  CHECK(id.username == "alice");
  CHECK(id.email == "alice@example.org");
  CHECK(id.display_name == "Alice Liddell");
  CHECK_FALSE(id.local);
  CHECK(std::find(id.groups.begin(), id.groups.end(), e2e::SlapdFixture::kGroupDn) !=
        id.groups.end());

  SECTION("the directory's spelling of the username is the local one") {
    const AuthOutcome upper = h.login("ALICE", "alice-password-1");
    REQUIRE(upper.kind == Kind::kAccepted);
    CHECK(upper.identity.username == "alice");
    CHECK(upper.identity.subject == id.subject);
  }
  SECTION("another user has another subject") {
    const AuthOutcome bob = h.login("bob", "bob-password-2");
    REQUIRE(bob.kind == Kind::kAccepted);
    CHECK(bob.identity.username == "bob");
    CHECK(bob.identity.subject != id.subject);
    CHECK(bob.identity.groups.empty());
  }
  SECTION("wrong password and unknown user are rejected alike") {
    const AuthOutcome wrong = h.login("alice", "alice-password-2");
    CHECK(wrong.kind == Kind::kRejected);
    const AuthOutcome unknown = h.login("mallory", "alice-password-1");
    CHECK(unknown.kind == Kind::kRejected);
    CHECK(wrong.reason == unknown.reason);
  }
}

TEST_CASE("LDAP search-then-bind login over ldaps", "[ldap][slapd]") {
  auto& fx = shared_slapd();
  Harness h(search_config(fx));
  const AuthOutcome alice = h.login("alice", "alice-password-1");
  REQUIRE(alice.kind == Kind::kAccepted);
  CHECK(alice.identity.username == "alice");
  CHECK(alice.identity.email == "alice@example.org");
  CHECK(alice.identity.display_name == "Alice Liddell");
  CHECK(is_uuid(alice.identity.subject));

  const AuthOutcome bob = h.login("Bob ", "bob-password-2");
  REQUIRE(bob.kind == Kind::kAccepted);
  CHECK(bob.identity.username == "bob");
  CHECK(bob.identity.subject != alice.identity.subject);

  const AuthOutcome wrong = h.login("alice", "bob-password-2");
  CHECK(wrong.kind == Kind::kRejected);
  CHECK(wrong.reason == "wrong_password");
  const AuthOutcome unknown = h.login("mallory", "bob-password-2");
  CHECK(unknown.kind == Kind::kRejected);
  CHECK(unknown.reason == "unknown_user");

  SECTION("more than one entry found is a failure") {
    const AuthOutcome twin = h.login("twin", "twin-password-4");
    CHECK(twin.kind == Kind::kRejected);
    CHECK(twin.reason == "ambiguous_user");
  }
  SECTION("a filter on another attribute (mail), with id_attr dn") {
    json config = search_config(fx);
    config["user_filter"] = "(|(uid={username})(mail={username}))";
    config["id_attr"] = "dn";
    Harness by_mail(config);
    const AuthOutcome ok = by_mail.login("alice@example.org", "alice-password-1");
    REQUIRE(ok.kind == Kind::kAccepted);
    CHECK(ok.identity.username == "alice");
    CHECK(ok.identity.subject == "uid=alice" + kPeople);
  }
  SECTION("scope one below ou=people does not see ou=staff") {
    json config = search_config(fx);
    config["base_dn"] = "ou=people,dc=example,dc=org";
    config["scope"] = "one";
    Harness one(config);
    CHECK(one.login("twin", "twin-password-4").kind == Kind::kAccepted);
  }
}

TEST_CASE("LDAP empty password is refused before any bind", "[ldap][slapd]") {
  auto& fx = shared_slapd();
  const std::string alice_dn = "uid=alice" + kPeople;
  for (const json& config : {template_config(fx), search_config(fx)}) {
    const int binds = fx.binds_as(alice_dn);
    Harness h(config);
    const AuthOutcome empty = h.login("alice", "");
    CHECK(empty.kind == Kind::kRejected);
    CHECK(empty.reason == "empty_password");
    CHECK(h.login("", "alice-password-1").kind == Kind::kRejected);
    CHECK(h.login("   ", "alice-password-1").kind == Kind::kRejected);
    // No connection was made for them, and slapd saw no bind.
    CHECK(h.auth->open_connections() == 0);
    CHECK(fx.binds_as(alice_dn) == binds);
    // (The count does move for a real login.)
    CHECK(h.login("alice", "alice-password-1").kind == Kind::kAccepted);
    CHECK(fx.binds_as(alice_dn) == binds + 1);
  }
  SECTION("even with the directory down: rejected, not failed") {
    json config = template_config(fx);
    config["url"] = "ldap://127.0.0.1:" + std::to_string(e2e::closed_port());
    Harness down(config);
    CHECK(down.login("alice", "").kind == Kind::kRejected);
  }
}

TEST_CASE("LDAP usernames cannot inject into the search filter", "[ldap][slapd][security]") {
  auto& fx = shared_slapd();
  Harness h(search_config(fx));
  // Each of these, sent with alice's real password, would match alice (or
  // everybody) if the username went into the filter unescaped.
  const std::vector<std::string> attempts = {
      "*",
      "al*",
      "*lice",
      "*)(uid=*))(|(uid=*",
      "alice)(|(uid=*",
      "*)(objectClass=*",
      "alice)(objectClass=inetOrgPerson",
      std::string("alice\0", 6),
      std::string("alice\0)(uid=bob", 15),
      "\\2a",
      "alic\\65",
      "alice\\",
  };
  for (const auto& username : attempts) {
    INFO("username: " << username);
    const AuthOutcome out = h.login(username, "alice-password-1");
    CHECK(out.kind == Kind::kRejected);
    // Nothing matched at all: not alice, and not several entries.
    CHECK(out.reason == "unknown_user");
  }
  // The same password and the plain name still work.
  CHECK(h.login("alice", "alice-password-1").kind == Kind::kAccepted);
}

TEST_CASE("LDAP usernames cannot inject into the DN template", "[ldap][slapd][security]") {
  auto& fx = shared_slapd();
  Harness h(template_config(fx));
  const std::vector<std::string> attempts = {
      "*",       "al*",       "alice,ou=people",         "alice+cn=Alice Liddell",
      "alice\\", "j\\doe(x)", std::string("alice\0", 6), "alice,ou=people,dc=example,dc=org\\",
  };
  for (const auto& username : attempts) {
    INFO("username: " << username);
    CHECK(h.login(username, "alice-password-1").kind == Kind::kRejected);
  }
  // The service account is outside ou=people and stays out of reach.
  CHECK(h.login("reader,dc=example,dc=org", e2e::SlapdFixture::kReaderPassword).kind ==
        Kind::kRejected);
  CHECK(h.login("x,cn=reader", e2e::SlapdFixture::kReaderPassword).kind == Kind::kRejected);
}

TEST_CASE("LDAP user whose uid contains special characters signs in", "[ldap][slapd][security]") {
  auto& fx = shared_slapd();
  const std::string uid = e2e::SlapdFixture::kSpecialUid;
  SECTION("DN template") {
    Harness h(template_config(fx));
    const AuthOutcome ok = h.login(uid, "special-password-3");
    REQUIRE(ok.kind == Kind::kAccepted);
    CHECK(ok.identity.username == uid);
    CHECK(ok.identity.email == "special@example.org");
    CHECK(h.login(uid, "alice-password-1").kind == Kind::kRejected);
  }
  SECTION("search then bind, with the member group check on its DN") {
    json config = search_config(fx);
    config["required_group"] = e2e::SlapdFixture::kGroupDn;
    Harness h(config);
    const AuthOutcome ok = h.login(uid, "special-password-3");
    REQUIRE(ok.kind == Kind::kAccepted);
    CHECK(ok.identity.username == uid);
    CHECK(h.login("j\\doe(x)", "special-password-3").kind == Kind::kRejected);
    CHECK(h.login("j\\doe(x),y*", "special-password-3").kind == Kind::kRejected);
  }
}

TEST_CASE("LDAP group requirement", "[ldap][slapd]") {
  auto& fx = shared_slapd();
  SECTION("member of a groupOfNames (search mode)") {
    json config = search_config(fx);
    config["required_group"] = e2e::SlapdFixture::kGroupDn;
    Harness h(config);
    const AuthOutcome alice = h.login("alice", "alice-password-1");
    REQUIRE(alice.kind == Kind::kAccepted);
    CHECK(std::find(alice.identity.groups.begin(), alice.identity.groups.end(),
                    e2e::SlapdFixture::kGroupDn) != alice.identity.groups.end());
    const AuthOutcome bob = h.login("bob", "bob-password-2");
    CHECK(bob.kind == Kind::kRejected);
    CHECK(bob.reason == "not_in_group");
    // Not in the group, wrong password: the same rejection kind.
    CHECK(h.login("bob", "wrong-password").kind == Kind::kRejected);
  }
  SECTION("uniqueMember of a groupOfUniqueNames") {
    json config = search_config(fx);
    config["required_group"] = e2e::SlapdFixture::kUniqueGroupDn;
    config["group_member_attr"] = "uniqueMember";
    Harness h(config);
    CHECK(h.login("alice", "alice-password-1").kind == Kind::kAccepted);
    CHECK(h.login("bob", "bob-password-2").reason == "not_in_group");
    CHECK(h.login(e2e::SlapdFixture::kSpecialUid, "special-password-3").reason == "not_in_group");
  }
  SECTION("memberOf on the user entry") {
    json config = search_config(fx);
    config["required_group"] = "CN=Tokend-Users, OU=Groups, DC=Example, DC=Org";  // other spelling
    config["group_member_attr"] = "memberOf";
    Harness h(config);
    CHECK(h.login("alice", "alice-password-1").kind == Kind::kAccepted);
    CHECK(h.login("bob", "bob-password-2").reason == "not_in_group");
  }
  SECTION("DN template: checked with the user's own rights") {
    json config = template_config(fx);
    config["required_group"] = e2e::SlapdFixture::kGroupDn;
    Harness h(config);
    CHECK(h.login("alice", "alice-password-1").kind == Kind::kAccepted);
    CHECK(h.login("bob", "bob-password-2").reason == "not_in_group");
  }
  SECTION("a group that does not exist lets nobody in") {
    json config = search_config(fx);
    config["required_group"] = "cn=nope,ou=groups,dc=example,dc=org";
    Harness h(config);
    CHECK(h.login("alice", "alice-password-1").reason == "not_in_group");
  }
}

TEST_CASE("LDAP TLS: the server certificate is verified", "[ldap][slapd][security]") {
  auto& fx = shared_slapd();
  SECTION("ldaps with a CA that did not sign the certificate") {
    json config = search_config(fx);
    config["ca_file"] = fx.other_ca_file();
    Harness h(config);
    const AuthOutcome out = h.login("alice", "alice-password-1");
    CHECK(out.kind == Kind::kFailed);
    CHECK(out.failure == tokend::auth::FailureKind::kUpstreamDown);
  }
  SECTION("StartTLS with a CA that did not sign the certificate") {
    json config = template_config(fx);
    config["ca_file"] = fx.other_ca_file();
    Harness h(config);
    const AuthOutcome out = h.login("alice", "alice-password-1");
    CHECK(out.kind == Kind::kFailed);
    CHECK(out.failure == tokend::auth::FailureKind::kUpstreamDown);
  }
  SECTION("no ca_file: the system trust store does not know the test CA") {
    json config = template_config(fx);
    config.erase("ca_file");
    Harness h(config);
    CHECK(h.login("alice", "alice-password-1").kind == Kind::kFailed);
  }
  SECTION("the right CA: both transports work") {
    CHECK(Harness(search_config(fx)).login("alice", "alice-password-1").kind == Kind::kAccepted);
    CHECK(Harness(template_config(fx)).login("alice", "alice-password-1").kind == Kind::kAccepted);
  }
}

TEST_CASE("LDAP TLS: a certificate for another host name is refused", "[ldap][slapd][security]") {
  e2e::SlapdFixture wrong_name("DNS:ldap.invalid");  // signed by the trusted CA
  for (const json& config : {search_config(wrong_name), template_config(wrong_name)}) {
    Harness h(config);
    const AuthOutcome out = h.login("alice", "alice-password-1");
    CHECK(out.kind == Kind::kFailed);
    CHECK(out.failure == tokend::auth::FailureKind::kUpstreamDown);
  }
}

TEST_CASE("LDAP directory down: a fast 503", "[ldap][slapd]") {
  const int port = e2e::closed_port();
  for (json config : {template_config(shared_slapd()), search_config(shared_slapd())}) {
    config["url"] = std::string(config.contains("start_tls") ? "ldap" : "ldaps") +
                    "://127.0.0.1:" + std::to_string(port);
    Harness h(config);
    const auto start = std::chrono::steady_clock::now();
    const AuthOutcome out = h.login("alice", "alice-password-1");
    CHECK(seconds_since(start) < 1.0);
    CHECK(out.kind == Kind::kFailed);
    CHECK(out.failure == tokend::auth::FailureKind::kUpstreamDown);
    CHECK(h.count("error") == 1);
    CHECK(h.auth->open_connections() == 0);
  }
}

TEST_CASE("LDAP directory that never answers: 504 within the timeout", "[ldap][slapd]") {
  e2e::SilentServer silent;
  const std::string plain_url = "ldap://127.0.0.1:" + std::to_string(silent.port());
  const auto check_timeout = [](Harness& h, tokend::auth::FailureKind expected, double max_seconds) {
    const auto start = std::chrono::steady_clock::now();
    const AuthOutcome out = h.login("alice", "alice-password-1");
    const double took = seconds_since(start);
    CHECK(out.kind == Kind::kFailed);
    CHECK(out.failure == expected);
    CHECK(took >= 0.25);
    CHECK(took < max_seconds);
  };
  SECTION("user bind (plain, explicitly allowed)") {
    Harness h(json{{"url", plain_url},
                   {"insecure_allow_plain", true},
                   {"operation_timeout_ms", 300},
                   {"user_dn_template", "uid={username},ou=people,dc=example,dc=org"}});
    check_timeout(h, tokend::auth::FailureKind::kUpstreamTimeout, 1.5);
    CHECK(h.auth->open_connections() == 0);  // the hung connection was dropped
  }
  SECTION("StartTLS request") {
    Harness h(json{{"url", plain_url},
                   {"start_tls", true},
                   {"operation_timeout_ms", 300},
                   {"user_dn_template", "uid={username},ou=people,dc=example,dc=org"}});
    check_timeout(h, tokend::auth::FailureKind::kUpstreamTimeout, 1.5);
  }
  SECTION("service bind and search") {
    json config = search_config(shared_slapd());
    config["url"] = plain_url;
    config["insecure_allow_plain"] = true;
    config.erase("ca_file");
    config["operation_timeout_ms"] = 300;
    Harness h(config);
    check_timeout(h, tokend::auth::FailureKind::kUpstreamTimeout, 1.5);
  }
  SECTION("ldaps handshake: bounded by the connect timeout") {
    Harness h(json{{"url", "ldaps://127.0.0.1:" + std::to_string(silent.port())},
                   {"connect_timeout_ms", 300},
                   {"operation_timeout_ms", 300},
                   {"user_dn_template", "uid={username},ou=people,dc=example,dc=org"}});
    const auto start = std::chrono::steady_clock::now();
    const AuthOutcome out = h.login("alice", "alice-password-1");
    CHECK(out.kind == Kind::kFailed);
    CHECK((out.failure == tokend::auth::FailureKind::kUpstreamDown || out.failure == tokend::auth::FailureKind::kUpstreamTimeout));
    CHECK(seconds_since(start) < 1.5);
  }
}

TEST_CASE("LDAP wrong service account password is an error, not a 401", "[ldap][slapd]") {
  json config = search_config(shared_slapd());
  config["bind_password"] = "not-the-reader-password";
  Harness h(config);
  const AuthOutcome out = h.login("alice", "alice-password-1");
  CHECK(out.kind == Kind::kFailed);
  CHECK(out.failure == tokend::auth::FailureKind::kUpstreamBadAnswer);
}

TEST_CASE("LDAP connections are reused, bounded, and replaced after a restart", "[ldap][slapd]") {
  e2e::SlapdFixture fx;  // restarted below
  json config = search_config(fx);
  config["pool_size"] = 2;
  Harness h(config);
  for (int i = 0; i < 5; ++i) {
    REQUIRE(h.login("alice", "alice-password-1").kind == Kind::kAccepted);
  }
  // One service connection and one user-bind connection, not five each.
  CHECK(h.auth->open_connections() == 2);

  SECTION("concurrent logins stay within pool_size per pool") {
    std::atomic<int> accepted{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 3; ++i) {
          if (h.login("bob", "bob-password-2").kind == Kind::kAccepted) ++accepted;
        }
      });
    }
    for (auto& t : threads) t.join();
    CHECK(accepted == 24);
    CHECK(h.auth->open_connections() <= 4);
  }
  SECTION("a restarted directory: the dead pooled connections are replaced") {
    fx.stop();
    const AuthOutcome down = h.login("alice", "alice-password-1");
    CHECK(down.kind == Kind::kFailed);
    CHECK(down.failure == tokend::auth::FailureKind::kUpstreamDown);
    fx.start();
    const AuthOutcome back = h.login("alice", "alice-password-1");
    CHECK(back.kind == Kind::kAccepted);
    CHECK(h.auth->open_connections() == 2);
  }
  SECTION("restart without a failed login in between") {
    fx.stop();
    fx.start();
    CHECK(h.login("alice", "alice-password-1").kind == Kind::kAccepted);
    CHECK(h.login("bob", "bob-password-2").kind == Kind::kAccepted);
  }
}

TEST_CASE("LDAP attribute changes are seen at the next login", "[ldap][slapd]") {
  e2e::SlapdFixture fx;  // modified below
  Harness h(search_config(fx));
  const AuthOutcome before = h.login("alice", "alice-password-1");
  REQUIRE(before.kind == Kind::kAccepted);
  CHECK(before.identity.email == "alice@example.org");
  fx.modify("dn: uid=alice" + kPeople +
            "\nchangetype: modify\nreplace: mail\nmail: alice.liddell@example.org\n"
            "-\nreplace: cn\ncn: Alice Pleasance Liddell\n");
  const AuthOutcome after = h.login("alice", "alice-password-1");
  REQUIRE(after.kind == Kind::kAccepted);
  CHECK(after.identity.email == "alice.liddell@example.org");
  CHECK(after.identity.display_name == "Alice Pleasance Liddell");
  CHECK(after.identity.subject == before.identity.subject);
}

TEST_CASE("LDAP metrics and logs: counted by result, never the password",
          "[ldap][slapd][security]") {
  auto& fx = shared_slapd();
  std::ostringstream captured;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("test", sink));
  spdlog::set_level(spdlog::level::debug);

  json config = search_config(fx);
  config["required_group"] = e2e::SlapdFixture::kGroupDn;
  Harness h(config);
  CHECK(h.login("alice", "alice-password-1").kind == Kind::kAccepted);
  CHECK(h.login("alice", "wrong-password-77").kind == Kind::kRejected);
  CHECK(h.login("bob", "bob-password-2").kind == Kind::kRejected);
  CHECK(h.login("nobody\n2099-01-01 forged line", "nobody-password").kind == Kind::kRejected);
  json down = search_config(fx);
  down["url"] = "ldaps://127.0.0.1:" + std::to_string(e2e::closed_port());
  Harness broken(down);
  CHECK(broken.login("alice", "alice-password-1").kind == Kind::kFailed);

  spdlog::set_default_logger(previous);
  const std::string log = captured.str();
  CHECK(h.count("success") == 1);
  CHECK(h.count("rejected") == 3);
  CHECK(h.count("error") == 0);
  CHECK(broken.count("error") == 1);
  CHECK(h.metrics.render().find("tokend_ldap_logins_total{result=\"rejected\"} 3") !=
        std::string::npos);

  CHECK(log.find("alice") != std::string::npos);
  CHECK(log.find("wrong_password") != std::string::npos);
  CHECK(log.find("not_in_group") != std::string::npos);
  CHECK(log.find("directory_unavailable") != std::string::npos);
  for (const char* secret : {"alice-password-1", "wrong-password-77", "bob-password-2",
                             "nobody-password", e2e::SlapdFixture::kReaderPassword}) {
    CHECK(log.find(secret) == std::string::npos);
  }
  // A newline in a username cannot start a forged log line.
  CHECK(log.find("\n2099-01-01 forged line") == std::string::npos);
}

TEST_CASE("LDAP admin_group: members are admins, others are not", "[ldap][slapd][admin]") {
  auto& fx = shared_slapd();
  SECTION("member of a groupOfNames (search mode)") {
    json config = search_config(fx);
    config["admin_group"] = e2e::SlapdFixture::kGroupDn;
    Harness h(config);
    const AuthOutcome alice = h.login("alice", "alice-password-1");
    REQUIRE(alice.kind == Kind::kAccepted);
    REQUIRE(alice.identity.admin.has_value());
    CHECK(*alice.identity.admin);
    // Not a member: accepted (no required_group), and not an admin.
    const AuthOutcome bob = h.login("bob", "bob-password-2");
    REQUIRE(bob.kind == Kind::kAccepted);
    REQUIRE(bob.identity.admin.has_value());
    CHECK_FALSE(*bob.identity.admin);
    // A wrong password is still a plain rejection.
    CHECK(h.login("alice", "wrong-password").kind == Kind::kRejected);
  }
  SECTION("uniqueMember, together with required_group") {
    json config = search_config(fx);
    config["required_group"] = e2e::SlapdFixture::kUniqueGroupDn;
    config["admin_group"] = e2e::SlapdFixture::kUniqueGroupDn;
    config["group_member_attr"] = "uniqueMember";
    Harness h(config);
    const AuthOutcome alice = h.login("alice", "alice-password-1");
    REQUIRE(alice.kind == Kind::kAccepted);
    CHECK(alice.identity.admin == std::optional<bool>(true));
    CHECK(h.login("bob", "bob-password-2").reason == "not_in_group");
  }
  SECTION("memberOf, DN template mode") {
    json config = template_config(fx);
    config["admin_group"] = "CN=Tokend-Users, OU=Groups, DC=Example, DC=Org";
    config["group_member_attr"] = "memberOf";
    Harness h(config);
    CHECK(h.login("alice", "alice-password-1").identity.admin == std::optional<bool>(true));
    CHECK(h.login("bob", "bob-password-2").identity.admin == std::optional<bool>(false));
  }
  SECTION("a group that does not exist makes nobody an admin") {
    json config = search_config(fx);
    config["admin_group"] = "cn=nope,ou=groups,dc=example,dc=org";
    Harness h(config);
    const AuthOutcome alice = h.login("alice", "alice-password-1");
    REQUIRE(alice.kind == Kind::kAccepted);
    CHECK(alice.identity.admin == std::optional<bool>(false));
  }
  SECTION("without admin_group the directory does not manage the role") {
    Harness h(search_config(fx));
    const AuthOutcome alice = h.login("alice", "alice-password-1");
    REQUIRE(alice.kind == Kind::kAccepted);
    CHECK_FALSE(alice.identity.admin.has_value());
  }
}
