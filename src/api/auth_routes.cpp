// POST /api/authenticate/<method>, POST /api/login, POST /api/logout,
// GET /api/session, GET /api/login/methods.
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "api/caller.hpp"
#include "api/request_body.hpp"
#include "api/routes_internal.hpp"
#include "tokend/auth/registry.hpp"
#include "tokend/auth/throttle.hpp"
#include "tokend/auth/username.hpp"
#include "tokend/config/config.hpp"
#include "tokend/log/log.hpp"
#include "tokend/metrics/metrics.hpp"
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

HttpResponse invalid_credentials() {
  // One body for every credential failure: unknown user, wrong password,
  // disabled account, not in the required group, unverified email...
  return error_response(401, "invalid_credentials", "Invalid credentials.");
}

HttpResponse missing(const char* field) {
  return error_response(400, "missing_field", std::string("The field '") + field + "' is required.");
}

void count_login(ApiContext& ctx, const std::string& method, const char* result) {
  ctx.metrics.counter("tokend_logins_total", "Login attempts, by method and result.",
                      {{"method", method}, {"result", result}}).inc();
}

// Reads the credentials for `a` from `body` into `out`, and the key the
// throttle counts failures under. An error response when a field is missing or
// out of bounds.
std::optional<HttpResponse> read_credentials(const json& body, const auth::Authenticator& a, ApiContext& ctx,
                                             auth::AuthRequest& out, std::string& throttle_key) {
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
    throttle_key = auth::normalize_username(out.username);
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
    // Per address only: provider tokens cannot be guessed, and a per-email
    // count would let anyone lock a victim out with a few junk tokens.
    throttle_key.clear();
  }
  return std::nullopt;
}

// Authenticates with `a` and resolves the local account: the User, or the
// response to send (400/401/429/5xx).
std::variant<store::User, HttpResponse> login(const HttpRequest& req, const json& body, ApiContext& ctx,
                                              auth::Authenticator& a) {
  auth::AuthRequest areq;
  areq.peer = req.peer;
  std::string key;
  if (auto err = read_credentials(body, a, ctx, areq, key)) return std::move(*err);
  const std::string& method = a.name();
  // Security: the per-username count is kept per method. Each method's
  // usernames name different credentials (a local "bob" and a directory "bob"
  // are two accounts), so a shared count would let a success on one method
  // (the attacker's own directory account "bob") clear the failures guessed
  // against the other (the local "bob"). /api/login and /api/authenticate/<m>
  // reach the same authenticator, so they share its count.
  const auto method_key = [&method](const std::string& name) { return name.empty() ? name : method + ":" + name; };

  // The attempt is reserved before the password is checked and counted as a
  // failure until it settles, so parallel guesses cannot all pass the check:
  // at most the limit ever reach the hash or the directory (docs/api.md).
  auto throttled = [&](int wait) {
    count_login(ctx, method, "throttled");
    spdlog::warn("login throttled: method={} user={} peer={}", method, log::printable(key), req.peer);
    return error_response(429, "too_many_attempts",
                          "Too many failed sign-in attempts. Try again in " + std::to_string(wait) + " seconds.",
                          wait);
  };
  auth::LoginThrottle::Reservation reservation = ctx.throttle.reserve(method_key(key), req.peer, now_ms());
  if (!reservation.admitted()) return throttled(reservation.retry_after());
  if (!key.empty()) {
    areq.admit_canonical = [&reservation, &key, &method_key](const std::string& canonical) {
      const std::string normal = auth::normalize_username(canonical);
      if (reservation.rekey(method_key(normal), now_ms()) > 0) return false;
      if (!normal.empty()) key = normal;
      return true;
    };
  }

  // Counts what the throttle let through to the password check (a hash, a
  // directory bind): the number the limits are about.
  ctx.metrics.counter("tokend_login_checks_total", "Login attempts admitted by the throttle and handed to the authenticator, by method.",
                      {{"method", method}}).inc();
  auth::AuthOutcome outcome = a.authenticate(areq);
  if (!reservation.admitted()) return throttled(reservation.retry_after());
  auto fail = [&](const std::string& reason) {
    reservation.fail(now_ms());
    count_login(ctx, method, "rejected");
    ctx.metrics.counter("tokend_failed_logins_total", "Failed logins (bad credentials), by method.",
                        {{"method", method}}).inc();
    spdlog::warn("login failed: method={} user={} reason={} peer={}", method, log::printable(key), reason, req.peer);
    return invalid_credentials();
  };
  switch (outcome.kind) {
    case auth::AuthOutcome::Kind::kRejected:
      return fail(outcome.reason);
    case auth::AuthOutcome::Kind::kFailed: {
      count_login(ctx, method, "error");
      if (outcome.reason == "storage_error") return storage_unavailable(Error{ErrorCode::kStorageError, "during " + method}, "a login");
      if (outcome.reason == "hasher_error") {
        return error_response(503, "server_busy", "The server cannot check passwords right now. Try again shortly.", 1);
      }
      spdlog::error("login error: method={} user={} reason={} status={} peer={}", method, log::printable(key), outcome.reason,
                    outcome.status, req.peer);
      if (outcome.status == 504) {
        return error_response(504, "upstream_timeout", "The identity provider did not answer in time.");
      }
      if (outcome.status == 502) {
        return error_response(502, "upstream_error", "The identity provider gave an unusable answer.");
      }
      return error_response(503, "upstream_unavailable", "The identity provider is unavailable.", 5);
    }
    case auth::AuthOutcome::Kind::kAccepted:
      break;
  }

  const auth::Identity& id = outcome.identity;
  std::optional<store::User> user;
  if (id.local) {
    auto u = ctx.store.find_user(std::stoll(id.subject));
    if (!u) return storage_unavailable(u.error(), "loading an account");
    user = std::move(*u);
  } else {
    // A provider or directory chooses these names: keep only ones that are
    // valid local usernames (no control characters, bounded), else let the
    // store derive one from the provider and subject.
    std::string username = auth::normalize_username(id.username);
    if (!auth::valid_username(username)) username.clear();
    store::ExternalProfile p{id.provider, id.subject, username, id.email, id.display_name, id.link_by_email};
    auto u = ctx.store.upsert_external_user(p, now_ms());
    if (!u) return storage_unavailable(u.error(), "linking an account");
    user = std::move(*u);
  }
  if (!user) return fail("account_vanished");
  if (user->disabled) return fail("account_disabled");
  reservation.succeed();
  count_login(ctx, method, "success");
  spdlog::info("login ok: method={} user={} subject={} peer={}", method, log::printable(user->username),
               log::printable(id.subject), req.peer);
  return std::move(*user);
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
  issue_token(std::get<store::User>(who), a.name(), std::get<TokenOptions>(options), ctx, std::move(respond));
}

json user_json(const store::User& u) {
  return {{"id", u.id}, {"username", u.username}, {"email", u.email}, {"displayName", u.display_name}};
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
  auto created = ctx.sessions.create(user.id, a->name());
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
      if (auto s = ctx.sessions.end(c->session->id); !s) return storage_unavailable(s.error(), "ending a session");
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
                                    {{"default", ctx.config.tokens.lifetime_days},
                                     {"max", ctx.config.tokens.max_lifetime_days}}}});
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
