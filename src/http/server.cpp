// The Beast HTTP server: listener, per-connection sessions (plain and TLS),
// graceful shutdown. The only translation unit of the server that includes
// Beast/Asio; everything it serves comes from the Router.
//
// Structure follows Beast's advanced_server_flex example: a CRTP Session base
// with the HTTP logic, and PlainSession / SslSession for the two streams.
#include "tokend/http/server.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <array>
#include <algorithm>
#include <atomic>
#include <ctime>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "tokend/http/request_head.hpp"
#include "tokend/log/log.hpp"
#include "tokend/metrics/metrics.hpp"

namespace tokend::http {

namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

std::int64_t now_ns() { return Clock::now().time_since_epoch().count(); }

class SessionIface {
 public:
  virtual ~SessionIface() = default;
  // Closes the connection if it is waiting for a next request.
  virtual void close_if_idle() = 0;

  // When the connection began waiting for (the first byte of) a request, in
  // steady-clock ticks; 0 while a request is read or answered. Written by the
  // connection's thread, read by the acceptor under Shared::mu to find the
  // longest-idle connection. Plain members (no virtual call) so that the
  // acceptor may read them while the session is being destroyed: the
  // destructor unregisters under the same mutex before they go away.
  std::atomic<std::int64_t> idle_since{0};
  std::atomic<bool> evicting{false};  // chosen for closing once; not chosen again
};

// State shared by the listener and every session.
// The request counters (by status) and the duration histogram of one route,
// looked up once: the per-request cost is a hash of the route and atomics.
struct RouteMetrics {
  static constexpr int kMaxStatus = 600;
  metrics::Histogram* duration = nullptr;
  std::array<std::atomic<metrics::Counter*>, kMaxStatus> by_status{};
};

struct Shared {
  Shared(ServerOptions o, const Router& r, Dispatch d, metrics::Metrics& m)
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

