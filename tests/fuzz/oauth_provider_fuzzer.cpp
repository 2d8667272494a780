// Fuzzes what an OAuth/OIDC provider sends back that tokend reads as text:
// the OpenID Connect discovery document (auth/oauth/oidc_authenticator.cpp)
// and the pagination `Link` header of GitHub and GitLab
// (auth/oauth/provider_authenticator.cpp), plus the JSON field readers the
// providers share.
//
// Input: one selector byte, then the document or header value. Checks,
// besides "no crash, no sanitizer report":
//   - an endpoint taken from a discovery document is an absolute https URL,
//     and only from a document whose issuer is exactly the configured one;
//   - a next link is the text between a `<` and the following `>` of the
//     header, so it never holds `>`;
//   - id_string() gives only non-empty decimal digits.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      check_discovery(text);
      break;
    case 1:
      check_link(text);
      break;
    default:
      check_json(text);
      break;
  }
  return 0;
}
