// GET /healthz, GET /metrics.
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "api/routes_internal.hpp"
#include "tokend/metrics/metrics.hpp"

namespace tokend::api {

void register_system_routes(http::Router& router, ApiContext& ctx) {
  using http::HttpRequest;
  using http::RouteParams;
  // The health check really asks the database (on a worker: it may block), so
  // a load balancer takes an instance whose disk is gone out of rotation.
  router.add("GET", "/healthz", http::RunOn::kWorker, [&ctx](const HttpRequest&, const RouteParams&) {
    if (auto s = ctx.store.ping(); !s) {
      spdlog::error("health check failed: {}", s.error().message);
      return http::error_response(503, "unhealthy", "The database does not answer.", 5);
    }
    return http::json_response(200, {{"status", "ok"}});
  });
  router.add("GET", "/metrics", http::RunOn::kInline, [&ctx](const HttpRequest&, const RouteParams&) {
    http::HttpResponse r;
    r.body = ctx.metrics.render();
    r.headers.emplace_back("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
  });
}

}  // namespace tokend::api
