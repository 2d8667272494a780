#include "tokend/auth/oauth/oidc_authenticator.hpp"

#include <algorithm>
#include <mutex>

#include <spdlog/spdlog.h>

#include "tokend/auth/oauth/app_binding.hpp"
#include "tokend/auth/oauth/provider_authenticator.hpp"

namespace tokend::auth::oauth {

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kDiscoveryTtl = std::chrono::hours(1);

struct OidcSettings {
  std::string issuer;
  std::string userinfo_url;                        // "" = discover
  std::vector<std::string> allowed_email_domains;  // lower-case
  std::optional<ClientApp> app;                    // set: only tokens of this client
  std::string introspection_url;                   // "" = discover (when app is set)
};

// The endpoints a discovery document names ("" when it names none).
struct Discovered {
  std::string userinfo;
  std::string introspection;
};

class OidcAuthenticator final : public ProviderAuthenticator {
 public:
  OidcAuthenticator(std::string name, CommonSettings common, OidcSettings settings,
                    std::unique_ptr<net::HttpsClient> client, metrics::Metrics& metrics)
      : ProviderAuthenticator(std::move(name), std::move(common), std::move(client), metrics,
                              {{"Accept", "application/json"}}),
        settings_(std::move(settings)) {}

  std::string_view type() const override { return "oidc"; }

 protected:
  AuthOutcome verify(Call& call) override {
    std::string introspected_sub;
    if (settings_.app) {
      // Before the userinfo call: a token of another client goes no further.
      if (auto failed = check_application(call, introspected_sub)) return *failed;
    }
    std::string userinfo_url;
    if (auto failed = userinfo_endpoint(call, userinfo_url)) return *failed;

    auto response = call.get(userinfo_url);
    if (!response) return call.failure(response.error());
    // RFC 6750 §3.1: 401 for an invalid or expired token; some providers use
    // 403 for a token without the openid/email scope.
    if (response->status == 403) return AuthOutcome::rejected("insufficient_scope");
    if (response->status != 200) return call.status_outcome(*response, "userinfo");
    auto info = Call::parse_json(*response);
    // A signed (application/jwt) userinfo answer is not JSON: unsupported.
    if (!info || !info->is_object()) return call.bad_response();
    std::string sub = string_field(*info, "sub");
    if (sub.empty()) return call.bad_response();
    call.subject = sub;
    if (!introspected_sub.empty() && introspected_sub != sub) {
      // Introspection and userinfo must describe the same account.
      spdlog::warn("provider {}: introspection and userinfo name different subjects", name());
      return call.bad_response();
    }

    if (!same_email(string_field(*info, "email"), call.request().email)) {
      return AuthOutcome::rejected("email_not_of_account");
    }
    // Only a provider-verified email proves anything. Some providers (AWS
    // Cognito) send the boolean as the string "true".
    auto verified = info->value("email_verified", nlohmann::json());
    if (!(verified == true || verified == "true")) return AuthOutcome::rejected("email_not_verified");
    if (!settings_.allowed_email_domains.empty()) {
      const std::string& email = call.request().email;
      std::string domain = ascii_lower(email.substr(email.rfind('@') + 1));
      if (std::find(settings_.allowed_email_domains.begin(), settings_.allowed_email_domains.end(), domain) ==
          settings_.allowed_email_domains.end()) {
        return AuthOutcome::rejected("email_domain_not_allowed");
      }
    }

    Identity identity;
    identity.subject = sub;
    identity.username = normalize_username(string_field(*info, "preferred_username"));
    if (identity.username.empty()) {
      const std::string& email = call.request().email;
      identity.username = normalize_username(email.substr(0, email.rfind('@')));
    }
    identity.display_name = string_field(*info, "name");
    return AuthOutcome::accepted(std::move(identity));
  }

 private:
  // RFC 7662 introspection of the token with the client's credentials.
  // Fills `sub` (the answer's, "" if none) or returns the outcome: inactive
  // -> rejected "invalid_token"; active for another client ->
  // "foreign_application"; 401/403 -> our client credentials were refused
  // (an operator error: 502, logged as such).
  std::optional<AuthOutcome> check_application(Call& call, std::string& sub) {
    std::string url = settings_.introspection_url;
    if (url.empty()) {
      Discovered found;
      if (auto failed = discover(call, found)) return *failed;
      if (found.introspection.empty()) {
        spdlog::error("provider {}: the discovery document names no introspection_endpoint; set {}.introspection_url",
                      name(), name());
        return call.bad_response();
      }
      url = found.introspection;
    }
    const ClientApp& app = *settings_.app;
    // The token in the form body, the secret only in the Authorization header.
    auto response = call.post(url, basic_authorization(app, /*form_encode=*/true), "application/x-www-form-urlencoded",
                              "token=" + form_encode(call.request().access_token) + "&token_type_hint=access_token");
    if (!response) return call.failure(response.error());
    if (response->status == 401 || response->status == 403) {
      return call.credentials_refused(response->status, "the introspection endpoint");
    }
    if (response->status != 200) return call.status_outcome(*response, "introspection");
    auto check = parse_introspection(response->body, app.client_id);
    if (!check) return call.bad_response();
    if (!check->user_id.empty()) call.subject = check->user_id;
    if (check->app == TokenApp::kInactive) return AuthOutcome::rejected("invalid_token");
    if (check->app != TokenApp::kOurs) return AuthOutcome::rejected("foreign_application");
    sub = check->user_id;
    return std::nullopt;
  }

