// End-to-end: POST /api/introspect (RFC 7662) with a client made by
// `tokend hash-secret`, curl as the client, and the RFC's request and
// answer shapes (sections 2.1 and 2.2).
#include <catch2/catch.hpp>
#include <sqlite3.h>

#include "support/sql.hpp"
#include "support/process.hpp"

using e2e::bearer;
using e2e::TokendProcess;
using nlohmann::json;

using e2e::sql;

namespace {

const std::string kSecret = "gX1fBat3bV-0123456789abcdef";  // 27 bytes
const std::map<std::string, std::string> kForm = {{"Content-Type", "application/x-www-form-urlencoded"}};

std::string base64(const std::string& in) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned n = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out += kAlphabet[(n >> s) & 63];
  }
  if (i + 1 == in.size()) {
    const unsigned n = static_cast<unsigned char>(in[i]) << 16;
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    const unsigned n = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += '=';
  }
  return out;
}

std::map<std::string, std::string> basic(const std::string& id, const std::string& secret) {
  return {{"Authorization", "Basic " + base64(id + ":" + secret)},
          {"Content-Type", "application/x-www-form-urlencoded"}};
}

// `tokend hash-secret` with the secret on standard input: the PHC string.
std::string hash_secret(const std::string& secret) {
  auto r = e2e::run_process({e2e::binary_path(), "hash-secret"}, secret + "\n");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  std::string h = r.output;
  while (!h.empty() && (h.back() == '\n' || h.back() == '\r')) h.pop_back();
  REQUIRE(h.rfind("$argon2id$", 0) == 0);
  return h;
}

json introspection_config(const std::string& hash) {
  return {{"introspection", {{"clients", {{{"id", "s6BhdRkqt3"}, {"secret_hash", hash}}}}}},
          {"scopes",
           {{{"name", "repo:read"}, {"default", true}},
            {{"name", "repo:write"}},
            {{"name", "tokend:introspect"}, {"description", "Ask tokend about other tokens"}}}}};
}

}  // namespace

TEST_CASE("tokend hash-secret reads stdin and refuses short secrets", "[e2e][introspect][cli]") {
  const std::string h = hash_secret(kSecret);
  CHECK(h.find(kSecret) == std::string::npos);
  auto short_secret = e2e::run_process({e2e::binary_path(), "hash-secret"}, "short\n");
  CHECK(short_secret.exit_code == 2);
  auto none = e2e::run_process({e2e::binary_path(), "hash-secret"}, "");
  CHECK(none.exit_code == 2);
}