  void record(const std::string& route, int status, double seconds) {
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

  void add(const std::shared_ptr<SessionIface>& s, const std::string& peer) {
    std::lock_guard lock(mu);
    sessions.emplace(s.get(), Entry{s, s.get()});
    ++per_address[peer];
  }
  void remove(const SessionIface* key, const std::string& peer) {
    std::lock_guard lock(mu);
    if (sessions.erase(key) == 0) return;  // never registered
    auto it = per_address.find(peer);
    if (it != per_address.end() && --it->second == 0) per_address.erase(it);
  }

  bool is_trusted_proxy(std::string_view a) const {
    return std::find(opts.trusted_proxies.begin(), opts.trusted_proxies.end(), a) != opts.trusted_proxies.end();
  }

  enum class Admission { kAdmit, kPerAddress, kFull };

  // Decides whether a new connection from `peer` may open. When the server
  // is full, marks the longest-idle connection (one waiting for a request,
  // never one mid-request) for closing and admits the new one: an attacker's
  // idle sockets then make room for others instead of locking them out.
  // Called on the acceptor's thread only.
  Admission admit(const std::string& peer, std::shared_ptr<SessionIface>& victim) {
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
};

// An address as text, with IPv4-mapped IPv6 (::ffff:1.2.3.4 on a dual-stack
// listener) written as the IPv4 address it is.
std::string canonical_address(const net::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) return net::ip::make_address_v4(net::ip::v4_mapped, a.to_v6()).to_string();
  return a.to_string();
}

bool is_parse_error(const beast::error_code& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category();
}

// The Date header (RFC 9110 §6.6.1), formatted at most once a second per thread.
std::string_view http_date() {
  thread_local std::time_t cached = -1;
  thread_local std::array<char, 40> buf{};
  thread_local std::size_t len = 0;
  const std::time_t now = std::time(nullptr);
  if (now != cached) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    len = std::strftime(buf.data(), buf.size(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached = now;
  }
  return {buf.data(), len};
}

// A header name or value that could end the header line: never written (a
// handler bug must not become response splitting).
bool breaks_line(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

template <class Derived>
class Session : public SessionIface {
 public:
  explicit Session(std::shared_ptr<Shared> shared, std::string peer)
      : shared_(std::move(shared)),
        peer_(std::move(peer)),
        // Bounded: Beast 1.81 puts no limit on a chunked body's chunk-size
        // line (extensions), so without a cap on the buffer one request could
        // grow it until the process dies. Headers + body + framing is all a
        // valid request needs.
        buffer_(shared_->opts.limits.max_header_bytes + shared_->opts.limits.max_body_bytes + kFramingSlack),
        first_deadline_(Clock::now() + std::chrono::milliseconds(shared_->opts.limits.first_request_timeout_ms)) {
    shared_->connections.fetch_add(1);
    // Waiting for its first request since the accept (the TLS handshake
    // included): evictable when the server is full.
    idle_since.store(now_ns(), std::memory_order_relaxed);
  }
  ~Session() override {
    if (request_open_) shared_->inflight.fetch_sub(1);
    shared_->remove(this, peer_);
    shared_->connections.fetch_sub(1);
  }

  void close_if_idle() override {
    net::post(derived().stream().get_executor(), [self = derived().shared_from_this()] {
      if (self->idle_since.load(std::memory_order_relaxed) != 0) {
        beast::get_lowest_layer(self->derived().stream()).cancel();
      } else {
        self->evicting.store(false, std::memory_order_relaxed);  // busy after all: keep it
      }
    });
  }

 protected:
  Derived& derived() { return static_cast<Derived&>(*this); }
  auto& lowest() { return beast::get_lowest_layer(derived().stream()); }

  // Closes after a failed read; a timeout before the first complete request
  // is counted (a client holding sockets open without using them).
  void close_after_read_error(const beast::error_code& ec) {
    if (ec == beast::error::timeout) {
      if (!first_done_) shared_->first_request_timeouts.inc();
      spdlog::debug("closing a connection from {}: read timeout", peer_);
    }
    derived().do_close();
  }

  void do_read() {
    if (shared_->draining.load()) return derived().do_close();
    if (buffer_.size() == 0) {
      if (idle_since.load(std::memory_order_relaxed) == 0) idle_since.store(now_ns(), std::memory_order_relaxed);
      // Waiting for the first byte of the next request: the idle timeout, or
      // for a connection that has sent no complete request yet its short
      // first-request deadline (counted from the accept), so idle sockets
      // cannot hold the server's connection slots for long. Once a byte
      // arrives the whole request must come within read_timeout_ms, so a
      // client dripping one byte at a time cannot hold the connection.
      lowest().expires_at(first_done_
                              ? Clock::now() + std::chrono::milliseconds(shared_->opts.limits.idle_timeout_ms)
                              : first_deadline_);
      derived().stream().async_read_some(
          buffer_.prepare(4096), beast::bind_front_handler(&Session::on_first_bytes, derived().shared_from_this()));
    } else {
      read_request();
    }
  }

  void on_first_bytes(beast::error_code ec, std::size_t n) {
    if (ec) return close_after_read_error(ec);
    buffer_.commit(n);
    read_request();
  }

  void read_request() {
    idle_since.store(0, std::memory_order_relaxed);
    read_deadline_ = Clock::now() + std::chrono::milliseconds(shared_->opts.limits.read_timeout_ms);
    if (!first_done_) read_deadline_ = std::min(read_deadline_, first_deadline_);
    lowest().expires_at(read_deadline_);
    head_scanned_ = 0;
    scan_head();
  }

  // Reads until the buffer holds the whole head (request line, header lines
  // and the empty line), then parses it in one go. Security: Beast's
  // header_limit only bounds the part of the head it has not parsed yet (each
  // complete line it consumes leaves the count), so a head of many small lines
  // passed any limit; here the whole head, from its first byte to its final
  // CRLF CRLF, must fit in max_header_bytes, as documented.
  void scan_head() {
    const std::size_t limit = shared_->opts.limits.max_header_bytes;
    const auto* data = static_cast<const char*>(buffer_.data().data());
    const std::string_view seen(data, std::min(buffer_.size(), limit));
    const auto end = seen.find("\r\n\r\n", head_scanned_ >= 3 ? head_scanned_ - 3 : 0);
    if (end != std::string_view::npos) return parse_head(end + 4);
    if (buffer_.size() >= limit) {
      started_ = Clock::now();
      return send_error(431, "headers_too_large", "The request headers are too large.");
    }
    head_scanned_ = seen.size();
    derived().stream().async_read_some(
        buffer_.prepare(4096), beast::bind_front_handler(&Session::on_head_bytes, derived().shared_from_this()));
  }

  void on_head_bytes(beast::error_code ec, std::size_t n) {
    if (ec) return close_after_read_error(ec);
    buffer_.commit(n);
    scan_head();
  }

  // The Beast error of a head that did not parse, as the answer's status.
  void refuse_head(const beast::error_code& ec) {
    if (ec == bhttp::error::body_limit) {
      // Content-Length over the limit: refused before any body is read.
      return send_error(413, "payload_too_large",
                        "The request body is larger than " + std::to_string(shared_->opts.limits.max_body_bytes) +
                            " bytes.");
    }
    if (ec == bhttp::error::header_limit) return send_error(431, "headers_too_large", "The request headers are too large.");
    if (ec == bhttp::error::multiple_content_length) {
      return send_error(400, "duplicate_header", "The Content-Length header must appear at most once.");
    }
    // Beast refuses Content-Length after "Transfer-Encoding: chunked" as a bad
    // Content-Length; it is the TE/CL conflict check_request_head reports.
    if (ec == bhttp::error::bad_transfer_encoding ||
        (ec == bhttp::error::bad_content_length && parser_->get().count(bhttp::field::transfer_encoding) > 0)) {
      return send_error(400, "bad_transfer_encoding",
                        "Only \"Transfer-Encoding: chunked\" is accepted, and never with Content-Length.");
    }
    if (ec == bhttp::error::bad_content_length) {
      return send_error(400, "bad_content_length", "Content-Length must be a decimal number.");
    }
    send_error(400, "bad_request", "The request is not valid HTTP.");
  }

  // REQUIRES: the buffer starts with a whole head of `head_len` bytes.
  void parse_head(std::size_t head_len) {
    started_ = Clock::now();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(shared_->opts.limits.max_header_bytes));  // checked above
    parser_->body_limit(shared_->opts.limits.max_body_bytes);
    // Security: a folded line is refused before Beast unfolds it into the
    // field above (request_head.hpp, has_folded_line).
    if (has_folded_line(std::string_view(static_cast<const char*>(buffer_.data().data()), head_len))) {
      return send_error(400, "bad_request", "Header lines must not be folded (obs-fold, RFC 9112 section 5.2).");
    }
    beast::error_code ec;
    const std::size_t used = parser_->put(net::buffer(buffer_.data().data(), head_len), ec);
    if (!ec && !parser_->is_header_done()) ec = bhttp::error::bad_version;  // cannot happen with a whole head
    if (ec) return refuse_head(ec);
    buffer_.consume(used);

    const auto& msg = parser_->get();
    method_ = std::string(msg.method_string());
    head_ = msg.method() == bhttp::verb::head;
    keep_alive_ = msg.keep_alive();
    http10_ = msg.version() == 10;
    req_ = HttpRequest{};
    req_.method = method_;
    req_.target = std::string(msg.target());
    // Security: the fields are copied now, before the body is read. Beast
    // merges a chunked body's trailer fields into the same field list, and a
    // trailer must never act as a header (an Authorization or X-Forwarded-For
    // smuggled past a proxy that checked the headers). Trailers are dropped.
    req_.headers.reserve(16);
    head_fields_.clear();
    for (const auto& f : msg) {
      req_.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
      head_fields_.push_back({f.name_string(), f.value()});
    }
    const HeadVerdict verdict = check_request_head(msg.method_string(), msg.version(), head_fields_,
                                                   shared_->head_policy);
    head_fields_.clear();
    if (!verdict.ok()) return send_error(verdict.status, verdict.error, verdict.message);
    if (parser_->is_done()) return finish_request();
    if (verdict.expect_continue && buffer_.size() == 0) {
      // RFC 9110 §10.1.1: the client waits for this before sending the body;
      // sent only once the head is known to be acceptable (a refused head
      // got its final answer above, and the body is never read).
      lowest().expires_after(std::chrono::milliseconds(shared_->opts.limits.write_timeout_ms));
      static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      return net::async_write(derived().stream(), net::buffer(kContinue.data(), kContinue.size()),
                              [self = derived().shared_from_this()](beast::error_code wec, std::size_t) {
                                if (wec) return self->derived().do_close();
                                self->read_body();
                              });
    }
    read_body();
  }

  void read_body() {
    lowest().expires_at(read_deadline_);
    bhttp::async_read(derived().stream(), buffer_, *parser_,
                      beast::bind_front_handler(&Session::on_body, derived().shared_from_this()));
  }

  void on_body(beast::error_code ec, std::size_t) {
    if (ec == bhttp::error::body_limit || ec == bhttp::error::buffer_overflow) {
      started_ = Clock::now();
      return send_error(413, "payload_too_large",
                        "The request body is larger than " + std::to_string(shared_->opts.limits.max_body_bytes) +
                            " bytes.");
    }
    if (ec && is_parse_error(ec) && ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message) {
      started_ = Clock::now();
      return send_error(400, "bad_request", "The request body is not valid chunked encoding.");
    }
    if (ec) return close_after_read_error(ec);
    finish_request();
  }

  void finish_request() {
    started_ = Clock::now();
    first_done_ = true;
    req_.body = std::move(parser_->get().body());
    handle();
  }

  void handle() {
    request_open_ = true;
    shared_->inflight.fetch_add(1);
    HttpRequest& r = req_;
    const auto q = r.target.find('?');
    r.path = r.target.substr(0, q);
    if (q != std::string::npos) r.query = r.target.substr(q + 1);
    path_ = r.path;
    if (r.path.empty() || r.path.front() != '/') {
      path_ = "-";
      return send_error(400, "bad_request", "The request target must be an absolute path.");
    }
    r.peer = client_address(r);
    client_ = r.peer;
    r.tls = Derived::kTls;

    Match m = shared_->router.match(r.method, r.path);
    route_ = m.route;
    if (!m.matched()) return send(std::move(m.immediate));
    auto self = derived().shared_from_this();
    bool queued = true;
    if (m.deferred) {
      auto job = [self, handler = std::move(m.deferred), params = std::move(m.params), r = std::move(r)]() {
        run_deferred(self, handler, r, params);
      };
      if (m.run_on == RunOn::kInline) return job();
      queued = shared_->dispatch(m.run_on, std::move(job));
    } else {
      if (m.run_on == RunOn::kInline) return send(run_handler(m.handler, r, m.params));
      queued = shared_->dispatch(
          m.run_on, [self, handler = std::move(m.handler), params = std::move(m.params), r = std::move(r)]() {
            post_send(self, run_handler(handler, r, params));
          });
    }
    if (!queued) {
      spdlog::warn("worker queue full: answering 503 to {} {}", method_, route_);
      send(error_response(503, "server_busy", "The server is busy. Try again shortly.", 1));
    }
  }
  // The connection's peer, or behind a trusted reverse proxy the client it
  // forwarded for (the rightmost X-Forwarded-For hop that is not a trusted
  // proxy itself: hops further left were written by the client and may lie).
  std::string client_address(const HttpRequest& r) const {
    const auto& trusted = shared_->opts.trusted_proxies;  // canonical text (config::parse_config)
    auto is_trusted = [&](std::string_view a) { return std::find(trusted.begin(), trusted.end(), a) != trusted.end(); };
    if (trusted.empty() || !is_trusted(peer_)) return peer_;
    std::string chain;
    for (const auto& [k, v] : r.headers) {
      if (iequals(k, "x-forwarded-for")) chain += (chain.empty() ? "" : ",") + v;
    }
    std::string_view rest = chain;
    while (!rest.empty()) {
      const auto comma = rest.rfind(',');
      std::string_view hop = comma == std::string_view::npos ? rest : rest.substr(comma + 1);
      rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(0, comma);
      while (!hop.empty() && hop.front() == ' ') hop.remove_prefix(1);
      while (!hop.empty() && hop.back() == ' ') hop.remove_suffix(1);
      if (hop.empty()) continue;
      beast::error_code ec;
      const auto addr = net::ip::make_address(std::string(hop), ec);
      if (ec) return peer_;  // garbage in the chain: trust nothing from it
      const std::string text = canonical_address(addr);
      if (!is_trusted(text)) return text;
    }
    return peer_;
  }

  // Runs `body`; when it throws (a bug), logs the details and returns the
  // generic 500 for the client.
  template <class Body>
  static std::optional<HttpResponse> guarded(const HttpRequest& r, Body&& body) {
    try {
      body();
      return std::nullopt;
    } catch (const std::exception& e) {
      spdlog::error("handler for {} {} threw: {}", r.method, log::redact(r.path), e.what());
    } catch (...) {
      spdlog::error("handler for {} {} threw a non-standard exception", r.method, log::redact(r.path));
    }
    return error_response(500, "internal_error", "Something went wrong on our side.");
  }

  static HttpResponse run_handler(const Handler& h, const HttpRequest& r, const RouteParams& p) {
    HttpResponse out;
    if (auto failed = guarded(r, [&] { out = h(r, p); })) return std::move(*failed);
    return out;
  }

  // Hands `resp` to the connection's own thread, from any thread.
  static void post_send(const std::shared_ptr<Derived>& self, HttpResponse&& resp) {
    net::post(self->derived().stream().get_executor(),
              [self, resp = std::move(resp)]() mutable { self->send(std::move(resp)); });
  }

  // Runs a deferred handler; its Responder posts the answer back to this
  // connection's thread, from whatever thread it is called on.
  static void run_deferred(const std::shared_ptr<Derived>& self, const DeferredHandler& h, const HttpRequest& r,
                           const RouteParams& p) {
    Responder respond([self](HttpResponse&& resp) { post_send(self, std::move(resp)); });
    if (auto failed = guarded(r, [&] { h(r, p, respond); })) respond(std::move(*failed));
  }

  void send_error(int status, std::string_view code, std::string message) {
    if (!request_open_) {
      request_open_ = true;
      shared_->inflight.fetch_add(1);
    }
    if (method_.empty()) method_ = "-";
    if (path_.empty()) path_ = "-";
    route_ = "invalid";
    keep_alive_ = false;  // the stream is not at a request boundary any more
    send(error_response(status, code, message));
  }

  // Writes the answer: the head formatted here in one buffer, the body as
  // it is (one gathered write, no copy of the body, no generic serializer).
  void send(HttpResponse&& r) {
    status_ = r.status;
    if (shared_->draining.load()) keep_alive_ = false;
    // RFC 9110 §8.6 and §6.4.1: no body and no Content-Length on 1xx, 204, 304.
    const bool bodiless = r.status < 200 || r.status == 204 || r.status == 304;
    std::string& h = head_buf_;
    h.clear();
    h += "HTTP/1.1 ";
    h += std::to_string(r.status);
    h += ' ';
    h += bhttp::obsolete_reason(static_cast<bhttp::status>(r.status));
    h += "\r\nServer: tokend\r\nDate: ";
    h += http_date();
    h += "\r\n";
    bool nosniff = false;
    for (const auto& [k, v] : r.headers) {
      // The server owns the framing headers.
      if (iequals(k, "content-length") || iequals(k, "transfer-encoding") || iequals(k, "connection")) continue;
      if (k.empty() || breaks_line(k) || breaks_line(v) || k.find_first_of(": \t") != std::string::npos) {
        spdlog::error("dropped a malformed response header (line break, colon or no name) on {}", route_);
        continue;
      }
      if (iequals(k, "x-content-type-options")) nosniff = true;
      h += k;
      h += ": ";
      h += v;
      h += "\r\n";
    }
    if (!nosniff) h += "X-Content-Type-Options: nosniff\r\n";
    if (!bodiless) {
      h += "Content-Length: ";
      h += std::to_string(r.body.size());  // for HEAD, that of the GET
      h += "\r\n";
    }
    if (!keep_alive_) {
      h += "Connection: close\r\n";
    } else if (http10_) {
      h += "Connection: keep-alive\r\n";
    }
    h += "\r\n";
    body_ = std::move(r.body);
    if (head_ || bodiless) body_.clear();
    lowest().expires_after(std::chrono::milliseconds(shared_->opts.limits.write_timeout_ms));
    const std::array<net::const_buffer, 2> buffers{net::buffer(head_buf_), net::buffer(body_)};
    net::async_write(derived().stream(), buffers,
                     beast::bind_front_handler(&Session::on_write, derived().shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t) {
    const double seconds = std::chrono::duration<double>(Clock::now() - started_).count();
    if (route_.empty()) route_ = "unmatched";
    shared_->record(route_, status_, seconds);
    if (shared_->opts.access_log) {
      // The path only (never the query, headers or body), redacted in case a
      // client put a token into it.
      spdlog::info("access method={} path={} status={} ms={:.2f} client={}", method_, log::redact(path_), status_,
                   seconds * 1000, client_.empty() ? peer_ : client_);
    }
    request_open_ = false;
    shared_->inflight.fetch_sub(1);
    method_.clear();
    path_.clear();
    route_.clear();
    head_ = false;
    http10_ = false;
    // Security: the answer may hold a new token (body) or a session cookie
    // (head); do not keep them in an idle connection's memory.
    OPENSSL_cleanse(body_.data(), body_.size());
    OPENSSL_cleanse(head_buf_.data(), head_buf_.size());
    body_.clear();
    head_buf_.clear();
    if (body_.capacity() > kKeepBufferBytes) std::string().swap(body_);  // idle connections stay small
    if (ec || !keep_alive_) return derived().do_close();
    do_read();
  }

  static constexpr std::size_t kFramingSlack = 16 * 1024;
  std::shared_ptr<Shared> shared_;
  std::string peer_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  HttpRequest req_;                     // the request being read: head fields snapshot, then body
  std::vector<HeadField> head_fields_;  // views into parser_'s fields, only during check_request_head
  std::size_t head_scanned_ = 0;        // bytes of the buffer searched for the end of the head
  Clock::time_point first_deadline_;    // the first complete request must have arrived by then
  Clock::time_point read_deadline_;     // the current request must have arrived by then
  bool first_done_ = false;             // a complete request has arrived on this connection
  std::string head_buf_;  // the response head being written
  std::string body_;      // the response body being written
  static constexpr std::size_t kKeepBufferBytes = 64 * 1024;
  Clock::time_point started_ = Clock::now();
  std::string method_, path_, route_;
  std::string client_;  // the resolved client address of the current request
  int status_ = 0;
  bool keep_alive_ = false;
  bool head_ = false;
  bool http10_ = false;
  bool request_open_ = false;
};

class PlainSession final : public Session<PlainSession>, public std::enable_shared_from_this<PlainSession> {
 public:
  static constexpr bool kTls = false;
  PlainSession(tcp::socket&& socket, std::shared_ptr<Shared> shared, std::string peer)
      : Session(std::move(shared), std::move(peer)), stream_(std::move(socket)) {}
  beast::tcp_stream& stream() { return stream_; }
  void run() {
    net::dispatch(stream_.get_executor(), beast::bind_front_handler(&PlainSession::do_read, shared_from_this()));
  }
  void do_close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    // Lingering close: closing a socket that still has unread input (a 413
    // sent while the client is uploading) makes the kernel send a reset,
    // which can destroy the response before the client reads it. Drain what
    // the client still sends for a short, bounded while, then close.
    stream_.expires_after(std::chrono::seconds(1));
    drain(0);
  }

 private:
  friend class Session<PlainSession>;
  void drain(std::size_t drained) {
    if (drained > kMaxDrainBytes) return close_socket();
    auto self = shared_from_this();
    stream_.async_read_some(net::buffer(drain_buf_), [self, drained](beast::error_code ec, std::size_t n) {
      if (ec) return self->close_socket();
      self->drain(drained + n);
    });
  }
  void close_socket() {
    beast::error_code ec;
    stream_.socket().close(ec);
  }
  static constexpr std::size_t kMaxDrainBytes = 1 << 20;
  beast::tcp_stream stream_;
  std::array<char, 4096> drain_buf_{};
};

class SslSession final : public Session<SslSession>, public std::enable_shared_from_this<SslSession> {
 public:
  static constexpr bool kTls = true;
  SslSession(tcp::socket&& socket, ssl::context& ctx, std::shared_ptr<Shared> shared, std::string peer)
      : Session(std::move(shared), std::move(peer)), stream_(std::move(socket), ctx) {}
  ssl::stream<beast::tcp_stream>& stream() { return stream_; }
  void run() {
    auto self = shared_from_this();
    net::dispatch(stream_.get_executor(), [self] {
      // The handshake is part of the first request's deadline.
      beast::get_lowest_layer(self->stream_).expires_at(std::min(
          self->first_deadline_,
          Clock::now() + std::chrono::milliseconds(self->shared_->opts.limits.read_timeout_ms)));
      self->stream_.async_handshake(ssl::stream_base::server, [self](beast::error_code ec) {
        if (ec) {
          if (ec == beast::error::timeout) self->shared_->first_request_timeouts.inc();
          spdlog::debug("TLS handshake with {} failed: {}", self->peer_, ec.message());
          return self->close_socket();
        }
        self->do_read();
      });
    });
  }
  void do_close() {
    auto self = shared_from_this();
    beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(2));
    stream_.async_shutdown([self](beast::error_code) { self->close_socket(); });
  }

 private:
  friend class Session<SslSession>;
  void close_socket() {
    beast::error_code ec;
    beast::get_lowest_layer(stream_).socket().close(ec);
  }
  ssl::stream<beast::tcp_stream> stream_;
};

}  // namespace

// One io_context per I/O thread (Beast's "io_context per thread" layout): each
// connection is handed to one of them, round-robin, and lives there, so its
// handlers never run concurrently and need no strand, and the I/O threads
// share no scheduler queue or lock. The first
// context also runs the acceptor, the signals and the periodic jobs.
std::vector<std::unique_ptr<net::io_context>> make_contexts(int n) {
  std::vector<std::unique_ptr<net::io_context>> out;
  for (int i = 0; i < std::max(1, n); ++i) out.push_back(std::make_unique<net::io_context>(1));
  return out;
}

struct HttpServer::Impl {
  Impl(ServerOptions o, const Router& r, Dispatch d, metrics::Metrics& m)
      : iocs(make_contexts(o.io_threads)),
        ioc(*iocs.front()),
        shared(std::make_shared<Shared>(std::move(o), r, std::move(d), m)),
        acceptor(ioc),
        signals(ioc, SIGINT, SIGTERM),
        ssl_ctx(ssl::context::tls_server) {}

