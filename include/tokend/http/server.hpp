// HttpServer: the Boost.Beast HTTP/1.1 server. It only serves: the listener
// (src/http/listener.cpp) accepts and hands each connection, round-robin, to
// one of the io_contexts it is given; each connection is a session
// (src/http/session.cpp) that reads a request (with header/body limits and
// timeouts), asks the Router, runs the handler inline or on a worker pool
// (through `Dispatch`), and writes the answer, with keep-alive. Optional TLS
// on Beast's SSL stream. The io_contexts, their threads, the signals and the
// periodic jobs belong to app/ (src/app/app.cpp), which calls shutdown() on
// SIGINT/SIGTERM.
//
// This header deliberately includes no Beast or Asio (pimpl): one Beast
// translation unit costs ~20 s to compile.
//
// Thread-safety: construct and start() before the contexts run; shutdown()
// from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tokend/common/result.hpp"
#include "tokend/config/config.hpp"
#include "tokend/http/router.hpp"

namespace boost::asio { class io_context; }
namespace tokend::metrics { class Metrics; }

namespace tokend::http {

class Listener;

// Runs `job` on the pool for `where` (never kInline). False when that pool's
// queue is full: the server answers 503 with Retry-After.
using Dispatch = std::function<bool(RunOn where, std::function<void()> job)>;

struct ServerOptions {
  config::ListenConfig listen;
  config::TlsConfig tls;
  config::LimitsConfig limits;
  int shutdown_timeout_ms = 10'000;
  bool access_log = true;
  std::vector<std::string> trusted_proxies;  // see config::Config::trusted_proxies
  std::vector<std::string> server_names;     // see config::Config::server_names
};

class HttpServer final {
 public:
  // Accepts on contexts[0]; connections are spread over all of `contexts`,
  // each of which must be run by one thread.
  // REQUIRES: `contexts` is not empty; the contexts, `router` and `metrics`
  // outlive the server.
  HttpServer(ServerOptions options, const Router& router, Dispatch dispatch, metrics::Metrics& metrics,
             std::vector<boost::asio::io_context*> contexts);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Loads the TLS certificate (when enabled), binds, listens and starts
  // accepting (once the contexts run). Logs "tokend listening on HOST:PORT
  // (http|https)". Error kListenFailed or kTlsError with the reason.
  Status start();

  // The bound port (after start()).
  std::uint16_t port() const;

  // The graceful shutdown: stops accepting, closes idle keep-alive
  // connections, lets in-flight requests finish until shutdown_timeout_ms,
  // then calls `drained` on contexts[0]'s thread (app/ then stops the
  // contexts). Safe from any thread; only the first call has an effect.
  void shutdown(std::function<void()> drained);

 private:
  std::unique_ptr<Listener> listener_;
};

}  // namespace tokend::http
