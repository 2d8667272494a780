// The "github" authenticator: a GitHub (github.com or GitHub Enterprise
// Server) access token - OAuth app, GitHub App user token or personal access
// token - proves the posted email when it is one of the account's verified
// emails. Optionally only members of some organizations or teams get in.
//
// Calls, all with `Authorization: Bearer <token>` to {api_url}:
//   GET /user          the account: numeric id, login, name
//   GET /user/emails   [{email, verified, primary}] (needs scope user:email)
//   GET /user/orgs     only with allowed_organizations (needs read:org)
//   GET /user/teams    only with allowed_teams (needs read:org)
//
// Settings (besides the common ones of ProviderAuthenticator):
//   api_url               default "https://api.github.com";
//                         GitHub Enterprise Server: "https://HOST/api/v3"
//   allowed_organizations ["org", ...]      (case-insensitive)
//   allowed_teams         ["org/team-slug", ...]
//   client_id, client_secret_file   accept only tokens of this OAuth app
//                         (app_binding.hpp): POST /applications/{client_id}/token
//                         replaces GET /user
// With either list set, the account must belong to at least one listed
// organization or team.
//
// Thread-safety: as Authenticator.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "tokend/auth/authenticator_factory.hpp"

namespace tokend::auth::oauth {

// Factory (see authenticator_factory.hpp). Error "invalid_config" with "<name>.<key>: why".
Result<std::unique_ptr<Authenticator>> make_github_authenticator(const std::string& name,
                                                                 const nlohmann::json& settings,
                                                                 const FactoryContext& ctx);

}  // namespace tokend::auth::oauth
