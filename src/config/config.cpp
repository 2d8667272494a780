#include "tokend/config/config.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <optional>
#include <tuple>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "tokend/common/ip.hpp"
#include "tokend/common/text.hpp"
#include "tokend/config/settings_reader.hpp"
#include "tokend/net/url.hpp"
#include "tokend/token/scopes.hpp"

namespace tokend::config {

namespace {

// Where the web page is when web.root is not set: next to an installed
// binary, <binary's folder>/TOKEND_INSTALL_WEB_DIR (../share/tokend/web for
// GNU install folders, so /usr/bin/tokend finds /usr/share/tokend/web under
// any prefix), when that folder exists; otherwise the web/ folder of the
// source tree the binary was built from (a run from the build folder).
std::string default_web_root() {
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    const std::filesystem::path installed = (exe.parent_path() / TOKEND_INSTALL_WEB_DIR).lexically_normal();
    if (std::filesystem::is_directory(installed, ec)) return installed.string();
  }
  return TOKEND_DEFAULT_WEB_ROOT;
}

using nlohmann::json;

Status read_rule(const SettingsReader& parent, const char* key, ThrottleRule& rule) {
  auto s = parent.section(key);
  if (!s) return s.error();
  return first_error({s->read("max_failures", rule.max_failures), s->read("window_s", rule.window_s),
                      s->check_unknown()});
}

// The session cookie's name prefixes (RFC 6265bis 4.1.3). tokend adds
// "__Host-" itself whenever the cookie is Secure; a configured name may carry
// it already (then it is used as is), but only where cookies are Secure: a
// browser drops a "__Host-" cookie without Secure, so sign-in would silently
// never stick. "__Secure-" is refused: it allows a Domain attribute, which is
// the cookie-tossing hole "__Host-" closes.
Status check_cookie_prefix(const Config& c) {
  const std::string& name = c.sessions.cookie_name;
  const bool secure = c.tls.enabled || c.sessions.behind_tls_proxy;
  if (istarts_with(name, "__Secure-")) {
    return Error{ErrorCode::kInvalidConfig,
                 "sessions.cookie_name: the __Secure- prefix is not supported (tokend adds __Host- itself "
                 "when cookies are Secure)"};
  }
  if (istarts_with(name, "__Host-")) {
    if (name.rfind("__Host-", 0) != 0 || name.size() == 7) {
      return Error{ErrorCode::kInvalidConfig, "sessions.cookie_name: write the prefix as __Host- followed by a name"};
    }
    if (!secure) {
      return Error{ErrorCode::kInvalidConfig,
                   "sessions.cookie_name: a __Host- cookie needs Secure: set tls.enabled or "
                   "sessions.behind_tls_proxy, or leave the prefix out (tokend adds it when cookies are Secure)"};
    }
  }
  return ok_status();
}

// Reads metrics.bearer_token_file into metrics.bearer_token. The content is
// trimmed of surrounding whitespace, as Prometheus trims its credentials_file,
// so one file can serve both. At least 16 visible ASCII characters: the
// compare is constant-time but /metrics is not throttled, so a short secret
// could be guessed.
Status read_metrics_token(MetricsConfig& m) {
  m.bearer_token.clear();
  if (m.bearer_token_file.empty()) return ok_status();
  const std::string what = "metrics.bearer_token_file: ";
  if (!m.enabled) return Error{ErrorCode::kInvalidConfig, what + "set, but metrics.enabled is false"};
  std::ifstream in(m.bearer_token_file, std::ios::binary);
  if (!in) return Error{ErrorCode::kInvalidConfig, what + "cannot read " + m.bearer_token_file};
  std::string text;
  constexpr std::size_t kMaxBytes = 4096;
  text.resize(kMaxBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxBytes) return Error{ErrorCode::kInvalidConfig, what + "longer than 4096 bytes"};
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return Error{ErrorCode::kInvalidConfig, what + "the file is empty"};
  text = text.substr(first, text.find_last_not_of(" \t\r\n") - first + 1);
  for (char ch : text) {
    if (ch < 0x21 || ch > 0x7e) {
      return Error{ErrorCode::kInvalidConfig, what + "the token must be visible ASCII characters without spaces"};
    }
  }
  if (text.size() < 16) return Error{ErrorCode::kInvalidConfig, what + "the token must be at least 16 characters"};
  m.bearer_token = std::move(text);
  return ok_status();
}


// An HTTP field name (RFC 9110 token characters), for the forward-auth
// identity headers.
bool valid_header_name(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  });
}

