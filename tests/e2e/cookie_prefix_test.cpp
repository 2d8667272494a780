// End-to-end: the session cookie's "__Host-" prefix on Secure deployments
// (TLS listener, or sessions.behind_tls_proxy): the name set, the attributes a
// browser requires of it, and that only that name is read back, so a cookie
// planted without the prefix (cookie tossing from a sibling domain or a
// plain-HTTP page) is never a session.
#include <catch2/catch.hpp>
#include <stdlib.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "support/process.hpp"

using e2e::TokendProcess;
using nlohmann::json;

namespace {

const std::string kPrefixed = "__Host-tokend_session";

// Signs in with POST /api/login and returns the Set-Cookie header.
std::string sign_in(TokendProcess& t, const std::string& user, const std::string& password) {
  auto r = t.post("/api/login", json{{"username", user}, {"password", password}}.dump());
  REQUIRE(r.status == 200);
  return r.header("set-cookie");
}

// "name=value" of a Set-Cookie header.
std::string pair_of(const std::string& set_cookie) { return set_cookie.substr(0, set_cookie.find(';')); }
std::string value_of(const std::string& set_cookie) {
  const std::string p = pair_of(set_cookie);
  return p.substr(p.find('=') + 1);
}

bool has_domain(const std::string& set_cookie) {
  std::string lower = set_cookie;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.find("domain") != std::string::npos;
}

// What tokend said when it refused to start (stderr and its log file).
std::string startup_output(const TokendProcess& t) {
  std::ifstream err(t.dir() + "/stderr.log");
  std::stringstream ss;
  ss << err.rdbuf();
  return ss.str() + t.log();
}

}  // namespace

TEST_CASE("behind a TLS proxy the session cookie is __Host- and only that name is accepted",
          "[e2e][session][security]") {
  TokendProcess t(json{{"sessions", {{"behind_tls_proxy", true}}}});
  t.add_user("alice", "alices password");
  t.add_user("mallory", "mallorys password");
  const std::string set = sign_in(t, "alice", "alices password");
  INFO(set);
  REQUIRE(set.rfind(kPrefixed + "=", 0) == 0);
  CHECK(set.find("; Secure") != std::string::npos);
  CHECK(set.find("; Path=/;") != std::string::npos);
  CHECK_FALSE(has_domain(set));
  const std::string value = value_of(set);
  REQUIRE(value.size() == 64);

  // The prefixed cookie is a session, for reading and for the token exchange.
  auto s = t.get("/api/session", {{"Cookie", kPrefixed + "=" + value}});
  REQUIRE(s.status == 200);
  CHECK(s.json()["user"]["username"] == "alice");
  CHECK(t.post("/api/token", "", {{"Cookie", kPrefixed + "=" + value}}).status == 200);

  SECTION("the same valid value under the unprefixed name is not accepted") {
    auto plain = t.get("/api/session", {{"Cookie", "tokend_session=" + value}});
    CHECK(plain.status == 401);
    CHECK(plain.json()["error"] == "unauthenticated");
    CHECK(t.post("/api/token", "", {{"Cookie", "tokend_session=" + value}}).status == 401);
  }
  SECTION("a tossed unprefixed cookie cannot swap the victim's session for the attacker's") {
    // Mallory's own valid session, planted under the plain name (what a
    // sibling domain could set), sent first next to Alice's real cookie.
    const std::string mallory = value_of(sign_in(t, "mallory", "mallorys password"));
    auto both = t.get("/api/session", {{"Cookie", "tokend_session=" + mallory + "; " + kPrefixed + "=" + value}});
    REQUIRE(both.status == 200);
    CHECK(both.json()["user"]["username"] == "alice");
    CHECK(t.get("/api/session", {{"Cookie", "tokend_session=" + mallory}}).status == 401);
  }
  SECTION("logout deletes the prefixed cookie, with the same attributes") {
    auto out = t.post("/api/logout", "", {{"Cookie", kPrefixed + "=" + value}});
    CHECK(out.status == 204);
    const std::string cleared = out.header("set-cookie");
    CHECK(cleared.rfind(kPrefixed + "=;", 0) == 0);
    CHECK(cleared.find("; Secure") != std::string::npos);
    CHECK(cleared.find("; Path=/;") != std::string::npos);
    CHECK_FALSE(has_domain(cleared));
    CHECK(t.get("/api/session", {{"Cookie", kPrefixed + "=" + value}}).status == 401);  // really ended
  }
}

