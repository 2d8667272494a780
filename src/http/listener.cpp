#include "http/listener.hpp"

#include <boost/asio/post.hpp>
#include <openssl/ssl.h>
#include <spdlog/spdlog.h>

#include <string>
#include <utility>

#include "http/session.hpp"
#include "tokend/common/ip.hpp"

namespace tokend::http {

namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

Listener::Listener(ServerOptions options, const Router& router, Dispatch dispatch, metrics::Metrics& metrics,
                   std::vector<net::io_context*> contexts)
    : contexts_(std::move(contexts)),
      ioc_(*contexts_.front()),
      shared_(std::make_shared<SharedState>(std::move(options), router, std::move(dispatch), metrics)),
      acceptor_(ioc_),
      ssl_ctx_(ssl::context::tls_server) {}

Status Listener::start() {
  const ServerOptions& o = shared_->opts;
  error_code ec;
  if (o.tls.enabled) {
    auto& ctx = ssl_ctx_;
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
  tcp::resolver resolver(ioc_);
  auto results = resolver.resolve(o.listen.host, std::to_string(o.listen.port),
                                  tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) {
    return Error{ErrorCode::kListenFailed, "cannot resolve listen host " + o.listen.host + ": " + ec.message()};
  }
  const tcp::endpoint ep = results.begin()->endpoint();
  auto& a = acceptor_;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return Error{ErrorCode::kListenFailed, "cannot listen on " + o.listen.host + ":" + std::to_string(o.listen.port) + ": " +
                                      ec.message()};
  }
  port_ = a.local_endpoint().port();
  const std::string host = ep.address().is_v6() ? "[" + ep.address().to_string() + "]" : ep.address().to_string();
  spdlog::info("tokend listening on {}:{} ({})", host, port_, o.tls.enabled ? "https" : "http");
  do_accept();  // runs once the first context runs
  return ok_status();
}

void Listener::do_accept() {
  net::io_context& home = *contexts_[next_context_++ % contexts_.size()];
  acceptor_.async_accept(home, [this](error_code ec, tcp::socket socket) {
    if (ec) {
      if (!acceptor_.is_open()) return;  // shutting down
      spdlog::warn("accept failed: {}", ec.message());
      // EMFILE and friends: back off briefly instead of spinning.
      auto t = std::make_shared<net::steady_timer>(ioc_, std::chrono::milliseconds(50));
      t->async_wait([this, t](error_code) { do_accept(); });
      return;
    }
    on_accept(std::move(socket));
    do_accept();
  });
}

void Listener::on_accept(tcp::socket socket) {
  error_code ec;
  const auto ep = socket.remote_endpoint(ec);
  if (ec) return;
  // The one spelling config.trusted_proxies and X-Forwarded-For hops are
  // compared in (IPv4-mapped IPv6 as IPv4); an address inet_pton does not
  // read (a link-local one with its zone) stays as Asio writes it.
  std::string peer = canonical_ip(ep.address().to_string());
  if (peer.empty()) peer = ep.address().to_string();
  std::shared_ptr<SessionIface> victim;
  switch (shared_->admit(peer, victim)) {
    case SharedState::Admission::kAdmit:
      break;
    case SharedState::Admission::kPerAddress:
      shared_->refused_per_address.inc();
      socket.close(ec);
      return;
    case SharedState::Admission::kFull:
      shared_->refused_full.inc();
      socket.close(ec);
      return;
  }
  if (victim) {
    shared_->evicted.inc();
    victim->close_if_idle();
  }
  socket.set_option(tcp::no_delay(true), ec);
  start_session(std::move(socket), shared_->opts.tls.enabled ? &ssl_ctx_ : nullptr, shared_, std::move(peer));
}

void Listener::shutdown(std::function<void()> drained) {
  net::post(ioc_, [this, drained = std::move(drained)]() mutable { begin_shutdown(std::move(drained)); });
}

void Listener::begin_shutdown(std::function<void()> drained) {
  if (stopping_.exchange(true)) return;
  spdlog::info("shutting down: no new connections; finishing requests in flight");
  shared_->draining.store(true);
  error_code ec;
  acceptor_.close(ec);
  std::vector<std::shared_ptr<SessionIface>> live;
  {
    std::lock_guard lock(shared_->mu);
    for (auto& [_, w] : shared_->sessions) {
      if (auto s = w.weak.lock()) live.push_back(std::move(s));
    }
  }
  for (auto& s : live) s->close_if_idle();
  auto deadline = Clock::now() + std::chrono::milliseconds(shared_->opts.shutdown_timeout_ms);
  auto timer = std::make_shared<net::steady_timer>(ioc_);
  poll_drained(timer, deadline, std::move(drained));
}

void Listener::poll_drained(std::shared_ptr<net::steady_timer> timer, Clock::time_point deadline,
                            std::function<void()> drained) {
  if (shared_->connections.load() == 0 || Clock::now() >= deadline) {
    if (shared_->connections.load() > 0) {
      spdlog::warn("shutdown deadline reached with {} connection(s) still open", shared_->connections.load());
    }
    drained();
    return;
  }
  timer->expires_after(std::chrono::milliseconds(10));
  timer->async_wait([this, timer, deadline, drained = std::move(drained)](error_code) mutable {
    poll_drained(timer, deadline, std::move(drained));
  });
}

}  // namespace tokend::http
