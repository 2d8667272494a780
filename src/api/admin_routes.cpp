// The admin API, under /api/admin/ (docs/api.md, "Admin API"): accounts with
// search, one account's tokens and sessions, revoking any token, ending any
// session, disabling and enabling accounts, the admin role, lifting a login
// throttle lock. Admins only: every route checks the caller's role on the
// server, whatever the page shows.
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <charconv>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "api/caller.hpp"
#include "api/request_body.hpp"
#include "api/routes_internal.hpp"
#include "tokend/audit/audit_log.hpp"
#include "tokend/auth/throttle.hpp"
#include "tokend/auth/username.hpp"
#include "tokend/common/ip.hpp"
#include "tokend/common/text.hpp"
#include "tokend/config/config.hpp"
#include "tokend/log/log.hpp"

namespace tokend::api {

namespace {

using http::error_response;
using http::HttpRequest;
using http::HttpResponse;
using http::RouteParams;
using nlohmann::json;

// The largest page of GET /api/admin/users and .../tokens; the default is kDefaultPage.
constexpr std::size_t kMaxPage = 1000;
constexpr std::size_t kDefaultPage = 100;
constexpr std::size_t kMaxSearchBytes = 256;

// Whether the route changes something: cookie callers of those go through
// the CSRF origin check.
enum class Effect { kRead, kChange };

// The admin calling, or the response to send: 401 without a valid token or
// session, 403 "forbidden_origin" for a cookie-authenticated change from
// another origin, 403 "forbidden" when the account is not an admin.
std::variant<Caller, HttpResponse> authorize_admin(const HttpRequest& req, ApiContext& ctx, Effect effect) {
  auto caller = authenticate_caller(req, ctx, Accept::kTokenOrCookie);
  if (std::holds_alternative<HttpResponse>(caller)) return caller;
  const Caller& c = std::get<Caller>(caller);
  if (effect == Effect::kChange && c.session) {
    if (auto forbidden = check_origin(req, ctx)) return std::move(*forbidden);
  }
  // Security: the role is read from the account at every call (the token and
  // session lookups join the users table), so withdrawing it takes effect at
  // once, on every token and session the account holds.
  if (!c.user.admin) {
    spdlog::warn("admin route refused: user={} is not an admin, {} {}", log::printable(c.user.username), req.method,
                 req.path);
    return error_response(403, "forbidden", "This needs the admin role.");
  }
  return caller;
}

void record_audit(ApiContext& ctx, const HttpRequest& req, const Caller& admin, std::string event, std::string subject,
           json detail = json::object()) {
  if (!ctx.audit) return;
  audit::Event e;
  e.event = std::move(event);
  e.actor = "admin:" + std::to_string(admin.user.id);
  e.subject = std::move(subject);
  e.client = req.peer;
  e.request_id = req.request_id;
  e.detail = std::move(detail);
  ctx.audit->record(e);
}

// A positive decimal id from a path segment; nullopt otherwise (answered as
// 404: an id that cannot exist names nothing).
std::optional<std::int64_t> parse_id(std::string_view text) {
  std::int64_t id = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size() || id <= 0) return std::nullopt;
  return id;
}

HttpResponse no_such(std::string_view what) { return error_response(404, "not_found", "No such " + std::string(what) + "."); }

// `limit` of a listing's query string: nullopt when it is not a whole number
// from 1 to kMaxPage.
std::optional<std::size_t> parse_limit(const std::string& value) {
  std::size_t n = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
  if (ec != std::errc() || end != value.data() + value.size() || n < 1 || n > kMaxPage) return std::nullopt;
  return n;
}

HttpResponse bad_limit() {
  return error_response(400, "invalid_field", "limit must be a whole number from 1 to " + std::to_string(kMaxPage) + ".");
}

// An account as the admin API shows it: never its password hash.
json user_json(const store::User& u) {
  return {{"id", u.id},
          {"username", u.username},
          {"email", u.email},
          {"displayName", u.display_name},
          {"admin", u.admin},
          {"disabled", u.disabled},
          {"createdAt", format_iso8601(u.created_at)}};
}

json session_json(const store::SessionRecord& s, const Caller& caller) {
  return {{"id", s.id},
          {"method", s.method},
          {"createdAt", format_iso8601(s.created_at)},
          {"lastSeenAt", format_iso8601(s.last_seen_at)},
          {"expiresOn", format_iso8601(s.expires_at)},
          {"current", caller.session.has_value() && caller.session->id == s.id}};
}

// The account of the {id} segment, or the 404/503 to send.
std::variant<store::User, HttpResponse> find_account(const RouteParams& params, ApiContext& ctx) {
  const auto id = parse_id(params.get("id"));
  if (!id) return no_such("account");
  auto u = ctx.store.find_user(*id);
  if (!u) {
    if (u.error().is_not_found()) return no_such("account");
    return storage_unavailable(u.error(), "finding an account");
  }
  u->password_hash.clear();
  return std::move(*u);
}

HttpResponse handle_list_users(const HttpRequest& req, ApiContext& ctx) {
  auto caller = authorize_admin(req, ctx, Effect::kRead);
  if (auto* err = std::get_if<HttpResponse>(&caller)) return std::move(*err);
  store::UserQuery q;
  q.limit = kDefaultPage;
  auto query = parse_form(req.query);
  if (!query) return body_error(query.error());
  for (const auto& [key, item] : query->items()) {
    const std::string& value = item.get_ref<const std::string&>();
    if (key == "limit") {
      const auto n = parse_limit(value);
      if (!n) return bad_limit();
      q.limit = *n;
    } else if (key == "cursor") {
      const auto after = parse_id(value);
      if (!after) return error_response(400, "invalid_cursor", "The cursor is not one this server handed out.");
      q.after_id = *after;
    } else if (key == "search") {
      if (value.size() > kMaxSearchBytes || !printable_utf8(value, BidiControls::kAllow)) {
        return error_response(400, "invalid_field", "search must be printable UTF-8 text of at most 256 bytes.");
      }
      q.search = value;
    }
  }
  const std::size_t limit = q.limit;
  q.limit = limit + 1;  // one more tells whether another page follows
  auto users = ctx.store.list_users_page(q);
  if (!users) return storage_unavailable(users.error(), "listing accounts");
  const bool more = users->size() > limit;
  if (more) users->resize(limit);
  json list = json::array();
  for (const auto& u : *users) list.push_back(user_json(u));
  json next = more ? json(std::to_string(users->back().id)) : json(nullptr);
  return http::json_response(200, {{"users", std::move(list)}, {"nextCursor", std::move(next)}});
}

HttpResponse handle_get_user(const HttpRequest& req, const RouteParams& params, ApiContext& ctx) {
  auto caller = authorize_admin(req, ctx, Effect::kRead);
  if (auto* err = std::get_if<HttpResponse>(&caller)) return std::move(*err);
  auto account = find_account(params, ctx);
  if (auto* err = std::get_if<HttpResponse>(&account)) return std::move(*err);
  return http::json_response(200, {{"user", user_json(std::get<store::User>(account))}});
}

HttpResponse handle_user_tokens(const HttpRequest& req, const RouteParams& params, ApiContext& ctx) {
  auto caller = authorize_admin(req, ctx, Effect::kRead);
  if (auto* err = std::get_if<HttpResponse>(&caller)) return std::move(*err);
  auto account = find_account(params, ctx);
  if (auto* err = std::get_if<HttpResponse>(&account)) return std::move(*err);
  std::size_t limit = kDefaultPage;
  std::optional<store::TokenPosition> after;
  auto query = parse_form(req.query);
  if (!query) return body_error(query.error());
  for (const auto& [key, item] : query->items()) {
    const std::string& value = item.get_ref<const std::string&>();
    if (key == "limit") {
      const auto n = parse_limit(value);
      if (!n) return bad_limit();
      limit = *n;
    } else if (key == "cursor") {
      after = parse_cursor(value);
      if (!after) return error_response(400, "invalid_cursor", "The cursor is not one this server handed out.");
    }
  }
  auto list = ctx.store.list_live_tokens_page(std::get<store::User>(account).id, now_ms(), limit + 1, after);
  if (!list) return storage_unavailable(list.error(), "listing tokens");
  const bool more = list->size() > limit;
  if (more) list->resize(limit);
  json tokens = json::array();
  for (const auto& t : *list) tokens.push_back(token_json(t, ctx.config.scopes));
  json next = nullptr;
  if (more) next = std::to_string(list->back().created_at) + "." + std::to_string(list->back().id);
  return http::json_response(200, {{"tokens", std::move(tokens)}, {"nextCursor", std::move(next)}});
}

HttpResponse handle_user_sessions(const HttpRequest& req, const RouteParams& params, ApiContext& ctx) {
  auto caller = authorize_admin(req, ctx, Effect::kRead);
  if (auto* err = std::get_if<HttpResponse>(&caller)) return std::move(*err);
  auto account = find_account(params, ctx);
  if (auto* err = std::get_if<HttpResponse>(&account)) return std::move(*err);
  auto list = ctx.store.list_live_sessions(std::get<store::User>(account).id, now_ms());
  if (!list) return storage_unavailable(list.error(), "listing sessions");
  json sessions = json::array();
  for (const auto& s : *list) sessions.push_back(session_json(s, std::get<Caller>(caller)));
  return http::json_response(200, {{"sessions", std::move(sessions)}});
}

HttpResponse own_account() {
  // An admin who disables their own account or drops their own role locks
  // themselves out of this API; another admin or the CLI can do it.
  return error_response(409, "own_account",
                        "An admin cannot disable their own account or withdraw their own admin role.");
}

// disable, enable, grant-admin, revoke-admin: one account's flag.
enum class AccountChange { kDisable, kEnable, kGrantAdmin, kRevokeAdmin };

HttpResponse handle_account_change(const HttpRequest& req, const RouteParams& params, ApiContext& ctx,
                                   AccountChange change) {
  auto caller = authorize_admin(req, ctx, Effect::kChange);
  if (auto* err = std::get_if<HttpResponse>(&caller)) return std::move(*err);
  const Caller& admin = std::get<Caller>(caller);
  auto account = find_account(params, ctx);
  if (auto* err = std::get_if<HttpResponse>(&account)) return std::move(*err);
  store::User& u = std::get<store::User>(account);
  const bool self = u.id == admin.user.id;
  const TimeMs now = now_ms();
  const char* event = "";
  Status s = ok_status();
  switch (change) {
    case AccountChange::kDisable:
      if (self) return own_account();
      // Revokes every token and session of the account in the same
      // transaction (Store::set_disabled).
      s = ctx.store.set_disabled(u.id, true, now);
      u.disabled = true;
      event = "account.disabled";
      break;
    case AccountChange::kEnable:
      s = ctx.store.set_disabled(u.id, false, now);
      u.disabled = false;
      event = "account.enabled";
      break;
    case AccountChange::kGrantAdmin:
      s = ctx.store.set_admin(u.id, true, now);
      u.admin = true;
      event = "admin.granted";
      break;
    case AccountChange::kRevokeAdmin:
      if (self) return own_account();
      s = ctx.store.set_admin(u.id, false, now);
      u.admin = false;
      event = "admin.revoked";
      break;
  }
  if (!s) {
    if (s.error().is_not_found()) return no_such("account");  // deleted meanwhile
    return storage_unavailable(s.error(), "changing an account");
  }
  spdlog::info("admin: {} user={} by admin={}", event, log::printable(u.username), log::printable(admin.user.username));
  record_audit(ctx, req, admin, event, "user:" + std::to_string(u.id), {{"username", u.username}});
  return http::json_response(200, {{"user", user_json(u)}});
}

// DELETE /api/admin/tokens/{id} and /api/admin/sessions/{id}: one credential
// of any account ended, in the words of its kind.
struct CredentialEnd {
  const char* noun;     // the 404's "no such ...": "live token"
  const char* doing;    // the 503's log context: "revoking a token"
  const char* logged;   // the log line's "<what>: <kind>_id": "token revoked: token_id"
  const char* event;    // the audit event: "token.revoked"
  const char* subject;  // the audit subject's prefix: "token:"
  // Ends credential `id` at `now`; the owner's account id, or kNotFound when
  // it is not live.
  Result<std::int64_t> (*end)(store::Store& store, std::int64_t id, TimeMs now);
};

// The owner's account id of an ended credential (a TokenRecord, a
// SessionRecord), or its error.
template <typename Record>
Result<std::int64_t> owner_of(const Result<Record>& ended) {
  if (!ended) return ended.error();
  return ended->user_id;
}

constexpr CredentialEnd kRevokeToken{
    "live token", "revoking a token", "token revoked: token_id", "token.revoked", "token:",
    [](store::Store& store, std::int64_t id, TimeMs now) { return owner_of(store.revoke_any_token(id, now)); }};
constexpr CredentialEnd kEndSession{
    "live session", "ending a session", "session ended: session_id", "session.ended", "session:",
    [](store::Store& store, std::int64_t id, TimeMs now) { return owner_of(store.end_session(id, now)); }};

HttpResponse handle_end_credential(const HttpRequest& req, const RouteParams& params, ApiContext& ctx,
                                   const CredentialEnd& kind) {
  auto caller = authorize_admin(req, ctx, Effect::kChange);
  if (auto* err = std::get_if<HttpResponse>(&caller)) return std::move(*err);
  const Caller& admin = std::get<Caller>(caller);
  const auto id = parse_id(params.get("id"));
  if (!id) return no_such(kind.noun);
  auto owner = kind.end(ctx.store, *id, now_ms());
  if (!owner) {
    if (owner.error().is_not_found()) return no_such(kind.noun);
    return storage_unavailable(owner.error(), kind.doing);
  }
  spdlog::info("admin: {}={} owner={} by admin={}", kind.logged, *id, *owner, log::printable(admin.user.username));
  record_audit(ctx, req, admin, kind.event, kind.subject + std::to_string(*id), {{"userId", *owner}});
  return http::no_content();
}

HttpResponse handle_unlock(const HttpRequest& req, ApiContext& ctx) {
  auto caller = authorize_admin(req, ctx, Effect::kChange);
  if (auto* err = std::get_if<HttpResponse>(&caller)) return std::move(*err);
  const Caller& admin = std::get<Caller>(caller);
  auto body = parse_body(req);
  if (!body) return body_error(body.error());
  auto username = string_field(*body, "username");
  if (!username) return error_response(400, "invalid_field", username.error().message);
  auto address = string_field(*body, "address");
  if (!address) return error_response(400, "invalid_field", address.error().message);
  if (username->has_value() == address->has_value()) {
    return error_response(400, "invalid_field", "Give exactly one of username and address.");
  }
  if (!ctx.throttle) return error_response(503, "throttle_unavailable", "This server keeps no login throttle.");
  std::string subject;
  Status s = ok_status();
  if (*username) {
    // The throttle counts normalised names: "Alice " is locked as "alice".
    const std::string name = auth::normalize_username(**username);
    if (!auth::valid_username(name)) {
      return error_response(400, "invalid_field", "username must have 1 to 128 bytes and no control characters.");
    }
    s = ctx.throttle->unlock_username(name);
    subject = "username:" + name;
  } else {
    const std::string ip = canonical_ip(**address);
    if (ip.empty()) return error_response(400, "invalid_field", "address must be an IPv4 or IPv6 address.");
    s = ctx.throttle->unlock_address(ip);
    subject = "address:" + ip;
  }
  // Nothing recorded (kNotFound) is not an error: the name or address is not
  // locked now, which is what the admin asked for.
  if (!s && !s.error().is_not_found()) return storage_unavailable(s.error(), "lifting a throttle lock");
  spdlog::info("admin: throttle unlocked: {} by admin={}", log::printable(subject), log::printable(admin.user.username));
  record_audit(ctx, req, admin, "throttle.unlocked", subject);
  return http::no_content();
}

}  // namespace

