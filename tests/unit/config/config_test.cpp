#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "tokend/config/config.hpp"
#include "unit/support/temp_dir.hpp"

using nlohmann::json;
using tokend::config::Config;
using tokend::config::ListenConfig;
using tokend::config::load_config;
using tokend::config::parse_config;
using tokend::config::parse_listen;

namespace {

// The error message of parsing `doc`, which must fail with invalid_config.
std::string error_of(const json& doc) {
  auto c = parse_config(doc);
  REQUIRE_FALSE(c.ok());
  CHECK(c.error().code == tokend::ErrorCode::kInvalidConfig);
  return c.error().message;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("parse_config of an empty object gives the documented defaults", "[config]") {
  auto parsed = parse_config(json::object());
  REQUIRE(parsed.ok());
  const Config& c = *parsed;
  CHECK(c.listen.host == "127.0.0.1");
  CHECK(c.listen.port == 8080);
  CHECK_FALSE(c.tls.enabled);
  CHECK(c.limits.max_header_bytes == 8192);
  CHECK(c.limits.max_body_bytes == 65536);
  CHECK(c.limits.read_timeout_ms == 10000);
  CHECK(c.limits.idle_timeout_ms == 60000);
  CHECK(c.limits.write_timeout_ms == 10000);
  CHECK(c.limits.max_connections == 10000);
  CHECK(c.threads.io_threads >= 1);  // 0 means "number of cores", resolved here
  CHECK(c.threads.workers >= 1);
  CHECK(c.threads.worker_queue == 1024);
  CHECK(c.threads.upstream_workers == 16);
  CHECK(c.threads.upstream_queue == 256);
  CHECK(c.database.driver == "sqlite");
  CHECK(c.database.path == "./data/tokend.db");
  CHECK(c.database.busy_timeout_ms == 5000);
  CHECK(c.database.synchronous == "full");
  CHECK(c.tokens.lifetime_ms == 90LL * 86'400'000);
  CHECK(c.tokens.max_lifetime_ms == 365LL * 86'400'000);
  CHECK(c.passwords.memory_kib == 19456);
  CHECK(c.passwords.iterations == 2);
  CHECK(c.passwords.parallelism == 1);
  CHECK(c.passwords.max_bytes == 1024);
  CHECK(c.passwords.min_length == 8);
  CHECK(c.throttle.per_username.max_failures == 5);
  CHECK(c.throttle.per_username.window_s == 300);
  CHECK(c.throttle.per_address.max_failures == 30);
  CHECK(c.throttle.per_address.window_s == 300);
  CHECK(c.throttle.max_tracked == 100000);
  CHECK(c.sessions.cookie_name == "tokend_session");
  CHECK(c.sessions.idle_timeout_minutes == 30);
  CHECK(c.sessions.absolute_timeout_hours == 12);
  CHECK_FALSE(c.sessions.behind_tls_proxy);
  CHECK(c.sessions.allowed_origins.empty());
  CHECK(c.log.level == "info");
  CHECK(c.log.access_log);
  CHECK(c.log.file.empty());
  CHECK(c.web.enabled);
  CHECK_FALSE(c.web.root.empty());  // defaults to the repository's web/ folder
  CHECK(c.shutdown_timeout_ms == 10000);
}

TEST_CASE("parse_config defaults auth to one userpass method", "[config]") {
  auto c = parse_config(json::object());
  REQUIRE(c.ok());
  CHECK(c->auth == json{{"userpass", {{"type", "userpass"}}}});
  // An empty auth object also means the default.
  auto e = parse_config(json{{"auth", json::object()}});
  REQUIRE(e.ok());
  CHECK(e->auth == json{{"userpass", {{"type", "userpass"}}}});
  // A configured auth object is kept as it is, for the factories to validate.
  const json auth = {{"corp", {{"type", "ldap"}, {"url", "ldap://x"}}}, {"userpass", {{"enabled", false}}}};
  auto k = parse_config(json{{"auth", auth}});
  REQUIRE(k.ok());
  CHECK(k->auth == auth);
}

TEST_CASE("parse_config reads every section", "[config]") {
  const json doc = {
      {"listen", {{"host", "0.0.0.0"}, {"port", 9443}}},
      {"tls", {{"enabled", true}, {"cert_file", "/etc/tokend/cert.pem"}, {"key_file", "/etc/tokend/key.pem"}}},
      {"limits",
       {{"max_header_bytes", 4096},
        {"max_body_bytes", 2048},
        {"read_timeout_ms", 1500},
        {"idle_timeout_ms", 2500},
        {"write_timeout_ms", 3500},
        {"max_connections", 77}}},
      {"threads",
       {{"io_threads", 3}, {"workers", 5}, {"worker_queue", 11}, {"upstream_workers", 7}, {"upstream_queue", 13}}},
      {"database", {{"driver", "sqlite"}, {"path", "/var/lib/tokend/t.db"}, {"busy_timeout_ms", 250}, {"synchronous", "normal"}}},
      {"tokens", {{"lifetime_days", 30}, {"max_lifetime_days", 60}}},
      {"passwords", {{"memory_kib", 65536}, {"iterations", 3}, {"parallelism", 2}, {"max_bytes", 512}, {"min_length", 12}}},
      {"throttle",
       {{"per_username", {{"max_failures", 3}, {"window_s", 60}}},
        {"per_address", {{"max_failures", 9}, {"window_s", 120}}},
        {"max_tracked", 1000}}},
      {"sessions",
       {{"cookie_name", "sid"},
        {"idle_timeout_minutes", 5},
        {"absolute_timeout_hours", 2},
        {"behind_tls_proxy", true},
        {"allowed_origins", {"https://tools.example.org"}}}},
      {"log", {{"level", "debug"}, {"access_log", false}, {"file", "/var/log/tokend.log"}}},
      {"web", {{"enabled", false}, {"root", "/srv/web"}}},
      {"shutdown_timeout_ms", 2000},
      {"auth", {{"userpass", {{"type", "userpass"}, {"label", "Password"}}}}},
  };
  auto parsed = parse_config(doc);
  INFO((parsed.ok() ? std::string() : parsed.error().message));
  REQUIRE(parsed.ok());
  const Config& c = *parsed;
  CHECK(c.listen.host == "0.0.0.0");
  CHECK(c.listen.port == 9443);
  CHECK(c.tls.enabled);
  CHECK(c.tls.cert_file == "/etc/tokend/cert.pem");
  CHECK(c.tls.key_file == "/etc/tokend/key.pem");
  CHECK(c.limits.max_header_bytes == 4096);
  CHECK(c.limits.max_body_bytes == 2048);
  CHECK(c.limits.read_timeout_ms == 1500);
  CHECK(c.limits.idle_timeout_ms == 2500);
  CHECK(c.limits.write_timeout_ms == 3500);
  CHECK(c.limits.max_connections == 77);
  CHECK(c.threads.io_threads == 3);
  CHECK(c.threads.workers == 5);
  CHECK(c.threads.worker_queue == 11);
  CHECK(c.threads.upstream_workers == 7);
  CHECK(c.threads.upstream_queue == 13);
  CHECK(c.database.path == "/var/lib/tokend/t.db");
  CHECK(c.database.busy_timeout_ms == 250);
  CHECK(c.database.synchronous == "normal");
  CHECK(c.tokens.lifetime_ms == 30LL * 86'400'000);
  CHECK(c.tokens.max_lifetime_ms == 60LL * 86'400'000);
  CHECK(c.passwords.memory_kib == 65536);
  CHECK(c.passwords.iterations == 3);
  CHECK(c.passwords.parallelism == 2);
  CHECK(c.passwords.max_bytes == 512);
  CHECK(c.passwords.min_length == 12);
  CHECK(c.throttle.per_username.max_failures == 3);
  CHECK(c.throttle.per_username.window_s == 60);
  CHECK(c.throttle.per_address.max_failures == 9);
  CHECK(c.throttle.per_address.window_s == 120);
  CHECK(c.throttle.max_tracked == 1000);
  CHECK(c.sessions.cookie_name == "sid");
  CHECK(c.sessions.idle_timeout_minutes == 5);
  CHECK(c.sessions.absolute_timeout_hours == 2);
  CHECK(c.sessions.behind_tls_proxy);
  CHECK(c.sessions.allowed_origins == std::vector<std::string>{"https://tools.example.org"});
  CHECK(c.log.level == "debug");
  CHECK_FALSE(c.log.access_log);
  CHECK(c.log.file == "/var/log/tokend.log");
  CHECK_FALSE(c.web.enabled);
  CHECK(c.web.root == "/srv/web");
  CHECK(c.shutdown_timeout_ms == 2000);
  CHECK(c.auth.contains("userpass"));
}

TEST_CASE("parse_config keeps defaults for keys not given", "[config]") {
  auto c = parse_config(json{{"listen", {{"port", 0}}}, {"tokens", {{"lifetime_days", 0}}}});
  REQUIRE(c.ok());
  CHECK(c->listen.port == 0);
  CHECK(c->listen.host == "127.0.0.1");
  CHECK(c->tokens.lifetime_ms == 0);
  CHECK(c->tokens.max_lifetime_ms == 365LL * 86'400'000);
}

TEST_CASE("parse_config rejects unknown keys and names them", "[config]") {
  CHECK(contains(error_of(json{{"listne", {{"port", 1}}}}), "listne"));
  CHECK(contains(error_of(json{{"listen", {{"hots", "x"}}}}), "listen.hots"));
  CHECK(contains(error_of(json{{"tokens", {{"lifetime", 5}}}}), "tokens.lifetime"));
  CHECK(contains(error_of(json{{"database", {{"pathh", "x"}}}}), "database.pathh"));
  CHECK(contains(error_of(json{{"throttle", {{"per_username", {{"max", 1}}}}}}), "throttle.per_username.max"));
  CHECK(contains(error_of(json{{"sessions", {{"cookie", "x"}}}}), "sessions.cookie"));
  CHECK(contains(error_of(json{{"log", {{"levle", "debug"}}}}), "log.levle"));
  CHECK(contains(error_of(json{{"web", {{"dir", "/x"}}}}), "web.dir"));
  CHECK(contains(error_of(json{{"passwords", {{"memory", 1}}}}), "passwords.memory"));
  CHECK(contains(error_of(json{{"limits", {{"max_body", 1}}}}), "limits.max_body"));
  CHECK(contains(error_of(json{{"threads", {{"worker", 1}}}}), "threads.worker"));
  CHECK(contains(error_of(json{{"tls", {{"cert", "x"}}}}), "tls.cert"));
}

TEST_CASE("parse_config rejects values of the wrong type", "[config]") {
  CHECK(contains(error_of(json{{"listen", {{"port", "8080"}}}}), "listen.port"));
  CHECK(contains(error_of(json{{"listen", {{"host", 127}}}}), "listen.host"));
  CHECK(contains(error_of(json{{"tls", {{"enabled", "yes"}}}}), "tls.enabled"));
  CHECK(contains(error_of(json{{"tls", {{"enabled", 1}}}}), "tls.enabled"));
  CHECK(contains(error_of(json{{"limits", {{"max_body_bytes", 1.5}}}}), "limits.max_body_bytes"));
  CHECK(contains(error_of(json{{"limits", {{"max_body_bytes", true}}}}), "limits.max_body_bytes"));
  CHECK(contains(error_of(json{{"threads", {{"workers", -1}}}}), "threads.workers"));
  CHECK(contains(error_of(json{{"listen", {{"port", 65536}}}}), "listen.port"));
  CHECK(contains(error_of(json{{"sessions", {{"allowed_origins", "https://x"}}}}), "sessions.allowed_origins"));
  CHECK(contains(error_of(json{{"sessions", {{"allowed_origins", {1, 2}}}}}), "sessions.allowed_origins"));
  CHECK(contains(error_of(json{{"limits", json::array()}}), "limits"));
  CHECK(contains(error_of(json{{"throttle", {{"per_address", 5}}}}), "throttle.per_address"));
  CHECK(contains(error_of(json{{"auth", "userpass"}}), "auth"));
  CHECK(contains(error_of(json{{"shutdown_timeout_ms", "10s"}}), "shutdown_timeout_ms"));
  // The whole document must be an object.
  error_of(json::array());
  error_of(json("listen"));
}

TEST_CASE("parse_config takes listen as a HOST:PORT string", "[config]") {
  auto v4 = parse_config(json{{"listen", "0.0.0.0:9000"}});
  REQUIRE(v4.ok());
  CHECK(v4->listen.host == "0.0.0.0");
  CHECK(v4->listen.port == 9000);
  auto v6 = parse_config(json{{"listen", "[::1]:8080"}});
  REQUIRE(v6.ok());
  CHECK(v6->listen.host == "::1");
  CHECK(v6->listen.port == 8080);
  auto any = parse_config(json{{"listen", "localhost:0"}});
  REQUIRE(any.ok());
  CHECK(any->listen.host == "localhost");
  CHECK(any->listen.port == 0);
  CHECK(contains(error_of(json{{"listen", "nohostport"}}), "listen"));
  CHECK(contains(error_of(json{{"listen", 8080}}), "listen"));
}

TEST_CASE("parse_listen reads HOST:PORT and [V6]:PORT", "[config]") {
  ListenConfig l;
  REQUIRE(parse_listen("127.0.0.1:8080", l).ok());
  CHECK(l.host == "127.0.0.1");
  CHECK(l.port == 8080);
  REQUIRE(parse_listen("[::1]:443", l).ok());
  CHECK(l.host == "::1");
  CHECK(l.port == 443);
  REQUIRE(parse_listen("[2001:db8::1]:65535", l).ok());
  CHECK(l.host == "2001:db8::1");
  CHECK(l.port == 65535);
  REQUIRE(parse_listen("example.org:0", l).ok());
  CHECK(l.host == "example.org");
  CHECK(l.port == 0);
}

TEST_CASE("parse_listen rejects malformed text and leaves the target alone", "[config]") {
  for (const char* bad : {"", "8080", "host", ":8080", "host:", "host:http", "host:-1", "host:65536", "host:123456",
                          "host:80x", "[::1]", "[::1]8080", "[::1]:", "[]:80", "[::1:80", "host: 80"}) {
    INFO("'" << bad << "'");
    ListenConfig l;
    l.host = "unchanged";
    l.port = 1234;
    auto s = parse_listen(bad, l);
    REQUIRE_FALSE(s.ok());
    CHECK(s.error().code == tokend::ErrorCode::kInvalidConfig);
    CHECK(l.host == "unchanged");
    CHECK(l.port == 1234);
  }
}

TEST_CASE("parse_config stores sessions.allowed_origins canonical", "[config][csrf]") {
  auto c = parse_config(json{{"sessions",
                              {{"allowed_origins",
                                {"https://Tools.Example.org/", "HTTP://localhost:80", "https://portal.example:443",
                                 "http://[::1]:3000", "https://portal.example:8443"}}}}});
  REQUIRE(c.ok());
  CHECK(c->sessions.allowed_origins == std::vector<std::string>{"https://tools.example.org", "http://localhost",
                                                                "https://portal.example", "http://[::1]:3000",
                                                                "https://portal.example:8443"});
  for (const char* bad : {"tools.example.org", "ftp://tools.example.org", "https://tools.example.org/app",
                          "https://tools.example.org?x", "https://user@tools.example.org", "https://",
                          "https://tools.example.org:0x1"}) {
    INFO(bad);
    CHECK(contains(error_of(json{{"sessions", {{"allowed_origins", {bad}}}}}), "sessions.allowed_origins"));
  }
}

TEST_CASE("parse_config checks fields against each other", "[config]") {
  SECTION("tls enabled needs a certificate and a key") {
    CHECK(contains(error_of(json{{"tls", {{"enabled", true}}}}), "tls"));
    CHECK(contains(error_of(json{{"tls", {{"enabled", true}, {"cert_file", "c.pem"}}}}), "tls"));
    CHECK(contains(error_of(json{{"tls", {{"enabled", true}, {"key_file", "k.pem"}}}}), "tls"));
    // Files given but TLS off is fine.
    CHECK(parse_config(json{{"tls", {{"cert_file", "c.pem"}}}}).ok());
  }
  SECTION("synchronous is full or normal") {
    CHECK(contains(error_of(json{{"database", {{"synchronous", "off"}}}}), "database.synchronous"));
    CHECK(contains(error_of(json{{"database", {{"synchronous", "FULL"}}}}), "database.synchronous"));
    CHECK(parse_config(json{{"database", {{"synchronous", "normal"}}}}).ok());
  }
  SECTION("only the sqlite driver") {
    CHECK(contains(error_of(json{{"database", {{"driver", "mysql"}}}}), "database.driver"));
  }
  SECTION("an empty database path") {
    CHECK(contains(error_of(json{{"database", {{"path", ""}}}}), "database.path"));
  }
  SECTION("default lifetime larger than the maximum") {
    CHECK(contains(error_of(json{{"tokens", {{"lifetime_days", 400}}}}), "lifetime_days"));
    CHECK(contains(error_of(json{{"tokens", {{"lifetime_days", 31}, {"max_lifetime_days", 30}}}}), "lifetime_days"));
    // No cap: any default goes; equal is fine.
    CHECK(parse_config(json{{"tokens", {{"lifetime_days", 400}, {"max_lifetime_days", 0}}}}).ok());
    CHECK(parse_config(json{{"tokens", {{"lifetime_days", 30}, {"max_lifetime_days", 30}}}}).ok());
    // Never-expiring default under a cap is allowed (0 is not "larger").
    CHECK(parse_config(json{{"tokens", {{"lifetime_days", 0}, {"max_lifetime_days", 30}}}}).ok());
  }
  SECTION("absurd lifetimes") {
    CHECK(contains(error_of(json{{"tokens", {{"lifetime_days", 100001}, {"max_lifetime_days", 0}}}}), "tokens"));
  }
  SECTION("limits and sessions ranges") {
    CHECK(contains(error_of(json{{"limits", {{"max_body_bytes", 10}}}}), "limits.max_body_bytes"));
    CHECK(contains(error_of(json{{"limits", {{"max_header_bytes", 10}}}}), "limits.max_header_bytes"));
    CHECK(contains(error_of(json{{"limits", {{"read_timeout_ms", 5}}}}), "limits"));
    CHECK(contains(error_of(json{{"threads", {{"worker_queue", 0}}}}), "threads"));
    CHECK(contains(error_of(json{{"sessions", {{"idle_timeout_minutes", 0}}}}), "sessions"));
    CHECK(contains(error_of(json{{"sessions", {{"cookie_name", "bad name"}}}}), "sessions.cookie_name"));
    CHECK(contains(error_of(json{{"sessions", {{"cookie_name", ""}}}}), "sessions.cookie_name"));
    CHECK(contains(error_of(json{{"sessions", {{"allowed_origins", {"tools.example.org"}}}}}),
                   "sessions.allowed_origins"));
  }
  SECTION("argon2 parameters") {
    CHECK(contains(error_of(json{{"passwords", {{"iterations", 0}}}}), "passwords"));
    CHECK(contains(error_of(json{{"passwords", {{"parallelism", 0}}}}), "passwords"));
    CHECK(contains(error_of(json{{"passwords", {{"memory_kib", 4}}}}), "passwords"));
    CHECK(contains(error_of(json{{"passwords", {{"max_bytes", 8}}}}), "passwords.max_bytes"));
  }
}

TEST_CASE("load_config reads a file, or gives defaults for an empty path", "[config]") {
  tokend::testing::TempDir dir;
  SECTION("empty path") {
    auto c = load_config("");
    REQUIRE(c.ok());
    CHECK(c->listen.port == 8080);
  }
  SECTION("a valid file") {
    const std::string path = dir.file("tokend.json");
    std::ofstream(path) << R"({"listen": "127.0.0.1:0", "database": {"path": "/tmp/x.db"}})";
    auto c = load_config(path);
    REQUIRE(c.ok());
    CHECK(c->listen.port == 0);
    CHECK(c->database.path == "/tmp/x.db");
  }
  SECTION("a missing file") {
    auto c = load_config(dir.file("does-not-exist.json"));
    REQUIRE_FALSE(c.ok());
    CHECK(c.error().code == tokend::ErrorCode::kInvalidConfig);
    CHECK(contains(c.error().message, "does-not-exist.json"));
  }
  SECTION("invalid JSON") {
    const std::string path = dir.file("broken.json");
    std::ofstream(path) << R"({"listen": {"port": 80,}})";
    auto c = load_config(path);
    REQUIRE_FALSE(c.ok());
    CHECK(c.error().code == tokend::ErrorCode::kInvalidConfig);
    CHECK(contains(c.error().message, "broken.json"));
  }
  SECTION("valid JSON with an invalid setting") {
    const std::string path = dir.file("typo.json");
    std::ofstream(path) << R"({"tokens": {"lifetme_days": 5}})";
    auto c = load_config(path);
    REQUIRE_FALSE(c.ok());
    CHECK(contains(c.error().message, "tokens.lifetme_days"));
  }
}

TEST_CASE("config/example.json in the repository is valid", "[config]") {
  // TOKEND_DEFAULT_WEB_ROOT is "<repo>/web".
  const auto repo = std::filesystem::path(TOKEND_DEFAULT_WEB_ROOT).parent_path();
  const auto example = repo / "config" / "example.json";
  REQUIRE(std::filesystem::exists(example));
  auto c = load_config(example.string());
  INFO((c.ok() ? std::string() : c.error().message));
  REQUIRE(c.ok());
  CHECK(c->auth.contains("userpass"));
}

TEST_CASE("parse_config validates trusted_proxies and writes them canonically", "[config]") {
  auto ok = parse_config(json{{"trusted_proxies", {"127.0.0.1", "::ffff:10.1.2.3", "2001:DB8::0:1"}}});
  REQUIRE(ok.ok());
  CHECK(ok->trusted_proxies == std::vector<std::string>{"127.0.0.1", "10.1.2.3", "2001:db8::1"});
  auto range = parse_config(json{{"trusted_proxies", {"10.0.0.0/8"}}});
  REQUIRE_FALSE(range.ok());
  CHECK(range.error().message.find("trusted_proxies") != std::string::npos);
  CHECK_FALSE(parse_config(json{{"trusted_proxies", {"proxy.example.org"}}}).ok());
  CHECK_FALSE(parse_config(json{{"trusted_proxies", "127.0.0.1"}}).ok());
}

TEST_CASE("parse_config reads the token limits and the bulk pool (issue 13)", "[config][limits]") {
  auto d = parse_config(json::object());
  REQUIRE(d.ok());
  CHECK(d->tokens.max_live_per_account == 1000);
  CHECK(d->tokens.max_created_per_minute == 60);
  CHECK(d->threads.bulk_workers == 1);
  CHECK(d->threads.bulk_queue == 64);
  auto c = parse_config(json{{"tokens", {{"max_live_per_account", 0}, {"max_created_per_minute", 5}}},
                             {"threads", {{"bulk_workers", 2}, {"bulk_queue", 8}}}});
  REQUIRE(c.ok());
  CHECK(c->tokens.max_live_per_account == 0);
  CHECK(c->tokens.max_created_per_minute == 5);
  CHECK(c->threads.bulk_workers == 2);
  CHECK(c->threads.bulk_queue == 8);
  CHECK(contains(error_of(json{{"tokens", {{"max_live_per_account", -1}}}}), "tokens"));
  CHECK(contains(error_of(json{{"tokens", {{"max_created_per_minute", -1}}}}), "tokens"));
  CHECK(contains(error_of(json{{"threads", {{"bulk_workers", 0}}}}), "threads.bulk_workers"));
  CHECK(contains(error_of(json{{"threads", {{"bulk_queue", 0}}}}), "threads"));
}

TEST_CASE("parse_config: connection limits and server_names", "[config]") {
  auto defaults = parse_config(json::object());
  REQUIRE(defaults.ok());
  CHECK(defaults->limits.first_request_timeout_ms == 5000);
  CHECK(defaults->limits.max_connections_per_address == 256);
  CHECK(defaults->server_names.empty());
  auto set = parse_config(json{{"limits", {{"first_request_timeout_ms", 2000}, {"max_connections_per_address", 0}}},
                               {"server_names", {"Tokens.Example.ORG", "localhost:8080", "[::1]"}}});
  REQUIRE(set.ok());
  CHECK(set->limits.first_request_timeout_ms == 2000);
  CHECK(set->limits.max_connections_per_address == 0);
  CHECK(set->server_names == std::vector<std::string>{"tokens.example.org", "localhost:8080", "[::1]"});
  CHECK_FALSE(parse_config(json{{"limits", {{"first_request_timeout_ms", 10}}}}).ok());
  for (const char* bad : {"", "https://tokens.example.org", "a b", "::1", "host/path"}) {
    INFO(bad);
    auto r = parse_config(json{{"server_names", {bad}}});
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().message.find("server_names") != std::string::npos);
  }
}

TEST_CASE("parse_config_text reads JSON with comments", "[config]") {
  auto c = tokend::config::parse_config_text("// tokend\n{ /* where */ \"listen\": \"127.0.0.1:9000\" }");
  REQUIRE(c.ok());
  CHECK(c->listen.port == 9000);
  auto bad = tokend::config::parse_config_text("{\"listen\": ");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().code == tokend::ErrorCode::kInvalidConfig);
  CHECK(bad.error().message == "not valid JSON");
}

