// End-to-end: administrators through the real tokend binary. The admin CLI
// (`tokend user add --admin`, `user grant-admin|revoke-admin`, `token
// list|revoke`) on the configured database, with the server up and down; the
// /api/admin/ routes over HTTP (403 for a non-admin, an admin's revoke and
// disable taking effect at once); the LDAP admin_group refreshed at each login
// against a real slapd.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "support/process.hpp"
#include "support/slapd_fixture.hpp"

using e2e::bearer;
using e2e::TokendProcess;
using nlohmann::json;

namespace {

// `tokend <args...> --config <the server's config>`.
e2e::ProcessResult tokend_cli(const TokendProcess& t, std::vector<std::string> args) {
  std::vector<std::string> argv{e2e::binary_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--config");
  argv.push_back(t.config_path());
  return e2e::run_process(argv);
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// The id of the token named `name` in `tokend token list` output; 0 if absent.
long long id_in_list(const std::string& output, const std::string& name) {
  std::size_t start = 0;
  while (start < output.size()) {
    const std::size_t end = output.find('\n', start);
    const std::string line = output.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (contains(line, " " + name + " ")) return std::stoll(line);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return 0;
}

}  // namespace

TEST_CASE("admin CLI: user add --admin, grant-admin, revoke-admin, and /api/user reports the role", "[e2e][admin][cli]") {
  TokendProcess t;
  auto made = t.cli({"add", "root", "--admin"}, "root password 0001\n");
  REQUIRE(made.exit_code == 0);
  CHECK(contains(made.output, "an admin"));
  t.add_user("alice", "alices password");
  const std::string root = t.login("root", "root password 0001");
  const std::string alice = t.login("alice", "alices password");
  CHECK(t.get("/api/user", bearer(root)).json()["admin"] == true);
  CHECK(t.get("/api/user", bearer(alice)).json()["admin"] == false);
  CHECK(t.get("/api/admin/users", bearer(alice)).status == 403);

  // Granted while the server runs: alice's existing token carries it at once.
  auto granted = t.cli({"grant-admin", "Alice"});
  e2e::wait_for_other_writers();  // the CLI is another writer: seen within max_staleness_ms
  REQUIRE(granted.exit_code == 0);
  CHECK(contains(granted.output, "alice is an admin"));
  CHECK(t.get("/api/user", bearer(alice)).json()["admin"] == true);
  CHECK(t.get("/api/admin/users", bearer(alice)).status == 200);
  auto listed = t.cli({"list"});
  REQUIRE(listed.exit_code == 0);
  CHECK(contains(listed.output, "ROLE"));
  auto revoked = t.cli({"revoke-admin", "alice"});
  e2e::wait_for_other_writers();  // the CLI is another writer: seen within max_staleness_ms
  REQUIRE(revoked.exit_code == 0);
  CHECK(t.get("/api/admin/users", bearer(alice)).status == 403);
  CHECK(t.get("/api/user", bearer(alice)).json()["admin"] == false);
  CHECK(t.cli({"grant-admin", "nobody"}).exit_code == 1);
}

TEST_CASE("admin CLI: token list shows no token values; token revoke works with the server down", "[e2e][admin][cli]") {
  TokendProcess t;
  t.add_user("alice", "alices password");
  t.add_user("bob", "bobs password 1");
  auto r1 = t.post("/api/authenticate/userpass", R"({"username":"alice","password":"alices password","name":"ci-one"})");
  auto r2 = t.post("/api/authenticate/userpass", R"({"username":"bob","password":"bobs password 1","name":"bob-tool"})");
  REQUIRE(r1.status == 200);
  REQUIRE(r2.status == 200);
  const std::string alice_token = r1.json()["token"];
  const std::string bob_token = r2.json()["token"];

  auto all = tokend_cli(t, {"token", "list"});
  REQUIRE(all.exit_code == 0);
  CHECK(contains(all.output, "ci-one"));
  CHECK(contains(all.output, "bob-tool"));
  CHECK(contains(all.output, "alice"));
  CHECK_FALSE(contains(all.output, alice_token));
  CHECK_FALSE(contains(all.output, bob_token));
  auto only_bob = tokend_cli(t, {"token", "list", "--user", "BOB"});
  REQUIRE(only_bob.exit_code == 0);
  CHECK(contains(only_bob.output, "bob-tool"));
  CHECK_FALSE(contains(only_bob.output, "ci-one"));
  CHECK(tokend_cli(t, {"token", "list", "--user", "nobody"}).exit_code == 1);

  const long long alice_id = id_in_list(all.output, "ci-one");
  REQUIRE(alice_id > 0);
  // With the server running: revoked within validation_cache.max_staleness_ms.
  auto revoked = tokend_cli(t, {"token", "revoke", std::to_string(alice_id)});
  e2e::wait_for_other_writers();  // the CLI is another writer: seen within max_staleness_ms
  REQUIRE(revoked.exit_code == 0);
  CHECK(contains(revoked.output, "of alice revoked"));
  CHECK(t.get("/api/user", bearer(alice_token)).status == 401);
  auto again = tokend_cli(t, {"token", "revoke", std::to_string(alice_id)});
  CHECK(again.exit_code == 1);
  CHECK(contains(again.output, "no live token"));
  CHECK(tokend_cli(t, {"token", "revoke", "0"}).exit_code == 2);

  // With the server down: still works on the database, and holds after a restart.
  const long long bob_id = id_in_list(all.output, "bob-tool");
  REQUIRE(bob_id > 0);
  REQUIRE(t.terminate() == 0);
  REQUIRE(tokend_cli(t, {"token", "revoke", std::to_string(bob_id)}).exit_code == 0);
  t.restart();
  CHECK(t.get("/api/user", bearer(bob_token)).status == 401);
  auto after = tokend_cli(t, {"token", "list"});
  REQUIRE(after.exit_code == 0);
  CHECK_FALSE(contains(after.output, "bob-tool"));
}

TEST_CASE("admin API over HTTP: 403 for a non-admin, revoke and disable take effect at once", "[e2e][admin]") {
  TokendProcess t;
  REQUIRE(t.cli({"add", "root", "--admin"}, "root password 0001\n").exit_code == 0);
  t.add_user("alice", "alices password");
  const std::string root = t.login("root", "root password 0001");
  const std::string alice = t.login("alice", "alices password");
  const std::string alice2 = t.login("alice", "alices password");

  auto forbidden = t.get("/api/admin/users", bearer(alice));
  CHECK(forbidden.status == 403);
  CHECK(forbidden.body == R"({"error":"forbidden","message":"This needs the admin role."})");
  CHECK(t.get("/api/admin/users").status == 401);

  auto users = t.get("/api/admin/users?search=ali", bearer(root));
  REQUIRE(users.status == 200);
  REQUIRE(users.json()["users"].size() == 1);
  const long long alice_id = users.json()["users"][0]["id"];
  auto tokens = t.get("/api/admin/users/" + std::to_string(alice_id) + "/tokens", bearer(root));
  REQUIRE(tokens.status == 200);
  REQUIRE(tokens.json()["tokens"].size() == 2);
  CHECK_FALSE(contains(tokens.body, alice));
  const long long token_id = tokens.json()["tokens"][0]["id"];
  auto del = e2e::http(t.port(), "DELETE", "/api/admin/tokens/" + std::to_string(token_id), "", bearer(root));
  CHECK(del.status == 204);
  // Exactly one of alice's two tokens stopped working.
  const int live = (t.get("/api/user", bearer(alice)).status == 200) + (t.get("/api/user", bearer(alice2)).status == 200);
  CHECK(live == 1);

  auto disabled = t.post("/api/admin/users/" + std::to_string(alice_id) + "/disable", "", bearer(root));
  REQUIRE(disabled.status == 200);
  CHECK(disabled.json()["user"]["disabled"] == true);
  CHECK(t.get("/api/user", bearer(alice)).status == 401);
  CHECK(t.get("/api/user", bearer(alice2)).status == 401);
  CHECK(t.post("/api/authenticate/userpass", R"({"username":"alice","password":"alices password"})").status == 401);
  auto log = t.log();
  CHECK(contains(log, "admin: account.disabled user=alice by admin=root"));
  CHECK_FALSE(contains(log, alice));
}

TEST_CASE("LDAP admin_group: the role follows the directory group at each login", "[e2e][admin][ldap]") {
  e2e::SlapdFixture fx;
  json ldap = {{"type", "ldap"},
               {"url", fx.ldaps_url()},
               {"ca_file", fx.ca_file()},
               {"bind_dn", e2e::SlapdFixture::kReaderDn},
               {"bind_password", e2e::SlapdFixture::kReaderPassword},
               {"base_dn", e2e::SlapdFixture::kSuffix},
               {"user_filter", "(&(objectClass=inetOrgPerson)(uid={username}))"},
               {"admin_group", e2e::SlapdFixture::kGroupDn}};
  TokendProcess t(json{{"auth", {{"userpass", {{"type", "userpass"}}}, {"ldap", ldap}}}});
  auto alice = t.post("/api/authenticate/ldap", "username=alice&password=alice-password-1",
                      {{"Content-Type", "application/x-www-form-urlencoded"}});
  REQUIRE(alice.status == 200);
  const std::string alice_token = alice.json()["token"];
  CHECK(t.get("/api/user", bearer(alice_token)).json()["admin"] == true);
  CHECK(t.get("/api/admin/users", bearer(alice_token)).status == 200);
  auto bob = t.post("/api/authenticate/ldap", "username=bob&password=bob-password-2",
                    {{"Content-Type", "application/x-www-form-urlencoded"}});
  REQUIRE(bob.status == 200);
  const std::string bob_token = bob.json()["token"];
  CHECK(t.get("/api/user", bearer(bob_token)).json()["admin"] == false);
  CHECK(t.get("/api/admin/users", bearer(bob_token)).status == 403);

  // A role granted by the CLI to a directory account is taken back at its
  // next login: the directory decides.
  REQUIRE(t.cli({"grant-admin", "bob"}).exit_code == 0);
  e2e::wait_for_other_writers();  // the CLI is another writer: seen within max_staleness_ms
  CHECK(t.get("/api/admin/users", bearer(bob_token)).status == 200);
  REQUIRE(t.post("/api/authenticate/ldap", "username=bob&password=bob-password-2",
                 {{"Content-Type", "application/x-www-form-urlencoded"}})
              .status == 200);
  CHECK(t.get("/api/admin/users", bearer(bob_token)).status == 403);
  CHECK(contains(t.log(), "admin role withdrawn: method=ldap user=bob"));
}