TEST_CASE("POST /api/introspect answers RFC 7662 to an authenticated client", "[e2e][introspect]") {
  TokendProcess t(introspection_config(hash_secret(kSecret)));
  t.add_user("alice", "alices password");
  const std::string token = t.login("alice", "alices password");
  const auto me = t.get("/api/user", bearer(token)).json();
  const auto client = basic("s6BhdRkqt3", kSecret);

  SECTION("a live token: active, sub, username, exp, iat, token_type, scope (RFC 7662 §2.2)") {
    // The RFC's request, with token_type_hint.
    auto r = t.post("/api/introspect", "token=" + token + "&token_type_hint=access_token", client);
    REQUIRE(r.status == 200);
    CHECK(r.header("content-type") == "application/json");
    CHECK(r.header("cache-control") == "no-store");
    const json j = r.json();
    CHECK(j["active"] == true);
    CHECK(j["sub"] == std::to_string(me["id"].get<long long>()));
    CHECK(j["username"] == "alice");
    CHECK(j["token_type"] == "Bearer");
    CHECK(j["scope"] == "repo:read");
    REQUIRE(j["exp"].is_number_integer());
    REQUIRE(j["iat"].is_number_integer());
    const long long now = std::time(nullptr);
    CHECK(j["iat"].get<long long>() <= now);
    CHECK(j["iat"].get<long long>() > now - 60);
    CHECK(j["exp"].get<long long>() - j["iat"].get<long long>() == 90LL * 86400);
    CHECK(j.size() == 7);
    // JSON bodies too.
    auto jr = t.post("/api/introspect", json{{"token", token}}.dump(),
                     {{"Authorization", client.at("Authorization")}, {"Content-Type", "application/json"}});
    CHECK(jr.json() == j);
  }
  SECTION("every dead token is exactly {\"active\":false}") {
    const std::string revoked = t.login("alice", "alices password");
    REQUIRE(e2e::http(t.port(), "DELETE", "/api/token", "", bearer(revoked)).status == 204);
    const std::string expired = t.login("alice", "alices password");
    const auto expired_id = t.get("/api/user", bearer(expired)).json()["token"]["id"].get<long long>();
    // As another writer would: with a row in the change feed (the token
    // was validated above, so the server remembers it).
    sql(t.db_path(), "UPDATE tokens SET expires_at = 1 WHERE id = " + std::to_string(expired_id) +
                         "; INSERT INTO changes (at, user_id) SELECT CAST(strftime('%s', 'now') AS INTEGER) * 1000,"
                         " user_id FROM tokens WHERE id = " + std::to_string(expired_id));
    e2e::wait_for_other_writers();
    for (const std::string& dead :
         {revoked, expired, std::string(256, '0'), std::string("mF_9.B5f-4.1JqM"), token + "x", std::string("")}) {
      // An empty token is no token: inactive too.
      auto r = t.post("/api/introspect", "token=" + dead + "&token_type_hint=access_token", client);
      CHECK(r.status == 200);
      CHECK(r.body == R"({"active":false})");
    }
    // A disabled account's tokens too.
    REQUIRE(t.cli({"disable", "alice"}).exit_code == 0);
    e2e::wait_for_other_writers();  // the CLI is another writer: seen within max_staleness_ms
    CHECK(t.post("/api/introspect", "token=" + token, client).body == R"({"active":false})");
  }
  SECTION("without a token field: 400 invalid_request") {
    auto r = t.post("/api/introspect", "token_type_hint=access_token", client);
    CHECK(r.status == 400);
    CHECK(r.json()["error"] == "invalid_request");
  }
  SECTION("curl as the client, as docs/api.md shows it") {
    auto r = e2e::run_shell("curl -s -u 's6BhdRkqt3:" + kSecret + "' --data 'token=" + token + "' " + t.base_url() +
                            "/api/introspect");
    REQUIRE(r.exit_code == 0);
    INFO(r.output);
    const json j = json::parse(r.output);
    CHECK(j["active"] == true);
    CHECK(j["username"] == "alice");
    auto no_auth = e2e::run_shell("curl -s -i --data 'token=" + token + "' " + t.base_url() + "/api/introspect");
    CHECK(no_auth.output.find("401") != std::string::npos);
  }
}

TEST_CASE("POST /api/introspect refuses unauthenticated callers without telling a token's status",
          "[e2e][introspect]") {
  TokendProcess t(introspection_config(hash_secret(kSecret)));
  t.add_user("alice", "alices password");
  const std::string token = t.login("alice", "alices password");
  const auto refused = [&](const std::map<std::string, std::string>& headers) {
    auto r = t.post("/api/introspect", "token=" + token, headers);
    CHECK(r.status == 401);
    CHECK(r.header("www-authenticate") == R"(Basic realm="tokend")");
    CHECK(r.body.find("active") == std::string::npos);
  };
  refused(kForm);                               // nobody
  refused(basic("s6BhdRkqt3", kSecret + "x"));  // wrong secret
  refused(basic("s6BhdRkqt3", ""));             // empty secret
  refused(basic("someone", kSecret));           // unknown client
  refused({{"Authorization", "Basic !!!"}, {"Content-Type", "application/x-www-form-urlencoded"}});
  refused({{"Authorization", "Basic " + base64("no-colon")}, {"Content-Type", "application/x-www-form-urlencoded"}});
  // A live token without tokend:introspect cannot introspect.
  std::map<std::string, std::string> tok = bearer(token);
  tok["Content-Type"] = "application/x-www-form-urlencoded";
  refused(tok);

  SECTION("a token carrying tokend:introspect may introspect") {
    auto r = t.post("/api/authenticate/userpass",
                    R"({"username":"alice","password":"alices password","scopes":["tokend:introspect"]})");
    REQUIRE(r.status == 200);
    auto headers = bearer(r.json()["token"]);
    headers["Content-Type"] = "application/x-www-form-urlencoded";
    auto ok = t.post("/api/introspect", "token=" + token, headers);
    CHECK(ok.status == 200);
    CHECK(ok.json()["active"] == true);
  }
  SECTION("wrong secrets are throttled like logins") {
    int throttled = 0;
    for (int i = 0; i < 8; ++i) {
      auto r = t.post("/api/introspect", "token=" + token, basic("s6BhdRkqt3", "wrong-secret-" + std::to_string(i)));
      if (r.status == 429) ++throttled;
    }
    CHECK(throttled >= 3);  // per_username max_failures 5 by default
  }
}

