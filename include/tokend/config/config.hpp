// Config: every setting of tokend, parsed and validated once at start into
// plain structs. Each field's default is the documented default
// (docs/configuration.md). The file is JSON (config/example.json).
//
// Authenticator settings stay JSON objects here: each authenticator's factory
// parses and validates its own object (src/auth/<type>/), so adding a method
// never touches this file.
//
// Thread-safety: immutable after load; share by const reference.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokend/common/result.hpp"

namespace tokend::config {

struct ListenConfig {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;  // 0: any free port (the log says which)
};

struct TlsConfig {
  bool enabled = false;
  std::string cert_file;  // PEM chain
  std::string key_file;   // PEM private key
};

struct LimitsConfig {
  std::size_t max_header_bytes = 8 * 1024;
  std::size_t max_body_bytes = 64 * 1024;
  int read_timeout_ms = 10'000;    // whole request, from its first byte
  int idle_timeout_ms = 60'000;    // keep-alive connection with no request
  int write_timeout_ms = 10'000;
  std::size_t max_connections = 10'000;
  // A connection must send its first complete request (TLS handshake, head
  // and body) within this long of being accepted; later requests get
  // idle_timeout_ms to start.
  int first_request_timeout_ms = 5'000;
  // Open connections from one client address (the TCP peer); 0: no cap.
  // Trusted proxies are exempt.
  std::size_t max_connections_per_address = 256;
};

struct ThreadsConfig {
  int io_threads = 0;              // 0: number of cores
  int workers = 0;                 // 0: number of cores (hashing, SQLite)
  std::size_t worker_queue = 1024; // queued jobs before 503
  int upstream_workers = 16;       // LDAP and OAuth provider calls
  std::size_t upstream_queue = 256;
  // Listings (GET /api/tokens): their own small pool, so large answers never
  // queue in front of token validation on the worker pool.
  int bulk_workers = 1;
  std::size_t bulk_queue = 64;
};

struct DatabaseConfig {
  std::string driver = "sqlite";  // sqlite | postgresql
  // sqlite
  std::string path = "./data/tokend.db";
  int busy_timeout_ms = 5000;
  std::string synchronous = "full";  // full | normal (WAL: normal loses the last commits on power loss, not on a crash)
  // postgresql (docs/configuration.md, "database"): a libpq URI or keyword
  // string; the password from password_file (or libpq's own PGPASSFILE /
  // ~/.pgpass), never logged.
  std::string url;
  std::string password_file;
  int pool_size = 8;                 // connections per instance, at most
  int connect_timeout_ms = 5000;     // bounds connecting (TCP, TLS, authentication)
  int statement_timeout_ms = 5000;   // PostgreSQL's statement_timeout for every statement
};

// Lifetimes are milliseconds here; the file gives them as durations
// ("90d", "12h", "10m", "30s": tokens.lifetime, min_lifetime, max_lifetime)
// or, as before, whole days (lifetime_days, max_lifetime_days).
struct TokenConfig {
  std::int64_t lifetime_ms = 90LL * 86'400'000;       // default lifetime; 0: tokens never expire
  std::int64_t min_lifetime_ms = 60'000;              // floor of a requested lifetime
  std::int64_t max_lifetime_ms = 365LL * 86'400'000;  // cap of a requested lifetime; 0: no cap
  // Cap of graceSeconds in POST /api/tokens/{id}/rotate (how long the old
  // token keeps working); 0: rotation always ends the old token at once.
  std::int64_t max_rotation_grace_seconds = 3600;
  std::int64_t max_live_per_account = 1000;  // live tokens one account may hold; 0: no cap
  int max_created_per_minute = 60;           // new tokens per account per minute; 0: no limit
};

// Validation from memory (token/validation_cache.hpp, issue 12).
struct ValidationCacheConfig {
  // Tokens remembered at most (digest -> record and account); 0 turns memory
  // validation off: every validation reads the database.
  std::size_t max_tokens = 100'000;
  // How often the change feed is read (other instances', the CLI's writes).
  std::int64_t poll_interval_ms = 50;
  // Answers come from memory only while the last successful feed read
  // started less than this long ago; 1 to 1000.
  std::int64_t max_staleness_ms = 500;
};

struct PasswordConfig {
  // argon2id at the OWASP Password Storage Cheat Sheet's first recommendation.
  std::uint32_t memory_kib = 19'456;
  std::uint32_t iterations = 2;
  std::uint32_t parallelism = 1;
  std::size_t max_bytes = 1024;   // longer passwords are refused with 400
  std::size_t min_length = 8;     // enforced when a password is set
};

struct ThrottleRule {
  int max_failures = 0;
  int window_s = 0;
};

struct ThrottleConfig {
  ThrottleRule per_username{5, 300};
  ThrottleRule per_address{30, 300};
  std::size_t max_tracked = 100'000;  // bounded memory under a flood
};

struct SessionConfig {
  // The base name. When cookies are Secure (tls.enabled or behind_tls_proxy)
  // the cookie is sent and accepted only as "__Host-" + this name
  // (session::SessionService::cookie_name).
  std::string cookie_name = "tokend_session";
  int idle_timeout_minutes = 30;
  int absolute_timeout_hours = 12;
  bool behind_tls_proxy = false;  // cookies get Secure although the listener is plain HTTP
  std::vector<std::string> allowed_origins;  // extra origins allowed for cookie requests
};

struct MetricsConfig {
  bool enabled = true;             // false: GET /metrics is a 404
  std::string bearer_token_file;   // set: /metrics needs "Authorization: Bearer <its content>"
  // Read from bearer_token_file by parse_config (surrounding whitespace
  // trimmed). Secret: never logged. Empty when no file is set.
  std::string bearer_token;
};

struct LogConfig {
  std::string level = "info";  // trace debug info warn error
  bool access_log = true;
  std::string file;            // empty: stderr
};

// The audit trail (audit/json_lines_log.hpp; docs/operations.md, "Audit log").
struct AuditConfig {
  // On by default: an authentication service must be able to say afterwards
  // who got which token, from where (docs/configuration.md says why).
  bool enabled = true;
  std::string path = "-";  // a file (appended to) or "-" for standard output
};

struct WebConfig {
  bool enabled = true;
  std::string root;  // default: <binary>/../share/tokend/web if it exists, else the source tree's web/
};

// One scope the operator declares (scopes: [...]): a token carries a subset.
struct ScopeConfig {
  std::string name;         // an RFC 6749 scope-token, validated (token/scopes.hpp)
  std::string description;  // shown on the token page
  bool is_default = false;  // granted to tokens asked for without "scopes"
};

// GET /api/auth/verify (forward authentication for reverse proxies).
struct ForwardAuthConfig {
  bool enabled = true;
  bool session_cookie = false;  // also accept the browser session cookie
  // Names of the identity headers of a 200 answer.
  std::string user_id_header = "X-Auth-User-Id";
  std::string username_header = "X-Auth-Username";
  std::string email_header = "X-Auth-Email";
  std::string token_id_header = "X-Auth-Token-Id";
  std::string scopes_header = "X-Auth-Scopes";
};

// A client allowed to call POST /api/introspect with HTTP Basic.
struct IntrospectionClient {
  std::string id;
  std::string secret_hash;  // argon2id PHC string (tokend hash-secret)
};

// POST /api/introspect (RFC 7662).
struct IntrospectionConfig {
  std::vector<IntrospectionClient> clients;
  // A bearer token carrying this scope may introspect too; "" turns that off.
  std::string scope = "tokend:introspect";
};

struct Config {
  ListenConfig listen;
  TlsConfig tls;
  LimitsConfig limits;
  ThreadsConfig threads;
  DatabaseConfig database;
  TokenConfig tokens;
  ValidationCacheConfig validation_cache;
  PasswordConfig passwords;
  ThrottleConfig throttle;
  SessionConfig sessions;
  MetricsConfig metrics;
  LogConfig log;
  AuditConfig audit;
  WebConfig web;
  int shutdown_timeout_ms = 10'000;
  // Addresses of reverse proxies whose X-Forwarded-For is believed: for a
  // request from one of them, the client address (logs, per-address
  // throttle) is the last X-Forwarded-For entry that is not itself a trusted
  // proxy. From anyone else the header is ignored, so it cannot be spoofed.
  std::vector<std::string> trusted_proxies;
  // Host names (with an optional port) this server answers for, lower-cased;
  // a request with another Host gets 421. Empty: any Host.
  std::vector<std::string> server_names;
  // name -> settings object; each has "type" (defaults to the name) and
  // optionally "enabled": false. Default: {"userpass": {"type": "userpass"}}.
  nlohmann::json auth = nlohmann::json::object();
  // Declared scopes, in the configured order; empty: tokens carry none.
  std::vector<ScopeConfig> scopes;
  ForwardAuthConfig forward_auth;
  IntrospectionConfig introspection;
  // The file it was read from (load_config); empty: the built-in defaults.
  std::string source_file;
};

// Parses a config document. Unknown keys are errors (a typo must not silently
// fall back to a default). Error code "invalid_config" with the offending key.
Result<Config> parse_config(const nlohmann::json& doc);

// Reads and parses the file at `path`; an empty path gives the defaults.
Result<Config> load_config(const std::string& path);

// Parses the text of a configuration file: JSON, with // and /* */ comments
// allowed. Errors as parse_config(), or "invalid_config" "not valid JSON".
Result<Config> parse_config_text(std::string_view text);

// A duration: whole digits and one unit, "d" (days), "h", "m" or "s", e.g.
// "90d", "12h", "10m", "30s"; "0" alone is zero. Milliseconds, or
// "invalid_config" naming `key`.
Result<std::int64_t> parse_duration(std::string_view text, std::string_view key);

// "HOST:PORT" or "[V6]:PORT" into `out`. Error code "invalid_config".
Status parse_listen(std::string_view text, ListenConfig& out);

}  // namespace tokend::config