TEST_CASE("plain HTTP keeps the unprefixed cookie name (curl, the browser tests)", "[e2e][session][security]") {
  TokendProcess t(json{{"sessions", {{"cookie_name", "sid"}}}});
  t.add_user("alice", "alices password");
  const std::string set = sign_in(t, "alice", "alices password");
  REQUIRE(set.rfind("sid=", 0) == 0);
  CHECK(set.find("Secure") == std::string::npos);
  const std::string value = value_of(set);
  CHECK(t.get("/api/session", {{"Cookie", "sid=" + value}}).status == 200);
  // Only the configured name is read: a browser would never keep a __Host-
  // cookie set over plain HTTP, so that name means nothing here.
  CHECK(t.get("/api/session", {{"Cookie", "__Host-sid=" + value}}).status == 401);
}

TEST_CASE("a __Host- cookie name needs Secure cookies, else tokend refuses to start", "[e2e][session][security]") {
  TokendProcess t(json{{"sessions", {{"cookie_name", "__Host-sid"}}}}, /*start_now=*/false);
  REQUIRE_THROWS(t.start());
  REQUIRE_THROWS(t.start());
  CHECK(startup_output(t).find("sessions.cookie_name") != std::string::npos);
}

TEST_CASE("the TLS listener sets and accepts only the __Host- session cookie", "[e2e][session][security]") {
  char tmpl[] = "/tmp/tokend-tls-XXXXXX";
  REQUIRE(mkdtemp(tmpl));
  const std::string d = tmpl;
  auto made = e2e::run_shell("cd " + d +
                             " && openssl req -x509 -newkey rsa:2048 -nodes -keyout key.pem -out cert.pem -days 2 "
                             "-subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1");
  REQUIRE(made.exit_code == 0);
  TokendProcess t(json{{"tls", {{"enabled", true}, {"cert_file", d + "/cert.pem"}, {"key_file", d + "/key.pem"}}}});
  t.add_user("alice", "alices password");
  const std::string base = "https://127.0.0.1:" + std::to_string(t.port());
  const std::string curl = "curl -s -i --max-time 20 --cacert " + d + "/cert.pem ";

  auto login = e2e::run_shell(curl + "--data \"username=alice&password=alices password\" " + base + "/api/login");
  REQUIRE(login.output.find("HTTP/1.1 200 OK") != std::string::npos);
  const auto at = login.output.find("\r\nSet-Cookie: " + kPrefixed + "=");
  REQUIRE(at != std::string::npos);
  const std::string set = login.output.substr(at + 14, login.output.find("\r\n", at + 2) - at - 14);
  INFO(set);
  CHECK(set.find("; Secure") != std::string::npos);
  CHECK(set.find("; Path=/;") != std::string::npos);
  CHECK_FALSE(has_domain(set));
  const std::string value = value_of(set);

  auto with = e2e::run_shell(curl + "--cookie \"" + kPrefixed + "=" + value + "\" " + base + "/api/session");
  CHECK(with.output.find("HTTP/1.1 200 OK") != std::string::npos);
  auto without = e2e::run_shell(curl + "--cookie \"tokend_session=" + value + "\" " + base + "/api/session");
  CHECK(without.output.find("HTTP/1.1 401 Unauthorized") != std::string::npos);
  std::filesystem::remove_all(d);
}
