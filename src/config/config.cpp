#include "tokend/config/config.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "tokend/common/text.hpp"
#include "tokend/token/scopes.hpp"
#include "tokend/net/url.hpp"

namespace tokend::config {

namespace {

using nlohmann::json;

// Reads the fields of one config object, remembering which keys were used so
// that any other key is reported as unknown (a typo must not pass silently).
class Section {
 public:
  Section(const json& obj, std::string path) : obj_(obj), path_(std::move(path)) {}

  bool valid_object(std::string& err) const {
    if (!obj_.is_object()) {
      err = path_ + ": must be an object";
      return false;
    }
    return true;
  }

  template <typename T>
  void get(const char* key, T& out, std::string& err) {
    used_.insert(key);
    if (!err.empty() || !obj_.contains(key)) return;
    const json& v = obj_.at(key);
    try {
      if constexpr (std::is_same_v<T, bool>) {
        if (!v.is_boolean()) throw std::invalid_argument("expected true or false");
        out = v.get<bool>();
      } else if constexpr (std::is_integral_v<T>) {
        if (!v.is_number_integer()) throw std::invalid_argument("expected an integer");
        const auto n = v.get<long long>();
        if (n < 0) throw std::invalid_argument("must not be negative");
        if (static_cast<unsigned long long>(n) > static_cast<unsigned long long>(std::numeric_limits<T>::max())) {
          throw std::invalid_argument("too large");
        }
        out = static_cast<T>(n);
      } else if constexpr (std::is_same_v<T, std::string>) {
        if (!v.is_string()) throw std::invalid_argument("expected a string");
        out = v.get<std::string>();
      } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
        if (!v.is_array()) throw std::invalid_argument("expected an array of strings");
        out.clear();
        for (const auto& e : v) {
          if (!e.is_string()) throw std::invalid_argument("expected an array of strings");
          out.push_back(e.get<std::string>());
        }
      }
    } catch (const std::exception& e) {
      err = path_ + "." + key + ": " + e.what();
    }
  }

  // A sub-object, or an empty object when absent.
  const json& sub(const char* key, std::string& err) {
    used_.insert(key);
    static const json kEmpty = json::object();
    if (!obj_.contains(key)) return kEmpty;
    if (!obj_.at(key).is_object() && err.empty()) err = path_ + "." + key + ": must be an object";
    return obj_.at(key).is_object() ? obj_.at(key) : kEmpty;
  }

  const json& raw() const { return obj_; }
  // For a key read by other means (arrays of objects).
  void mark_used(const char* key) { used_.insert(key); }

  void check_unknown(std::string& err) const {
    if (!err.empty()) return;
    for (const auto& [k, _] : obj_.items()) {
      if (!used_.count(k)) {
        err = (path_.empty() ? "" : path_ + ".") + k + ": unknown setting";
        return;
      }
    }
  }

 private:
  const json& obj_;
  std::string path_;
  std::set<std::string> used_;
};

// The canonical text of an IP address (IPv4-mapped IPv6 as IPv4), or "" when
// `text` is not one.
std::string canonical_ip(const std::string& text) {
  unsigned char buf[sizeof(in6_addr)];
  char out[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, text.c_str(), buf) == 1) return inet_ntop(AF_INET, buf, out, sizeof out);
  if (inet_pton(AF_INET6, text.c_str(), buf) != 1) return {};
  static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(kMapped, kMapped + 12, buf)) return inet_ntop(AF_INET, buf + 12, out, sizeof out);
  return inet_ntop(AF_INET6, buf, out, sizeof out);
}

std::string join(const std::string& a, const char* b) { return a.empty() ? b : a + "." + b; }

