// POST /api/token, GET /api/tokens, DELETE /api/tokens/{id}, DELETE /api/token,
// GET /api/user.
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <memory>

#include "api/caller.hpp"
#include "api/request_body.hpp"
#include "api/routes_internal.hpp"
#include "tokend/common/text.hpp"
#include "tokend/config/config.hpp"
#include "tokend/http/json_writer.hpp"
#include "tokend/log/log.hpp"
#include "tokend/session/session_service.hpp"
#include "tokend/token/scopes.hpp"
#include "tokend/token/token_service.hpp"

namespace tokend::api {

namespace {

using http::error_response;
using http::HttpRequest;
using http::HttpResponse;
using nlohmann::json;

constexpr std::size_t kMaxTokenNameBytes = 100;
// The largest page of GET /api/tokens, and the page size without `limit`.
constexpr std::size_t kMaxTokenPage = 1000;

// A whole number from a body: in JSON a number ("7" is a string, 7.0 not a
// whole number); in a form a plain decimal, digits only (no sign, spaces,
// fraction or hex), like curl -d expiresInDays=7. -1 when it is neither.
std::int64_t whole_number(const json& v, BodyKind kind) {
  std::int64_t n = -1;
  if (kind == BodyKind::kJson) {
    if (v.is_number_integer()) n = v.get<std::int64_t>();  // past INT64_MAX wraps negative: refused
  } else if (v.is_string()) {
    const std::string s = v.get<std::string>();
    const bool digits = !s.empty() && s.size() <= 12 && s.find_first_not_of("0123456789") == std::string::npos;
    if (digits) std::from_chars(s.data(), s.data() + s.size(), n);
  }
  return n;
}

bool given(const json& body, const char* key) { return body.contains(key) && !body[key].is_null(); }

void handle_exchange(const HttpRequest& req, ApiContext& ctx, http::Responder respond) {
  auto caller = authenticate_caller(req, ctx, Accept::kCookie);
  if (auto* err = std::get_if<HttpResponse>(&caller)) return respond(std::move(*err));
  if (auto forbidden = check_origin(req, ctx)) return respond(std::move(*forbidden));
  auto body = parse_body(req);
  if (!body) return respond(body_error(body.error()));
  auto options = read_token_options(*body, body_kind(req), ctx);
  if (auto* err = std::get_if<HttpResponse>(&options)) return respond(std::move(*err));
  issue_token(std::get<Caller>(caller).user, "session", std::get<TokenOptions>(options), ctx, std::move(respond),
              request_context(req));
}

}  // namespace

// Shared with the admin routes (routes_internal.hpp).
std::optional<store::TokenPosition> parse_cursor(std::string_view text) {
  const auto dot = text.find('.');
  if (dot == std::string_view::npos) return std::nullopt;
  store::TokenPosition p;
  const auto a = text.substr(0, dot);
  const auto b = text.substr(dot + 1);
  const auto [ea, eca] = std::from_chars(a.data(), a.data() + a.size(), p.created_at);
  const auto [eb, ecb] = std::from_chars(b.data(), b.data() + b.size(), p.id);
  if (eca != std::errc() || ea != a.data() + a.size() || ecb != std::errc() || eb != b.data() + b.size()) {
    return std::nullopt;
  }
  if (p.created_at < 0 || p.id <= 0) return std::nullopt;
  return p;
}

json time_or_null(const std::optional<TimeMs>& t) { return t ? json(format_iso8601(*t)) : json(nullptr); }

json token_json(const store::TokenRecord& t, const std::vector<config::ScopeConfig>& declared) {
  return {{"id", t.id},
          {"name", t.name},
          {"source", t.source},
          {"createdAt", format_iso8601(t.created_at)},
          {"expiresOn", format_iso8601(t.expires_at)},
          {"lastUsedAt", time_or_null(t.last_used_at)},
          {"scopes", token::effective_scopes(t.scopes, declared)}};
}

namespace {

HttpResponse handle_list(const HttpRequest& req, ApiContext& ctx) {
  auto caller = authenticate_caller(req, ctx, Accept::kTokenOrCookie);
  if (auto* err = std::get_if<HttpResponse>(&caller)) return std::move(*err);
  // Without `limit` a page holds kMaxTokenPage tokens, as many as the default
  // tokens.max_live_per_account: a client written before paging still gets
  // every token of an account within the default cap in one answer.
  std::size_t limit = kMaxTokenPage;
  std::optional<store::TokenPosition> after;
  // The query string has the form encoding: one parser, one duplicate rule.
  auto query = parse_form(req.query);
  if (!query) return body_error(query.error());
  for (const auto& [key, item] : query->items()) {
    const std::string& value = item.get_ref<const std::string&>();
    if (key == "limit") {
      std::size_t n = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || end != value.data() + value.size() || n < 1 || n > kMaxTokenPage) {
        return error_response(400, "invalid_field",
                              "limit must be a whole number from 1 to " + std::to_string(kMaxTokenPage) + ".");
      }
      limit = n;
    } else if (key == "cursor") {
      after = parse_cursor(value);
      if (!after) return error_response(400, "invalid_cursor", "The cursor is not one this server handed out.");
    }
  }
  // One more than asked tells whether another page follows.
  auto list = ctx.store.list_live_tokens_page(std::get<Caller>(caller).user.id, now_ms(), limit + 1, after);
  if (!list) return storage_unavailable(list.error(), "listing tokens");
  const bool more = list->size() > limit;
  if (more) list->erase(list->begin() + static_cast<std::ptrdiff_t>(limit), list->end());
  json tokens = json::array();
  for (const auto& t : *list) tokens.push_back(token_json(t, ctx.config.scopes));
  json next = nullptr;
  if (more) next = std::to_string(list->back().created_at) + "." + std::to_string(list->back().id);
  return http::json_response(200, {{"tokens", std::move(tokens)}, {"nextCursor", std::move(next)}});
}

// The {id} of /api/tokens/{id}: a positive decimal, else nullopt (a 404 like
// an unknown token).
std::optional<std::int64_t> token_id_param(const http::RouteParams& params) {
  const std::string_view id_text = params.get("id");
  std::int64_t id = 0;
  const auto [end, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
  if (ec != std::errc() || end != id_text.data() + id_text.size() || id <= 0) return std::nullopt;
  return id;
}

// POST /api/tokens/{id}/rotate: the signed-in page (the cookie, with the CSRF
// origin check) rotates any token of its account; a token rotates only
// itself. Security: rotation hands out a new secret with the old token's
// scopes, so a token rotating another would turn a narrow token into a wide
// one, or let a leaked token, still in a rotation's grace period, take over
// the token that replaced it.
HttpResponse handle_rotate(const HttpRequest& req, const http::RouteParams& params, ApiContext& ctx) {
  auto caller = authenticate_caller(req, ctx, Accept::kTokenOrCookie);
  if (auto* err = std::get_if<HttpResponse>(&caller)) return std::move(*err);
  const Caller& c = std::get<Caller>(caller);
  if (c.session) {
    if (auto forbidden = check_origin(req, ctx)) return std::move(*forbidden);
  }
  const auto id = token_id_param(params);
  if (!id) return error_response(404, "not_found", "No such token.");
  if (c.token && c.token->id != *id) {
    return error_response(403, "forbidden", "A token can rotate only itself; sign in to rotate another token.");
  }
  // A rotation creates a token: the account's creation rate applies, and
  // with a grace period (two live tokens for a while) its live-token cap.
  const TimeMs now = now_ms();
  if (const int wait = ctx.tokens.admit_creation(c.user.id, now); wait > 0) {
    return error_response(429, "rate_limited",
                          "Too many tokens created in the last minute. Try again in " + std::to_string(wait) +
                              " seconds.",
                          wait);
  }
  auto body = parse_body(req);
  if (!body) return body_error(body.error());
  std::int64_t grace = 0;
  if (given(*body, "graceSeconds")) {
    grace = whole_number((*body)["graceSeconds"], body_kind(req));
    const std::int64_t max = ctx.config.tokens.max_rotation_grace_seconds;
    if (grace < 0 || grace > max) {
      return http::json_response(400, {{"error", "invalid_field"},
                                       {"message", "graceSeconds must be a whole number of seconds from 0 to " +
                                                       std::to_string(max) + "."},
                                       {"field", "graceSeconds"},
                                       {"maxGraceSeconds", max}});
    }
  }
  if (const std::int64_t cap = ctx.config.tokens.max_live_per_account; cap > 0 && grace > 0) {
    auto live = ctx.store.count_live_tokens(c.user.id, now);
    if (!live) return storage_unavailable(live.error(), "counting tokens");
    if (*live >= cap) {
      return error_response(409, "too_many_tokens",
                            "This account already holds " + std::to_string(cap) +
                                " live tokens: rotate without a grace period, or revoke some first.");
    }
  }
  auto rotated = ctx.tokens.rotate(c.user.id, *id, grace, request_context(req));
  if (!rotated) {
    // Someone else's, revoked, expired or already rotated: like a missing one.
    if (rotated.error().is_not_found()) return error_response(404, "not_found", "No such token.");
    return storage_unavailable(rotated.error(), "rotating a token");
  }
  spdlog::info("token rotated: user={} token_id={} new_token_id={} grace_s={}", log::printable(c.user.username), *id,
               rotated->record.id, grace);
  http::JsonWriter w;
  w.begin_object();
  w.key("expiresOn").value(format_iso8601(rotated->record.expires_at));  // alphabetical, as documented
  w.key("id").value(rotated->record.id);
  w.key("token").value(rotated->token);
  w.end_object();
  return http::json_text_response(200, w.take());
}

HttpResponse handle_revoke_by_id(const HttpRequest& req, const http::RouteParams& params, ApiContext& ctx) {
  auto caller = authenticate_caller(req, ctx, Accept::kTokenOrCookie);
  if (auto* err = std::get_if<HttpResponse>(&caller)) return std::move(*err);
  const Caller& c = std::get<Caller>(caller);
  if (c.session) {
    if (auto forbidden = check_origin(req, ctx)) return std::move(*forbidden);
  }
  const auto id = token_id_param(params);
  if (!id) return error_response(404, "not_found", "No such token.");
  auto revoked = ctx.tokens.revoke(c.user.id, *id, "owner", request_context(req));
  if (!revoked) {
    // Someone else's token id answers exactly like a missing one.
    if (revoked.error().is_not_found()) return error_response(404, "not_found", "No such token.");
    return storage_unavailable(revoked.error(), "revoking a token");
  }
  spdlog::info("token revoked: user={} token_id={}", log::printable(c.user.username), *id);
  return http::no_content();
}

HttpResponse handle_revoke_presented(const HttpRequest& req, ApiContext& ctx) {
  auto caller = authenticate_caller(req, ctx, Accept::kToken);
  if (auto* err = std::get_if<HttpResponse>(&caller)) return std::move(*err);
  const Caller& c = std::get<Caller>(caller);
  auto revoked = ctx.tokens.revoke(c.user.id, c.token->id, "holder", request_context(req));
  // Not found: revoked meanwhile by another request, which is what was asked.
  if (!revoked && !revoked.error().is_not_found()) return storage_unavailable(revoked.error(), "revoking a token");
  spdlog::info("token revoked by its holder: user={} token_id={}", log::printable(c.user.username), c.token->id);
  return http::no_content();
}

HttpResponse user_answer(std::variant<Caller, HttpResponse>&& caller, ApiContext& ctx) {
  if (auto* err = std::get_if<HttpResponse>(&caller)) return std::move(*err);
  const Caller& c = std::get<Caller>(caller);
  // The hot path of every service that checks a token: written directly, not
  // built as a document (docs/benchmarks.md).
  http::JsonWriter w;
  w.begin_object();
  // Keys in alphabetical order, like every answer built as a document
  // (docs/api.md says so); writing them in that order costs nothing.
  w.key("admin").boolean(c.user.admin);
  w.key("authenticatedWith").value(c.token->source);
  w.key("displayName").value(c.user.display_name);
  w.key("email").value(c.user.email);
  w.key("id").value(c.user.id);
  w.key("token").begin_object();
  w.key("expiresOn").value(format_iso8601(c.token->expires_at));
  w.key("id").value(c.token->id);
  w.key("name").value(c.token->name);
  w.key("scopes").value(token::effective_scopes(c.token->scopes, ctx.config.scopes));
  w.end_object();
  w.key("username").value(c.user.username);
  w.end_object();
  return http::json_text_response(200, w.take());
}

HttpResponse handle_user(const HttpRequest& req, ApiContext& ctx) {
  return user_answer(authenticate_caller(req, ctx, Accept::kToken), ctx);
}

// On the I/O thread: answered from memory when the validation cache can;
// nullopt hands the request to handle_user on a worker.
std::optional<HttpResponse> fast_user(const HttpRequest& req, ApiContext& ctx) {
  auto caller = authenticate_caller_in_memory(req, ctx, Accept::kToken);
  if (!caller) return std::nullopt;
  return user_answer(std::move(*caller), ctx);
}


}  // namespace

std::variant<std::optional<std::int64_t>, HttpResponse> read_lifetime(const json& body, BodyKind kind,
                                                                      const config::TokenConfig& tc) {
  constexpr std::int64_t kDaySeconds = 86'400;
  const bool days = given(body, "expiresInDays");
  const bool seconds = given(body, "expiresInSeconds");
  if (!days && !seconds) return std::optional<std::int64_t>{};
  if (days && seconds) {
    return error_response(400, "invalid_field", "Give expiresInDays or expiresInSeconds, not both.");
  }
  // The bounds in seconds: the configured floor rounded up, the cap rounded
  // down; without a cap still no absurd values (the configuration allows at
  // most 100000 days for the same reason).
  const std::int64_t min_s = std::max<std::int64_t>(1, (tc.min_lifetime_ms + 999) / 1000);
  const std::int64_t max_s = tc.max_lifetime_ms > 0 ? tc.max_lifetime_ms / 1000 : 100'000 * kDaySeconds;
  // The bounds are also fields of their own, so that clients (web/app.js)
  // never parse them out of the English message.
  if (seconds) {
    const std::int64_t n = whole_number(body["expiresInSeconds"], kind);
    if (n < min_s || n > max_s) {
      return http::json_response(400, {{"error", "invalid_field"},
                                       {"message", "expiresInSeconds must be a whole number of seconds from " +
                                                       std::to_string(min_s) + " to " + std::to_string(max_s) + "."},
                                       {"field", "expiresInSeconds"},
                                       {"minSeconds", min_s},
                                       {"maxSeconds", max_s}});
    }
    return std::optional<std::int64_t>{n * 1000};
  }
  const std::int64_t n = whole_number(body["expiresInDays"], kind);
  const std::int64_t min_d = std::max<std::int64_t>(1, (min_s + kDaySeconds - 1) / kDaySeconds);
  const std::int64_t max_d = max_s / kDaySeconds;
  if (n < min_d || n > max_d) {
    return http::json_response(400, {{"error", "invalid_field"},
                                     {"message", "expiresInDays must be a whole number of days from " +
                                                     std::to_string(min_d) + " to " + std::to_string(max_d) + "."},
                                     {"field", "expiresInDays"},
                                     {"maxDays", max_d},
                                     {"minSeconds", min_s},
                                     {"maxSeconds", max_s}});
  }
  return std::optional<std::int64_t>{n * kDaySeconds * 1000};
}

std::variant<TokenOptions, HttpResponse> read_token_options(const json& body, BodyKind kind, ApiContext& ctx) {
  TokenOptions o;
  auto name = string_field(body, "name");
  if (!name) return error_response(400, "invalid_field", name.error().message);
  if (*name) {
    if ((*name)->size() > kMaxTokenNameBytes) {
      return error_response(400, "invalid_field", "The token name is longer than 100 bytes.");
    }
    // One rule for forms and JSON: the name is shown in lists and logs, so
    // no control characters (NUL, CR/LF...), no bidi overrides that make it
    // read as something else, and valid UTF-8.
    if (!printable_utf8(**name, BidiControls::kRefuse)) {
      return error_response(400, "invalid_token_name",
                            "The token name must be printable UTF-8 text: no control characters and no "
                            "bidirectional overrides.");
    }
    o.name = std::move(**name);
  }
  auto lifetime = read_lifetime(body, kind, ctx.config.tokens);
  if (auto* err = std::get_if<HttpResponse>(&lifetime)) return std::move(*err);
  o.lifetime_ms = std::get<std::optional<std::int64_t>>(lifetime);
  auto scopes = token::requested_scopes(body, ctx.config.scopes);
  if (!scopes) {
    if (scopes.error().code == ErrorCode::kInvalidScope) {
      return error_response(400, "invalid_scope", "A requested scope is not one this server offers.");
    }
    return error_response(400, "invalid_field", scopes.error().message);
  }
  o.scopes = std::move(*scopes);
  return o;
}

void issue_token(const store::User& user, const std::string& source, const TokenOptions& options, ApiContext& ctx,
                 http::Responder respond, const audit::RequestContext& rc) {
  // One account must not be able to fill the database or make its listings
  // heavy for everyone: a rate per minute, then a cap on live tokens. The
  // rate is checked first: it is memory only, so a flood costs no query.
  const TimeMs now = now_ms();
  if (const int wait = ctx.tokens.admit_creation(user.id, now); wait > 0) {
    spdlog::warn("token creation rate-limited: user={}", log::printable(user.username));
    return respond(error_response(429, "rate_limited",
                                  "Too many tokens created in the last minute. Try again in " + std::to_string(wait) +
                                      " seconds.",
                                  wait));
  }
  // Security: the creation is counted in flight before the live tokens are
  // counted, and stays counted until its row is committed (or has failed), so
  // parallel requests cannot all pass a count made before any of them was
  // stored (TokenService::begin_creation). The guard ends it exactly once,
  // whichever way this request goes.
  std::shared_ptr<void> in_flight;
  if (const std::int64_t cap = ctx.config.tokens.max_live_per_account; cap > 0) {
    const std::int64_t others = ctx.tokens.begin_creation(user.id);
    in_flight = std::shared_ptr<void>(nullptr, [&tokens = ctx.tokens, id = user.id](void*) { tokens.end_creation(id); });
    auto live = ctx.store.count_live_tokens(user.id, now);
    if (!live) return respond(storage_unavailable(live.error(), "counting tokens"));
    if (*live + others >= cap) {
      spdlog::warn("token refused: user={} holds {} live tokens, {} more in flight (cap {})",
                   log::printable(user.username), *live, others, cap);
      return respond(error_response(409, "too_many_tokens",
                                    "This account already holds " + std::to_string(cap) +
                                        " live tokens. Revoke some before creating more."));
    }
  }
  ctx.tokens.issue_async(
      user.id, source, options.name, options.lifetime_ms,
      [respond = std::move(respond), username = user.username, source,
       in_flight = std::move(in_flight)](Result<token::IssuedToken> issued) mutable {
        // Committed or failed: no longer in flight, before anyone hears of it.
        in_flight.reset();
        // On the store's completion thread: answer and return, nothing slow.
        // kNotFound: the account was disabled (or deleted) after this request
        // checked it; the store refused the row atomically
        // (Store::insert_token). The answer a disabled account gets.
        if (!issued && issued.error().is_not_found()) {
          spdlog::warn("token refused: user={} was disabled meanwhile", log::printable(username));
          return respond(source == "session"
                             ? http::error_response(401, "unauthenticated", "Sign in first: a valid session is required.")
                             : http::error_response(401, "invalid_credentials", "Invalid credentials."));
        }
        if (!issued) return respond(storage_unavailable(issued.error(), "issuing a token"));
        spdlog::info("token issued: user={} source={} token_id={}", log::printable(username), source,
                     issued->record.id);
        http::JsonWriter w;
        w.begin_object();
        w.key("expiresOn").value(format_iso8601(issued->record.expires_at));  // alphabetical, as documented
        w.key("token").value(issued->token);
        w.end_object();
        respond(http::json_text_response(200, w.take()));
      },
      token::scopes_to_store(options.scopes, ctx.config.scopes), rc);
}

void register_token_routes(http::Router& router, ApiContext& ctx) {
  using http::RouteParams;
  using http::RunOn;
  router.add_deferred("POST", "/api/token", RunOn::kWorker,
                      [&ctx](const HttpRequest& r, const RouteParams&, http::Responder respond) {
                        handle_exchange(r, ctx, std::move(respond));
                      });
  router.add("DELETE", "/api/token", RunOn::kWorker,
             [&ctx](const HttpRequest& r, const RouteParams&) { return handle_revoke_presented(r, ctx); });
  // Listings run on their own pool (RunOn::kBulk): a page is bounded, but
  // many of them at once must still not queue in front of GET /api/user.
  router.add("GET", "/api/tokens", RunOn::kBulk,
             [&ctx](const HttpRequest& r, const RouteParams&) { return handle_list(r, ctx); });
  router.add("DELETE", "/api/tokens/{id}", RunOn::kWorker,
             [&ctx](const HttpRequest& r, const RouteParams& p) { return handle_revoke_by_id(r, p, ctx); });
  router.add("POST", "/api/tokens/{id}/rotate", RunOn::kWorker,
             [&ctx](const HttpRequest& r, const RouteParams& p) { return handle_rotate(r, p, ctx); });
  // The hot path: tried from memory on the I/O thread first (no hand-off on
  // a hit or a refusal), on a worker when the database must be read.
  router.add(
      "GET", "/api/user", RunOn::kWorker,
      [&ctx](const HttpRequest& r, const RouteParams&) { return handle_user(r, ctx); },
      [&ctx](const HttpRequest& r, const RouteParams&) { return fast_user(r, ctx); });
}

}  // namespace tokend::api
