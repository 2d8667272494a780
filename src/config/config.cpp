#include "tokend/config/config.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
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

}  // namespace

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
      section("tokens", [&](const SettingsReader& s) {
        return first_error({s.read("lifetime_days", c.tokens.lifetime_days),
                            s.read("max_lifetime_days", c.tokens.max_lifetime_days),
                            s.read("max_live_per_account", c.tokens.max_live_per_account),
                            s.read("max_created_per_minute", c.tokens.max_created_per_minute)});
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
  if (c.tokens.max_lifetime_days > 0 && c.tokens.lifetime_days > c.tokens.max_lifetime_days) {
    return Error{ErrorCode::kInvalidConfig, "tokens.lifetime_days: larger than tokens.max_lifetime_days"};
  }
  if (c.tokens.lifetime_days > 100'000 || c.tokens.max_lifetime_days > 100'000) {
    return Error{ErrorCode::kInvalidConfig, "tokens: lifetimes above 100000 days; use 0 for tokens that never expire"};
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
  if (c.web.root.empty()) c.web.root = TOKEND_DEFAULT_WEB_ROOT;
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
  return parsed;
}

Result<Config> parse_config_text(std::string_view text) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false, /*ignore_comments=*/true);
  if (doc.is_discarded()) return Error{ErrorCode::kInvalidConfig, std::string(kNotJson)};
  return parse_config(doc);
}

}  // namespace tokend::config
