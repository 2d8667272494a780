// Listener: the accepting side of one HttpServer. Loads the TLS context,
// binds and listens, accepts on the first io_context and hands each
// connection, round-robin, to one of the io_contexts app/ runs (Beast's
// "io_context per thread" layout: a connection lives on one thread, so its
// handlers never run concurrently and need no strand, and the I/O threads
// share no scheduler queue or lock). Admission (connection limits, eviction of
// the longest-idle connection when full) is SharedState's; the sessions are
// session.cpp's. At shutdown it stops accepting, closes idle connections and
// waits for the rest until the deadline.
//
// Asio only, no Beast: included by server.cpp and listener.cpp.
//
// Thread-safety: start() once, before the contexts run; shutdown() from any
// thread; the rest runs on the first context's thread.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "http/shared_state.hpp"

namespace tokend::http {

class Listener final {
 public:
  // REQUIRES: `contexts` is not empty and outlives the listener.
  Listener(ServerOptions options, const Router& router, Dispatch dispatch, metrics::Metrics& metrics,
           std::vector<boost::asio::io_context*> contexts);

  // See HttpServer::start().
  Status start();
  std::uint16_t port() const { return port_; }
  // See HttpServer::shutdown().
  void shutdown(std::function<void()> drained);

 private:
  using Clock = std::chrono::steady_clock;
  void do_accept();
  void on_accept(boost::asio::ip::tcp::socket socket);
  void begin_shutdown(std::function<void()> drained);
  void poll_drained(std::shared_ptr<boost::asio::steady_timer> timer, Clock::time_point deadline,
                    std::function<void()> drained);

  std::vector<boost::asio::io_context*> contexts_;
  boost::asio::io_context& ioc_;  // the first: the acceptor and the shutdown timer
  std::size_t next_context_ = 0;  // only touched by the accept handler, on ioc_'s thread
  std::shared_ptr<SharedState> shared_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::ssl::context ssl_ctx_;
  std::atomic<bool> stopping_{false};
  std::uint16_t port_ = 0;
};

}  // namespace tokend::http