void register_admin_routes(http::Router& router, ApiContext& ctx) {
  using http::RunOn;
  // Listings grow with the data: the bulk pool, like GET /api/tokens.
  router.add("GET", "/api/admin/users", RunOn::kBulk,
             [&ctx](const HttpRequest& r, const RouteParams&) { return handle_list_users(r, ctx); });
  router.add("GET", "/api/admin/users/{id}", RunOn::kWorker,
             [&ctx](const HttpRequest& r, const RouteParams& p) { return handle_get_user(r, p, ctx); });
  router.add("GET", "/api/admin/users/{id}/tokens", RunOn::kBulk,
             [&ctx](const HttpRequest& r, const RouteParams& p) { return handle_user_tokens(r, p, ctx); });
  router.add("GET", "/api/admin/users/{id}/sessions", RunOn::kWorker,
             [&ctx](const HttpRequest& r, const RouteParams& p) { return handle_user_sessions(r, p, ctx); });
  const std::pair<const char*, AccountChange> changes[] = {{"disable", AccountChange::kDisable},
                                                           {"enable", AccountChange::kEnable},
                                                           {"grant-admin", AccountChange::kGrantAdmin},
                                                           {"revoke-admin", AccountChange::kRevokeAdmin}};
  for (const auto& [verb, change] : changes) {
    router.add("POST", std::string("/api/admin/users/{id}/") + verb, RunOn::kWorker,
               [&ctx, change = change](const HttpRequest& r, const RouteParams& p) {
                 return handle_account_change(r, p, ctx, change);
               });
  }
  router.add("DELETE", "/api/admin/tokens/{id}", RunOn::kWorker, [&ctx](const HttpRequest& r, const RouteParams& p) {
    return handle_end_credential(r, p, ctx, kRevokeToken);
  });
  router.add("DELETE", "/api/admin/sessions/{id}", RunOn::kWorker, [&ctx](const HttpRequest& r, const RouteParams& p) {
    return handle_end_credential(r, p, ctx, kEndSession);
  });
  router.add("POST", "/api/admin/throttle/unlock", RunOn::kWorker,
             [&ctx](const HttpRequest& r, const RouteParams&) { return handle_unlock(r, ctx); });
}

}  // namespace tokend::api
