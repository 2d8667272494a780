// POST /api/token, GET /api/tokens, DELETE /api/tokens/{id}, DELETE /api/token,
// GET /api/user.
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <charconv>

#include "api/caller.hpp"
#include "api/request_body.hpp"
#include "api/routes_internal.hpp"
#include "tokend/config/config.hpp"
#include "tokend/http/json_writer.hpp"
#include "tokend/log/log.hpp"
#include "tokend/session/session_service.hpp"
#include "tokend/token/token_service.hpp"

namespace tokend::api {

namespace {

using http::error_response;
using http::HttpRequest;
using http::HttpResponse;
using nlohmann::json;

constexpr std::size_t kMaxTokenNameBytes = 100;

json time_or_null(const std::optional<TimeMs>& t) { return t ? json(format_iso8601(*t)) : json(nullptr); }

json token_json(const store::TokenRecord& t) {
  return {{"id", t.id},
          {"name", t.name},
          {"source", t.source},
          {"createdAt", format_iso8601(t.created_at)},
          {"expiresOn", format_iso8601(t.expires_at)},
          {"lastUsedAt", time_or_null(t.last_used_at)}};
}

void handle_exchange(const HttpRequest& req, ApiContext& ctx, http::Responder respond) {
  auto caller = authenticate_caller(req, ctx, Accept::kCookie);
  if (auto* err = std::get_if<HttpResponse>(&caller)) return respond(std::move(*err));
  if (auto forbidden = check_origin(req, ctx)) return respond(std::move(*forbidden));
  auto body = parse_body(req);
  if (!body) return respond(body_error(body.error()));
  auto options = read_token_options(*body, ctx);
  if (auto* err = std::get_if<HttpResponse>(&options)) return respond(std::move(*err));
  issue_token(std::get<Caller>(caller).user, "session", std::get<TokenOptions>(options), ctx, std::move(respond));
}

HttpResponse handle_list(const HttpRequest& req, ApiContext& ctx) {
  auto caller = authenticate_caller(req, ctx, Accept::kTokenOrCookie);
  if (auto* err = std::get_if<HttpResponse>(&caller)) return std::move(*err);
  auto list = ctx.store.list_live_tokens(std::get<Caller>(caller).user.id, now_ms());
  if (!list) return storage_unavailable(list.error(), "listing tokens");
  json tokens = json::array();
  for (const auto& t : *list) tokens.push_back(token_json(t));
  return http::json_response(200, {{"tokens", tokens}});
}

HttpResponse handle_revoke_by_id(const HttpRequest& req, const http::RouteParams& params, ApiContext& ctx) {
  auto caller = authenticate_caller(req, ctx, Accept::kTokenOrCookie);
  if (auto* err = std::get_if<HttpResponse>(&caller)) return std::move(*err);
  const Caller& c = std::get<Caller>(caller);
  if (c.session) {
    if (auto forbidden = check_origin(req, ctx)) return std::move(*forbidden);
  }
  const std::string_view id_text = params.get("id");
  std::int64_t id = 0;
  const auto [end, ec] = std::from_chars(id_text.data(), id_text.data() + id_text.size(), id);
  if (ec != std::errc() || end != id_text.data() + id_text.size() || id <= 0) {
    return error_response(404, "not_found", "No such token.");
  }
  auto revoked = ctx.store.revoke_token(c.user.id, id, now_ms());
  if (!revoked) return storage_unavailable(revoked.error(), "revoking a token");
  // Someone else's token id answers exactly like a missing one.
  if (!*revoked) return error_response(404, "not_found", "No such token.");
  spdlog::info("token revoked: user={} token_id={}", log::printable(c.user.username), id);
  return http::no_content();
}

HttpResponse handle_revoke_presented(const HttpRequest& req, ApiContext& ctx) {
  auto caller = authenticate_caller(req, ctx, Accept::kToken);
  if (auto* err = std::get_if<HttpResponse>(&caller)) return std::move(*err);
  const Caller& c = std::get<Caller>(caller);
  auto revoked = ctx.store.revoke_token(c.user.id, c.token->id, now_ms());
  if (!revoked) return storage_unavailable(revoked.error(), "revoking a token");
  spdlog::info("token revoked by its holder: user={} token_id={}", log::printable(c.user.username), c.token->id);
  return http::no_content();
}

HttpResponse handle_user(const HttpRequest& req, ApiContext& ctx) {
  auto caller = authenticate_caller(req, ctx, Accept::kToken);
  if (auto* err = std::get_if<HttpResponse>(&caller)) return std::move(*err);
  const Caller& c = std::get<Caller>(caller);
  // The hot path of every service that checks a token: written directly, not
  // built as a document (docs/benchmarks.md).
  http::JsonWriter w;
  w.begin_object();
  w.key("id").value(c.user.id);
  w.key("username").value(c.user.username);
  w.key("email").value(c.user.email);
  w.key("displayName").value(c.user.display_name);
  w.key("authenticatedWith").value(c.token->source);
  w.key("token").begin_object();
  w.key("id").value(c.token->id);
  w.key("name").value(c.token->name);
  w.key("expiresOn").value(format_iso8601(c.token->expires_at));
  w.end_object().end_object();
  return http::json_text_response(200, w.take());
}

}  // namespace

std::variant<TokenOptions, HttpResponse> read_token_options(const json& body, ApiContext& ctx) {
  TokenOptions o;
  auto name = string_field(body, "name");
  if (!name) return error_response(400, "invalid_field", name.error().message);
  if (*name) {
    if ((*name)->size() > kMaxTokenNameBytes) {
      return error_response(400, "invalid_field", "The token name is longer than 100 bytes.");
    }
    o.name = std::move(**name);
  }
  if (body.contains("expiresInDays") && !body["expiresInDays"].is_null()) {
    const json& v = body["expiresInDays"];
    std::int64_t days = 0;
    if (v.is_number_integer()) {
      days = v.get<std::int64_t>();
    } else if (v.is_string()) {  // form bodies carry every value as a string
      const std::string s = v.get<std::string>();
      const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), days);
      if (ec != std::errc() || end != s.data() + s.size()) days = -1;
    } else {
      days = -1;
    }
    // Without a configured cap, still refuse absurd values (config allows at
    // most 100000 days for the same reason).
    const std::int64_t max = ctx.config.tokens.max_lifetime_days > 0 ? ctx.config.tokens.max_lifetime_days : 100'000;
    if (days < 1 || days > max) {
      return error_response(400, "invalid_field",
                            std::string("expiresInDays must be a whole number of days from 1") +
                                " to " + std::to_string(max) + ".");
    }
    o.lifetime_days = days;
  }
  return o;
}

