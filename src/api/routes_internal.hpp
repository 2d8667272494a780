// Pieces shared by the route files of src/api/. Not a public interface.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "api/request_body.hpp"
#include "tokend/api/api.hpp"
#include "tokend/audit/audit_log.hpp"
#include "tokend/config/config.hpp"
#include "tokend/http/message.hpp"
#include "tokend/http/router.hpp"
#include "tokend/common/time.hpp"
#include "tokend/store/store.hpp"

namespace tokend::config { struct ScopeConfig; }

namespace tokend::api {

// Optional fields of a token request: {"name": "...", "expiresInDays": N}
// or {"expiresInSeconds": N}.
struct TokenOptions {
  std::string name;
  std::optional<std::int64_t> lifetime_ms;  // nullopt: tokens.lifetime
  // "scopes": [...] or scope=a b; nullopt when not given (token/scopes.hpp).
  std::optional<std::vector<std::string>> scopes;
};

// The options, or 400: "invalid_field" when name is not a string of at most
// 100 bytes, or the lifetime is refused (read_lifetime); "invalid_token_name" when the name is not printable UTF-8
// (common/text.hpp, bidi controls refused); "invalid_scope" when a scope is
// not declared in the configuration.
std::variant<TokenOptions, http::HttpResponse> read_token_options(const nlohmann::json& body, BodyKind kind,
                                                                  ApiContext& ctx);

// The requested lifetime in milliseconds: nullopt when neither
// expiresInDays nor expiresInSeconds is given; 400 "invalid_field" when both
// are, or when one is not a whole number (JSON number; form decimal) within
// tokens.min_lifetime..max_lifetime (the answer carries minSeconds and
// maxSeconds, and maxDays for expiresInDays).
std::variant<std::optional<std::int64_t>, http::HttpResponse> read_lifetime(const nlohmann::json& body, BodyKind kind,
                                                                            const config::TokenConfig& tc);

// The request's client address and id, for the services' audit events.
inline audit::RequestContext request_context(const http::HttpRequest& req) { return {req.peer, req.request_id}; }

// Issues a token and answers 200 {"token", "expiresOn"} through `respond`
// once the token is committed (503 when the store fails). Returns at once: the
// calling thread does not wait for the commit.
void issue_token(const store::User& user, const std::string& source, const TokenOptions& options, ApiContext& ctx,
                 http::Responder respond, const audit::RequestContext& rc);

// A page cursor of the token listings: "<created_at ms>.<id>" of the last
// token of the previous page. Opaque to clients (docs/api.md); nullopt when
// malformed. src/api/token_routes.cpp.
std::optional<store::TokenPosition> parse_cursor(std::string_view text);
// A token as the listings show it (never its value or digest): id, name,
// source, createdAt, expiresOn, lastUsedAt, scopes (the effective ones).
nlohmann::json token_json(const store::TokenRecord& t, const std::vector<config::ScopeConfig>& declared);
// An ISO 8601 time, or null.
nlohmann::json time_or_null(const std::optional<TimeMs>& t);

void register_auth_routes(http::Router& router, ApiContext& ctx);
void register_token_routes(http::Router& router, ApiContext& ctx);
void register_system_routes(http::Router& router, ApiContext& ctx);
// GET /api/auth/verify (forward authentication), src/api/verify_routes.cpp.
void register_verify_routes(http::Router& router, ApiContext& ctx);
// POST /api/introspect (RFC 7662), src/api/introspect_routes.cpp.
void register_introspect_routes(http::Router& router, ApiContext& ctx);
// The /api/admin/ routes (admins only), src/api/admin_routes.cpp.
void register_admin_routes(http::Router& router, ApiContext& ctx);
// Loads the web page's files into memory and serves them. False when the
// folder cannot be read (the error is logged; the API still works).
bool register_static_routes(http::Router& router, ApiContext& ctx);

}  // namespace tokend::api
