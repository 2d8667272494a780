// Router: maps (method, path) to a handler. Paths are literal segments or
// `{name}` placeholders matching one non-empty segment (`/api/tokens/{id}`).
// Unknown path -> 404 {"error":"not_found"}; known path with another method ->
// 405 with an Allow header. The router knows nothing about sockets.
//
// Each route says where its handler runs: `kInline` on the I/O thread (only for
// handlers that never block: metrics, static errors), `kWorker` on the bounded
// worker pool (SQLite, password hashing), `kUpstream` on the pool for calls to
// other servers (LDAP, OAuth providers), so a hanging provider cannot starve
// the database work, `kBulk` on a small pool of its own for answers that grow
// with the data (token listings), so they never queue in front of token
// validation on the worker pool.
//
// Thread-safety: add routes before serving; match() is then const and safe
// from any thread.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tokend/common/run_on.hpp"
#include "tokend/http/message.hpp"

namespace tokend::http {

// Defined in tokend/common/run_on.hpp; named here for the routes.
using tokend::RunOn;

struct RouteParams {
  std::map<std::string, std::string, std::less<>> values;
  std::string_view get(std::string_view name) const;
};

using Handler = std::function<HttpResponse(const HttpRequest&, const RouteParams&)>;

// Hands the response of a deferred handler to its connection, later and from
// any thread. The first call wins; later calls do nothing. If every copy is
// destroyed without a call (a bug, or an exception on the way), the client gets
// a 500 instead of a connection that hangs until its timeout.
//
// Thread-safety: copies may be called and destroyed from any thread.
class Responder final {
 public:
  using Sink = std::function<void(HttpResponse&&)>;
  explicit Responder(Sink sink);
  void operator()(HttpResponse&& response) const;
  // True once the response was handed over.
  bool done() const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

// A handler that answers through its Responder, possibly after it returned:
// for work that waits on something else (a group commit) without holding its
// thread. Runs where the route says, like a Handler.
using DeferredHandler = std::function<void(const HttpRequest&, const RouteParams&, Responder)>;

// A route's attempt to answer at once on the I/O thread, before its handler
// is handed to where the route runs: the response, or nullopt to hand the
// request on. Must never block (memory only: a hash-map lookup, an atomic
// read).
using FastPath = std::function<std::optional<HttpResponse>(const HttpRequest&, const RouteParams&)>;

// How a matched request is to be run (by `handler` or by `deferred`: one is
// set); or, when neither is, the ready response (404/405) to send.
struct Match {
  Handler handler;
  DeferredHandler deferred;
  RouteParams params;
  FastPath fast;  // set: try it first, on the I/O thread
  RunOn run_on = RunOn::kInline;
  std::string route;           // the pattern, e.g. "/api/tokens/{id}"
  HttpResponse immediate;      // used when neither handler is set
  bool matched() const { return handler || deferred; }
};

class Router final {
 public:
  // Registers `handler` for `method` on `pattern`. A `{name}` segment picks up
  // a path segment. Literal routes win over placeholder routes.
  void add(std::string method, std::string pattern, RunOn run_on, Handler handler);
  void add_deferred(std::string method, std::string pattern, RunOn run_on, DeferredHandler handler);
  // Like add(), with `fast` tried first on the I/O thread; when it answers
  // nullopt, `handler` runs where `run_on` says.
  void add(std::string method, std::string pattern, RunOn run_on, Handler handler, FastPath fast);

  Match match(std::string_view method, std::string_view path) const;

  // Every registered pattern (the route labels of metrics), once each.
  std::vector<std::string> patterns() const;

  // Runs the matched route in this thread as the server does (its fast path
  // first, then its handler): for tests and inline routes. For a deferred
  // handler, waits for its response.
  HttpResponse handle(const HttpRequest& request) const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    RunOn run_on;
    Handler handler;
    DeferredHandler deferred;
    FastPath fast;
  };
  std::vector<Route> routes_;
};

}  // namespace tokend::http