  std::vector<std::unique_ptr<net::io_context>> iocs;
  net::io_context& ioc;  // the first: acceptor, signals, timers
  std::size_t next_context = 0;  // only touched by the accept handler, on ioc's thread
  std::vector<net::executor_work_guard<net::io_context::executor_type>> keep_running;
  std::shared_ptr<Shared> shared;
  tcp::acceptor acceptor;
  net::signal_set signals;
  ssl::context ssl_ctx;
  struct Periodic {
    net::steady_timer timer;
    std::chrono::milliseconds period;
    std::function<void()> job;
  };
  std::vector<std::shared_ptr<Periodic>> periodics;
  std::atomic<bool> stopping{false};
  std::uint16_t port = 0;

  void do_accept() {
    net::io_context& home = *iocs[next_context++ % iocs.size()];
    acceptor.async_accept(home, [this](beast::error_code ec, tcp::socket socket) {
      if (ec) {
        if (!acceptor.is_open()) return;  // shutting down
        spdlog::warn("accept failed: {}", ec.message());
        // EMFILE and friends: back off briefly instead of spinning.
        auto t = std::make_shared<net::steady_timer>(ioc, std::chrono::milliseconds(50));
        t->async_wait([this, t](beast::error_code) { do_accept(); });
        return;
      }
      on_accept(std::move(socket));
      do_accept();
    });
  }