TEST_CASE("scopes, forward_auth and introspection settings", "[config][scopes]") {
  SECTION("defaults: no scopes, forward auth on with the X-Auth-* names, no clients") {
    auto c = parse_config(json::object());
    REQUIRE(c.ok());
    CHECK(c->scopes.empty());
    CHECK(c->forward_auth.enabled);
    CHECK_FALSE(c->forward_auth.session_cookie);
    CHECK(c->forward_auth.user_id_header == "X-Auth-User-Id");
    CHECK(c->forward_auth.scopes_header == "X-Auth-Scopes");
    CHECK(c->introspection.clients.empty());
    CHECK(c->introspection.scope == "tokend:introspect");
  }
  SECTION("declared scopes are read in order") {
    auto c = parse_config(json::parse(R"({"scopes": [
      {"name": "repo:read", "description": "Read", "default": true},
      {"name": "admin"}]})"));
    REQUIRE(c.ok());
    REQUIRE(c->scopes.size() == 2);
    CHECK(c->scopes[0].name == "repo:read");
    CHECK(c->scopes[0].description == "Read");
    CHECK(c->scopes[0].is_default);
    CHECK(c->scopes[1].name == "admin");
    CHECK_FALSE(c->scopes[1].is_default);
  }
  SECTION("bad scopes are refused at start") {
    CHECK(contains(error_of(json::parse(R"({"scopes": {"name": "a"}})")), "scopes"));
    CHECK(contains(error_of(json::parse(R"({"scopes": [{"name": "a b"}]})")), "scopes[0].name"));
    CHECK(contains(error_of(json::parse(R"({"scopes": [{"name": ""}]})")), "scopes[0].name"));
    CHECK(contains(error_of(json::parse(R"({"scopes": [{"name": "a"}, {"name": "a"}]})")), "twice"));
    CHECK(contains(error_of(json::parse(R"({"scopes": [{"name": "a", "dflt": true}]})")), "unknown setting"));
    CHECK(contains(error_of(json{{"scopes", {{{"name", "a"}, {"description", "x\ny"}}}}}), "description"));
    json many = json::array();
    for (int i = 0; i < 65; ++i) many.push_back({{"name", "s" + std::to_string(i)}});
    CHECK(contains(error_of(json{{"scopes", many}}), "at most"));
  }
  SECTION("forward_auth header names are HTTP field names") {
    auto c = parse_config(json::parse(R"({"forward_auth": {"session_cookie": true, "headers": {"user_id": "X-User"}}})"));
    REQUIRE(c.ok());
    CHECK(c->forward_auth.session_cookie);
    CHECK(c->forward_auth.user_id_header == "X-User");
    CHECK(contains(error_of(json::parse(R"({"forward_auth": {"headers": {"user_id": "X User"}}})")), "header name"));
    CHECK(contains(error_of(json::parse(R"({"forward_auth": {"headers": {"group": "X-G"}}})")), "unknown setting"));
  }
  SECTION("introspection clients need an id and an argon2id hash") {
    auto c = parse_config(json::parse(R"({"introspection": {"clients": [
      {"id": "api-gateway", "secret_hash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaA"}]}})"));
    REQUIRE(c.ok());
    REQUIRE(c->introspection.clients.size() == 1);
    CHECK(c->introspection.clients[0].id == "api-gateway");
    CHECK(contains(error_of(json::parse(R"({"introspection": {"clients": [{"id": "a:b", "secret_hash": "$argon2id$x"}]}})")),
                   ".id"));
    CHECK(contains(error_of(json::parse(R"({"introspection": {"clients": [{"id": "a", "secret_hash": "plain"}]}})")),
                   "secret_hash"));
    CHECK(contains(error_of(json::parse(R"({"introspection": {"clients": {"id": "a"}}})")), "clients"));
    CHECK(contains(error_of(json::parse(R"({"introspection": {"scope": "a b"}})")), "introspection.scope"));
  }
}
