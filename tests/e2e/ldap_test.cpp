// End-to-end: LDAP sign-in through the real tokend binary against a real,
// throwaway slapd (support/slapd_fixture.hpp): the seed's curl line, account
// creation and refresh, the one generic 401, a directory that is down or
// hangs, and the browser sign-in with method=ldap.
#include <catch2/catch.hpp>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <future>
#include <string>
#include <thread>

#include "support/process.hpp"
#include "support/slapd_fixture.hpp"

using e2e::bearer;
using e2e::is_token;
using e2e::SlapdFixture;
using e2e::TokendProcess;
using nlohmann::json;

namespace {

const std::string kAliceDn = "uid=alice,ou=people,dc=example,dc=org";
const std::string kInvalidCredentials =
    R"({"error":"invalid_credentials","message":"Invalid credentials."})";

// Search-then-bind over ldaps://, the recommended setup.
json search_settings(const SlapdFixture& fx) {
  return {{"type", "ldap"},
          {"url", fx.ldaps_url()},
          {"ca_file", fx.ca_file()},
          {"bind_dn", SlapdFixture::kReaderDn},
          {"bind_password", SlapdFixture::kReaderPassword},
          {"base_dn", SlapdFixture::kSuffix},
          {"user_filter", "(&(objectClass=inetOrgPerson)(uid={username}))"}};
}

// DN template over StartTLS.
json template_settings(const SlapdFixture& fx) {
  return {{"type", "ldap"},
          {"url", fx.ldap_url()},
          {"start_tls", true},
          {"ca_file", fx.ca_file()},
          {"user_dn_template", "uid={username},ou=people,dc=example,dc=org"}};
}

json config_with(const json& methods) {
  json auth = {{"userpass", {{"type", "userpass"}}}};
  auth.update(methods);
  return {{"auth", auth}};
}

// Runs a shell command line as it is and returns its standard output
// (curl's progress meter on stderr goes to the test's stderr).
std::string shell_stdout(const std::string& command) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  REQUIRE(::pclose(p) == 0);
  return out;
}

