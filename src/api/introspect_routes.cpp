// POST /api/introspect: OAuth 2.0 Token Introspection (RFC 7662). A resource
// server that holds a tokend token asks whether it is live and what it
// carries. Callers authenticate as a configured introspection client (HTTP
// Basic, the secret checked against its argon2id hash) or with a bearer token
// that carries introspection.scope. docs/api.md.
#include <openssl/evp.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "api/caller.hpp"
#include "api/request_body.hpp"
#include "api/routes_internal.hpp"
#include "tokend/auth/throttle.hpp"
#include "tokend/auth/userpass/password_hasher.hpp"
#include "tokend/config/config.hpp"
#include "tokend/crypto/crypto.hpp"
#include "tokend/log/log.hpp"
#include "tokend/token/scopes.hpp"
#include "tokend/token/token_service.hpp"

namespace tokend::api {

namespace {

using http::HttpRequest;
using http::HttpResponse;
using nlohmann::json;

// The longest Authorization: Basic value decoded (id, ':', secret): room for
// a 128-byte id and a 1024-byte secret (tokend hash-secret's limits) even
// when every byte of both is percent-encoded.
constexpr std::size_t kMaxBasicBytes = 4096;

// Standard base64 (RFC 4648 §4, with padding), as HTTP Basic sends it;
// nullopt when malformed. OpenSSL decodes; it counts the padding as zero
// bytes, which are cut here.
std::optional<std::string> base64_decode(std::string_view in) {
  if (in.empty() || in.size() % 4 != 0 || in.size() > (kMaxBasicBytes / 3 + 1) * 4) return std::nullopt;
  // EVP_DecodeBlock reads '=' anywhere as six zero bits ("QQ==QUJD" is
  // "A\0\0ABC"): only the alphabet, then at most two '=' at the very end,
  // so that one header has one reading.
  const std::size_t body = in.find_last_not_of('=') + 1;
  if (in.size() - body > 2) return std::nullopt;
  const bool alphabet = std::all_of(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(body), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '/';
  });
  if (!alphabet) return std::nullopt;
  std::string out(in.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()), static_cast<int>(in.size()));
  if (n < 0) return std::nullopt;
  std::size_t pad = 0;
  if (in.back() == '=') ++pad;
  if (in.size() >= 2 && in[in.size() - 2] == '=') ++pad;
  out.resize(static_cast<std::size_t>(n) - pad);
  return out;
}

struct BasicCredentials {
  std::string id;
  std::string secret;
};

// "Authorization: Basic <base64(id:secret)>" (scheme case-insensitive), or
// nullopt. RFC 6749 §2.3.1: the client encodes its id and secret with
// application/x-www-form-urlencoded before joining them with ':', so each
// half is decoded after the split ("%3A" in a secret is a ':' of the secret,
// "+" a space); a broken escape is no credentials at all.
std::optional<BasicCredentials> basic_credentials(const HttpRequest& req) {
  const auto h = req.header("authorization");
  if (!h) return std::nullopt;
  std::string_view v = *h;
  const auto sp = v.find(' ');
  if (sp == std::string_view::npos || !http::iequals(v.substr(0, sp), "basic")) return std::nullopt;
  std::string_view b64 = v.substr(sp + 1);
  while (!b64.empty() && b64.front() == ' ') b64.remove_prefix(1);
  while (!b64.empty() && b64.back() == ' ') b64.remove_suffix(1);
  auto decoded = base64_decode(b64);
  if (!decoded) return std::nullopt;
  const auto colon = decoded->find(':');
  if (colon == std::string::npos) return std::nullopt;
  auto id = form_decode(std::string_view(*decoded).substr(0, colon));
  auto secret = form_decode(std::string_view(*decoded).substr(colon + 1));
  if (!id || !secret) return std::nullopt;
  return BasicCredentials{std::move(*id), std::move(*secret)};
}

HttpResponse client_unauthenticated() {
  HttpResponse r = http::error_response(401, "unauthenticated",
                                        "Introspection needs a client's credentials (HTTP Basic) or a token "
                                        "allowed to introspect.");
  r.set_header("WWW-Authenticate", R"(Basic realm="tokend")");
  r.set_header("Cache-Control", "no-store");
  return r;
}

// The checked secrets of the introspection clients, as SHA-256 digests: an
// argon2id verification for every call would make each introspection cost a
// password login, so a client's secret is verified against its hash once and
// later calls compare digests (constant time). Only a secret that matched its
// hash is ever remembered.
class VerifiedSecrets final {
 public:
  bool known(const std::string& id, std::string_view secret) {
    const crypto::Sha256 d = crypto::sha256(secret);
    std::lock_guard lock(mu_);
    const auto it = digests_.find(id);
    if (it == digests_.end()) return false;
    return crypto::constant_time_equal(
        std::string_view(reinterpret_cast<const char*>(d.data()), d.size()),
        std::string_view(reinterpret_cast<const char*>(it->second.data()), it->second.size()));
  }
  void remember(const std::string& id, std::string_view secret) {
    const crypto::Sha256 d = crypto::sha256(secret);
    std::lock_guard lock(mu_);
    digests_[id] = d;
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::string, crypto::Sha256> digests_;
};

// TokenService::validate's refusals (every reason a token is not live).
bool not_live(const Error& e) { return e.is_not_found(); }

struct Introspector {
  explicit Introspector(ApiContext& c) : ctx(c) {}
  ApiContext& ctx;
  VerifiedSecrets verified;

