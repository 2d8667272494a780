// End-to-end: the per-username throttle counts LDAP attempts on the entry the
// directory found, not on the spelling typed (issue 13), against the real
// binary and a throwaway slapd.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "support/process.hpp"
#include "support/slapd_fixture.hpp"

using e2e::SlapdFixture;
using e2e::TokendProcess;
using nlohmann::json;

TEST_CASE("LDAP: look-alike spellings of one account share one throttle count", "[e2e][ldap][throttle]") {
  SlapdFixture fx;
  const std::string alice_dn = "uid=alice,ou=people,dc=example,dc=org";
  json ldap = {{"type", "ldap"},
               {"url", fx.ldaps_url()},
               {"ca_file", fx.ca_file()},
               {"bind_dn", SlapdFixture::kReaderDn},
               {"bind_password", SlapdFixture::kReaderPassword},
               {"base_dn", SlapdFixture::kSuffix},
               {"user_filter", "(&(objectClass=inetOrgPerson)(uid={username}))"}};
  // Per address off: only the per-username rule can stop these attempts.
  TokendProcess t(json{{"auth", {{"ldap", ldap}}},
                       {"throttle", {{"per_username", {{"max_failures", 3}, {"window_s", 300}}},
                                     {"per_address", {{"max_failures", 0}}}}}});

  // Spellings tokend's own normalisation (trim, ASCII lower case) keeps
  // apart but the directory's caseIgnoreMatch folds to "alice": full-width
  // letters in different places.
  const std::vector<std::string> spellings = {
      "\xEF\xBD\x81lice",                                      // ａlice
      "a\xEF\xBD\x8C" "ice",                                   // aｌice
      "al\xEF\xBD\x89" "ce",                                   // alｉce
      "ali\xEF\xBD\x83" "e",                                   // aliｃe
      "alic\xEF\xBD\x85",                                      // alicｅ
      "\xEF\xBD\x81\xEF\xBD\x8C\xEF\xBD\x89\xEF\xBD\x83\xEF\xBD\x85",  // ａｌｉｃｅ
  };
  // The premise: the directory really finds alice under such a spelling.
  const int binds_before = fx.binds_as(alice_dn);
  auto found = t.post("/api/authenticate/ldap",
                      json{{"username", spellings[0]}, {"password", "alice-password-1"}}.dump());
  REQUIRE(found.status == 200);
  REQUIRE(fx.binds_as(alice_dn) == binds_before + 1);

  int unauthorized = 0;
  int throttled = 0;
  for (const auto& s : spellings) {
    auto r = t.post("/api/authenticate/ldap", json{{"username", s}, {"password", "not-her-password"}}.dump());
    if (r.status == 401) ++unauthorized;
    if (r.status == 429) {
      ++throttled;
      CHECK(r.json()["error"] == "too_many_attempts");
      CHECK(!r.header("retry-after").empty());
    }
  }
  CHECK(unauthorized == 3);
  CHECK(throttled == 3);
  // Only three wrong passwords ever reached the directory as binds.
  CHECK(fx.binds_as(alice_dn) == binds_before + 1 + 3);
  // Every spelling is locked now, the plain one and the right password too.
  CHECK(t.post("/api/authenticate/ldap", R"({"username":"alice","password":"alice-password-1"})").status == 429);
  CHECK(t.post("/api/authenticate/ldap", json{{"username", spellings[3]}, {"password", "alice-password-1"}}.dump())
            .status == 429);
  CHECK(fx.binds_as(alice_dn) == binds_before + 1 + 3);
  // Another account is not affected.
  CHECK(t.post("/api/authenticate/ldap", R"({"username":"bob","password":"bob-password-2"})").status == 200);
}

TEST_CASE("a success on one method never clears the failures counted against another method's account",
          "[e2e][ldap][throttle]") {
  // A local account "alice" and a directory entry "alice" are two accounts
  // with two passwords. Someone who knows the directory password must not be
  // able to reset the count of guesses against the local one by signing in
  // through the directory between guesses (found in review).
  SlapdFixture fx;
  json ldap = {{"type", "ldap"},
               {"url", fx.ldaps_url()},
               {"ca_file", fx.ca_file()},
               {"bind_dn", SlapdFixture::kReaderDn},
               {"bind_password", SlapdFixture::kReaderPassword},
               {"base_dn", SlapdFixture::kSuffix},
               {"user_filter", "(&(objectClass=inetOrgPerson)(uid={username}))"}};
  TokendProcess t(json{{"auth", {{"userpass", {{"type", "userpass"}}}, {"ldap", ldap}}},
                       {"throttle", {{"per_username", {{"max_failures", 3}, {"window_s", 300}}},
                                     {"per_address", {{"max_failures", 0}}}}}});
  t.add_user("alice", "the local password");
  const auto wrong_local = [&] {
    return t.post("/api/authenticate/userpass", json{{"username", "alice"}, {"password", "a guess"}}.dump());
  };
  REQUIRE(wrong_local().status == 401);
  REQUIRE(wrong_local().status == 401);
  // The directory's alice signs in: her own count is cleared, not the local one's.
  REQUIRE(t.post("/api/authenticate/ldap", json{{"username", "alice"}, {"password", "alice-password-1"}}.dump())
              .status == 200);
  CHECK(wrong_local().status == 401);  // the third failure of the local account
  auto throttled = wrong_local();
  CHECK(throttled.status == 429);
  CHECK(throttled.json()["error"] == "too_many_attempts");
  // Even the right local password waits now; the directory account is not
  // held back by the local one's failures.
  CHECK(t.post("/api/authenticate/userpass", json{{"username", "alice"}, {"password", "the local password"}}.dump())
            .status == 429);
  CHECK(t.post("/api/authenticate/ldap", json{{"username", "alice"}, {"password", "alice-password-1"}}.dump())
            .status == 200);
}
