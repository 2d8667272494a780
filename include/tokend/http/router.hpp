// Router: maps (method, path) to a handler. Paths are literal segments or
// `{name}` placeholders matching one non-empty segment (`/api/tokens/{id}`).
// Unknown path -> 404 {"error":"not_found"}; known path with another method ->
// 405 with an Allow header. The router knows nothing about sockets.
//
// Each route says where its handler runs: `kInline` on the I/O thread (only for
// handlers that never block: metrics, static errors), `kWorker` on the bounded
// worker pool (SQLite, password hashing), `kUpstream` on the pool for calls to
// other servers (LDAP, OAuth providers), so a hanging provider cannot starve
// the database work.
//
// Thread-safety: add routes before serving; match() is then const and safe
// from any thread.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tokend/http/message.hpp"

namespace tokend::http {

enum class RunOn { kInline, kWorker, kUpstream };

struct RouteParams {
  std::map<std::string, std::string, std::less<>> values;
  std::string_view get(std::string_view name) const;
};

using Handler = std::function<HttpResponse(const HttpRequest&, const RouteParams&)>;

// How a matched request is to be run; or, when handler is empty, the ready
// response (404/405) to send.
struct Match {
  Handler handler;
  RouteParams params;
  RunOn run_on = RunOn::kInline;
  std::string route;           // the pattern, e.g. "/api/tokens/{id}"
  HttpResponse immediate;      // used when !handler
};

class Router final {
 public:
  // Registers `handler` for `method` on `pattern`. A `{name}` segment picks up
  // a path segment. Literal routes win over placeholder routes.
  void add(std::string method, std::string pattern, RunOn run_on, Handler handler);

  Match match(std::string_view method, std::string_view path) const;

  // Runs the matched handler in this thread: for tests and inline routes.
  HttpResponse handle(const HttpRequest& request) const;

 private:
  struct Route {
    std::string method;
    std::string pattern;
    std::vector<std::string> segments;
    RunOn run_on;
    Handler handler;
  };
  std::vector<Route> routes_;
};

}  // namespace tokend::http