  // nullopt when the caller may introspect; else the answer (401, 429, 503).
  std::optional<HttpResponse> authenticate(const HttpRequest& req) {
    if (auto basic = basic_credentials(req)) return check_client(req, *basic);
    const std::string& scope = ctx.config.introspection.scope;
    if (scope.empty() || !bearer_token(req)) return client_unauthenticated();
    auto v = ctx.tokens.validate(*bearer_token(req));
    if (!v) {
      if (not_live(v.error())) return client_unauthenticated();
      return storage_unavailable(v.error(), "validating an introspection caller");
    }
    if (!token::has_scopes(token::effective_scopes(v->token.scopes, ctx.config.scopes), {scope})) {
      return client_unauthenticated();
    }
    return std::nullopt;
  }

  std::optional<HttpResponse> check_client(const HttpRequest& req, const BasicCredentials& basic) {
    const config::IntrospectionClient* client = nullptr;
    for (const auto& c : ctx.config.introspection.clients) {
      if (c.id == basic.id) client = &c;
    }
    const auto throttled = [&](int retry_after) {
      spdlog::warn("introspection throttled: client={} peer={}", log::printable(basic.id), req.peer);
      return http::error_response(429, "too_many_attempts", "Too many failed attempts. Try again later.", retry_after);
    };
    // Security: the cache answers before the per-client limit, so that a
    // client whose id a stranger has locked keeps working. But it must not be
    // a free guessing oracle while that lock holds: an address that has used
    // up its own budget is refused before the cache too, and every attempt
    // refused below counts against its address.
    if (ctx.throttle) {
      const int wait = ctx.throttle->retry_after("", req.peer, now_ms());
      if (wait < 0) return http::error_response(503, "storage_unavailable", "The service is temporarily unavailable.", 1);
      if (wait > 0) return throttled(wait);
    }
    if (client && verified.known(client->id, basic.secret)) return std::nullopt;
    if (!ctx.hasher || !ctx.throttle) return client_unauthenticated();
    // Wrong secrets are throttled like logins (per client id and per
    // address): a secret is a password a program holds.
    auto reservation = ctx.throttle->reserve("introspect:" + basic.id, req.peer, now_ms());
    if (reservation.failed()) {
      return http::error_response(503, "storage_unavailable", "The service is temporarily unavailable.", 1);
    }
    if (!reservation.admitted()) {
      // Refused without a hash check, but the secret was just compared with
      // the cache above: counted, or one address could test secrets forever.
      ctx.throttle->record_failure("", req.peer, now_ms());
      return throttled(reservation.retry_after());
    }
    if (!client) {
      // An unknown id costs what a wrong secret costs.
      ctx.hasher->verify_dummy(basic.secret);
      reservation.fail(now_ms());
      spdlog::warn("introspection refused: unknown client={} peer={}", log::printable(basic.id), req.peer);
      return client_unauthenticated();
    }
    const auto verdict = ctx.hasher->verify(basic.secret, client->secret_hash);
    if (verdict.failed) {
      return http::error_response(503, "server_busy", "The server cannot check secrets right now.", 1);
    }
    if (!verdict.match) {
      reservation.fail(now_ms());
      spdlog::warn("introspection refused: wrong secret for client={} peer={}", log::printable(basic.id), req.peer);
      return client_unauthenticated();
    }
    reservation.succeed();
    verified.remember(client->id, basic.secret);
    return std::nullopt;
  }

  HttpResponse handle(const HttpRequest& req) {
    if (auto refused = authenticate(req)) return std::move(*refused);
    auto body = parse_body(req);
    if (!body) return body_error(body.error());
    auto token_text = string_field(*body, "token");
    if (!token_text || !*token_text) {
      // RFC 7662 §2.1: "token" is REQUIRED; RFC 6749 §5.2 names the error.
      return http::error_response(400, "invalid_request", "The field 'token' is required.");
    }
    // token_type_hint is optional and only a hint (§2.1): tokend has one
    // kind of token, so it is read past.
    json out;
    auto v = ctx.tokens.validate(**token_text);
    if (!v) {
      if (!not_live(v.error())) return storage_unavailable(v.error(), "introspecting a token");
      // §2.2: exactly {"active": false}, whatever the reason (unknown,
      // revoked, expired, disabled account, malformed).
      out = {{"active", false}};
    } else {
      out = {{"active", true},
             {"sub", std::to_string(v->user.id)},
             {"username", v->user.username},
             {"iat", v->token.created_at / 1000},
             {"token_type", "Bearer"}};
      // A token that never expires has no "exp" (the claim is optional).
      if (v->token.expires_at != kNever) out["exp"] = v->token.expires_at / 1000;
      const auto scopes = token::effective_scopes(v->token.scopes, ctx.config.scopes);
      if (!scopes.empty()) out["scope"] = token::join_scopes(scopes);
    }
    HttpResponse r = http::json_response(200, out);
    r.set_header("Cache-Control", "no-store");
    return r;
  }
};

}  // namespace

void register_introspect_routes(http::Router& router, ApiContext& ctx) {
  // Lives as long as the router's handlers: the process.
  auto introspector = std::make_shared<Introspector>(ctx);
  // On a worker: a client's first call verifies an argon2id hash, and every
  // call looks the token up in the database.
  router.add("POST", "/api/introspect", http::RunOn::kWorker,
             [introspector](const HttpRequest& r, const http::RouteParams&) { return introspector->handle(r); });
}

}  // namespace tokend::api
