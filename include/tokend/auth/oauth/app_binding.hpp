// Application binding: accepting a provider access token only when it was
// issued to the OAuth application the operator registered for tokend
// (issue 14). Without it, a token that any application obtained from the
// person (with the right scopes) proves who they are here too, so a
// third-party site they signed in to could exchange it.
//
// Each provider answers "which application is this token of?" differently:
//   github  POST {api_url}/applications/{client_id}/token, HTTP Basic
//           client_id:client_secret, body {"access_token": ...}: 200 with the
//           token object (its `user` is the account), 404 when the token is
//           not of this application or not valid at all.
//   gitlab  GET {base_url}/oauth/token/info with the bearer token:
//           `application.uid` is the application's id; 401 when unknown.
//   oidc    the RFC 7662 introspection endpoint, HTTP Basic with the client's
//           credentials: `active` and the client id in `client_id` or `aud`.
// This file holds the settings reader and the parsers of those answers; the
// calls are made by the authenticators.
//
// Thread-safety: plain functions and value types.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "tokend/common/result.hpp"

namespace tokend::auth::oauth {

// The operator's OAuth application at the provider.
struct ClientApp {
  std::string client_id;
  // Read once from client_secret_file at start; "" when the provider needs
  // none (gitlab). Goes only into an Authorization header, never into a log
  // line, an error message or a URL.
  std::string client_secret;
};

// Reads `client_id` and `client_secret_file` of one provider's settings.
// Result: nullopt when neither is set (binding off); the app when binding is
// on. Errors, all Error{kInvalidConfig, "<name>.<key>: why"} and never
// quoting the secret: `client_id` not a non-empty printable string of at
// most 256 bytes; `client_id` without `client_secret_file` (when
// `needs_secret`) or the reverse; `client_secret_file` given when
// `needs_secret` is false; the file unreadable, empty (after trailing
// whitespace, which editors add, is dropped), over 4 KiB or holding control
// characters.
Result<std::optional<ClientApp>> read_client_app(const std::string& name, const nlohmann::json& settings,
                                                 bool needs_secret);

// "Basic base64(id:secret)" (RFC 7617). With `form_encode`, id and secret
// are form-urlencoded first, as RFC 6749 §2.3.1 asks of OAuth clients (OIDC
// introspection); GitHub takes them as they are.
std::string basic_authorization(const ClientApp& app, bool form_encode);

// `text` percent-encoded except RFC 3986 unreserved characters: safe in a
// path segment and in an application/x-www-form-urlencoded value.
std::string form_encode(std::string_view text);

// What an application check said about a token.
enum class TokenApp {
  kOurs,     // issued to the configured application, and valid
  kForeign,  // valid, but issued to another application
  kInactive, // not valid at all (introspection `active: false`)
};

struct TokenCheck {
  TokenApp app = TokenApp::kInactive;
  // The account, when the answer names it: GitHub's `user.id` (decimal),
  // GitLab's `resource_owner_id`, the introspection's `sub` ("" if absent).
  std::string user_id;
  // GitHub only: `user.login` and `user.name` ("" when absent).
  std::string login;
  std::string name;
};

// The body of a 200 answer to GitHub's "check a token". kOurs when it is a
// token object whose `user` has a numeric `id` and a `login` (and whose
// `app.client_id`, when present, is `client_id`; another one is kForeign).
// Error kBadResponse when it is not that shape.
Result<TokenCheck> parse_github_token_check(std::string_view body, std::string_view client_id);

// The body of a 200 answer to GitLab's GET /oauth/token/info. kOurs when
// `application.uid` equals `application_id` exactly, kForeign when it is
// another or the token has no application (`application` null or absent: a
// personal access token). Error kBadResponse when it is not a JSON object or
// has no `resource_owner_id`.
Result<TokenCheck> parse_gitlab_token_info(std::string_view body, std::string_view application_id);

// The body of a 200 answer of an RFC 7662 introspection endpoint. kInactive
// unless `active` is the boolean true; then kOurs when `client_id` equals
// `client_id` or `aud` (a string or an array of strings) contains it, else
// kForeign. Error kBadResponse when it is not a JSON object.
Result<TokenCheck> parse_introspection(std::string_view body, std::string_view client_id);

// The `introspection_endpoint` of a discovery document whose `issuer` is
// exactly `issuer` (as userinfo_endpoint_from_discovery()). nullopt when the
// document has none. Error kBadResponse when the document is not a JSON
// object, names another issuer, or the endpoint is not an absolute https URL.
Result<std::optional<std::string>> introspection_endpoint_from_discovery(std::string_view document,
                                                                         std::string_view issuer);

}  // namespace tokend::auth::oauth