void issue_token(const store::User& user, const std::string& source, const TokenOptions& options, ApiContext& ctx,
                 http::Responder respond) {
  ctx.tokens.issue_async(
      user.id, source, options.name, options.lifetime_days,
      [respond = std::move(respond), username = user.username, source](Result<token::IssuedToken> issued) {
        // On the store's committer thread: answer and return, nothing slow.
        if (!issued) return respond(storage_unavailable(issued.error(), "issuing a token"));
        spdlog::info("token issued: user={} source={} token_id={}", log::printable(username), source,
                     issued->record.id);
        http::JsonWriter w;
        w.begin_object();
        w.key("token").value(issued->token);
        w.key("expiresOn").value(format_iso8601(issued->record.expires_at));
        w.end_object();
        respond(http::json_text_response(200, w.take()));
      });
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
  router.add("GET", "/api/tokens", RunOn::kWorker,
             [&ctx](const HttpRequest& r, const RouteParams&) { return handle_list(r, ctx); });
  router.add("DELETE", "/api/tokens/{id}", RunOn::kWorker,
             [&ctx](const HttpRequest& r, const RouteParams& p) { return handle_revoke_by_id(r, p, ctx); });
  router.add("GET", "/api/user", RunOn::kWorker,
             [&ctx](const HttpRequest& r, const RouteParams&) { return handle_user(r, ctx); });
}

}  // namespace tokend::api
