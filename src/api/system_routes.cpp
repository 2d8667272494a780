// GET /healthz (readiness), GET /livez (liveness), GET /metrics.
#include <memory>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "api/caller.hpp"
#include "api/routes_internal.hpp"
#include "tokend/config/config.hpp"
#include "tokend/crypto/crypto.hpp"
#include "tokend/metrics/metrics.hpp"
#include "tokend/store/health_check.hpp"
#include "tokend/store/store.hpp"

namespace tokend::api {

namespace {

// True when the request carries `Authorization: Bearer <secret>`. Both sides
// are hashed first so that the constant-time compare runs over equal lengths:
// neither a matching prefix nor the secret's length shows in the timing.
bool has_metrics_token(const http::HttpRequest& req, const std::string& secret) {
  const auto given = bearer_token(req);
  if (!given) return false;
  const crypto::Sha256 a = crypto::sha256(*given);
  const crypto::Sha256 b = crypto::sha256(secret);
  return crypto::constant_time_equal(std::string_view(reinterpret_cast<const char*>(a.data()), a.size()),
                                     std::string_view(reinterpret_cast<const char*>(b.data()), b.size()));
}

http::HttpResponse metrics_unauthenticated() {
  http::HttpResponse r = http::error_response(401, "unauthenticated", "A valid metrics bearer token is required.");
  r.set_header("WWW-Authenticate", "Bearer realm=\"metrics\"");
  return r;
}

}  // namespace

void register_system_routes(http::Router& router, ApiContext& ctx) {
  using http::HttpRequest;
  using http::RouteParams;
  // Readiness: whether this instance can serve, i.e. whether its database
  // answers, so a load balancer takes an instance whose database is gone out
  // of rotation. It asks the database at most once a second and one probe at
  // a time (store/health_check.hpp), on a worker (a check may block up to the
  // store's timeouts), so probes from many balancers cost no query each and
  // a dead database holds at most one worker.
  auto health = std::make_shared<store::HealthCheck>([&store = ctx.store] { return store.ping(); });
  router.add("GET", "/healthz", http::RunOn::kWorker, [health](const HttpRequest&, const RouteParams&) {
    if (!health->check().ready) {
      http::HttpResponse r = http::json_response(
          503, {{"status", "unavailable"}, {"error", "storage_unavailable"}, {"message", "The database does not answer."}});
      r.headers.emplace_back("Retry-After", "1");
      return r;
    }
    return http::json_response(200, {{"status", "ok"}});
  });
  // Liveness: the process runs and its I/O threads answer. It never touches
  // the database (answered inline, from memory), so a database outage does
  // not make an orchestrator restart every instance at once.
  router.add("GET", "/livez", http::RunOn::kInline, [](const HttpRequest&, const RouteParams&) {
    return http::json_response(200, {{"status", "ok"}});
  });
  // metrics.enabled false: no route at all, so /metrics is the plain 404 of
  // any unknown path.
  if (!ctx.config.metrics.enabled) return;
  // Counters tell an outsider how busy the server is and how many logins
  // fail; with metrics.bearer_token_file only the scraper may read them.
  router.add("GET", "/metrics", http::RunOn::kInline, [&ctx](const HttpRequest& req, const RouteParams&) {
    const std::string& secret = ctx.config.metrics.bearer_token;
    if (!secret.empty() && !has_metrics_token(req, secret)) return metrics_unauthenticated();
    http::HttpResponse r;
    r.body = ctx.metrics.render();
    r.headers.emplace_back("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
  });
}

}  // namespace tokend::api