  // Fills `url` with the userinfo endpoint; on failure, the outcome.
  std::optional<AuthOutcome> userinfo_endpoint(Call& call, std::string& url) {
    if (!settings_.userinfo_url.empty()) {
      url = settings_.userinfo_url;
      return std::nullopt;
    }
    Discovered found;
    if (auto failed = discover(call, found)) return *failed;
    url = std::move(found.userinfo);
    return std::nullopt;
  }

  // Fills `found` from the (cached) discovery document; on failure, the outcome.
  std::optional<AuthOutcome> discover(Call& call, Discovered& found) {
    {
      std::lock_guard lock(mu_);
      if (!discovered_.userinfo.empty() && Clock::now() - discovered_at_ < kDiscoveryTtl) {
        found = discovered_;
        return std::nullopt;
      }
    }
    // Fetched without the lock: two first sign-ins may both fetch, which is
    // harmless, while a slow provider never blocks sign-ins on the lock.
    std::string base = settings_.issuer;
    if (base.ends_with('/')) base.pop_back();
    auto response = call.get(base + "/.well-known/openid-configuration", /*with_token=*/false);
    if (!response) return call.failure(response.error());
    if (response->status != 200) return call.status_outcome(*response, "discovery");
    auto endpoint = userinfo_endpoint_from_discovery(response->body, settings_.issuer);
    if (!endpoint) {
      spdlog::warn("provider {}: unusable discovery document: {}; check {}.issuer", name(), endpoint.error().message,
                   name());
      return call.bad_response();
    }
    auto introspection = introspection_endpoint_from_discovery(response->body, settings_.issuer);
    if (!introspection) {
      spdlog::warn("provider {}: unusable discovery document: {}", name(), introspection.error().message);
      return call.bad_response();
    }
    std::lock_guard lock(mu_);
    discovered_ = Discovered{std::move(*endpoint), introspection->value_or("")};
    discovered_at_ = Clock::now();
    found = discovered_;
    return std::nullopt;
  }

  OidcSettings settings_;
  std::mutex mu_;
  Discovered discovered_;  // guarded by mu_
  Clock::time_point discovered_at_;
};

}  // namespace

Result<std::string> userinfo_endpoint_from_discovery(std::string_view document, std::string_view issuer) {
  auto doc = nlohmann::json::parse(document, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return Error{ErrorCode::kBadResponse, "not a JSON object"};
  // OpenID Connect Discovery §4.3: the issuer in the document must be
  // identical to the one we asked, or the document is not to be trusted.
  if (string_field(doc, "issuer") != issuer) return Error{ErrorCode::kBadResponse, "it names another issuer"};
  std::string endpoint = string_field(doc, "userinfo_endpoint");
  // The access token goes to this URL: https only.
  if (!net::parse_https_url(endpoint)) return Error{ErrorCode::kBadResponse, "no https userinfo_endpoint"};
  return endpoint;
}

Result<std::unique_ptr<Authenticator>> make_oidc_authenticator(const std::string& name,
                                                               const nlohmann::json& settings,
                                                               const FactoryContext& ctx) {
  SettingsReader reader(name, settings);
  if (auto st = reader.check_keys({"issuer", "userinfo_url", "allowed_email_domains", "client_id",
                                    "client_secret_file", "introspection_url"});
      !st) {
    return st.error();
  }
  auto common = reader.common();
  if (!common) return common.error();
  OidcSettings oidc;
  // The issuer is compared byte for byte with the discovery document's, so
  // it is kept exactly as configured (a trailing slash matters).
  auto issuer = reader.https_url("issuer", std::nullopt, /*strip_slash=*/false);
  if (!issuer) return issuer.error();
  oidc.issuer = std::move(*issuer);
  if (settings.contains("userinfo_url")) {
    auto userinfo = reader.https_url("userinfo_url", std::nullopt, /*strip_slash=*/false);
    if (!userinfo) return userinfo.error();
    oidc.userinfo_url = std::move(*userinfo);
  }
  auto domains = reader.string_list("allowed_email_domains", /*lower=*/true);
  if (!domains) return domains.error();
  for (const auto& d : *domains) {
    if (d.find('@') != std::string::npos || d.front() == '.') {
      return reader.error("allowed_email_domains", "each entry must be a bare domain such as \"example.com\"");
    }
  }
  oidc.allowed_email_domains = std::move(*domains);
  auto app = read_client_app(name, settings, /*needs_secret=*/true);
  if (!app) return app.error();
  oidc.app = std::move(*app);
  if (settings.contains("introspection_url")) {
    if (!oidc.app) return reader.error("introspection_url", "is used only with client_id and client_secret_file");
    auto introspection = reader.https_url("introspection_url", std::nullopt, /*strip_slash=*/false);
    if (!introspection) return introspection.error();
    oidc.introspection_url = std::move(*introspection);
  }
  auto client = ProviderAuthenticator::make_client(name, *common);
  if (!client) return client.error();
  return std::unique_ptr<Authenticator>(std::make_unique<OidcAuthenticator>(
      name, std::move(*common), std::move(oidc), std::move(client.value()), ctx.metrics));
}

}  // namespace tokend::auth::oauth
