// SharedState: what the listener and every session of one HttpServer share:
// the options, the router, the dispatch to the pools, the draining flag and
// the connection counts, the table of open sessions (for eviction when full
// and for closing idle ones at shutdown), and the per-route metrics.
// Beast-free: the sessions know it through SessionIface only.
//
// Thread-safety: the counters are atomics; `sessions` and `per_address` are
// guarded by `mu`; everything else is read-only once the server runs.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "tokend/http/request_head.hpp"
#include "tokend/http/router.hpp"
#include "tokend/http/server.hpp"
#include "tokend/metrics/metrics.hpp"

namespace tokend::http {

// What the shared state knows of a session (plain or TLS).
class SessionIface {
 public:
  virtual ~SessionIface() = default;
  // Closes the connection if it is waiting for a next request.
  virtual void close_if_idle() = 0;

  // When the connection began waiting for (the first byte of) a request, in
  // steady-clock ticks; 0 while a request is read or answered. Written by the
  // connection's thread, read by the acceptor under SharedState::mu to find the
  // longest-idle connection. Plain members (no virtual call) so that the
  // acceptor may read them while the session is being destroyed: the
  // destructor unregisters under the same mutex before they go away.
  std::atomic<std::int64_t> idle_since{0};
  std::atomic<bool> evicting{false};  // chosen for closing once; not chosen again
};


// The request counters (by status) and the duration histogram of one route,
// looked up once: the per-request cost is a hash of the route and atomics.
struct RouteMetrics {
  static constexpr int kMaxStatus = 600;
  metrics::Histogram* duration = nullptr;
  std::array<std::atomic<metrics::Counter*>, kMaxStatus> by_status{};
};

struct SharedState {
  SharedState(ServerOptions o, const Router& r, Dispatch d, metrics::Metrics& m);

  ServerOptions opts;
  const Router& router;
  Dispatch dispatch;
  metrics::Metrics& metrics;
  std::atomic<bool> draining{false};
  std::atomic<int> inflight{0};
  std::atomic<std::size_t> connections{0};
  std::mutex mu;
  struct Entry {
    std::weak_ptr<SessionIface> weak;
    SessionIface* raw;  // valid while registered (see SessionIface)
  };
  std::unordered_map<const SessionIface*, Entry> sessions;
  std::unordered_map<std::string, std::size_t> per_address;  // open connections by peer address
  HeadPolicy head_policy{opts.server_names};
  metrics::Counter& refused_full = metrics.counter("tokend_http_connections_refused_total",
                                                   "Connections closed at once: limit reached.");
  metrics::Counter& refused_per_address =
      metrics.counter("tokend_http_connections_refused_per_address_total",
                      "Connections closed at once: their client address had limits.max_connections_per_address open.");
  metrics::Counter& evicted = metrics.counter(
      "tokend_http_connections_evicted_total", "Idle connections closed to make room for a new one (max_connections).");
  metrics::Counter& first_request_timeouts =
      metrics.counter("tokend_http_first_request_timeouts_total",
                      "Connections closed for not sending a complete first request in first_request_timeout_ms.");
  std::unordered_map<std::string, std::unique_ptr<RouteMetrics>> route_metrics;

  // Counts one answered request of `route` (a pattern, "unmatched" or
  // "invalid") by status, and its duration. Safe from any thread.
  void record(const std::string& route, int status, double seconds);

  // Registers / unregisters a session and its peer address. Safe from any thread.
  void add(const std::shared_ptr<SessionIface>& s, const std::string& peer);
  void remove(const SessionIface* key, const std::string& peer);

  bool is_trusted_proxy(std::string_view a) const;

  enum class Admission { kAdmit, kPerAddress, kFull };

  // Decides whether a new connection from `peer` may open. When the server
  // is full, marks the longest-idle connection (one waiting for a request,
  // never one mid-request) for closing and admits the new one: an attacker's
  // idle sockets then make room for others instead of locking them out.
  // Called on the acceptor's thread only.
  Admission admit(const std::string& peer, std::shared_ptr<SessionIface>& victim);
};

}  // namespace tokend::http
