// HttpServer: the Boost.Beast HTTP/1.1 server. N I/O threads each run an
// io_context of their own; each connection is a session that lives on one of
// them (handed out round-robin, so it needs no strand) and reads a
// request (with header/body limits and timeouts), asks the Router, runs the
// handler inline or on a worker pool (through `Dispatch`), and writes the
// answer, with keep-alive. Optional TLS on Beast's SSL stream.
//
// This header deliberately includes no Beast or Asio (pimpl): one Beast
// translation unit costs ~20 s to compile.
//
// Thread-safety: start() then run() from one thread; stop() from any thread
// or a signal (SIGINT/SIGTERM are handled by run() itself).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tokend/common/result.hpp"
#include "tokend/config/config.hpp"
#include "tokend/http/router.hpp"

namespace tokend::metrics { class Metrics; }

namespace tokend::http {

// Runs `job` on the pool for `where` (never kInline). False when that pool's
// queue is full: the server answers 503 with Retry-After.
using Dispatch = std::function<bool(RunOn where, std::function<void()> job)>;

struct ServerOptions {
  config::ListenConfig listen;
  config::TlsConfig tls;
  config::LimitsConfig limits;
  int io_threads = 1;
  int shutdown_timeout_ms = 10'000;
  bool access_log = true;
  std::vector<std::string> trusted_proxies;  // see config::Config::trusted_proxies
  std::vector<std::string> server_names;     // see config::Config::server_names
};

class HttpServer final {
 public:
  HttpServer(ServerOptions options, const Router& router, Dispatch dispatch, metrics::Metrics& metrics);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Loads the TLS certificate (when enabled), binds and listens. Logs
  // "tokend listening on HOST:PORT (http|https)". Error "listen_failed" or
  // "tls_error" with the reason.
  Status start();

  // The bound port (after start()).
  std::uint16_t port() const;

  // Calls `job` every `every` on an I/O thread until shutdown; `job` must not
  // block (post heavier work to a pool).
  void every(std::chrono::milliseconds every, std::function<void()> job);

  // Serves until SIGINT/SIGTERM or stop(), then shuts down gracefully: stops
  // accepting, closes idle keep-alive connections, lets in-flight requests
  // finish until shutdown_timeout_ms, and returns when the I/O threads ended.
  void run();

  // Begins the graceful shutdown. Safe from any thread.
  void stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tokend::http