  void on_accept(tcp::socket socket) {
    beast::error_code ec;
    const auto ep = socket.remote_endpoint(ec);
    if (ec) return;
    std::string peer = canonical_address(ep.address());
    std::shared_ptr<SessionIface> victim;
    switch (shared->admit(peer, victim)) {
      case Shared::Admission::kAdmit:
        break;
      case Shared::Admission::kPerAddress:
        shared->refused_per_address.inc();
        socket.close(ec);
        return;
      case Shared::Admission::kFull:
        shared->refused_full.inc();
        socket.close(ec);
        return;
    }
    if (victim) {
      shared->evicted.inc();
      victim->close_if_idle();
    }
    socket.set_option(tcp::no_delay(true), ec);
    if (shared->opts.tls.enabled) {
      auto s = std::make_shared<SslSession>(std::move(socket), ssl_ctx, shared, peer);
      shared->add(s, peer);
      s->run();
    } else {
      auto s = std::make_shared<PlainSession>(std::move(socket), shared, peer);
      shared->add(s, peer);
      s->run();
    }
  }

  void arm(std::shared_ptr<Periodic> p) {
    p->timer.expires_after(p->period);
    p->timer.async_wait([this, p](beast::error_code ec) {
      if (ec || stopping.load()) return;
      p->job();
      arm(p);
    });
  }