TEST_CASE("POST /api/introspect decodes the Basic id and secret as RFC 6749 §2.3.1 says", "[e2e][introspect]") {
  // A secret with the characters a client must form-encode: ':' (the Basic
  // separator), '+' (a space once decoded), '%', '/', '@' and non-ASCII.
  const std::string secret = "p@ss:w+rd%/\xC3\xA9 0123456789";
  TokendProcess t(introspection_config(hash_secret(secret)));
  t.add_user("alice", "alices password");
  const std::string token = t.login("alice", "alices password");
  const std::string encoded = "p%40ss%3Aw%2Brd%25%2F%C3%A9+0123456789";

  auto ok = t.post("/api/introspect", "token=" + token, basic("s6BhdRkqt3", encoded));
  REQUIRE(ok.status == 200);
  CHECK(ok.json()["active"] == true);
  // The encoded id too ("s6BhdRkqt3" with one letter escaped).
  auto id_encoded = t.post("/api/introspect", "token=" + token, basic("s6%42hdRkqt3", encoded));
  CHECK(id_encoded.status == 200);
  // Sent without encoding, "%/" is a broken escape and "+" would be a
  // space: not these credentials, and nothing about the token.
  auto raw = t.post("/api/introspect", "token=" + token, basic("s6BhdRkqt3", secret));
  CHECK(raw.status == 401);
  CHECK(raw.body.find("active") == std::string::npos);
  // Once the right secret is remembered, its raw spelling still fails.
  auto raw_again = t.post("/api/introspect", "token=" + token, basic("s6BhdRkqt3", secret));
  CHECK(raw_again.status == 401);
}

TEST_CASE("POST /api/introspect reads one spelling of Basic credentials only", "[e2e][introspect]") {
  // "s6BhdRkqt3:" (11 bytes) + 25 bytes: 36 bytes, whole base64 groups; then
  // '`' (0x60), canonically "YA==" but "Y===" to a lax decoder.
  const std::string prefix_secret = "0123456789abcdef012345678";
  const std::string secret = prefix_secret + "`";
  TokendProcess t(introspection_config(hash_secret(secret)));
  t.add_user("alice", "alices password");
  const std::string token = t.login("alice", "alices password");
  const std::string head = base64("s6BhdRkqt3:" + prefix_secret);
  REQUIRE(head.find('=') == std::string::npos);
  const auto with = [&](const std::string& b64) {
    return t.post("/api/introspect", "token=" + token,
                  {{"Authorization", "Basic " + b64}, {"Content-Type", "application/x-www-form-urlencoded"}});
  };
  REQUIRE(with(head + "YA==").status == 200);
  CHECK(with(head + "Y===").status == 401);   // three '='
  CHECK(with("QQ==" + head + "YA==").status == 401);  // '=' inside
  CHECK(with(head + "YA==").status == 200);
}

TEST_CASE("POST /api/introspect: a locked client id is no guessing oracle through the verified-secret cache",
          "[e2e][introspect]") {
  TokendProcess t(introspection_config(hash_secret(kSecret)));
  t.add_user("alice", "alices password");
  const std::string token = t.login("alice", "alices password");
  // The client's secret is verified once, and remembered.
  REQUIRE(t.post("/api/introspect", "token=" + token, basic("s6BhdRkqt3", kSecret)).status == 200);
  // A stranger locks the client id with wrong secrets...
  int throttled = 0;
  for (int i = 0; i < 40; ++i) {
    if (t.post("/api/introspect", "token=" + token, basic("s6BhdRkqt3", "guess-" + std::to_string(i))).status == 429) {
      ++throttled;
    }
  }
  CHECK(throttled >= 30);
  // ...and keeps guessing: every guess was compared with the cached digest,
  // so the address is out of budget and even the right secret is refused
  // from it (before: 200, an unlimited oracle).
  auto right = t.post("/api/introspect", "token=" + token, basic("s6BhdRkqt3", kSecret));
  CHECK(right.status == 429);
  CHECK(right.body.find("active") == std::string::npos);
}
