// Fuzzes what an OAuth/OIDC provider sends back that tokend reads as text:
// the OpenID Connect discovery document (auth/oauth/oidc_authenticator.cpp)
// and the pagination `Link` header of GitHub and GitLab
// (auth/oauth/provider_authenticator.cpp), plus the JSON field readers the
// providers share; and the answers of the application checks (issue 14,
// auth/oauth/app_binding.cpp): GitHub's token check, GitLab's token info,
// OIDC introspection and its discovery entry.
//
// Input: one selector byte, then the document or header value. Checks,
// besides "no crash, no sanitizer report":
//   - an endpoint taken from a discovery document is an absolute https URL,
//     and only from a document whose issuer is exactly the configured one;
//   - a next link is the text between a `<` and the following `>` of the
//     header, so it never holds `>`;
//   - id_string() gives only non-empty decimal digits;
//   - a token is "ours" only when the answer names exactly the configured
//     client (GitHub: `app.client_id` absent or equal; GitLab:
//     `application.uid` equal; introspection: `active` is true and
//     `client_id` or `aud` names it), and "foreign" only when active.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "tokend/auth/oauth/app_binding.hpp"
#include "tokend/auth/oauth/oidc_authenticator.hpp"
#include "tokend/auth/oauth/provider_authenticator.hpp"
#include "tokend/net/https_client.hpp"

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

constexpr std::string_view kIssuer = "https://sso.example.com/realms/acme";

void check_discovery(std::string_view body) {
  auto endpoint = tokend::auth::oauth::userinfo_endpoint_from_discovery(body, kIssuer);
  if (!endpoint) {
    require(endpoint.error().code == tokend::ErrorCode::kBadResponse);
    return;
  }
  require(tokend::net::parse_https_url(*endpoint).ok());
  const auto doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  require(doc.is_object() && tokend::auth::oauth::string_field(doc, "issuer") == kIssuer);
}

void check_link(std::string_view header) {
  const auto next = tokend::auth::oauth::next_link(header);
  if (!next) return;
  require(next->find('>') == std::string::npos);
  require(header.find("<" + *next + ">") != std::string_view::npos);
}

void check_json(std::string_view body) {
  const auto doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return;
  for (const auto& [key, value] : doc.items()) {
    (void)tokend::auth::oauth::string_field(doc, key);
    if (const auto id = tokend::auth::oauth::id_string(value)) {
      require(!id->empty());
      for (const char c : *id) require(c >= '0' && c <= '9');
    }
  }
}

constexpr std::string_view kClient = "tokend";

nlohmann::json parsed(std::string_view body) {
  auto doc = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  require(!doc.is_discarded() && doc.is_object());
  return doc;
}

void check_github_token(std::string_view body) {
  using tokend::auth::oauth::TokenApp;
  auto check = tokend::auth::oauth::parse_github_token_check(body, kClient);
  if (!check) {
    require(check.error().code == tokend::ErrorCode::kBadResponse);
    return;
  }
  const auto doc = parsed(body);
  require(!check->user_id.empty() && !check->login.empty());
  for (const char c : check->user_id) require(c >= '0' && c <= '9');
  if (check->app == TokenApp::kOurs) {
    const auto app = doc.value("app", nlohmann::json());
    require(!app.is_object() || !app.contains("client_id") || app["client_id"] == kClient);
  } else {
    require(check->app == TokenApp::kForeign);
  }
}

void check_gitlab_info(std::string_view body) {
  using tokend::auth::oauth::TokenApp;
  auto check = tokend::auth::oauth::parse_gitlab_token_info(body, kClient);
  if (!check) {
    require(check.error().code == tokend::ErrorCode::kBadResponse);
    return;
  }
  const auto doc = parsed(body);
  require(check->app != TokenApp::kInactive);
  if (check->app == TokenApp::kOurs) {
    const auto app = doc.value("application", nlohmann::json());
    require(app.is_object() && app.value("uid", nlohmann::json()) == kClient);
  }
}

void check_introspection(std::string_view body) {
  using tokend::auth::oauth::TokenApp;
  auto check = tokend::auth::oauth::parse_introspection(body, kClient);
  if (!check) {
    require(check.error().code == tokend::ErrorCode::kBadResponse);
    return;
  }
  const auto doc = parsed(body);
  if (check->app == TokenApp::kInactive) return;
  require(doc.value("active", nlohmann::json()) == true);
  if (check->app == TokenApp::kOurs) {
    const auto aud = doc.value("aud", nlohmann::json());
    bool named = doc.value("client_id", nlohmann::json()) == kClient || aud == kClient;
    if (aud.is_array()) {
      for (const auto& a : aud) named = named || a == kClient;
    }
    require(named);
  }
}

void check_introspection_discovery(std::string_view body) {
  auto endpoint = tokend::auth::oauth::introspection_endpoint_from_discovery(body, kIssuer);
  if (!endpoint) {
    require(endpoint.error().code == tokend::ErrorCode::kBadResponse);
    return;
  }
  require(tokend::auth::oauth::string_field(parsed(body), "issuer") == kIssuer);
  if (endpoint->has_value()) require(tokend::net::parse_https_url(**endpoint).ok());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 7) {
    case 0:
      check_discovery(text);
      break;
    case 1:
      check_link(text);
      break;
    case 2:
      check_json(text);
      break;
    case 3:
      check_github_token(text);
      break;
    case 4:
      check_gitlab_info(text);
      break;
    case 5:
      check_introspection(text);
      break;
    default:
      check_introspection_discovery(text);
      break;
  }
  return 0;
}
