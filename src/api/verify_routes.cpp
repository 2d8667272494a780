// GET /api/scopes: the declared scopes.
// GET /api/auth/verify: forward authentication for reverse proxies (nginx
// auth_request, Traefik ForwardAuth, Envoy ext_authz). The proxy sends each
// client request's Authorization header (and Cookie) here; 200 with the
// identity in headers lets the request through, anything else is answered to
// the client by the proxy. docs/forward-auth.md.
#include <nlohmann/json.hpp>

#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <string_view>
#include <vector>

#include "api/caller.hpp"
#include "api/request_body.hpp"
#include "api/routes_internal.hpp"
#include "tokend/config/config.hpp"
#include "tokend/session/session_service.hpp"
#include "tokend/token/scopes.hpp"

namespace tokend::api {

namespace {

using http::HttpRequest;
using http::HttpResponse;

// A header value built from account data (a username or email a provider or
// a directory chose): visible ASCII passes as it is; every other byte (CR, LF,
// NUL, other controls, space, non-ASCII UTF-8) and '%' itself is
// percent-encoded, so no value can end the header or start another one, and
// a backend decodes the value unambiguously.
std::string header_safe(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u > 0x20 && u < 0x7f && u != '%') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 0xf];
    }
  }
  return out;
}

// Every refusal has no body: a proxy passes the status (and for 401 the
// WWW-Authenticate header) to its client and nothing else.
HttpResponse refuse(int status, std::string challenge) {
  HttpResponse r;
  r.status = status;
  r.set_header("WWW-Authenticate", std::move(challenge));
  r.set_header("Cache-Control", "no-store");
  return r;
}

HttpResponse unauthorized(bool credentials_sent) {
  // RFC 6750 §3.1: error="invalid_token" only when a token was presented.
  return refuse(401, credentials_sent ? R"(Bearer realm="tokend", error="invalid_token")" : R"(Bearer realm="tokend")");
}

// The answer to `req` for `caller` (authenticate_caller or its in-memory
// twin), or nullopt when the caller must first be looked up on a worker.
using CallerSource = std::function<std::optional<std::variant<Caller, HttpResponse>>(Accept)>;

std::optional<HttpResponse> verify_answer(const HttpRequest& req, ApiContext& ctx, const CallerSource& find_caller) {
  const config::ForwardAuthConfig& fa = ctx.config.forward_auth;
  // The scopes this location requires: ?scope=a+b (or a%20b), set by the
  // proxy configuration, never by the client (the proxy builds this URL).
  std::vector<std::string> required;
  if (!req.query.empty()) {
    auto query = parse_form(req.query);
    if (!query) return refuse(400, R"(Bearer realm="tokend", error="invalid_request")");
    if (query->contains("scope") && (*query)["scope"].is_string()) {
      required = token::split_scopes((*query)["scope"].get_ref<const std::string&>());
    }
  }
  const Accept accept = fa.session_cookie ? Accept::kTokenOrCookie : Accept::kToken;
  const bool secure = req.tls || ctx.config.sessions.behind_tls_proxy;
  const bool sent = req.header("authorization").has_value() ||
                    (fa.session_cookie && req.cookie(ctx.sessions.cookie_name(secure)).has_value());
  auto found = find_caller(accept);
  if (!found) return std::nullopt;
  auto& caller = *found;
  if (auto* err = std::get_if<HttpResponse>(&caller)) {
    if (err->status == 401) return unauthorized(sent);
    // 503: tokend could not check. The proxy answers its client with an
    // error, never lets the request through.
    return std::move(*err);
  }
  const Caller& c = std::get<Caller>(caller);
  // A session (only with forward_auth.session_cookie) carries the default
  // scopes, as a token issued without "scopes" does.
  const std::vector<std::string> held =
      c.token ? token::effective_scopes(c.token->scopes, ctx.config.scopes) : token::default_scopes(ctx.config.scopes);
  if (!token::has_scopes(held, required)) {
    std::string wanted;
    for (const auto& s : required) {
      // Only valid scope-tokens (no quote, backslash, space or control byte)
      // are echoed into the quoted parameter: with Envoy the client can add
      // names to the query.
      if (!token::valid_scope_name(s)) continue;
      if (!wanted.empty()) wanted += ' ';
      wanted += s;
    }
    return refuse(403, R"(Bearer realm="tokend", error="insufficient_scope", scope=")" + wanted + "\"");
  }
  HttpResponse r;
  r.status = 200;
  r.set_header(fa.user_id_header, std::to_string(c.user.id));
  r.set_header(fa.username_header, header_safe(c.user.username));
  // Empty values are left out: a proxy then sends no such header upstream.
  if (!c.user.email.empty()) r.set_header(fa.email_header, header_safe(c.user.email));
  if (c.token) r.set_header(fa.token_id_header, std::to_string(c.token->id));
  // Scope names are validated visible ASCII; joined with single spaces.
  if (!held.empty()) r.set_header(fa.scopes_header, token::join_scopes(held));
  r.set_header("Cache-Control", "no-store");
  return r;
}

HttpResponse handle_verify(const HttpRequest& req, ApiContext& ctx) {
  auto r = verify_answer(req, ctx, [&](Accept accept) {
    return std::optional<std::variant<Caller, HttpResponse>>(authenticate_caller(req, ctx, accept));
  });
  // authenticate_caller always answers: so does verify_answer with it.
  return r ? std::move(*r) : http::error_response(500, "internal_error", "Something went wrong on our side.");
}

std::optional<HttpResponse> fast_verify(const HttpRequest& req, ApiContext& ctx) {
  return verify_answer(req, ctx, [&](Accept accept) { return authenticate_caller_in_memory(req, ctx, accept); });
}

}  // namespace

void register_verify_routes(http::Router& router, ApiContext& ctx) {
  // The declared scopes, for the token page's checkboxes: configuration
  // only, built once, answered from memory (no authentication, as
  // GET /api/login/methods).
  {
    nlohmann::json scopes = nlohmann::json::array();
    for (const auto& s : ctx.config.scopes) {
      scopes.push_back({{"name", s.name}, {"description", s.description}, {"default", s.is_default}});
    }
    const HttpResponse answer = http::json_response(200, {{"scopes", std::move(scopes)}});
    router.add("GET", "/api/scopes", http::RunOn::kInline,
               [answer](const HttpRequest&, const http::RouteParams&) { return answer; });
  }
  if (!ctx.config.forward_auth.enabled) return;
  // The same path as GET /api/user: one token lookup on a worker (the router
  // answers HEAD with the GET route, without the body there is none anyway).
  // Tried from memory on the I/O thread first (tokens only: a cookie goes to
  // the worker), as GET /api/user.
  router.add(
      "GET", "/api/auth/verify", http::RunOn::kWorker,
      [&ctx](const HttpRequest& r, const http::RouteParams&) { return handle_verify(r, ctx); },
      [&ctx](const HttpRequest& r, const http::RouteParams&) { return fast_verify(r, ctx); });
}

}  // namespace tokend::api
