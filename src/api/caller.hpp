// Who is calling: the account behind a bearer token, or behind a session
// cookie, for the endpoints that accept one or both.
//
// Thread-safety: functions; they block on the database (worker threads only).
#pragma once

#include <optional>
#include <string_view>
#include <string>
#include <variant>

#include "tokend/api/api.hpp"
#include "tokend/http/message.hpp"
#include "tokend/store/store.hpp"

namespace tokend::api {

struct Caller {
  store::User user;
  // Exactly one of these is set.
  std::optional<store::TokenRecord> token;      // authenticated by a token
  std::optional<store::SessionRecord> session;  // authenticated by the session cookie
};

enum class Accept { kToken, kCookie, kTokenOrCookie };

// The caller, or the error response to send: 401 "unauthenticated" (no
// credentials, malformed Authorization, unknown/expired/revoked token or
// session), 503 when the database fails. A request that carries an
// Authorization header is judged by it alone (a bad token is not rescued by a
// cookie).
std::variant<Caller, http::HttpResponse> authenticate_caller(const http::HttpRequest& request, ApiContext& ctx,
                                                             Accept accept);

// authenticate_caller() without blocking, for a route's fast path on an I/O
// thread: what authenticate_caller() would answer, when memory can tell (no
// or a malformed Authorization header, a token the validation cache knows or
// knows not to exist, a session cookie it remembers); nullopt when only the
// database can (a token or a session to look up): then run
// authenticate_caller() on a worker.
std::optional<std::variant<Caller, http::HttpResponse>> authenticate_caller_in_memory(const http::HttpRequest& request,
                                                                                      ApiContext& ctx, Accept accept);

// The token in "Authorization: Bearer <t>" or "Authorization: token <t>"
// (scheme case-insensitive), or nullopt when the header is absent or malformed.
// A view into `request`'s header: valid as long as `request` is.
std::optional<std::string_view> bearer_token(const http::HttpRequest& request);

// For cookie-authenticated requests that change state: nullopt when the
// request may proceed, else the 403 to send. Allowed: no Origin and no
// Referer (curl, scripts), or an origin equal to the server's own (from Host
// and the scheme) or listed in sessions.allowed_origins.
std::optional<http::HttpResponse> check_origin(const http::HttpRequest& request, ApiContext& ctx);

// The 503 for a storage failure (the cause goes to the log only).
http::HttpResponse storage_unavailable(const Error& e, std::string_view what);

}  // namespace tokend::api
