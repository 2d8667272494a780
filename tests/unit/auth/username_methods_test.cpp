// Usernames are account keys: every method (userpass, ldap, github, gitlab,
// oidc) must turn the same spelling into the same key, through the one rule
// of tokend/auth/username.hpp. Each method runs for real here, over one table
// of spellings: a local account in SQLite, entries in a throwaway slapd, and
// the fake GitHub / GitLab / OIDC provider (token tok-name-<hex>).
#include <openssl/evp.h>

#include <catch2/catch.hpp>

#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "e2e/support/slapd_fixture.hpp"
#include "tokend/auth/ldap/ldap_authenticator.hpp"
#include "tokend/auth/oauth/github_authenticator.hpp"
#include "tokend/auth/oauth/gitlab_authenticator.hpp"
#include "tokend/auth/oauth/oidc_authenticator.hpp"
#include "tokend/auth/username.hpp"
#include "tokend/auth/userpass/userpass_authenticator.hpp"
#include "tokend/store/sqlite/sqlite_store.hpp"
#include "unit/auth/oauth/oauth_test_support.hpp"
#include "unit/support/temp_dir.hpp"

using nlohmann::json;
using tokend::auth::AuthOutcome;
using tokend::auth::normalize_username;

namespace {

struct Spelling {
  std::string typed;  // as a user, a directory or a provider writes it
  std::string key;    // the one account key every method must make of it
};

// Leading and trailing spaces and tabs (and CR, LF, VT, FF), mixed case, and
// UTF-8, which is kept byte for byte (only A-Z fold).
const std::vector<Spelling> kSpellings = {
    {"alice", "alice"},
    {"  Alice  ", "alice"},
    {"\tALICE\t", "alice"},
    {" \t MiXeD.Case-User_1 \r\n", "mixed.case-user_1"},
    {"\v\fBob\f", "bob"},
    {"Alice Smith ", "alice smith"},
    {"J\xC3\x9CRGEN", "j\xC3\x9Crgen"},            // "JÜRGEN": the Ü stays
    {" \xC3\x89lodie\t", "\xC3\x89lodie"},         // "Élodie": not folded to "élodie"
    {"\xE5\xB1\xB1\xE7\x94\xB0", "\xE5\xB1\xB1\xE7\x94\xB0"},  // "山田"
};

std::string hex(const std::string& s) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out += kHex[c >> 4];
    out += kHex[c & 0x0f];
  }
  return out;
}

std::string base64(const std::string& s) {
  std::string out(4 * ((s.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

}  // namespace

TEST_CASE("normalize_username: the documented rule on the shared table", "[auth][username]") {
  for (const auto& s : kSpellings) {
    INFO("typed: " << hex(s.typed));
    CHECK(normalize_username(s.typed) == s.key);
  }
}

TEST_CASE("userpass: every spelling signs in to the account of its key", "[auth][username][userpass]") {
  tokend::testing::TempDir dir;
  tokend::config::PasswordConfig cheap;
  cheap.memory_kib = 64;
  cheap.iterations = 1;
  cheap.parallelism = 1;
  tokend::auth::PasswordHasher hasher(cheap);
  tokend::config::DatabaseConfig db;
  db.path = dir.file("tokend.db");
  auto store = tokend::store::sqlite::SqliteStore::open(db);
  REQUIRE(store.ok());
  tokend::auth::UserpassAuthenticator auth("userpass", "Password", **store, hasher);
  auto phc = hasher.hash("password-1");
  REQUIRE(phc.ok());
  std::set<std::string> made;
  for (const auto& s : kSpellings) {
    if (!made.insert(s.key).second) continue;
    tokend::store::NewUser u;
    u.username = s.key;
    u.email = hex(s.key) + "@example.org";
    u.password_hash = *phc;
    REQUIRE((*store)->create_user(u).ok());
  }
  for (const auto& s : kSpellings) {
    INFO("typed: " << hex(s.typed));
    tokend::auth::AuthRequest r;
    r.username = s.typed;
    r.password = "password-1";
    const AuthOutcome out = auth.authenticate(r);
    REQUIRE(out.kind == AuthOutcome::Kind::kAccepted);
    CHECK(out.identity.username == s.key);
  }
}

TEST_CASE("ldap: the entry's username attribute becomes the same key", "[auth][username][ldap][slapd]") {
  e2e::SlapdFixture fx;
  std::string ldif;
  for (std::size_t i = 0; i < kSpellings.size(); ++i) {
    const std::string uid = "spelling" + std::to_string(i);
    ldif += "dn: uid=" + uid + ",ou=people,dc=example,dc=org\nchangetype: add\nobjectClass: inetOrgPerson\n"
            "uid: " + uid + "\ncn: " + uid + "\nsn: " + uid + "\ndisplayName:: " + base64(kSpellings[i].typed) +
            "\nuserPassword: password-1\n\n";
  }
  fx.modify(ldif);
  tokend::metrics::Metrics metrics;
  auto settings = tokend::auth::ldap::parse_ldap_settings(
      "ldap", json{{"type", "ldap"},
                   {"url", fx.ldap_url()},
                   {"start_tls", true},
                   {"ca_file", fx.ca_file()},
                   {"user_dn_template", "uid={username},ou=people,dc=example,dc=org"},
                   {"username_attr", "displayName"}});
  REQUIRE(settings.ok());
  tokend::auth::ldap::LdapAuthenticator auth("ldap", std::move(settings).value(), metrics);
  for (std::size_t i = 0; i < kSpellings.size(); ++i) {
    INFO("typed: " << hex(kSpellings[i].typed));
    tokend::auth::AuthRequest r;
    r.username = "spelling" + std::to_string(i);
    r.password = "password-1";
    const AuthOutcome out = auth.authenticate(r);
    REQUIRE(out.kind == AuthOutcome::Kind::kAccepted);
    CHECK(out.identity.username == kSpellings[i].key);
  }
}

TEST_CASE("github, gitlab, oidc: the provider's name becomes the same key", "[auth][username][github][gitlab][oidc]") {
  e2e::FakeProvider fake;
  oauth_test::Context ctx;
  auto github_settings = oauth_test::base_settings(fake, "github");
  github_settings["api_url"] = fake.base_url();
  auto gitlab_settings = oauth_test::base_settings(fake, "gitlab");
  gitlab_settings["base_url"] = fake.base_url();
  auto oidc_settings = oauth_test::base_settings(fake, "oidc");
  oidc_settings["issuer"] = fake.base_url() + "/realms/test";
  auto github = oauth_test::make(tokend::auth::oauth::make_github_authenticator, ctx, "github", github_settings);
  auto gitlab = oauth_test::make(tokend::auth::oauth::make_gitlab_authenticator, ctx, "gitlab", gitlab_settings);
  auto oidc = oauth_test::make(tokend::auth::oauth::make_oidc_authenticator, ctx, "oidc", oidc_settings);
  for (const auto& s : kSpellings) {
    const std::string token = "tok-name-" + hex(s.typed);
    struct Method {
      const char* name;
      tokend::auth::Authenticator& auth;
      const char* email;
    };
    for (const Method& m : {Method{"github", *github, "alice@example.com"},
                            Method{"gitlab", *gitlab, "alice@second.example"},
                            Method{"oidc", *oidc, "alice@example.com"}}) {
      INFO(m.name << ", typed: " << hex(s.typed));
      const AuthOutcome out = m.auth.authenticate(oauth_test::request(m.email, token));
      REQUIRE(out.kind == AuthOutcome::Kind::kAccepted);
      CHECK(out.identity.username == s.key);
    }
  }
}
