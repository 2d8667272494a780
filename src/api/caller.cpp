#include "api/caller.hpp"

#include <spdlog/spdlog.h>

#include "tokend/config/config.hpp"
#include "tokend/net/url.hpp"
#include "tokend/session/session_service.hpp"
#include "tokend/token/token_service.hpp"

namespace tokend::api {

namespace {

// The canonical "scheme://host[:port]" of a Referer URL (net::origin_of_url);
// empty when it is not an http(s) URL.
std::string origin_of(std::string_view url) {
  auto origin = net::origin_of_url(url);
  return origin ? std::move(*origin) : std::string();
}

http::HttpResponse make_unauthenticated(Accept accept) {
  if (accept == Accept::kCookie) {
    return http::error_response(401, "unauthenticated", "Sign in first: a valid session is required.");
  }
  http::HttpResponse r = http::error_response(
      401, "unauthenticated",
      accept == Accept::kToken ? "A valid token is required." : "A valid token or session is required.");
  r.set_header("WWW-Authenticate", "Bearer");
  return r;
}

http::HttpResponse unauthenticated(Accept accept) {
  // Built once and copied: a flood of bad tokens must cost less than a valid
  // request, so its answer is not a JSON document serialized per request.
  static const http::HttpResponse kCookie = make_unauthenticated(Accept::kCookie);
  static const http::HttpResponse kToken = make_unauthenticated(Accept::kToken);
  static const http::HttpResponse kEither = make_unauthenticated(Accept::kTokenOrCookie);
  switch (accept) {
    case Accept::kCookie:
      return kCookie;
    case Accept::kToken:
      return kToken;
    case Accept::kTokenOrCookie:
      break;
  }
  return kEither;
}

http::HttpResponse forbidden_origin() {
  return http::error_response(403, "forbidden_origin", "Cross-origin requests with a session cookie are not allowed.");
}

}  // namespace

http::HttpResponse storage_unavailable(const Error& e, std::string_view what) {
  spdlog::error("storage error while {}: {}", what, e.message);
  return http::error_response(503, "storage_unavailable", "The service is temporarily unavailable.", 1);
}

std::optional<std::string_view> bearer_token(const http::HttpRequest& request) {
  const auto h = request.header("authorization");
  if (!h) return std::nullopt;
  std::string_view v = *h;
  const auto sp = v.find(' ');
  if (sp == std::string_view::npos) return std::nullopt;
  const std::string_view scheme = v.substr(0, sp);
  if (!http::iequals(scheme, "bearer") && !http::iequals(scheme, "token")) return std::nullopt;
  std::string_view t = v.substr(sp + 1);
  while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
  while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
  if (t.empty() || t.find(' ') != std::string_view::npos) return std::nullopt;
  return t;
}

namespace {

// The session cookie's value. Secure deployments read only the "__Host-"
// name: a plain-named cookie may have been planted by a sibling domain or
// over plain HTTP.
auto session_cookie(const http::HttpRequest& request, ApiContext& ctx) {
  const bool secure = request.tls || ctx.config.sessions.behind_tls_proxy;
  return request.cookie(ctx.sessions.cookie_name(secure));
}

}  // namespace

std::variant<Caller, http::HttpResponse> authenticate_caller(const http::HttpRequest& request, ApiContext& ctx,
                                                             Accept accept) {
  if (request.header("authorization")) {
    if (accept == Accept::kCookie) return unauthenticated(accept);
    const auto t = bearer_token(request);
    if (!t) return unauthenticated(accept);
    auto v = ctx.tokens.validate(*t);
    if (!v) {
      if (v.error().is_not_found()) return unauthenticated(accept);
      return storage_unavailable(v.error(), "validating a token");
    }
    Caller c{std::move(v->user), std::move(v->token), std::nullopt};
    return c;
  }
  if (accept == Accept::kToken) return unauthenticated(accept);
  const auto cookie = session_cookie(request, ctx);
  if (!cookie) return unauthenticated(accept);
  auto s = ctx.sessions.resolve(*cookie);
  if (!s) {
    if (s.error().is_not_found()) return unauthenticated(accept);
    return storage_unavailable(s.error(), "resolving a session");
  }
  Caller c{std::move(s->user), std::nullopt, std::move(s->session)};
  return c;
}

std::optional<std::variant<Caller, http::HttpResponse>> authenticate_caller_in_memory(const http::HttpRequest& request,
                                                                                      ApiContext& ctx, Accept accept) {
  using Answer = std::variant<Caller, http::HttpResponse>;
  if (!request.header("authorization")) {
    if (accept == Accept::kToken) return Answer(unauthenticated(accept));
    // A session memory does not remember is resolved on a worker.
    const auto cookie = session_cookie(request, ctx);
    if (!cookie) return Answer(unauthenticated(accept));
    auto s = ctx.sessions.resolve_in_memory(*cookie);
    if (!s) return std::nullopt;
    // resolve_in_memory fails only with kNotFound: no storage behind it.
    if (!*s) return Answer(unauthenticated(accept));
    return Answer(Caller{std::move((*s)->user), std::nullopt, std::move((*s)->session)});
  }
  if (accept == Accept::kCookie) return Answer(unauthenticated(accept));
  const auto t = bearer_token(request);
  if (!t) return Answer(unauthenticated(accept));
  auto v = ctx.tokens.validate_in_memory(*t);
  if (!v) return std::nullopt;
  // validate_in_memory fails only with kNotFound: no storage behind it.
  if (!*v) return Answer(unauthenticated(accept));
  return Answer(Caller{std::move((*v)->user), std::move((*v)->token), std::nullopt});
}

std::optional<http::HttpResponse> check_origin(const http::HttpRequest& request, ApiContext& ctx) {
  // Cross-site request forgery guard for cookie-authenticated changes. Browsers
  // always send Origin on cross-origin POST/DELETE (and Referer as a fallback);
  // clients without either are not browsers, so a cookie they present was put
  // there on purpose (the documented curl usage).
  // Both sides of every comparison are canonical origins (scheme and host
  // lower-case, default port dropped): "HTTP://Host:80" is "http://host".
  std::string origin;
  if (const auto o = request.header("origin")) {
    // "Origin: null" (sandboxed frames, some redirects) is never trusted; it
    // and anything else that is not an http(s) origin matches nothing.
    auto normalized = net::normalize_origin(*o);
    if (!normalized) return forbidden_origin();
    origin = std::move(*normalized);
  } else if (const auto r = request.header("referer")) {
    origin = origin_of(*r);
    if (origin.empty()) return forbidden_origin();
  } else {
    return std::nullopt;
  }
  if (const auto host = request.header("host")) {
    const bool https = request.tls || ctx.config.sessions.behind_tls_proxy;
    const auto own = net::normalize_origin(std::string(https ? "https://" : "http://") + std::string(*host));
    if (own && origin == *own) return std::nullopt;
  }
  for (const auto& allowed : ctx.config.sessions.allowed_origins) {
    // parse_config stores them canonical already; a Config built in code may not.
    const auto canonical = net::normalize_origin(allowed);
    if (canonical && origin == *canonical) return std::nullopt;
  }
  return forbidden_origin();
}

}  // namespace tokend::api
