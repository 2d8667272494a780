#include "tokend/auth/oauth/provider_authenticator.hpp"

#include <algorithm>
#include <cctype>

#include <spdlog/spdlog.h>

#include "tokend/metrics/metrics.hpp"

namespace tokend::auth::oauth {

namespace {

using Clock = std::chrono::steady_clock;

constexpr std::string_view kCommonKeys[] = {
    "type", "enabled", "ca_file", "proxy", "no_proxy", "connect_timeout_ms", "timeout_ms",
    "max_response_bytes", "link_existing_accounts_by_email"};

// Longest access token we pass on. GitHub's are 40-100 characters, JWT
// access tokens a few kB; anything longer is not a token.
constexpr std::size_t kMaxTokenBytes = 8 * 1024;
constexpr std::size_t kMaxEmailBytes = 320;  // RFC 3696 errata: 64 + 1 + 255

bool printable_ascii(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c > 0x20 && c < 0x7f; });
}

}  // namespace


std::optional<std::string> next_link(std::string_view s) {
  std::size_t pos = 0;
  while (pos < s.size()) {
    auto open = s.find('<', pos);
    if (open == std::string_view::npos) return std::nullopt;
    auto close = s.find('>', open);
    if (close == std::string_view::npos) return std::nullopt;
    auto end = s.find(',', close);
    std::string params = ascii_lower(s.substr(close + 1, end == std::string_view::npos ? std::string_view::npos : end - close - 1));
    params.erase(std::remove(params.begin(), params.end(), ' '), params.end());
    if (params.find("rel=\"next\"") != std::string::npos || params.find("rel=next") != std::string::npos) {
      return std::string(s.substr(open + 1, close - open - 1));
    }
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  return std::nullopt;
}

bool same_email(std::string_view a, std::string_view b) { return !a.empty() && ascii_lower(a) == ascii_lower(b); }

std::optional<std::string> id_string(const nlohmann::json& v) {
  if (v.is_number_unsigned()) return std::to_string(v.get<std::uint64_t>());
  if (v.is_number_integer() && v.get<std::int64_t>() >= 0) return std::to_string(v.get<std::int64_t>());
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    if (!s.empty() && s.size() <= 20 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      return s;
    }
  }
  return std::nullopt;
}

