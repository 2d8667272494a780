// End-to-end: the audit log (audit.path) and X-Request-Id. The trail of a
// whole session is read back and searched for every secret the session used.
#include <catch2/catch.hpp>
#include <openssl/sha.h>

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <thread>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "support/fake_provider.hpp"
#include "support/process.hpp"

using e2e::bearer;
using e2e::FakeProvider;
using e2e::is_token;
using e2e::TokendProcess;

namespace {

bool is_uuid4(const std::string& s) {
  static const std::regex kUuid4("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  return std::regex_match(s, kUuid4);
}

std::string sha256_hex(const std::string& s) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), d);
  std::string out;
  char buf[3];
  for (unsigned char c : d) {
    std::snprintf(buf, sizeof buf, "%02x", c);
    out += buf;
  }
  return out;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<nlohmann::json> audit_lines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    INFO(line);
    out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

std::vector<nlohmann::json> events(const std::vector<nlohmann::json>& lines, const std::string& name) {
  std::vector<nlohmann::json> out;
  for (const auto& l : lines) {
    if (l["event"] == name) out.push_back(l);
  }
  return out;
}

}  // namespace

TEST_CASE("the audit trail of a whole session records every event and no secret", "[e2e][audit]") {
  FakeProvider fake;
  TokendProcess t(nlohmann::json{
      {"audit", {{"path", "AUDIT"}}},
      {"auth",
       {{"userpass", {{"type", "userpass"}}},
        {"github", {{"type", "github"}, {"api_url", fake.base_url()}, {"ca_file", fake.ca_file()}, {"proxy", ""}}}}}},
      false);
  // The file inside the test's folder (known only once the process object exists).
  const std::string audit_path = t.dir() + "/audit.log";
  {
    std::ifstream in(t.config_path());
    nlohmann::json cfg = nlohmann::json::parse(in);
    cfg["audit"]["path"] = audit_path;
    std::ofstream(t.config_path()) << cfg.dump();
  }
  std::vector<std::string> secrets;
  const std::string password = "alices long password";
  secrets.push_back(password);
  t.add_user("alice", password, "alice@example.org");  // the CLI writes to the same file
  t.start();

  // userpass token, with a request id of our own.
  auto a = t.post("/api/authenticate/userpass", nlohmann::json{{"username", "alice"}, {"password", password}}.dump(),
                  {{"X-Request-Id", "e2e-login-1"}});
  REQUIRE(a.status == 200);
  CHECK(a.header("x-request-id") == "e2e-login-1");
  const std::string t1 = a.json()["token"];
  secrets.push_back(t1);
  // A failed login.
  const std::string wrong = "not alices password";
  secrets.push_back(wrong);
  CHECK(t.post("/api/authenticate/userpass", nlohmann::json{{"username", "Alice"}, {"password", wrong}}.dump())
            .status == 401);
  // Browser session, cookie exchange, rotation, revocations, logout.
  auto s = t.post("/api/login", nlohmann::json{{"username", "alice"}, {"password", password}}.dump());
  REQUIRE(s.status == 200);
  const std::string set = s.header("set-cookie");
  const std::string cookie = set.substr(0, set.find(';'));
  secrets.push_back(cookie.substr(cookie.find('=') + 1));
  auto x = t.post("/api/token", R"({"name":"laptop","expiresInSeconds":600})",
                  {{"Cookie", cookie}, {"X-Request-Id", "e2e-exchange-2"}});
  REQUIRE(x.status == 200);
  const std::string t2 = x.json()["token"];
  secrets.push_back(t2);
  auto me = t.get("/api/user", bearer(t2));
  REQUIRE(me.status == 200);
  const std::int64_t t2_id = me.json()["token"]["id"];
  auto r = t.post("/api/tokens/" + std::to_string(t2_id) + "/rotate", "", {{"Cookie", cookie}});
  REQUIRE(r.status == 200);
  const std::string t3 = r.json()["token"];
  secrets.push_back(t3);
  const std::int64_t t3_id = r.json()["id"];
  CHECK(e2e::http(t.port(), "DELETE", "/api/tokens/" + std::to_string(t3_id), "", {{"Cookie", cookie}}).status == 204);
  CHECK(e2e::http(t.port(), "DELETE", "/api/token", "", bearer(t1)).status == 204);
  CHECK(t.post("/api/logout", "", {{"Cookie", cookie}}).status == 204);
  // A provider login (a new account, linked to the GitHub identity).
  auto g = t.post("/api/authenticate/github", nlohmann::json{{"email", "alice@example.com"},
                                                               {"info", {{"accessToken", "tok-alice"}}}}
                                                  .dump());
  REQUIRE(g.status == 200);
  secrets.push_back("tok-alice");
  const std::string t4 = g.json()["token"];
  secrets.push_back(t4);
  // The admin CLI: a role granted, the GitHub token revoked, a throttle lock lifted.
  REQUIRE(t.cli({"grant-admin", "alice"}).exit_code == 0);
  auto me4 = t.get("/api/user", bearer(t4));
  REQUIRE(me4.status == 200);
  const std::int64_t t4_id = me4.json()["token"]["id"];
  REQUIRE(e2e::run_process({e2e::binary_path(), "token", "revoke", std::to_string(t4_id), "--config", t.config_path()}).exit_code ==
          0);
  // The wrong password above left a failure of this address (a success
  // clears only the username's).
  REQUIRE(e2e::run_process({e2e::binary_path(), "throttle", "unlock", "--address", "127.0.0.1", "--config",
                            t.config_path()})
              .exit_code == 0);
  // The CLI disables the account.
  auto dis = t.cli({"disable", "alice"});
  REQUIRE(dis.exit_code == 0);
  REQUIRE(t.terminate() == 0);

  const auto lines = audit_lines(audit_path);
  REQUIRE(!lines.empty());
  for (const auto& l : lines) {
    for (const char* key : {"time", "event", "actor", "subject", "client", "request_id"}) {
      INFO(l.dump() << " " << key);
      CHECK(l.contains(key));
    }
    CHECK(l["time"].get<std::string>().size() == 24);  // 2026-12-01T21:45:00.000Z
  }
  // Every kind of event this session caused.
  const auto created = events(lines, "account.created");
  REQUIRE(created.size() == 2);  // the CLI, then the first GitHub login
  CHECK(created[0]["actor"] == "cli");
  CHECK(created[0]["source"] == "cli");
  CHECK(created[1]["method"] == "github");
  REQUIRE(events(lines, "account.linked").size() == 1);
  CHECK(events(lines, "account.linked")[0]["provider"] == "github");
  REQUIRE(events(lines, "config.loaded").size() == 1);
  CHECK(events(lines, "config.loaded")[0]["file"] == t.config_path());
  CHECK(events(lines, "config.loaded")[0]["methods"].size() == 2);
  const auto ok = events(lines, "login.succeeded");
  REQUIRE(ok.size() == 3);  // userpass twice, github once
  CHECK(ok[0]["request_id"] == "e2e-login-1");
  CHECK(ok[0]["client"] == "127.0.0.1");
  CHECK(ok[0]["method"] == "userpass");
  const auto failed = events(lines, "login.failed");
  REQUIRE(failed.size() == 1);
  CHECK(failed[0]["reason"] == "invalid_credentials");
  CHECK(failed[0]["username"] == "Alice");  // as typed
  CHECK(is_uuid4(failed[0]["request_id"].get<std::string>()));  // generated
  const auto issued = events(lines, "token.issued");
  REQUIRE(issued.size() == 3);
  CHECK(issued[1]["request_id"] == "e2e-exchange-2");
  CHECK(issued[1]["method"] == "session");
  CHECK(issued[1]["name"] == "laptop");
  CHECK(issued[1]["token_id"] == t2_id);
  const auto rotated = events(lines, "token.rotated");
  REQUIRE(rotated.size() == 1);
  CHECK(rotated[0]["token_id"] == t2_id);
  CHECK(rotated[0]["new_token_id"] == t3_id);
  const auto revoked = events(lines, "token.revoked");
  REQUIRE(revoked.size() == 3);  // the owner, the holder, then the CLI (below)
  CHECK(revoked[0]["by"] == "owner");
  CHECK(revoked[1]["by"] == "holder");
  CHECK(events(lines, "session.created").size() == 1);
  CHECK(events(lines, "session.ended").size() == 1);
  const auto granted = events(lines, "admin.granted");
  REQUIRE(granted.size() == 1);
  CHECK(granted[0]["actor"] == "cli");
  const auto by_cli = events(lines, "token.revoked");
  REQUIRE(by_cli.size() == 3);
  CHECK(by_cli[2]["actor"] == "cli");
  CHECK(by_cli[2]["subject"] == "token:" + std::to_string(t4_id));
  const auto unlocked = events(lines, "throttle.unlocked");
  REQUIRE(unlocked.size() == 1);
  CHECK(unlocked[0]["actor"] == "cli");
  CHECK(unlocked[0]["subject"] == "address:127.0.0.1");
  const auto disabled = events(lines, "account.disabled");
  REQUIRE(disabled.size() == 1);
  CHECK(disabled[0]["actor"] == "cli");
  CHECK(disabled[0]["tokens_revoked"] == true);

  // No secret, nor its SHA-256 digest, anywhere in the file.
  const std::string text = read_file(audit_path);
  for (const auto& secret : secrets) {
    INFO(secret);
    CHECK(text.find(secret) == std::string::npos);
    CHECK(text.find(sha256_hex(secret)) == std::string::npos);
  }
}

