#include "http/session.hpp"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <optional>
#include <vector>

#include "tokend/http/client_address.hpp"
#include "tokend/http/request_head.hpp"
#include "tokend/http/request_id.hpp"
#include "tokend/http/response_head.hpp"
#include "tokend/log/log.hpp"

namespace tokend::http {

namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

std::int64_t now_ns() { return Clock::now().time_since_epoch().count(); }

bool is_parse_error(const beast::error_code& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_target).category();
}

template <class Derived>
class Session : public SessionIface {
 public:
  explicit Session(std::shared_ptr<SharedState> shared, std::string peer)
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
    // Set before the head is judged, so that even a refused request's answer
    // and access-log line carry the id (request_id.hpp: hostile ids replaced).
    request_id_ = request_id_for(req_.headers);
    req_.request_id = request_id_;
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
    r.peer = client_address(peer_, r.headers, shared_->opts.trusted_proxies);
    client_ = r.peer;
    r.tls = Derived::kTls;

    Match m = shared_->router.match(r.method, r.path);
    route_ = m.route;
    if (!m.matched()) return send(std::move(m.immediate));
    if (m.fast) {
      // The route's non-blocking attempt on this I/O thread (an answer from
      // memory); nullopt hands the request on as below.
      std::optional<HttpResponse> answer;
      if (auto failed = guarded(r, [&] { answer = m.fast(r, m.params); })) return send(std::move(*failed));
      if (answer) return send(std::move(*answer));
    }
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

  // Writes the answer: the head formatted in one buffer (write_response_head),
  // the body as it is (one gathered write, no copy of the body, no generic
  // serializer).
  void send(HttpResponse&& r) {
    status_ = r.status;
    if (shared_->draining.load()) keep_alive_ = false;
    // Every answer carries its id, even one refused before the head was read.
    if (request_id_.empty()) request_id_ = make_request_id();
    r.headers.emplace_back("X-Request-Id", request_id_);
    const std::string_view reason = bhttp::obsolete_reason(static_cast<bhttp::status>(r.status));
    if (write_response_head(r, reason, http_date(), HeadOptions{keep_alive_, http10_}, head_buf_) > 0) {
      spdlog::error("dropped a malformed response header (line break, colon or no name) on {}", route_);
    }
    body_ = std::move(r.body);
    if (head_ || is_bodiless_status(r.status)) body_.clear();
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
      spdlog::info("access method={} path={} status={} ms={:.2f} client={} request_id={}", method_,
                   log::redact(path_), status_, seconds * 1000, client_.empty() ? peer_ : client_, request_id_);
    }
    request_id_.clear();
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
  std::shared_ptr<SharedState> shared_;
  std::string peer_;
  std::string request_id_;  // the current request's X-Request-Id (request_id.hpp)
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
  PlainSession(tcp::socket&& socket, std::shared_ptr<SharedState> shared, std::string peer)
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
  SslSession(tcp::socket&& socket, ssl::context& ctx, std::shared_ptr<SharedState> shared, std::string peer)
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

void start_session(tcp::socket&& socket, ssl::context* tls, std::shared_ptr<SharedState> shared, std::string peer) {
  if (tls != nullptr) {
    auto s = std::make_shared<SslSession>(std::move(socket), *tls, shared, peer);
    shared->add(s, peer);
    s->run();
  } else {
    auto s = std::make_shared<PlainSession>(std::move(socket), shared, peer);
    shared->add(s, peer);
    s->run();
  }
}

}  // namespace tokend::http
