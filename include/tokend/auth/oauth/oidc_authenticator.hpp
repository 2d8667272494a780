// The "oidc" authenticator: an access token of any OpenID Connect provider
// (Keycloak, Google, Azure AD / Entra ID, Okta, Dex, Authentik...) proves the
// posted email when the provider's userinfo endpoint, called with that token,
// answers with the same `email` and `email_verified: true`.
//
// The userinfo endpoint is `userinfo_url` when set; otherwise it is read from
// {issuer}/.well-known/openid-configuration on first use and cached (for an
// hour; a failed fetch is not cached). The discovery document's `issuer` must
// equal the configured issuer exactly (OpenID Connect Discovery 1.0 §4.3), so
// a misconfigured or spoofed document is refused.
//
// Settings (besides the common ones of ProviderAuthenticator):
//   issuer                 required, e.g. "https://sso.example.com/realms/acme"
//   userinfo_url           optional; skips discovery
//   allowed_email_domains  ["example.com", ...] (exact domain, case-insensitive)
//   client_id, client_secret_file  accept only tokens of (or for) this client
//                          (app_binding.hpp): RFC 7662 introspection first
//   introspection_url      optional with client_id; else from discovery
//
// Identity: subject = `sub`, username = preferred_username (else the email's
// local part), display name = `name`.
//
// Thread-safety: as Authenticator; the discovery cache is mutex-guarded.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "tokend/auth/authenticator_factory.hpp"

namespace tokend::auth::oauth {

// Factory (see authenticator_factory.hpp). Error "invalid_config" with "<name>.<key>: why".
Result<std::unique_ptr<Authenticator>> make_oidc_authenticator(const std::string& name,
                                                               const nlohmann::json& settings,
                                                               const FactoryContext& ctx);

// The userinfo endpoint named by a discovery document (the body of
// {issuer}/.well-known/openid-configuration). Error "bad_response" when the
// body is not a JSON object, its `issuer` is not exactly `issuer`, or its
// `userinfo_endpoint` is not an absolute https URL (parse_https_url).
Result<std::string> userinfo_endpoint_from_discovery(std::string_view document, std::string_view issuer);

}  // namespace tokend::auth::oauth