TEST_CASE("X-Request-Id: echoed when plain, generated when absent, replaced when hostile", "[e2e][audit]") {
  TokendProcess t;
  SECTION("echoed, and in the access log") {
    auto r = t.get("/healthz", {{"X-Request-Id", "abc.DEF_1:2-3"}});
    CHECK(r.header("x-request-id") == "abc.DEF_1:2-3");
    t.get("/healthz");  // the access line of the first is written by now
    CHECK(t.log().find("request_id=abc.DEF_1:2-3") != std::string::npos);
  }
  SECTION("generated when absent, also on errors") {
    const std::string a = t.get("/healthz").header("x-request-id");
    const std::string b = t.get("/no/such/path").header("x-request-id");
    CHECK(is_uuid4(a));
    CHECK(is_uuid4(b));
    CHECK(a != b);
  }
  SECTION("too long") {
    const std::string id = t.get("/healthz", {{"X-Request-Id", std::string(129, 'a')}}).header("x-request-id");
    CHECK(is_uuid4(id));
    CHECK(t.get("/healthz", {{"X-Request-Id", std::string(128, 'a')}}).header("x-request-id") == std::string(128, 'a'));
  }
  SECTION("non-ASCII and spaces") {
    CHECK(is_uuid4(t.get("/healthz", {{"X-Request-Id", "caf\xc3\xa9"}}).header("x-request-id")));
    CHECK(is_uuid4(t.get("/healthz", {{"X-Request-Id", "a b"}}).header("x-request-id")));
  }
  SECTION("a bare CR inside the value") {
    // A bare CR within a field value: Beast refuses the head (400), and the
    // refusal still carries a fresh id, never the attacker's text.
    auto r = e2e::raw_http(t.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: a\rInjected: 1\r\n"
                                     "Connection: close\r\n\r\n");
    CHECK(r.status == 400);
    CHECK(is_uuid4(r.header("x-request-id")));
    CHECK(r.header("injected").empty());
  }
  SECTION("two ids: neither is kept") {
    auto r = e2e::raw_http(t.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Request-Id: one\r\nX-Request-Id: two\r\n"
                                     "Connection: close\r\n\r\n");
    CHECK(r.status == 200);
    CHECK(is_uuid4(r.header("x-request-id")));
  }
}

