// The "gitlab" authenticator: a GitLab (gitlab.com or self-managed) access
// token - OAuth token or personal/group access token with scope read_user -
// proves the posted email when it is a confirmed email of the account.
// Optionally only members of some groups get in.
//
// Calls, all with `Authorization: Bearer <token>` to {base_url}/api/v4:
//   GET /user          id, username, name, state, email, confirmed_at
//   GET /user/emails   [{email, confirmed_at}] unless the primary email matched
//   GET /groups?min_access_level=10   only with allowed_groups
// The account's primary email counts as verified when the account's
// confirmed_at is set; a secondary email when its own confirmed_at is set.
//
// Settings (besides the common ones of ProviderAuthenticator):
//   base_url        default "https://gitlab.com" (no /api/v4)
//   allowed_groups  ["group", "group/subgroup", ...] (full paths, case-insensitive;
//                   membership of a subgroup of a listed group counts)
//   client_id       accept only OAuth tokens of this application
//                   (app_binding.hpp): GET {base_url}/oauth/token/info first
//
// Thread-safety: as Authenticator.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "tokend/auth/authenticator_factory.hpp"

namespace tokend::auth::oauth {

// Factory (see authenticator_factory.hpp). Error "invalid_config" with "<name>.<key>: why".
Result<std::unique_ptr<Authenticator>> make_gitlab_authenticator(const std::string& name,
                                                                 const nlohmann::json& settings,
                                                                 const FactoryContext& ctx);

}  // namespace tokend::auth::oauth
