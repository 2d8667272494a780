// End-to-end: username/password tokens, token use, listing and revocation,
// against the real binary.
#include <catch2/catch.hpp>

#include "support/process.hpp"

using e2e::bearer;
using e2e::is_token;
using e2e::TokendProcess;

TEST_CASE("the seed's userpass curl line returns a token", "[e2e][userpass]") {
  TokendProcess t;
  t.add_user("alice", "correct horse battery", "alice@example.org", "Alice Example");
  // Verbatim shape of the original API page's example.
  auto r = e2e::run_shell("curl -s -i --data \"username=alice&password=correct horse battery\" " + t.base_url() +
                          "/api/authenticate/userpass");
  REQUIRE(r.exit_code == 0);
  CHECK(r.output.find("HTTP/1.1 200 OK") != std::string::npos);
  const auto body = nlohmann::json::parse(r.output.substr(r.output.find("\r\n\r\n") + 4));
  REQUIRE(is_token(body["token"].get<std::string>()));
  const std::string expires = body["expiresOn"].get<std::string>();
  CHECK(expires.size() == 24);
  CHECK(expires.back() == 'Z');
  CHECK(expires[10] == 'T');
}

TEST_CASE("a token identifies its account on GET /api/user", "[e2e][userpass]") {
  TokendProcess t;
  t.add_user("Alice", "correct horse battery", "alice@example.org", "Alice Example");
  const std::string token = t.login(" ALICE ", "correct horse battery");  // normalised: one account
  for (const std::string scheme : {"Bearer", "bearer", "token", "TOKEN"}) {
    auto r = t.get("/api/user", {{"Authorization", scheme + " " + token}});
    REQUIRE(r.status == 200);
    auto j = r.json();
    CHECK(j["username"] == "alice");
    CHECK(j["email"] == "alice@example.org");
    CHECK(j["displayName"] == "Alice Example");
    CHECK(j["authenticatedWith"] == "userpass");
  }
  SECTION("bad tokens and malformed headers are 401") {
    for (const auto& h : std::vector<std::map<std::string, std::string>>{
             {},
             {{"Authorization", "Bearer"}},
             {{"Authorization", "Basic " + token}},
             {{"Authorization", "Bearer " + std::string(256, 'a')}},
             {{"Authorization", "Bearer " + token.substr(1)}},
             {{"Authorization", "Bearer " + token + " extra"}}}) {
      auto r = t.get("/api/user", h);
      CHECK(r.status == 401);
      CHECK(r.json()["error"] == "unauthenticated");
    }
  }
  SECTION("a token in the query string is not accepted") {
    CHECK(t.get("/api/user?token=" + token).status == 401);
    CHECK(t.get("/api/user?access_token=" + token).status == 401);
  }
}