// scopes: [{"name": "repo:read", "description": "...", "default": true}, ...].
Status read_scopes(const json& doc, Config& c) {
  if (!doc.contains("scopes")) return ok_status();
  const json& list = doc.at("scopes");
  if (!list.is_array()) return Error{ErrorCode::kInvalidConfig, "scopes: must be an array of objects"};
  if (list.size() > token::kMaxScopes) {
    return Error{ErrorCode::kInvalidConfig, "scopes: at most " + std::to_string(token::kMaxScopes) + " scopes"};
  }
  for (std::size_t i = 0; i < list.size(); ++i) {
    SettingsReader s(list[i], "scopes[" + std::to_string(i) + "]");
    if (auto st = s.check_object(); !st) return st;
    ScopeConfig sc;
    if (auto st = first_error({s.read("name", sc.name), s.read("description", sc.description),
                               s.read("default", sc.is_default), s.check_unknown()});
        !st) {
      return st;
    }
    if (!token::valid_scope_name(sc.name)) {
      return s.error("name", "1 to " + std::to_string(token::kMaxScopeNameBytes) +
                                 " visible ASCII characters, without spaces, '\"' or '\\'");
    }
    if (sc.description.size() > token::kMaxScopeDescriptionBytes ||
        !printable_utf8(sc.description, BidiControls::kRefuse)) {
      return s.error("description", "printable UTF-8 text of at most " +
                                        std::to_string(token::kMaxScopeDescriptionBytes) + " bytes");
    }
    for (const auto& other : c.scopes) {
      if (other.name == sc.name) return s.error("name", "'" + sc.name + "' is declared twice");
    }
    c.scopes.push_back(std::move(sc));
  }
  return ok_status();
}

Status read_forward_auth(const SettingsReader& root, Config& c) {
  auto s = root.section("forward_auth");
  if (!s) return s.error();
  auto h = s->section("headers");
  if (!h) return h.error();
  auto& f = c.forward_auth;
  if (auto st = first_error({s->read("enabled", f.enabled), s->read("session_cookie", f.session_cookie),
                             h->read("user_id", f.user_id_header), h->read("username", f.username_header),
                             h->read("email", f.email_header), h->read("token_id", f.token_id_header),
                             h->read("scopes", f.scopes_header), h->check_unknown(), s->check_unknown()});
      !st) {
    return st;
  }
  for (const auto* name : {&f.user_id_header, &f.username_header, &f.email_header, &f.token_id_header,
                           &f.scopes_header}) {
    if (!valid_header_name(*name)) {
      return Error{ErrorCode::kInvalidConfig, "forward_auth.headers: '" + *name + "' is not an HTTP header name"};
    }
  }
  return ok_status();
}