// application/x-www-form-urlencoded value.
std::string form_encode(const std::string& s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out += '%';
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

json whoami(TokendProcess& t, const std::string& token) {
  auto r = t.get("/api/user", bearer(token));
  REQUIRE(r.status == 200);
  return r.json();
}

std::string ldap_login(TokendProcess& t, const std::string& method, const std::string& username,
                       const std::string& password) {
  auto r = t.post("/api/authenticate/" + method,
                  json{{"username", username}, {"password", password}}.dump());
  REQUIRE(r.status == 200);
  return r.json()["token"].get<std::string>();
}

// What tokend said when it refused to start (stderr and its log file).
std::string startup_output(const TokendProcess& t) {
  return e2e::slapd_detail::read_file(t.dir() + "/stderr.log") + t.log();
}

// A form post, like curl --data.
e2e::Response post_form(TokendProcess& t, const std::string& target, const std::string& body) {
  return t.post(target, body, {{"Content-Type", "application/x-www-form-urlencoded"}});
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

TEST_CASE("the seed's LDAP curl line returns a token and creates the account", "[e2e][ldap]") {
  SlapdFixture fx;
  TokendProcess t(config_with({{"ldap", search_settings(fx)}}));

  // The original API page's line, verbatim in shape.
  const std::string out =
      shell_stdout("curl -i --data \"username=alice&password=alice-password-1\" " + t.base_url() +
                   "/api/authenticate/ldap");
  REQUIRE(out.rfind("HTTP/1.1 200 OK", 0) == 0);
  const auto body = json::parse(out.substr(out.find("\r\n\r\n") + 4));
  const std::string token = body["token"].get<std::string>();
  REQUIRE(is_token(token));
  CHECK(body["expiresOn"].get<std::string>().back() == 'Z');

  // No registration beforehand: the account was made from the directory.
  const json me = whoami(t, token);
  CHECK(me["username"] == "alice");
  CHECK(me["email"] == "alice@example.org");
  CHECK(me["displayName"] == "Alice Liddell");
  CHECK(me["authenticatedWith"] == "ldap");
  REQUIRE(t.cli({"list"}).output.find("alice") != std::string::npos);

  SECTION("a later login refreshes the attributes changed in the directory") {
    fx.modify("dn: " + kAliceDn +
              "\nchangetype: modify\nreplace: mail\nmail: alice.liddell@example.org\n"
              "-\nreplace: cn\ncn: Alice P. Liddell\n");
    const json again = whoami(t, ldap_login(t, "ldap", "ALICE", "alice-password-1"));
    CHECK(again["id"] == me["id"]);  // the same local account
    CHECK(again["username"] == "alice");
    CHECK(again["email"] == "alice.liddell@example.org");
    CHECK(again["displayName"] == "Alice P. Liddell");
  }
  SECTION("the first token still works and other users get their own account") {
    const json bob = whoami(t, ldap_login(t, "ldap", "bob", "bob-password-2"));
    CHECK(bob["username"] == "bob");
    CHECK(bob["id"] != me["id"]);
    CHECK(whoami(t, token)["username"] == "alice");
  }
  SECTION("metrics count LDAP logins; the log never holds a password") {
    CHECK(
        post_form(t, "/api/authenticate/ldap", "username=alice&password=wrong-password-5").status ==
        401);
    const std::string metrics = t.get("/metrics").body;
    CHECK(metrics.find("tokend_ldap_logins_total{result=\"success\"} 1") != std::string::npos);
    CHECK(metrics.find("tokend_ldap_logins_total{result=\"rejected\"} 1") != std::string::npos);
    const std::string log = t.log();
    CHECK(log.find("alice") != std::string::npos);
    for (const char* secret :
         {"alice-password-1", "wrong-password-5", SlapdFixture::kReaderPassword}) {
      CHECK(log.find(secret) == std::string::npos);
    }
  }
}

TEST_CASE("LDAP: wrong password, unknown user and not in group get one 401", "[e2e][ldap]") {
  SlapdFixture fx;
  json staff = template_settings(fx);
  staff["required_group"] = SlapdFixture::kGroupDn;
  TokendProcess t(config_with({{"ldap", search_settings(fx)}, {"staff", staff}}));

  for (const std::string method : {"ldap", "staff"}) {
    INFO(method);
    auto wrong =
        post_form(t, "/api/authenticate/" + method, "username=alice&password=not-her-password");
    auto unknown =
        post_form(t, "/api/authenticate/" + method, "username=mallory&password=not-her-password");
    auto injected =
        post_form(t, "/api/authenticate/" + method, "username=*&password=alice-password-1");
    for (const auto* r : {&wrong, &unknown, &injected}) {
      CHECK(r->status == 401);
      CHECK(r->body == kInvalidCredentials);
    }
  }
  // Bob's password is right, but he is not in the group that "staff" requires.
  CHECK(post_form(t, "/api/authenticate/ldap", "username=bob&password=bob-password-2").status ==
        200);
  auto not_in_group =
      post_form(t, "/api/authenticate/staff", "username=bob&password=bob-password-2");
  CHECK(not_in_group.status == 401);
  CHECK(not_in_group.body == kInvalidCredentials);
  CHECK(
      post_form(t, "/api/authenticate/staff", "username=alice&password=alice-password-1").status ==
      200);

  SECTION("an empty password is refused without a bind reaching the directory") {
    const int binds = fx.binds_as(kAliceDn);
    auto empty = post_form(t, "/api/authenticate/staff", "username=alice&password=");
    CHECK(empty.status == 401);
    CHECK(empty.body == kInvalidCredentials);
    CHECK(fx.binds_as(kAliceDn) == binds);
    // The counter does see real binds.
    CHECK(post_form(t, "/api/authenticate/staff", "username=alice&password=alice-password-1")
              .status == 200);
    CHECK(fx.binds_as(kAliceDn) == binds + 1);
  }
  SECTION("a uid made of special characters signs in; near misses do not") {
    const std::string uid = SlapdFixture::kSpecialUid;
    for (const std::string method : {"ldap", "staff"}) {
      INFO(method);
      auto r = post_form(t, "/api/authenticate/" + method,
                         "username=" + form_encode(uid) + "&password=special-password-3");
      REQUIRE(r.status == 200);
      // Each authenticator links its own account; the second one to claim
      // the name gets a suffix from the store ("...@staff").
      const std::string username = whoami(t, r.json()["token"].get<std::string>())["username"];
      CHECK(username.rfind(uid, 0) == 0);
      if (method == "ldap") CHECK(username == uid);
      CHECK(post_form(t, "/api/authenticate/" + method,
                      "username=" + form_encode("j\\doe(x)") + "&password=special-password-3")
                .status == 401);
    }
  }
  SECTION("repeated failures share the core's throttle") {
    int last = 0;
    for (int i = 0; i < 8 && last != 429; ++i) {
      last =
          post_form(t, "/api/authenticate/ldap", "username=bob&password=wrong-" + std::to_string(i))
              .status;
    }
    CHECK(last == 429);
  }
}

TEST_CASE("LDAP: a directory that is down gives 503 and the server keeps serving", "[e2e][ldap]") {
  SlapdFixture fx;
  json down = search_settings(fx);
  down["url"] = "ldaps://127.0.0.1:" + std::to_string(e2e::closed_port());
  TokendProcess t(config_with({{"ldap", down}, {"live", search_settings(fx)}}));

  const auto start = std::chrono::steady_clock::now();
  auto r = post_form(t, "/api/authenticate/ldap", "username=alice&password=alice-password-1");
  CHECK(seconds_since(start) < 2.0);
  CHECK(r.status == 503);
  CHECK(r.json()["error"] == "upstream_unavailable");
  CHECK(t.get("/healthz").status == 200);
  CHECK(post_form(t, "/api/authenticate/live", "username=alice&password=alice-password-1").status ==
        200);

  SECTION("the directory stops and comes back: 503, then 200 again") {
    fx.stop();
    CHECK(
        post_form(t, "/api/authenticate/live", "username=alice&password=alice-password-1").status ==
        503);
    CHECK(t.get("/healthz").status == 200);
    fx.start();
    CHECK(
        post_form(t, "/api/authenticate/live", "username=alice&password=alice-password-1").status ==
        200);
  }
}

TEST_CASE("LDAP: a directory that never answers gives 504 within the timeout", "[e2e][ldap]") {
  SlapdFixture fx;
  e2e::SilentServer silent;
  json hung = search_settings(fx);
  hung["url"] = "ldaps://127.0.0.1:" + std::to_string(silent.port());
  hung["connect_timeout_ms"] = 1000;
  hung["operation_timeout_ms"] = 1000;
  TokendProcess t(config_with({{"ldap", hung}, {"live", search_settings(fx)}}));

  const auto start = std::chrono::steady_clock::now();
  auto pending = std::async(std::launch::async, [&] {
    return post_form(t, "/api/authenticate/ldap", "username=alice&password=alice-password-1");
  });
  // Wait until tokend has connected to the silent directory: the login is
  // now stuck there. Everything else answers at once meanwhile, LDAP logins
  // included.
  REQUIRE(silent.wait_connected(5000));
  const auto health_start = std::chrono::steady_clock::now();
  CHECK(t.get("/healthz").status == 200);
  CHECK(post_form(t, "/api/authenticate/live", "username=alice&password=alice-password-1").status ==
        200);
  CHECK(seconds_since(health_start) < 1.0);

  auto r = pending.get();
  const double took = seconds_since(start);
  CHECK(r.status == 504);
  CHECK(r.json()["error"] == "upstream_timeout");
  CHECK(took >= 0.9);
  CHECK(took < 4.0);
}

TEST_CASE("LDAP: a certificate from an unknown CA is refused", "[e2e][ldap]") {
  SlapdFixture fx;
  json untrusted = search_settings(fx);
  untrusted["ca_file"] = fx.other_ca_file();
  TokendProcess t(config_with({{"ldap", untrusted}}));
  const int binds = fx.binds_as(kAliceDn);
  auto r = post_form(t, "/api/authenticate/ldap", "username=alice&password=alice-password-1");
  CHECK(r.status == 503);
  CHECK(r.json()["error"] == "upstream_unavailable");
  CHECK(fx.binds_as(kAliceDn) == binds);  // the password never left
}

TEST_CASE("POST /api/login with method=ldap signs a directory user in", "[e2e][ldap]") {
  SlapdFixture fx;
  TokendProcess t(config_with({{"ldap", search_settings(fx)}}));

  auto methods = t.get("/api/login/methods").json()["methods"];
  bool listed = false;
  for (const auto& m : methods) {
    if (m["name"] == "ldap") listed = m["label"] == "Directory";
  }
  CHECK(listed);

  auto r = t.post("/api/login", "username=alice&password=alice-password-1&method=ldap",
                  {{"Content-Type", "application/x-www-form-urlencoded"}});
  REQUIRE(r.status == 200);
  const std::string cookie = r.header("set-cookie");
  CHECK(cookie.rfind("tokend_session=", 0) == 0);
  CHECK(cookie.find("; HttpOnly") != std::string::npos);
  CHECK(r.json()["method"] == "ldap");
  CHECK(r.json()["user"]["username"] == "alice");
  CHECK(r.json()["user"]["email"] == "alice@example.org");

  const std::string session = cookie.substr(0, cookie.find(';'));
  auto s = t.get("/api/session", {{"Cookie", session}});
  REQUIRE(s.status == 200);
  CHECK(s.json()["user"]["displayName"] == "Alice Liddell");
  // The session trades for an API token like any other.
  auto tok = t.post("/api/token", "", {{"Cookie", session}});
  REQUIRE(tok.status == 200);
  CHECK(whoami(t, tok.json()["token"].get<std::string>())["username"] == "alice");

  auto bad = t.post("/api/login", R"({"username":"alice","password":"wrong","method":"ldap"})");
  CHECK(bad.status == 401);
  CHECK(bad.header("set-cookie").empty());
}

TEST_CASE("LDAP settings are checked at startup", "[e2e][ldap]") {
  SlapdFixture fx;
  SECTION("plain ldap:// without StartTLS needs insecure_allow_plain") {
    json plain = template_settings(fx);
    plain.erase("start_tls");
    plain.erase("ca_file");
    TokendProcess t(config_with({{"ldap", plain}}), /*start_now=*/false);
    REQUIRE_THROWS(t.start());
    CHECK(startup_output(t).find("auth.ldap.url") != std::string::npos);
  }
  SECTION("a typo in a key") {
    json typo = search_settings(fx);
    typo["user_filtre"] = "(uid={username})";
    TokendProcess t(config_with({{"ldap", typo}}), /*start_now=*/false);
    REQUIRE_THROWS(t.start());
    CHECK(startup_output(t).find("auth.ldap.user_filtre") != std::string::npos);
  }
  SECTION("plain LDAP when explicitly allowed works") {
    json plain = template_settings(fx);
    plain.erase("start_tls");
    plain.erase("ca_file");
    plain["insecure_allow_plain"] = true;
    TokendProcess t(config_with({{"ldap", plain}}));
    CHECK(
        post_form(t, "/api/authenticate/ldap", "username=alice&password=alice-password-1").status ==
        200);
    CHECK(t.log().find("insecure_allow_plain") != std::string::npos);  // warned at start
  }
}

TEST_CASE("LDAP: expiresInSeconds asks for a short-lived token", "[e2e][ldap][lifetime]") {
  SlapdFixture fx;
  TokendProcess t(config_with({{"ldap", search_settings(fx)}}));
  auto r = post_form(t, "/api/authenticate/ldap", "username=alice&password=alice-password-1&expiresInSeconds=600");
  REQUIRE(r.status == 200);
  const auto me = whoami(t, r.json()["token"].get<std::string>());
  CHECK(me["authenticatedWith"] == "ldap");
  // Ten minutes from the answer, to the second (expiresOn carries milliseconds).
  const std::string expires = r.json()["expiresOn"];
  std::tm tm{};
  REQUIRE(strptime(expires.c_str(), "%Y-%m-%dT%H:%M:%S", &tm) != nullptr);
  const auto at = static_cast<std::int64_t>(timegm(&tm));
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  CHECK(at >= now + 600 - 30);
  CHECK(at <= now + 600);
  auto both = post_form(t, "/api/authenticate/ldap",
                        "username=alice&password=alice-password-1&expiresInSeconds=600&expiresInDays=1");
  CHECK(both.status == 400);
  CHECK(both.json()["error"] == "invalid_field");
}