TEST_CASE("SIGHUP reopens the audit file after logrotate renamed it", "[e2e][audit]") {
  TokendProcess t(nlohmann::json::object(), false);
  const std::string audit_path = t.dir() + "/audit.log";
  {
    std::ifstream in(t.config_path());
    nlohmann::json cfg = nlohmann::json::parse(in);
    cfg["audit"]["path"] = audit_path;
    std::ofstream(t.config_path()) << cfg.dump();
  }
  t.add_user("alice", "alices password");
  t.start();
  t.login("alice", "alices password");
  REQUIRE(std::rename(audit_path.c_str(), (audit_path + ".1").c_str()) == 0);
  REQUIRE(::kill(t.pid(), SIGHUP) == 0);
  // The reopen runs on the worker pool: wait for its log line.
  for (int i = 0; i < 100 && t.log().find("audit: reopened") == std::string::npos; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE(t.log().find("audit: reopened " + audit_path) != std::string::npos);
  t.login("alice", "alices password");
  REQUIRE(t.terminate() == 0);  // SIGHUP did not stop it
  const auto old_lines = audit_lines(audit_path + ".1");
  const auto new_lines = audit_lines(audit_path);
  CHECK(events(old_lines, "account.created").size() == 1);
  CHECK(events(old_lines, "login.succeeded").size() == 1);
  CHECK(events(new_lines, "login.succeeded").size() == 1);
  CHECK(events(new_lines, "token.issued").size() == 1);
}