void read_rule(Section& parent, const char* key, const std::string& path, ThrottleRule& rule, std::string& err) {
  Section s(parent.sub(key, err), join(path, key));
  s.get("max_failures", rule.max_failures, err);
  s.get("window_s", rule.window_s, err);
  s.check_unknown(err);
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[i])) != std::tolower(static_cast<unsigned char>(prefix[i]))) {
      return false;
    }
  }
  return true;
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
  if (starts_with_ci(name, "__Secure-")) {
    return Error{ErrorCode::kInvalidConfig,
                 "sessions.cookie_name: the __Secure- prefix is not supported (tokend adds __Host- itself "
                 "when cookies are Secure)"};
  }
  if (starts_with_ci(name, "__Host-")) {
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
void read_scopes(const json& doc, Config& c, std::string& err) {
  if (!err.empty() || !doc.contains("scopes")) return;
  const json& list = doc.at("scopes");
  if (!list.is_array()) {
    err = "scopes: must be an array of objects";
    return;
  }
  if (list.size() > token::kMaxScopes) {
    err = "scopes: at most " + std::to_string(token::kMaxScopes) + " scopes";
    return;
  }
  for (std::size_t i = 0; i < list.size() && err.empty(); ++i) {
    const std::string path = "scopes[" + std::to_string(i) + "]";
    Section s(list[i], path);
    if (!s.valid_object(err)) return;
    ScopeConfig sc;
    s.get("name", sc.name, err);
    s.get("description", sc.description, err);
    s.get("default", sc.is_default, err);
    s.check_unknown(err);
    if (!err.empty()) return;
    if (!token::valid_scope_name(sc.name)) {
      err = path + ".name: 1 to " + std::to_string(token::kMaxScopeNameBytes) +
            " visible ASCII characters, without spaces, '\"' or '\\'";
      return;
    }
    if (sc.description.size() > token::kMaxScopeDescriptionBytes ||
        !printable_utf8(sc.description, BidiControls::kRefuse)) {
      err = path + ".description: printable UTF-8 text of at most " +
            std::to_string(token::kMaxScopeDescriptionBytes) + " bytes";
      return;
    }
    for (const auto& other : c.scopes) {
      if (other.name == sc.name) {
        err = path + ".name: '" + sc.name + "' is declared twice";
        return;
      }
    }
    c.scopes.push_back(std::move(sc));
  }
}

void read_forward_auth(Section& root, Config& c, std::string& err) {
  Section s(root.sub("forward_auth", err), "forward_auth");
  s.get("enabled", c.forward_auth.enabled, err);
  s.get("session_cookie", c.forward_auth.session_cookie, err);
  {
    Section h(s.sub("headers", err), "forward_auth.headers");
    h.get("user_id", c.forward_auth.user_id_header, err);
    h.get("username", c.forward_auth.username_header, err);
    h.get("email", c.forward_auth.email_header, err);
    h.get("token_id", c.forward_auth.token_id_header, err);
    h.get("scopes", c.forward_auth.scopes_header, err);
    h.check_unknown(err);
  }
  s.check_unknown(err);
  if (!err.empty()) return;
  for (const auto* name : {&c.forward_auth.user_id_header, &c.forward_auth.username_header,
                           &c.forward_auth.email_header, &c.forward_auth.token_id_header,
                           &c.forward_auth.scopes_header}) {
    if (!valid_header_name(*name)) {
      err = "forward_auth.headers: '" + *name + "' is not an HTTP header name";
      return;
    }
  }
}

// introspection: {"clients": [{"id": "...", "secret_hash": "$argon2id$..."}], "scope": "tokend:introspect"}.
void read_introspection(Section& root, Config& c, std::string& err) {
  Section s(root.sub("introspection", err), "introspection");
  s.get("scope", c.introspection.scope, err);
  s.mark_used("clients");  // an array: read below
  s.check_unknown(err);
  if (!err.empty()) return;
  if (!c.introspection.scope.empty() && !token::valid_scope_name(c.introspection.scope)) {
    err = "introspection.scope: not a valid scope name";
    return;
  }
  if (!root.raw().contains("introspection") || !root.raw().at("introspection").contains("clients")) return;
  const json& list = root.raw().at("introspection").at("clients");
  if (!list.is_array()) {
    err = "introspection.clients: must be an array of objects";
    return;
  }
  for (std::size_t i = 0; i < list.size() && err.empty(); ++i) {
    const std::string path = "introspection.clients[" + std::to_string(i) + "]";
    Section cs(list[i], path);
    if (!cs.valid_object(err)) return;
    IntrospectionClient client;
    cs.get("id", client.id, err);
    cs.get("secret_hash", client.secret_hash, err);
    cs.check_unknown(err);
    if (!err.empty()) return;
    // The id travels in HTTP Basic, where ':' ends it.
    if (client.id.empty() || client.id.size() > 128 || client.id.find(':') != std::string::npos ||
        !std::all_of(client.id.begin(), client.id.end(), [](char ch) { return ch > 0x20 && ch < 0x7f; })) {
      err = path + ".id: 1 to 128 visible ASCII characters without ':'";
      return;
    }
    if (client.secret_hash.rfind("$argon2id$", 0) != 0) {
      err = path + ".secret_hash: an argon2id PHC string (make one with: tokend hash-secret)";
      return;
    }
    for (const auto& other : c.introspection.clients) {
      if (other.id == client.id) {
        err = path + ".id: '" + client.id + "' is listed twice";
        return;
      }
    }
    c.introspection.clients.push_back(std::move(client));
  }
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
  std::string err;
  Section root(doc, "");
  if (!root.valid_object(err)) return Error{ErrorCode::kInvalidConfig, "the configuration must be a JSON object"};

  if (doc.contains("listen") && doc.at("listen").is_string()) {
    root.sub("listen", err);  // mark used; string form "HOST:PORT"
    err.clear();
    if (auto s = parse_listen(doc.at("listen").get<std::string>(), c.listen); !s) return s.error();
  } else {
    Section s(root.sub("listen", err), "listen");
    s.get("host", c.listen.host, err);
    s.get("port", c.listen.port, err);
    s.check_unknown(err);
  }
  {
    Section s(root.sub("tls", err), "tls");
    s.get("enabled", c.tls.enabled, err);
    s.get("cert_file", c.tls.cert_file, err);
    s.get("key_file", c.tls.key_file, err);
    s.check_unknown(err);
  }
  {
    Section s(root.sub("limits", err), "limits");
    s.get("max_header_bytes", c.limits.max_header_bytes, err);
    s.get("max_body_bytes", c.limits.max_body_bytes, err);
    s.get("read_timeout_ms", c.limits.read_timeout_ms, err);
    s.get("idle_timeout_ms", c.limits.idle_timeout_ms, err);
    s.get("write_timeout_ms", c.limits.write_timeout_ms, err);
    s.get("max_connections", c.limits.max_connections, err);
    s.get("first_request_timeout_ms", c.limits.first_request_timeout_ms, err);
    s.get("max_connections_per_address", c.limits.max_connections_per_address, err);
    s.check_unknown(err);
  }
  {
    Section s(root.sub("threads", err), "threads");
    s.get("io_threads", c.threads.io_threads, err);
    s.get("workers", c.threads.workers, err);
    s.get("worker_queue", c.threads.worker_queue, err);
    s.get("upstream_workers", c.threads.upstream_workers, err);
    s.get("upstream_queue", c.threads.upstream_queue, err);
    s.get("bulk_workers", c.threads.bulk_workers, err);
    s.get("bulk_queue", c.threads.bulk_queue, err);
    s.check_unknown(err);
  }
  {
    Section s(root.sub("database", err), "database");
    s.get("driver", c.database.driver, err);
    s.get("path", c.database.path, err);
    s.get("busy_timeout_ms", c.database.busy_timeout_ms, err);
    s.get("synchronous", c.database.synchronous, err);
    s.check_unknown(err);
  }
  {
    Section s(root.sub("tokens", err), "tokens");
    s.get("lifetime_days", c.tokens.lifetime_days, err);
    s.get("max_lifetime_days", c.tokens.max_lifetime_days, err);
    s.get("max_live_per_account", c.tokens.max_live_per_account, err);
    s.get("max_created_per_minute", c.tokens.max_created_per_minute, err);
    s.check_unknown(err);
  }
  {
    Section s(root.sub("passwords", err), "passwords");
    s.get("memory_kib", c.passwords.memory_kib, err);
    s.get("iterations", c.passwords.iterations, err);
    s.get("parallelism", c.passwords.parallelism, err);
    s.get("max_bytes", c.passwords.max_bytes, err);
    s.get("min_length", c.passwords.min_length, err);
    s.check_unknown(err);
  }
  {
    Section s(root.sub("throttle", err), "throttle");
    read_rule(s, "per_username", "throttle", c.throttle.per_username, err);
    read_rule(s, "per_address", "throttle", c.throttle.per_address, err);
    s.get("max_tracked", c.throttle.max_tracked, err);
    s.check_unknown(err);
  }
  {
    Section s(root.sub("sessions", err), "sessions");
    s.get("cookie_name", c.sessions.cookie_name, err);
    s.get("idle_timeout_minutes", c.sessions.idle_timeout_minutes, err);
    s.get("absolute_timeout_hours", c.sessions.absolute_timeout_hours, err);
    s.get("behind_tls_proxy", c.sessions.behind_tls_proxy, err);
    s.get("allowed_origins", c.sessions.allowed_origins, err);
    s.check_unknown(err);
  }
  {
    Section s(root.sub("metrics", err), "metrics");
    s.get("enabled", c.metrics.enabled, err);
    s.get("bearer_token_file", c.metrics.bearer_token_file, err);
    s.check_unknown(err);
  }
  {
    Section s(root.sub("log", err), "log");
    s.get("level", c.log.level, err);
    s.get("access_log", c.log.access_log, err);
    s.get("file", c.log.file, err);
    s.check_unknown(err);
  }
  {
    Section s(root.sub("web", err), "web");
    s.get("enabled", c.web.enabled, err);
    s.get("root", c.web.root, err);
    s.check_unknown(err);
  }
  root.get("shutdown_timeout_ms", c.shutdown_timeout_ms, err);
  root.get("trusted_proxies", c.trusted_proxies, err);
  root.get("server_names", c.server_names, err);
  const json& auth = root.sub("auth", err);
  if (doc.contains("auth")) c.auth = auth;
  root.mark_used("scopes");  // an array: read by read_scopes
  read_forward_auth(root, c, err);
  read_introspection(root, c, err);
  root.check_unknown(err);
  read_scopes(doc, c, err);
  if (!err.empty()) return Error{ErrorCode::kInvalidConfig, err};

  // Cross-field validation.
  if (c.tls.enabled && (c.tls.cert_file.empty() || c.tls.key_file.empty())) {
    return Error{ErrorCode::kInvalidConfig, "tls: enabled needs cert_file and key_file"};
  }
  if (c.database.driver != "sqlite") {
    return Error{ErrorCode::kInvalidConfig, "database.driver: only \"sqlite\" is built into this binary"};
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
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
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