Status read_introspection(const SettingsReader& root, const json& doc, Config& c) {
  auto s = root.section("introspection");
  if (!s) return s.error();
  const bool has_clients = s->has("clients");
  s->mark_read("clients");  // an array of objects: read below
  if (auto st = first_error({s->read("scope", c.introspection.scope), s->check_unknown()}); !st) return st;
  if (!c.introspection.scope.empty() && !token::valid_scope_name(c.introspection.scope)) {
    return s->error("scope", "not a valid scope name");
  }
  if (!has_clients) return ok_status();
  const json& list = doc.at("introspection").at("clients");
  if (!list.is_array()) return s->error("clients", "must be an array of objects");
  for (std::size_t i = 0; i < list.size(); ++i) {
    SettingsReader cs(list[i], "introspection.clients[" + std::to_string(i) + "]");
    if (auto st = cs.check_object(); !st) return st;
    IntrospectionClient client;
    if (auto st = first_error({cs.read("id", client.id), cs.read("secret_hash", client.secret_hash),
                               cs.check_unknown()});
        !st) {
      return st;
    }
    // The id travels in HTTP Basic, where ':' ends it.
    if (client.id.empty() || client.id.size() > 128 || client.id.find(':') != std::string::npos ||
        !std::all_of(client.id.begin(), client.id.end(), [](char ch) { return ch > 0x20 && ch < 0x7f; })) {
      return cs.error("id", "1 to 128 visible ASCII characters without ':'");
    }
    if (client.secret_hash.rfind("$argon2id$", 0) != 0) {
      return cs.error("secret_hash", "an argon2id PHC string (make one with: tokend hash-secret)");
    }
    for (const auto& other : c.introspection.clients) {
      if (other.id == client.id) return cs.error("id", "'" + client.id + "' is listed twice");
    }
    c.introspection.clients.push_back(std::move(client));
  }
  return ok_status();
}

constexpr std::int64_t kDayMs = 86'400'000;
// The longest lifetime the configuration accepts (0 is "never" instead).
constexpr std::int64_t kMaxLifetimeMs = 100'000 * kDayMs;

// tokens: the lifetimes as durations or whole days (not both for one
// setting), and the other limits.
Status read_token_lifetimes(const SettingsReader& s, TokenConfig& t) {
  if (auto st = first_error({s.read("max_live_per_account", t.max_live_per_account),
                             s.read("max_created_per_minute", t.max_created_per_minute),
                             s.read("max_rotation_grace_seconds", t.max_rotation_grace_seconds)});
      !st) {
    return st;
  }
  auto days = s.integer("lifetime_days", 0, 100'000);
  if (!days) return days.error();
  auto max_days = s.integer("max_lifetime_days", 0, 100'000);
  if (!max_days) return max_days.error();
  auto lifetime = s.string("lifetime");
  if (!lifetime) return lifetime.error();
  auto min_lifetime = s.string("min_lifetime");
  if (!min_lifetime) return min_lifetime.error();
  auto max_lifetime = s.string("max_lifetime");
  if (!max_lifetime) return max_lifetime.error();
  if (*days && *lifetime) {
    return Error{ErrorCode::kInvalidConfig, "tokens: lifetime_days and lifetime both given; keep one"};
  }
  if (*max_days && *max_lifetime) {
    return Error{ErrorCode::kInvalidConfig, "tokens: max_lifetime_days and max_lifetime both given; keep one"};
  }
  if (*days) t.lifetime_ms = **days * kDayMs;
  if (*max_days) t.max_lifetime_ms = **max_days * kDayMs;
  for (auto [text, out, key] : {std::tuple{&*lifetime, &t.lifetime_ms, "tokens.lifetime"},
                                std::tuple{&*min_lifetime, &t.min_lifetime_ms, "tokens.min_lifetime"},
                                std::tuple{&*max_lifetime, &t.max_lifetime_ms, "tokens.max_lifetime"}}) {
    if (!*text) continue;
    auto ms = parse_duration(**text, key);
    if (!ms) return ms.error();
    *out = *ms;
  }
  if (t.max_rotation_grace_seconds < 0 || t.max_rotation_grace_seconds > 30LL * 86'400) {
    return Error{ErrorCode::kInvalidConfig, "tokens.max_rotation_grace_seconds: 0 to 2592000 (30 days)"};
  }
  return ok_status();
}

}  // namespace

Result<std::int64_t> parse_duration(std::string_view text, std::string_view key) {
  const auto bad = [&] {
    return Error{ErrorCode::kInvalidConfig, std::string(key) +
                                                ": a duration such as \"90d\", \"12h\", \"10m\" or \"30s\" "
                                                "(whole number, one unit)"};
  };
  if (text == "0") return std::int64_t{0};
  if (text.size() < 2 || text.size() > 12) return bad();
  std::int64_t unit = 0;
  switch (text.back()) {
    case 'd': unit = kDayMs; break;
    case 'h': unit = 3'600'000; break;
    case 'm': unit = 60'000; break;
    case 's': unit = 1'000; break;
    default: return bad();
  }
  const std::string_view digits = text.substr(0, text.size() - 1);
  if (digits.find_first_not_of("0123456789") != std::string_view::npos) return bad();
  std::int64_t n = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || end != digits.data() + digits.size()) return bad();
  // 11 digits at most: n * unit stays far inside int64 (1e11 * 8.64e7 < 9.2e18).
  if (n > kMaxLifetimeMs / unit) {
    return Error{ErrorCode::kInvalidConfig, std::string(key) + ": at most 100000 days; use 0 for never"};
  }
  return n * unit;
}

