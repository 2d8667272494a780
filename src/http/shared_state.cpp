#include "http/shared_state.hpp"

#include <algorithm>

namespace tokend::http {

SharedState::SharedState(ServerOptions o, const Router& r, Dispatch d, metrics::Metrics& m)
    : opts(std::move(o)), router(r), dispatch(std::move(d)), metrics(m) {
  // Every route label the server can use, built before any I/O thread runs
  // (the map is read-only afterwards).
  std::vector<std::string> routes = router.patterns();
  routes.push_back("unmatched");
  routes.push_back("invalid");
  for (auto& route : routes) {
    if (route_metrics.contains(route)) continue;
    auto rm = std::make_unique<RouteMetrics>();
    rm->duration = &metrics.histogram("tokend_http_request_duration_seconds",
                                      "Time from a complete request to its response, by route.", {{"route", route}});
    route_metrics.emplace(std::move(route), std::move(rm));
  }
}

void SharedState::record(const std::string& route, int status, double seconds) {
  auto it = route_metrics.find(route);
  if (it == route_metrics.end()) it = route_metrics.find("unmatched");  // every label is known; belt and braces
  RouteMetrics& rm = *it->second;
  const int slot = status > 0 && status < RouteMetrics::kMaxStatus ? status : 0;
  metrics::Counter* c = rm.by_status[slot].load(std::memory_order_acquire);
  if (!c) {
    // Metrics::counter returns the one series for these labels, so two
    // threads racing here store the same pointer.
    c = &metrics.counter("tokend_http_requests_total", "HTTP requests, by route and status.",
                         {{"route", route}, {"status", std::to_string(status)}});
    rm.by_status[slot].store(c, std::memory_order_release);
  }
  c->inc();
  rm.duration->observe(seconds);
}

void SharedState::add(const std::shared_ptr<SessionIface>& s, const std::string& peer) {
  std::lock_guard lock(mu);
  sessions.emplace(s.get(), Entry{s, s.get()});
  ++per_address[peer];
}
void SharedState::remove(const SessionIface* key, const std::string& peer) {
  std::lock_guard lock(mu);
  if (sessions.erase(key) == 0) return;  // never registered
  auto it = per_address.find(peer);
  if (it != per_address.end() && --it->second == 0) per_address.erase(it);
}

bool SharedState::is_trusted_proxy(std::string_view a) const {
  return std::find(opts.trusted_proxies.begin(), opts.trusted_proxies.end(), a) != opts.trusted_proxies.end();
}

SharedState::Admission SharedState::admit(const std::string& peer, std::shared_ptr<SessionIface>& victim) {
  std::lock_guard lock(mu);
  const std::size_t cap = opts.limits.max_connections_per_address;
  if (cap > 0 && !is_trusted_proxy(peer)) {
    auto it = per_address.find(peer);
    if (it != per_address.end() && it->second >= cap) return Admission::kPerAddress;
  }
  if (connections.load() < opts.limits.max_connections) return Admission::kAdmit;
  // A linear scan, only while full (connections are counted, not requests).
  const Entry* oldest = nullptr;
  std::int64_t oldest_since = 0;
  for (const auto& [_, e] : sessions) {
    const std::int64_t since = e.raw->idle_since.load(std::memory_order_relaxed);
    if (since == 0 || e.raw->evicting.load(std::memory_order_relaxed)) continue;
    if (!oldest || since < oldest_since) {
      oldest = &e;
      oldest_since = since;
    }
  }
  if (!oldest) return Admission::kFull;
  oldest->raw->evicting.store(true, std::memory_order_relaxed);
  victim = oldest->weak.lock();  // empty: it is being destroyed, which frees its place too
  return Admission::kAdmit;
}

}  // namespace tokend::http
