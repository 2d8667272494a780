// POST /api/authenticate/<method>, POST /api/login, POST /api/logout,
// GET /api/session, GET /api/login/methods. Thin: they read the request, run
// the login service (auth/login_service.hpp) and map its outcome to HTTP.
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "api/caller.hpp"
#include "api/request_body.hpp"
#include "api/routes_internal.hpp"
#include "tokend/auth/login_service.hpp"
#include "tokend/auth/registry.hpp"
#include "tokend/config/config.hpp"
#include "tokend/log/log.hpp"
#include "tokend/session/session_service.hpp"
#include "tokend/token/token_service.hpp"

namespace tokend::api {

namespace {

using http::error_response;
using http::HttpRequest;
using http::HttpResponse;
using nlohmann::json;

constexpr std::size_t kMaxUsernameBytes = 256;
constexpr std::size_t kMaxEmailBytes = 320;
constexpr std::size_t kMaxProviderTokenBytes = 8192;

HttpResponse missing(const char* field) {
  return error_response(400, "missing_field", std::string("The field '") + field + "' is required.");
}

// Reads the credentials for `a` from `body` into `out`. An error response when
// a field is missing or out of bounds.
std::optional<HttpResponse> read_credentials(const json& body, const auth::Authenticator& a, ApiContext& ctx,
                                             auth::AuthRequest& out) {
  if (a.credentials() == auth::Authenticator::Credentials::kPassword) {
    auto u = string_field(body, "username");
    if (!u) return error_response(400, u.error().code_name(), u.error().message);
    auto p = string_field(body, "password");
    if (!p) return error_response(400, p.error().code_name(), p.error().message);
    if (!*u || (*u)->empty()) return missing("username");
    if (!*p) return missing("password");
    if ((*u)->size() > kMaxUsernameBytes) return error_response(400, "username_too_long", "The username is too long.");
    // Capped before hashing: a megabyte password must not cost seconds of CPU.
    if ((*p)->size() > ctx.config.passwords.max_bytes) {
      return error_response(400, "password_too_long",
                            "The password is longer than " + std::to_string(ctx.config.passwords.max_bytes) +
                                " bytes.");
    }
    out.username = std::move(**u);
    out.password = std::move(**p);
  } else {
    auto e = string_field(body, "email");
    if (!e) return error_response(400, e.error().code_name(), e.error().message);
    if (!*e || (*e)->empty()) return missing("email");
    if (!body.contains("info") || !body["info"].is_object()) return missing("info.accessToken");
    auto t = string_field(body["info"], "accessToken");
    if (!t) return error_response(400, t.error().code_name(), t.error().message);
    if (!*t || (*t)->empty()) return missing("info.accessToken");
    if ((*e)->size() > kMaxEmailBytes) return error_response(400, "email_too_long", "The email is too long.");
    if ((*t)->size() > kMaxProviderTokenBytes) {
      return error_response(400, "access_token_too_long", "The access token is too long.");
    }
    out.email = std::move(**e);
    out.access_token = std::move(**t);
  }
  return std::nullopt;
}

// The one table from a failed login to its HTTP answer. Statuses and bodies
// are part of the API (docs/api.md): a wrong password must never look like a
// directory that is down, and the reverse.
HttpResponse login_failure_response(const auth::LoginResult& r) {
  switch (r.failure) {
    case auth::FailureKind::kInvalidCredentials:
      // One body for every credential failure: unknown user, wrong password,
      // disabled account, not in the required group, unverified email...
      return error_response(401, "invalid_credentials", "Invalid credentials.");
    case auth::FailureKind::kThrottled:
      return error_response(429, "too_many_attempts",
                            "Too many failed sign-in attempts. Try again in " + std::to_string(r.retry_after) +
                                " seconds.",
                            r.retry_after);
    case auth::FailureKind::kUpstreamDown:
      return error_response(503, "upstream_unavailable", "The identity provider is unavailable.", 5);
    case auth::FailureKind::kUpstreamTimeout:
      return error_response(504, "upstream_timeout", "The identity provider did not answer in time.");
    case auth::FailureKind::kUpstreamBadAnswer:
      return error_response(502, "upstream_error", "The identity provider gave an unusable answer.");
    case auth::FailureKind::kStorageError:
      return error_response(503, "storage_unavailable", "The service is temporarily unavailable.", 1);
    case auth::FailureKind::kServerBusy:
      return error_response(503, "server_busy", "The server cannot check passwords right now. Try again shortly.", 1);
    case auth::FailureKind::kNone:
      break;
  }
  return error_response(500, "internal_error", "Something went wrong on our side.");
}

// Runs the login service with `a` on the credentials in `body`: the User, or
// the response to send (400/401/429/5xx).
std::variant<store::User, HttpResponse> login(const HttpRequest& req, const json& body, ApiContext& ctx,
                                              auth::Authenticator& a) {
  auth::AuthRequest areq;
  areq.peer = req.peer;
  if (auto err = read_credentials(body, a, ctx, areq)) return std::move(*err);
  auth::LoginResult result = ctx.login.login(a, std::move(areq), request_context(req));
  if (!result.ok()) return login_failure_response(result);
  return std::move(result.user);
}

bool secure_cookies(const HttpRequest& req, ApiContext& ctx) {
  return req.tls || ctx.config.sessions.behind_tls_proxy;
}

void handle_authenticate(const HttpRequest& req, ApiContext& ctx, auth::Authenticator& a, http::Responder respond) {
  auto body = parse_body(req, a.accepts_single_quoted_json() ? BodyDialect::kSingleQuotedJsonToo
                                                             : BodyDialect::kStrict);
  if (!body) return respond(body_error(body.error()));
  auto options = read_token_options(*body, body_kind(req), ctx);
  if (auto* err = std::get_if<HttpResponse>(&options)) return respond(std::move(*err));
  auto who = login(req, *body, ctx, a);
  if (auto* err = std::get_if<HttpResponse>(&who)) return respond(std::move(*err));
  issue_token(std::get<store::User>(who), a.name(), std::get<TokenOptions>(options), ctx, std::move(respond),
              request_context(req));
}

json user_json(const store::User& u) {
  return {{"id", u.id},
          {"username", u.username},
          {"email", u.email},
          {"displayName", u.display_name},
          {"admin", u.admin}};
}

HttpResponse handle_login(const HttpRequest& req, ApiContext& ctx) {
  if (auto forbidden = check_origin(req, ctx)) return std::move(*forbidden);
  auto body = parse_body(req);
  if (!body) return body_error(body.error());
  auto m = string_field(*body, "method");
  if (!m) return error_response(400, m.error().code_name(), m.error().message);
  auto methods = ctx.registry.password_methods();
  if (methods.empty()) return error_response(400, "unknown_method", "No sign-in method is configured.");
  auth::Authenticator* a = nullptr;
  if (*m && !(*m)->empty()) {
    for (auto* candidate : methods) {
      if (candidate->name() == **m) a = candidate;
    }
    if (!a) return error_response(400, "unknown_method", "No such sign-in method.");
  } else {
    a = ctx.registry.find("userpass");
    if (!a || a->credentials() != auth::Authenticator::Credentials::kPassword) a = methods.front();
  }
  auto who = login(req, *body, ctx, *a);
  if (auto* err = std::get_if<HttpResponse>(&who)) return std::move(*err);
  const store::User& user = std::get<store::User>(who);
  auto created = ctx.sessions.create(user.id, a->name(), request_context(req));
  if (!created) return storage_unavailable(created.error(), "creating a session");
  HttpResponse r = http::json_response(
      200, {{"user", user_json(user)},
            {"method", a->name()},
            {"expiresOn", format_iso8601(ctx.sessions.expires_at(created->record))}});
  r.headers.emplace_back("Set-Cookie", ctx.sessions.set_cookie(created->value, secure_cookies(req, ctx)));
  return r;
}

HttpResponse handle_logout(const HttpRequest& req, ApiContext& ctx) {
  if (req.cookie(ctx.sessions.cookie_name(secure_cookies(req, ctx)))) {
    if (auto forbidden = check_origin(req, ctx)) return std::move(*forbidden);
    auto caller = authenticate_caller(req, ctx, Accept::kCookie);
    if (auto* c = std::get_if<Caller>(&caller)) {
      if (auto s = ctx.sessions.end(c->session->id, c->user.id, request_context(req)); !s) {
        return storage_unavailable(s.error(), "ending a session");
      }
      spdlog::info("logout: user={}", log::printable(c->user.username));
    }
  }
  // Always clear the cookie: signing out of an already-expired session is
  // still a success for the person clicking the button.
  HttpResponse r = http::no_content();
  r.headers.emplace_back("Set-Cookie", ctx.sessions.clear_cookie(secure_cookies(req, ctx)));
  return r;
}

HttpResponse handle_session(const HttpRequest& req, ApiContext& ctx) {
  auto caller = authenticate_caller(req, ctx, Accept::kCookie);
  if (auto* err = std::get_if<HttpResponse>(&caller)) return std::move(*err);
  const Caller& c = std::get<Caller>(caller);
  // The token limits let the page offer only lifetimes the server accepts.
  return http::json_response(200, {{"user", user_json(c.user)},
                                   {"method", c.session->method},
                                   {"expiresOn", format_iso8601(ctx.sessions.expires_at(*c.session))},
                                   {"tokenLifetimeDays",
                                    {{"default", ctx.config.tokens.lifetime_ms / 86'400'000},
                                     {"max", ctx.config.tokens.max_lifetime_ms / 86'400'000}}},
                                   // The same limits to the second (0: never / no cap), for
                                   // lifetimes shorter than a day.
                                   {"tokenLifetimeSeconds",
                                    {{"default", ctx.config.tokens.lifetime_ms / 1000},
                                     {"min", (ctx.config.tokens.min_lifetime_ms + 999) / 1000},
                                     {"max", ctx.config.tokens.max_lifetime_ms / 1000}}}});
}

}  // namespace

void register_auth_routes(http::Router& router, ApiContext& ctx) {
  for (const auto& a : ctx.registry.all()) {
    auth::Authenticator* ap = a.get();
    router.add_deferred("POST", "/api/authenticate/" + a->name(), a->run_on(),
                        [&ctx, ap](const HttpRequest& req, const http::RouteParams&, http::Responder respond) {
                          handle_authenticate(req, ctx, *ap, std::move(respond));
                        });
  }
  router.add("POST", "/api/authenticate/{method}", http::RunOn::kInline,
             [](const HttpRequest&, const http::RouteParams&) {
               return error_response(404, "unknown_provider", "No such authentication method or provider.");
             });
  // Sign-in may go to a directory (ldap), so it runs on the upstream pool.
  router.add("POST", "/api/login", http::RunOn::kUpstream,
             [&ctx](const HttpRequest& req, const http::RouteParams&) { return handle_login(req, ctx); });
  router.add("POST", "/api/logout", http::RunOn::kWorker,
             [&ctx](const HttpRequest& req, const http::RouteParams&) { return handle_logout(req, ctx); });
  router.add("GET", "/api/session", http::RunOn::kWorker,
             [&ctx](const HttpRequest& req, const http::RouteParams&) { return handle_session(req, ctx); });
  router.add("GET", "/api/login/methods", http::RunOn::kInline, [&ctx](const HttpRequest&, const http::RouteParams&) {
    json methods = json::array();
    for (auto* m : ctx.registry.password_methods()) methods.push_back({{"name", m->name()}, {"label", m->label()}});
    return http::json_response(200, {{"methods", methods}});
  });
}

}  // namespace tokend::api