Status parse_listen(std::string_view text, ListenConfig& out) {
  auto hp = net::parse_host_port(text);
  if (!hp) {
    return Error{ErrorCode::kInvalidConfig,
                 "listen: expected HOST:PORT or [IPv6]:PORT, PORT 0 to 65535 (" + hp.error().message + ")"};
  }
  if (!hp->port) return Error{ErrorCode::kInvalidConfig, "listen: expected HOST:PORT or [IPv6]:PORT (no port)"};
  out.host = std::move(hp->host);
  out.port = *hp->port;
  return ok_status();
}

Result<Config> parse_config(const json& doc) {
  Config c;
  SettingsReader root(doc, "");
  if (!root.check_object()) return Error{ErrorCode::kInvalidConfig, "the configuration must be a JSON object"};

  // Each section: its fields in order, then its unknown keys; the first error wins.
  auto section = [&root](const char* key, auto read_fields) -> Status {
    auto s = root.section(key);
    if (!s) return s.error();
    if (auto st = read_fields(*s); !st) return st;
    return s->check_unknown();
  };
  Status listen = ok_status();
  if (doc.contains("listen") && doc.at("listen").is_string()) {
    listen = parse_listen(**root.string("listen"), c.listen);  // the string form "HOST:PORT"
  } else {
    listen = section("listen", [&](const SettingsReader& s) {
      return first_error({s.read("host", c.listen.host), s.read("port", c.listen.port)});
    });
  }
  if (!listen) return listen.error();
  Status fields = first_error({
      section("tls", [&](const SettingsReader& s) {
        return first_error({s.read("enabled", c.tls.enabled), s.read("cert_file", c.tls.cert_file),
                            s.read("key_file", c.tls.key_file)});
      }),
      section("limits", [&](const SettingsReader& s) {
        return first_error({s.read("max_header_bytes", c.limits.max_header_bytes),
                            s.read("max_body_bytes", c.limits.max_body_bytes),
                            s.read("read_timeout_ms", c.limits.read_timeout_ms),
                            s.read("idle_timeout_ms", c.limits.idle_timeout_ms),
                            s.read("write_timeout_ms", c.limits.write_timeout_ms),
                            s.read("max_connections", c.limits.max_connections),
                            s.read("first_request_timeout_ms", c.limits.first_request_timeout_ms),
                            s.read("max_connections_per_address", c.limits.max_connections_per_address)});
      }),
      section("threads", [&](const SettingsReader& s) {
        return first_error({s.read("io_threads", c.threads.io_threads), s.read("workers", c.threads.workers),
                            s.read("worker_queue", c.threads.worker_queue),
                            s.read("upstream_workers", c.threads.upstream_workers),
                            s.read("upstream_queue", c.threads.upstream_queue),
                            s.read("bulk_workers", c.threads.bulk_workers),
                            s.read("bulk_queue", c.threads.bulk_queue)});
      }),
      section("database", [&](const SettingsReader& s) {
        return first_error({s.read("driver", c.database.driver), s.read("path", c.database.path),
                            s.read("busy_timeout_ms", c.database.busy_timeout_ms),
                            s.read("synchronous", c.database.synchronous), s.read("url", c.database.url),
                            s.read("password_file", c.database.password_file),
                            s.read("pool_size", c.database.pool_size, 1, 1000),
                            s.read("connect_timeout_ms", c.database.connect_timeout_ms, 100, 600'000),
                            s.read("statement_timeout_ms", c.database.statement_timeout_ms, 100, 3'600'000)});
      }),
      section("tokens", [&](const SettingsReader& s) { return read_token_lifetimes(s, c.tokens); }),
      section("validation_cache", [&](const SettingsReader& s) {
        return first_error({s.read("max_tokens", c.validation_cache.max_tokens, 0, 100'000'000),
                            s.read("poll_interval_ms", c.validation_cache.poll_interval_ms, 1, 1000),
                            s.read("max_staleness_ms", c.validation_cache.max_staleness_ms, 1, 1000)});
      }),
      section("audit", [&](const SettingsReader& s) {
        return first_error({s.read("enabled", c.audit.enabled), s.read("path", c.audit.path)});
      }),
      section("passwords", [&](const SettingsReader& s) {
        return first_error({s.read("memory_kib", c.passwords.memory_kib), s.read("iterations", c.passwords.iterations),
                            s.read("parallelism", c.passwords.parallelism), s.read("max_bytes", c.passwords.max_bytes),
                            s.read("min_length", c.passwords.min_length)});
      }),
      section("throttle", [&](const SettingsReader& s) {
        return first_error({read_rule(s, "per_username", c.throttle.per_username),
                            read_rule(s, "per_address", c.throttle.per_address),
                            s.read("max_tracked", c.throttle.max_tracked)});
      }),
      section("sessions", [&](const SettingsReader& s) {
        return first_error({s.read("cookie_name", c.sessions.cookie_name),
                            s.read("idle_timeout_minutes", c.sessions.idle_timeout_minutes),
                            s.read("absolute_timeout_hours", c.sessions.absolute_timeout_hours),
                            s.read("behind_tls_proxy", c.sessions.behind_tls_proxy),
                            s.read("allowed_origins", c.sessions.allowed_origins)});
      }),
      section("metrics", [&](const SettingsReader& s) {
        return first_error({s.read("enabled", c.metrics.enabled),
                            s.read("bearer_token_file", c.metrics.bearer_token_file)});
      }),
      section("log", [&](const SettingsReader& s) {
        return first_error(
            {s.read("level", c.log.level), s.read("access_log", c.log.access_log), s.read("file", c.log.file)});
      }),
      section("web", [&](const SettingsReader& s) {
        return first_error({s.read("enabled", c.web.enabled), s.read("root", c.web.root)});
      }),
      root.read("shutdown_timeout_ms", c.shutdown_timeout_ms),
      root.read("trusted_proxies", c.trusted_proxies),
      root.read("server_names", c.server_names),
  });
  if (!fields) return fields.error();
  auto auth = root.section("auth");
  if (!auth) return auth.error();
  if (doc.contains("auth")) c.auth = doc.at("auth");
  root.mark_read("scopes");  // an array of objects: read_scopes reads it
  if (auto st = first_error({read_forward_auth(root, c), read_introspection(root, doc, c), root.check_unknown(),
                             read_scopes(doc, c)});
      !st) {
    return st.error();
  }

  // Cross-field validation.
  if (c.tls.enabled && (c.tls.cert_file.empty() || c.tls.key_file.empty())) {
    return Error{ErrorCode::kInvalidConfig, "tls: enabled needs cert_file and key_file"};
  }
  if (c.database.driver != "sqlite" && c.database.driver != "postgresql") {
    return Error{ErrorCode::kInvalidConfig, "database.driver: must be \"sqlite\" or \"postgresql\""};
  }
  if (c.database.driver == "postgresql") {
    if (c.database.url.empty()) return Error{ErrorCode::kInvalidConfig, "database.url: required with driver \"postgresql\""};
    // libpq's parser, so that a typo stops the start; its message is left
    // out, since it may quote the part of the URL holding the password.
    char* err = nullptr;
    PQconninfoOption* opts = PQconninfoParse(c.database.url.c_str(), &err);
    if (err != nullptr) PQfreemem(err);
    if (opts == nullptr) {
      return Error{ErrorCode::kInvalidConfig, "database.url: not a libpq connection URI or keyword string"};
    }
    PQconninfoFree(opts);
  }
  if (c.database.synchronous != "full" && c.database.synchronous != "normal") {
    return Error{ErrorCode::kInvalidConfig, "database.synchronous: must be \"full\" or \"normal\""};
  }
  if (c.database.path.empty()) return Error{ErrorCode::kInvalidConfig, "database.path: must not be empty"};
  if (c.limits.max_header_bytes < 1024) return Error{ErrorCode::kInvalidConfig, "limits.max_header_bytes: at least 1024"};
  if (c.limits.max_body_bytes < 1024) return Error{ErrorCode::kInvalidConfig, "limits.max_body_bytes: at least 1024"};
  if (c.limits.read_timeout_ms < 100 || c.limits.idle_timeout_ms < 100 || c.limits.write_timeout_ms < 100) {
    return Error{ErrorCode::kInvalidConfig, "limits: timeouts must be at least 100 ms"};
  }
  if (c.limits.max_connections < 1) return Error{ErrorCode::kInvalidConfig, "limits.max_connections: at least 1"};
  if (c.threads.bulk_workers < 1) return Error{ErrorCode::kInvalidConfig, "threads.bulk_workers: at least 1"};
  if (c.tokens.max_live_per_account < 0 || c.tokens.max_created_per_minute < 0) {
    return Error{ErrorCode::kInvalidConfig, "tokens: max_live_per_account and max_created_per_minute must be 0 (off) or more"};
  }
  if (c.limits.first_request_timeout_ms < 100) {
    return Error{ErrorCode::kInvalidConfig, "limits: timeouts must be at least 100 ms"};
  }
  if (c.threads.worker_queue < 1 || c.threads.upstream_queue < 1 || c.threads.bulk_queue < 1) {
    return Error{ErrorCode::kInvalidConfig, "threads: queues must hold at least 1 job"};
  }
  if (c.passwords.memory_kib < 8 * c.passwords.parallelism || c.passwords.iterations < 1 ||
      c.passwords.parallelism < 1) {
    return Error{ErrorCode::kInvalidConfig, "passwords: argon2 parameters out of range"};
  }
  if (c.passwords.max_bytes < 16) return Error{ErrorCode::kInvalidConfig, "passwords.max_bytes: at least 16"};
  if (c.tokens.lifetime_ms > kMaxLifetimeMs || c.tokens.max_lifetime_ms > kMaxLifetimeMs ||
      c.tokens.min_lifetime_ms > kMaxLifetimeMs) {
    return Error{ErrorCode::kInvalidConfig, "tokens: lifetimes above 100000 days; use 0 for tokens that never expire"};
  }
  if (c.tokens.max_lifetime_ms > 0 && c.tokens.lifetime_ms > c.tokens.max_lifetime_ms) {
    return Error{ErrorCode::kInvalidConfig,
                 "tokens.lifetime_days / tokens.lifetime: larger than tokens.max_lifetime(_days)"};
  }
  if (c.tokens.min_lifetime_ms < 1000) {
    return Error{ErrorCode::kInvalidConfig, "tokens.min_lifetime: at least 1s"};
  }
  if (c.tokens.max_lifetime_ms > 0 && c.tokens.min_lifetime_ms > c.tokens.max_lifetime_ms) {
    return Error{ErrorCode::kInvalidConfig, "tokens.min_lifetime: larger than tokens.max_lifetime(_days)"};
  }
  if (c.tokens.lifetime_ms > 0 && c.tokens.lifetime_ms < c.tokens.min_lifetime_ms) {
    return Error{ErrorCode::kInvalidConfig, "tokens.lifetime: shorter than tokens.min_lifetime"};
  }
  if (c.audit.enabled && c.audit.path.empty()) {
    return Error{ErrorCode::kInvalidConfig, "audit.path: a file or \"-\" (standard output); to turn the audit log "
                                            "off, set audit.enabled to false"};
  }
  if (c.sessions.idle_timeout_minutes < 1 || c.sessions.absolute_timeout_hours < 1) {
    return Error{ErrorCode::kInvalidConfig, "sessions: timeouts must be at least 1"};
  }
  if (c.sessions.cookie_name.empty() ||
      c.sessions.cookie_name.find_first_of(" ;,=\"\t\r\n") != std::string::npos) {
    return Error{ErrorCode::kInvalidConfig, "sessions.cookie_name: not a valid cookie name"};
  }
  if (auto s = check_cookie_prefix(c); !s) return s.error();
  if (auto s = read_metrics_token(c.metrics); !s) return s.error();
  for (auto& o : c.sessions.allowed_origins) {
    // Stored in the one spelling check_origin compares: a trailing "/", an
    // upper-case host or an explicit default port must not silently never match.
    auto origin = net::normalize_origin(o);
    if (!origin) {
      return Error{ErrorCode::kInvalidConfig, "sessions.allowed_origins: '" + o +
                                                  "' is not an origin, http:// or https:// then host[:port] (" +
                                                  origin.error().message + ")"};
    }
    o = std::move(*origin);
  }
  for (auto& proxy : c.trusted_proxies) {
    auto canonical = canonical_ip(proxy);
    if (canonical.empty()) {
      return Error{ErrorCode::kInvalidConfig, "trusted_proxies: '" + proxy + "' is not an IP address (ranges are not supported)"};
    }
    proxy = canonical;
  }
  for (auto& name : c.server_names) {
    name = ascii_lower(name);
    // host[:port] as a Host header carries it: no scheme, path or spaces.
    if (name.empty() || name.find_first_of("/ \t@?#") != std::string::npos ||
        (name.front() != '[' && std::count(name.begin(), name.end(), ':') > 1)) {
      return Error{ErrorCode::kInvalidConfig, "server_names: '" + name + "' is not a host name with an optional port"};
    }
  }
  if (!c.auth.is_object()) return Error{ErrorCode::kInvalidConfig, "auth: must be an object"};
  if (c.auth.empty()) c.auth = json{{"userpass", {{"type", "userpass"}}}};
  if (c.web.root.empty()) c.web.root = default_web_root();
  if (c.threads.io_threads == 0) c.threads.io_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (c.threads.workers == 0) c.threads.workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  return c;
}

namespace {
constexpr std::string_view kNotJson = "not valid JSON";
}  // namespace

Result<Config> load_config(const std::string& path) {
  if (path.empty()) return parse_config(json::object());
  std::ifstream in(path);
  if (!in) return Error{ErrorCode::kInvalidConfig, "cannot read the configuration file " + path};
  std::stringstream ss;
  ss << in.rdbuf();
  auto parsed = parse_config_text(ss.str());
  if (!parsed && parsed.error().message == kNotJson) return Error{ErrorCode::kInvalidConfig, path + ": not valid JSON"};
  if (parsed) parsed->source_file = path;
  return parsed;
}

Result<Config> parse_config_text(std::string_view text) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false, /*ignore_comments=*/true);
  if (doc.is_discarded()) return Error{ErrorCode::kInvalidConfig, std::string(kNotJson)};
  return parse_config(doc);
}

}  // namespace tokend::config