  void begin_shutdown() {
    if (stopping.exchange(true)) return;
    spdlog::info("shutting down: no new connections; finishing requests in flight");
    shared->draining.store(true);
    beast::error_code ec;
    acceptor.close(ec);
    signals.cancel(ec);
    for (auto& p : periodics) p->timer.cancel();
    std::vector<std::shared_ptr<SessionIface>> live;
    {
      std::lock_guard lock(shared->mu);
      for (auto& [_, w] : shared->sessions) {
        if (auto s = w.weak.lock()) live.push_back(std::move(s));
      }
    }
    for (auto& s : live) s->close_if_idle();
    auto deadline = Clock::now() + std::chrono::milliseconds(shared->opts.shutdown_timeout_ms);
    auto timer = std::make_shared<net::steady_timer>(ioc);
    poll_drained(timer, deadline);
  }

  void poll_drained(std::shared_ptr<net::steady_timer> timer, Clock::time_point deadline) {
    if (shared->connections.load() == 0 || Clock::now() >= deadline) {
      if (shared->connections.load() > 0) {
        spdlog::warn("shutdown deadline reached with {} connection(s) still open", shared->connections.load());
      }
      keep_running.clear();
      for (auto& c : iocs) c->stop();
      return;
    }
    timer->expires_after(std::chrono::milliseconds(10));
    timer->async_wait([this, timer, deadline](beast::error_code) { poll_drained(timer, deadline); });
  }
};

HttpServer::HttpServer(ServerOptions options, const Router& router, Dispatch dispatch, metrics::Metrics& metrics)
    : impl_(std::make_unique<Impl>(std::move(options), router, std::move(dispatch), metrics)) {}

HttpServer::~HttpServer() = default;

Status HttpServer::start() {
  const ServerOptions& o = impl_->shared->opts;
  beast::error_code ec;
  if (o.tls.enabled) {
    auto& ctx = impl_->ssl_ctx;
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                    ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
    // Client-initiated renegotiation costs the server a handshake per request
    // of the client's choosing: refuse it.
    SSL_CTX_set_options(ctx.native_handle(), SSL_OP_NO_RENEGOTIATION);
    ctx.use_certificate_chain_file(o.tls.cert_file, ec);
    if (ec) return Error{ErrorCode::kTlsError, "tls.cert_file " + o.tls.cert_file + ": " + ec.message()};
    ctx.use_private_key_file(o.tls.key_file, ssl::context::pem, ec);
    if (ec) return Error{ErrorCode::kTlsError, "tls.key_file " + o.tls.key_file + ": " + ec.message()};
  }
  tcp::resolver resolver(impl_->ioc);
  auto results = resolver.resolve(o.listen.host, std::to_string(o.listen.port),
                                  tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) {
    return Error{ErrorCode::kListenFailed, "cannot resolve listen host " + o.listen.host + ": " + ec.message()};
  }
  const tcp::endpoint ep = results.begin()->endpoint();
  auto& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return Error{ErrorCode::kListenFailed, "cannot listen on " + o.listen.host + ":" + std::to_string(o.listen.port) + ": " +
                                      ec.message()};
  }
  impl_->port = a.local_endpoint().port();
  const std::string host = ep.address().is_v6() ? "[" + ep.address().to_string() + "]" : ep.address().to_string();
  spdlog::info("tokend listening on {}:{} ({})", host, impl_->port, o.tls.enabled ? "https" : "http");
  return ok_status();
}

std::uint16_t HttpServer::port() const { return impl_->port; }

void HttpServer::every(std::chrono::milliseconds period, std::function<void()> job) {
  auto p = std::make_shared<Impl::Periodic>(Impl::Periodic{net::steady_timer(impl_->ioc), period, std::move(job)});
  impl_->periodics.push_back(p);
  impl_->arm(p);
}

void HttpServer::run() {
  impl_->signals.async_wait([this](beast::error_code ec, int sig) {
    if (ec) return;
    spdlog::info("received signal {}", sig);
    impl_->begin_shutdown();
  });
  impl_->do_accept();
  std::vector<std::thread> threads;
  threads.reserve(impl_->iocs.size() - 1);
  for (std::size_t i = 1; i < impl_->iocs.size(); ++i) {
    // A context without connections must keep running until shutdown.
    impl_->keep_running.push_back(net::make_work_guard(*impl_->iocs[i]));
    threads.emplace_back([c = impl_->iocs[i].get()] { c->run(); });
  }
  impl_->ioc.run();
  for (auto& t : threads) t.join();
  spdlog::info("HTTP server stopped");
}

void HttpServer::stop() {
  net::post(impl_->ioc, [this] { impl_->begin_shutdown(); });
}

}  // namespace tokend::http