std::string string_field(const nlohmann::json& obj, std::string_view key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

// ---------------------------------------------------------------------------

SettingsReader::SettingsReader(const std::string& name, const nlohmann::json& settings)
    : config::SettingsReader(settings, name) {}

Status SettingsReader::check_keys(std::initializer_list<std::string_view> extra_keys) const {
  // Unknown keys are refused: a typo ("allowed_organisations") must not
  // silently lift a restriction.
  return config::SettingsReader::check_keys([extra_keys](std::string_view key) {
    return std::find(std::begin(kCommonKeys), std::end(kCommonKeys), key) != std::end(kCommonKeys) ||
           std::find(extra_keys.begin(), extra_keys.end(), key) != extra_keys.end();
  });
}

Result<std::string> SettingsReader::https_url(std::string_view key, std::optional<std::string> fallback,
                                              bool strip_slash) const {
  auto value = string(key);
  if (!value) return value.error();
  std::optional<std::string> text = value->has_value() ? *value : fallback;
  if (!text) return error(key, "is required");
  std::string url = *text;
  if (strip_slash) {
    while (!url.empty() && url.back() == '/') url.pop_back();
  }
  // https only, no exceptions: the access token goes into this request.
  auto parsed = net::parse_https_url(url);
  if (!parsed) return error(key, parsed.error().message);
  if (url.find('?') != std::string::npos) return error(key, "must not have a query");
  return url;
}

Result<std::vector<std::string>> SettingsReader::string_list(std::string_view key, bool lower) const {
  auto list = strings(key);
  if (!list) return list.error();
  std::vector<std::string> out = list->value_or(std::vector<std::string>{});
  if (lower) {
    for (auto& item : out) item = ascii_lower(item);
  }
  return out;
}

Result<CommonSettings> SettingsReader::common() const {
  CommonSettings c;
  std::int64_t max_bytes = static_cast<std::int64_t>(c.max_response_bytes);
  if (auto st = config::first_error({read("connect_timeout_ms", c.connect_timeout_ms, 1, 600'000),
                                     read("timeout_ms", c.timeout_ms, 1, 600'000),
                                     read("max_response_bytes", max_bytes, 1024, 64 * 1024 * 1024)});
      !st) {
    return st.error();
  }
  c.max_response_bytes = static_cast<std::size_t>(max_bytes);

  auto ca = string("ca_file");
  if (!ca) return ca.error();
  c.ca_file = ca->value_or("");
  auto proxy = string("proxy");
  if (!proxy) return proxy.error();
  if (proxy->has_value() && !(*proxy)->empty()) {
    if (auto p = net::parse_proxy_url(**proxy); !p) return error("proxy", p.error().message);
  }
  c.proxy = *proxy;
  if (has("no_proxy")) {
    auto list = string_list("no_proxy", true);
    if (!list) return list.error();
    std::string joined;
    for (const auto& entry : *list) joined += (joined.empty() ? "" : ",") + entry;
    c.no_proxy = joined;
  }
  if (auto st = read("link_existing_accounts_by_email", c.link_existing_accounts_by_email); !st) return st.error();
  return c;
}

// ---------------------------------------------------------------------------

Result<std::unique_ptr<net::HttpsClient>> ProviderAuthenticator::make_client(const std::string& name,
                                                                             const CommonSettings& common) {
  net::ClientOptions options;
  options.ca_file = common.ca_file;
  options.proxy = common.proxy;
  options.no_proxy = common.no_proxy;
  options.connect_timeout = std::chrono::milliseconds(common.connect_timeout_ms);
  options.request_timeout = std::chrono::milliseconds(common.timeout_ms);
  options.max_body_bytes = common.max_response_bytes;
  options.max_header_bytes = 32 * 1024;
#ifdef TOKEND_VERSION
  options.user_agent = "tokend/" TOKEND_VERSION;
#endif
  auto client = net::HttpsClient::create(std::move(options));
  if (!client) {
    const std::string& m = client.error().message;
    std::string key = m.rfind("proxy", 0) == 0 ? "proxy" : "ca_file";
    return Error{ErrorCode::kInvalidConfig, name + "." + key + ": " + m};
  }
  return std::move(client.value());
}

ProviderAuthenticator::ProviderAuthenticator(std::string name, CommonSettings common,
                                             std::unique_ptr<net::HttpsClient> client, metrics::Metrics& metrics,
                                             net::Headers default_headers)
    : name_(std::move(name)),
      common_(std::move(common)),
      client_(std::move(client)),
      default_headers_(std::move(default_headers)),
      accepted_(metrics.counter("tokend_provider_logins_total", "Sign-ins with a provider access token, by result",
                                {{"provider", name_}, {"result", "accepted"}})),
      rejected_(metrics.counter("tokend_provider_logins_total", "Sign-ins with a provider access token, by result",
                                {{"provider", name_}, {"result", "rejected"}})),
      failed_(metrics.counter("tokend_provider_logins_total", "Sign-ins with a provider access token, by result",
                              {{"provider", name_}, {"result", "failed"}})),
      upstream_errors_(metrics.counter("tokend_provider_upstream_errors_total",
                                       "Provider calls that failed: unreachable, timeout, TLS, unusable answer",
                                       {{"provider", name_}})),
      upstream_seconds_(metrics.histogram("tokend_provider_upstream_seconds", "Duration of each provider HTTPS call",
                                          {{"provider", name_}})) {}

ProviderAuthenticator::~ProviderAuthenticator() = default;

AuthOutcome ProviderAuthenticator::authenticate(const AuthRequest& request) {
  const auto started = Clock::now();
  Call call(*this, request, started + std::chrono::milliseconds(common_.timeout_ms));
  AuthOutcome outcome;
  if (request.access_token.empty() || request.email.empty()) {
    outcome = AuthOutcome::rejected("missing_credentials");
  } else if (request.access_token.size() > kMaxTokenBytes || !printable_ascii(request.access_token)) {
    // Refused before it goes anywhere near a header line: a CR/LF here would
    // let a client inject headers into our request to the provider.
    outcome = AuthOutcome::rejected("malformed_token");
  } else if (request.email.size() > kMaxEmailBytes || request.email.find('@') == std::string::npos ||
             !printable_ascii(request.email)) {
    outcome = AuthOutcome::rejected("malformed_email");
  } else {
    outcome = verify(call);
  }

  if (outcome.kind == AuthOutcome::Kind::kAccepted) {
    outcome.identity.provider = name_;
    // The posted email, now known to be verified at the provider.
    outcome.identity.email = request.email;
    outcome.identity.link_by_email = common_.link_existing_accounts_by_email;
    outcome.identity.local = false;
    accepted_.inc();
  } else if (outcome.kind == AuthOutcome::Kind::kRejected) {
    rejected_.inc();
  } else {
    failed_.inc();
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count();
  // Provider, outcome, reason and the provider's user id; never the token.
  const char* kind = outcome.ok() ? "accepted" : outcome.kind == AuthOutcome::Kind::kRejected ? "rejected" : "failed";
  if (outcome.kind == AuthOutcome::Kind::kFailed) {
    spdlog::warn("provider login: provider={} outcome={} failure={} reason={} provider_user_id={} peer={} ms={}", name_,
                 kind, to_string(outcome.failure), outcome.reason, call.subject.empty() ? "-" : call.subject, request.peer, ms);
  } else {
    spdlog::info("provider login: provider={} outcome={} reason={} provider_user_id={} peer={} ms={}", name_, kind,
                 outcome.reason.empty() ? "-" : outcome.reason, call.subject.empty() ? "-" : call.subject,
                 request.peer, ms);
  }
  return outcome;
}

// ---------------------------------------------------------------------------

ProviderAuthenticator::Call::Call(ProviderAuthenticator& owner, const AuthRequest& request,
                                  std::chrono::steady_clock::time_point deadline)
    : owner_(owner), request_(request), deadline_(deadline) {}

Result<net::ClientResponse> ProviderAuthenticator::Call::get(const std::string& url, bool with_token) {
  net::Headers headers = owner_.default_headers_;
  if (with_token) headers.emplace_back("Authorization", "Bearer " + request_.access_token);
  const auto started = Clock::now();
  auto response = owner_.client_->get(url, std::move(headers), deadline_);
  owner_.upstream_seconds_.observe(std::chrono::duration<double>(Clock::now() - started).count());
  if (!response) {
    owner_.upstream_errors_.inc();
    spdlog::warn("provider {}: call failed: {} ({})", owner_.name_, response.error().code_name(), response.error().message);
  }
  return response;
}

Result<net::ClientResponse> ProviderAuthenticator::Call::post(const std::string& url, const std::string& authorization,
                                                             std::string_view content_type, std::string body) {
  net::ClientRequest request;
  request.method = "POST";
  request.url = url;
  request.headers = owner_.default_headers_;
  request.headers.emplace_back("Authorization", authorization);
  request.headers.emplace_back("Content-Type", std::string(content_type));
  request.body = std::move(body);
  request.deadline = deadline_;
  const auto started = Clock::now();
  auto response = owner_.client_->send(std::move(request));
  owner_.upstream_seconds_.observe(std::chrono::duration<double>(Clock::now() - started).count());
  if (!response) {
    owner_.upstream_errors_.inc();
    spdlog::warn("provider {}: call failed: {} ({})", owner_.name_, response.error().code_name(), response.error().message);
  }
  return response;
}

AuthOutcome ProviderAuthenticator::Call::failure(const Error& error) const {
  if (error.code == ErrorCode::kTimeout) return AuthOutcome::failed(FailureKind::kUpstreamTimeout, "upstream_timeout");
  if (error.code == ErrorCode::kUnreachable) return AuthOutcome::failed(FailureKind::kUpstreamDown, "upstream_unreachable");
  if (error.code == ErrorCode::kTlsError) return AuthOutcome::failed(FailureKind::kUpstreamBadAnswer, "upstream_tls_error");
  if (error.code == ErrorCode::kTooLarge) return AuthOutcome::failed(FailureKind::kUpstreamBadAnswer, "upstream_response_too_large");
  return AuthOutcome::failed(FailureKind::kUpstreamBadAnswer, "upstream_bad_response");
}

AuthOutcome ProviderAuthenticator::Call::status_outcome(const net::ClientResponse& response,
                                                        std::string_view what) const {
  // 401 is the provider saying the token is not (or no longer) valid.
  if (response.status == 401) return AuthOutcome::rejected("invalid_token");
  auto remaining = response.header("x-ratelimit-remaining");
  if (response.status == 429 || (response.status == 403 && remaining && *remaining == "0")) {
    owner_.upstream_errors_.inc();
    return AuthOutcome::failed(FailureKind::kUpstreamDown, "upstream_rate_limited");
  }
  owner_.upstream_errors_.inc();
  spdlog::warn("provider {}: {} answered status {}", owner_.name_, what, response.status);
  return AuthOutcome::failed(FailureKind::kUpstreamBadAnswer, "upstream_unexpected_status");
}

AuthOutcome ProviderAuthenticator::Call::bad_response() const {
  owner_.upstream_errors_.inc();
  return AuthOutcome::failed(FailureKind::kUpstreamBadAnswer, "upstream_bad_response");
}

AuthOutcome ProviderAuthenticator::Call::credentials_refused(int status, std::string_view what) const {
  owner_.upstream_errors_.inc();
  // Names the settings, never the secret.
  spdlog::error("provider {}: {} refused tokend's client credentials ({}.client_id, {}.client_secret_file) with "
                "status {}: check them",
                owner_.name_, what, owner_.name_, owner_.name_, status);
  return AuthOutcome::failed(FailureKind::kUpstreamBadAnswer, "client_credentials_refused");
}

std::optional<nlohmann::json> ProviderAuthenticator::Call::parse_json(const net::ClientResponse& response) {
  auto value = nlohmann::json::parse(response.body, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return std::nullopt;
  return value;
}

std::optional<AuthOutcome> ProviderAuthenticator::Call::get_all_pages(const std::string& url, nlohmann::json& out,
                                                                      int max_pages) {
  auto first = get(url);
  if (!first) return failure(first.error());
  return get_all_pages(url, std::move(*first), out, max_pages);
}

std::optional<AuthOutcome> ProviderAuthenticator::Call::get_all_pages(const std::string& url,
                                                                      net::ClientResponse first_page,
                                                                      nlohmann::json& out, int max_pages) {
  out = nlohmann::json::array();
  auto origin = net::parse_https_url(url);
  std::string next = url;
  std::optional<net::ClientResponse> response = std::move(first_page);
  for (int page = 0; page < max_pages && !next.empty(); ++page) {
    if (page > 0) {
      auto fetched = get(next);
      if (!fetched) return failure(fetched.error());
      response = std::move(*fetched);
    }
    if (response->status == 403 && response->header("x-ratelimit-remaining") != std::optional<std::string_view>("0")) {
      // The token may not read memberships (no read:org / read_api): it
      // cannot prove the membership the restriction asks for.
      return AuthOutcome::rejected("insufficient_scope");
    }
    if (response->status < 200 || response->status > 299) return status_outcome(*response, "a list request");
    auto body = parse_json(*response);
    if (!body || !body->is_array()) return bad_response();
    for (auto& item : *body) out.push_back(std::move(item));
    next.clear();
    const auto link_header = response->header("Link");
    if (auto link = link_header ? next_link(*link_header) : std::nullopt) {
      auto parsed = net::parse_https_url(*link);
      // The access token goes with every page request: follow only links to
      // the very host and port we were configured with.
      if (!parsed || !origin || parsed->host != origin->host || parsed->port != origin->port) {
        owner_.upstream_errors_.inc();
        return AuthOutcome::failed(FailureKind::kUpstreamBadAnswer, "upstream_foreign_link");
      }
      next = *link;
    }
  }
  return std::nullopt;
}

}  // namespace tokend::auth::oauth
