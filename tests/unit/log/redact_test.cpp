#include <catch2/catch.hpp>

#include <string>

#include "tokend/crypto/crypto.hpp"
#include "tokend/log/log.hpp"

using tokend::log::redact;

TEST_CASE("redact cuts a 256-hex token out of a path", "[log][redact]") {
  const std::string token = tokend::crypto::to_hex(tokend::crypto::random_bytes(128));
  const std::string out = redact("/api/tokens/" + token);
  CHECK(out == "/api/tokens/[redacted]");
  CHECK(out.find(token.substr(0, 16)) == std::string::npos);
  // In the middle of a path, with text around it.
  CHECK(redact("/a/" + token + "/b") == "/a/[redacted]/b");
  CHECK(redact("GET /x/" + token + " HTTP/1.1") == "GET /x/[redacted] HTTP/1.1");
}

TEST_CASE("redact cuts long base64url runs", "[log][redact]") {
  const std::string b64 = "gho_16C7e42F292c6912E7710c838347Ae178B4a";  // a GitHub-style token
  CHECK(redact("/oauth/" + b64) == "/oauth/[redacted]");
  const std::string thirty_two(32, 'A');
  CHECK(redact("/p/" + thirty_two) == "/p/[redacted]");
  // 31 characters are left alone.
  const std::string thirty_one(31, 'A');
  CHECK(redact("/p/" + thirty_one) == "/p/" + thirty_one);
}

TEST_CASE("redact cuts values of secret query parameters", "[log][redact]") {
  CHECK(redact("/api/user?token=abc") == "/api/user?token=[redacted]");
  CHECK(redact("/api/user?x=1&token=abc&y=2") == "/api/user?x=1&token=[redacted]&y=2");
  CHECK(redact("/login?user=alice&password=hunter2") == "/login?user=alice&password=[redacted]");
  CHECK(redact("/cb?code=xyz&state=s1") == "/cb?code=[redacted]&state=s1");
  CHECK(redact("/cb?access_token=xyz") == "/cb?access_token=[redacted]");
  CHECK(redact("/cb?client_secret=xyz") == "/cb?client_secret=[redacted]");
  CHECK(redact("/cb?Token=xyz") == "/cb?Token=[redacted]");
  CHECK(redact("/cb?PASSWORD=a%20b") == "/cb?PASSWORD=[redacted]");
  CHECK(redact("/cb?password=") == "/cb?password=[redacted]");
  // Every secret in one query.
  const std::string both = redact("/x?password=p1&token=t1&password=p2");
  CHECK(both == "/x?password=[redacted]&token=[redacted]&password=[redacted]");
  CHECK(both.find("p1") == std::string::npos);
  CHECK(both.find("t1") == std::string::npos);
}

TEST_CASE("redact leaves ordinary paths and queries alone", "[log][redact]") {
  for (const char* path : {"/", "/healthz", "/metrics", "/api/tokens/12", "/api/authenticate/userpass",
                           "/api/login/methods", "/index.html?lang=en", "/api/tokens?page=2&limit=50",
                           "/static/app.js", "/a/b/c?x=1&y=2", ""}) {
    INFO(path);
    CHECK(redact(path) == path);
  }
}

TEST_CASE("printable escapes control characters so a value cannot forge a log line", "[log]") {
  CHECK(tokend::log::printable("alice") == "alice");
  CHECK(tokend::log::printable("alice\ninfo login ok: user=root") == "alice\\x0ainfo login ok: user=root");
  CHECK(tokend::log::printable(std::string("a\0b", 3)) == "a\\x00b");
  CHECK(tokend::log::printable("back\\slash") == "back\\x5cslash");
  CHECK(tokend::log::printable(std::string(200, 'x')).size() == 131);
}
