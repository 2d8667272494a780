#include <catch2/catch.hpp>

#include <atomic>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "tokend/http/router.hpp"

using nlohmann::json;
using tokend::http::HttpRequest;
using tokend::http::HttpResponse;
using tokend::http::RouteParams;
using tokend::http::Router;
using tokend::http::RunOn;

namespace {

// A handler that answers with its own tag and the params it saw.
tokend::http::Handler tagged(std::string tag) {
  return [tag](const HttpRequest& req, const RouteParams& params) {
    json p = json::object();
    for (const auto& [k, v] : params.values) p[k] = v;
    HttpResponse r;
    r.status = 200;
    r.body = json{{"tag", tag}, {"params", p}, {"method", req.method}}.dump();
    return r;
  };
}

// The Allow header of a 405 as a string (so that a failure prints it).
std::string allow_of(const tokend::http::Match& m) {
  return std::string(m.immediate.header("Allow").value_or("(no Allow header)"));
}

std::string tag_of(const HttpResponse& r) { return json::parse(r.body).at("tag").get<std::string>(); }

HttpRequest request(std::string method, std::string path) {
  HttpRequest r;
  r.method = std::move(method);
  r.path = path;
  r.target = std::move(path);
  return r;
}

}  // namespace

TEST_CASE("Router matches literal routes and placeholders", "[http][router]") {
  Router router;
  router.add("GET", "/api/tokens", RunOn::kWorker, tagged("list"));
  router.add("GET", "/api/tokens/{id}", RunOn::kWorker, tagged("one"));
  router.add("GET", "/api/users/{user}/tokens/{id}", RunOn::kWorker, tagged("nested"));

  SECTION("literal path") {
    auto m = router.match("GET", "/api/tokens");
    REQUIRE(m.handler);
    CHECK(m.route == "/api/tokens");
    CHECK(m.params.values.empty());
  }
  SECTION("one placeholder picks up the segment") {
    auto m = router.match("GET", "/api/tokens/42");
    REQUIRE(m.handler);
    CHECK(m.route == "/api/tokens/{id}");
    CHECK(m.params.get("id") == "42");
    CHECK(m.params.get("missing").empty());
  }
  SECTION("several placeholders") {
    auto m = router.match("GET", "/api/users/alice/tokens/7");
    REQUIRE(m.handler);
    CHECK(m.route == "/api/users/{user}/tokens/{id}");
    CHECK(m.params.get("user") == "alice");
    CHECK(m.params.get("id") == "7");
  }
  SECTION("a placeholder does not match an empty segment") {
    auto m = router.match("GET", "/api/tokens/");
    CHECK_FALSE(m.handler);
    CHECK(m.immediate.status == 404);
  }
  SECTION("a placeholder matches exactly one segment") {
    auto m = router.match("GET", "/api/tokens/1/2");
    CHECK_FALSE(m.handler);
    CHECK(m.immediate.status == 404);
  }
  SECTION("segments are compared exactly") {
    CHECK_FALSE(router.match("GET", "/api/Tokens").handler);
    CHECK_FALSE(router.match("GET", "/api/tokensx").handler);
    CHECK_FALSE(router.match("GET", "/api").handler);
  }
}

TEST_CASE("Router prefers literal routes over placeholders whatever the order", "[http][router]") {
  for (bool literal_first : {true, false}) {
    INFO("literal registered first: " << literal_first);
    Router router;
    if (literal_first) router.add("GET", "/api/tokens/me", RunOn::kInline, tagged("literal"));
    router.add("GET", "/api/tokens/{id}", RunOn::kWorker, tagged("param"));
    if (!literal_first) router.add("GET", "/api/tokens/me", RunOn::kInline, tagged("literal"));

    auto lit = router.match("GET", "/api/tokens/me");
    REQUIRE(lit.handler);
    CHECK(lit.route == "/api/tokens/me");
    CHECK(lit.run_on == RunOn::kInline);
    CHECK(lit.params.values.empty());

    auto par = router.match("GET", "/api/tokens/12");
    REQUIRE(par.handler);
    CHECK(par.route == "/api/tokens/{id}");
    CHECK(par.run_on == RunOn::kWorker);
    CHECK(par.params.get("id") == "12");

    CHECK(tag_of(router.handle(request("GET", "/api/tokens/me"))) == "literal");
    CHECK(tag_of(router.handle(request("GET", "/api/tokens/12"))) == "param");
  }
}

TEST_CASE("Router answers 404 with the JSON error body for unknown paths", "[http][router]") {
  Router router;
  router.add("GET", "/healthz", RunOn::kInline, tagged("health"));
  for (const char* path : {"/", "/nope", "/healthz/x", "/api/tokens"}) {
    INFO(path);
    auto m = router.match("GET", path);
    CHECK_FALSE(m.handler);
    CHECK(m.immediate.status == 404);
    CHECK(m.route == "unmatched");
    CHECK(m.immediate.route == "unmatched");
    const auto body = json::parse(m.immediate.body);
    CHECK(body.at("error") == "not_found");
    CHECK(body.at("message").is_string());
    CHECK(body.size() == 2);
    CHECK(m.immediate.header("Content-Type") == std::optional<std::string_view>("application/json"));
    CHECK_FALSE(m.immediate.header("Allow"));
  }
  // Routing happens on the path only: handle() with an unknown path says 404 too.
  auto r = router.handle(request("POST", "/unknown"));
  CHECK(r.status == 404);
}

TEST_CASE("Router answers 405 with an Allow header for known paths", "[http][router]") {
  Router router;
  router.add("POST", "/api/login", RunOn::kWorker, tagged("login"));
  router.add("GET", "/api/tokens", RunOn::kWorker, tagged("list"));
  router.add("DELETE", "/api/tokens/{id}", RunOn::kWorker, tagged("delete"));
  router.add("GET", "/api/token", RunOn::kWorker, tagged("get-token"));
  router.add("POST", "/api/token", RunOn::kWorker, tagged("post-token"));
  router.add("DELETE", "/api/token", RunOn::kWorker, tagged("delete-token"));

  SECTION("the single allowed method") {
    auto m = router.match("GET", "/api/login");
    CHECK_FALSE(m.handler);
    CHECK(m.immediate.status == 405);
    CHECK(allow_of(m) == "POST");
    const auto body = json::parse(m.immediate.body);
    CHECK(body.at("error") == "method_not_allowed");
    CHECK(body.at("message").is_string());
    // Metrics see the pattern, not the raw path.
    CHECK(m.route == "/api/login");
    CHECK(m.immediate.route == "/api/login");
  }
  SECTION("a GET route adds HEAD") {
    auto m = router.match("POST", "/api/tokens");
    CHECK(m.immediate.status == 405);
    CHECK(allow_of(m) == "GET, HEAD");
  }
  SECTION("a placeholder route's methods") {
    auto m = router.match("PUT", "/api/tokens/3");
    CHECK(m.immediate.status == 405);
    CHECK(allow_of(m) == "DELETE");
    CHECK(m.route == "/api/tokens/{id}");
  }
  SECTION("several methods are listed sorted, HEAD among them") {
    auto m = router.match("PUT", "/api/token");
    CHECK(m.immediate.status == 405);
    CHECK(allow_of(m) == "DELETE, GET, HEAD, POST");
  }
  SECTION("HEAD on a POST-only path is 405 too") {
    auto m = router.match("HEAD", "/api/login");
    CHECK(m.immediate.status == 405);
    CHECK(allow_of(m) == "POST");
  }
}

TEST_CASE("Router lets HEAD use the GET route", "[http][router]") {
  Router router;
  router.add("GET", "/healthz", RunOn::kInline, tagged("health"));
  router.add("GET", "/api/tokens/{id}", RunOn::kWorker, tagged("one"));
  auto m = router.match("HEAD", "/healthz");
  REQUIRE(m.handler);
  CHECK(m.route == "/healthz");
  CHECK(m.run_on == RunOn::kInline);
  auto p = router.match("HEAD", "/api/tokens/5");
  REQUIRE(p.handler);
  CHECK(p.params.get("id") == "5");
  CHECK(tag_of(router.handle(request("HEAD", "/healthz"))) == "health");
}

TEST_CASE("Router carries each route's RunOn", "[http][router]") {
  Router router;
  router.add("GET", "/inline", RunOn::kInline, tagged("a"));
  router.add("GET", "/worker", RunOn::kWorker, tagged("b"));
  router.add("POST", "/upstream/{name}", RunOn::kUpstream, tagged("c"));
  CHECK(router.match("GET", "/inline").run_on == RunOn::kInline);
  CHECK(router.match("GET", "/worker").run_on == RunOn::kWorker);
  CHECK(router.match("POST", "/upstream/github").run_on == RunOn::kUpstream);
}

TEST_CASE("Router::handle runs the handler with the request and params", "[http][router]") {
  Router router;
  int calls = 0;
  router.add("DELETE", "/api/tokens/{id}", RunOn::kWorker, [&calls](const HttpRequest& req, const RouteParams& p) {
    ++calls;
    HttpResponse r;
    r.status = 204;
    r.body = std::string(p.get("id")) + "|" + req.body;
    r.route = "set-by-handler";
    return r;
  });
  HttpRequest req = request("DELETE", "/api/tokens/99");
  req.body = "payload";
  auto r = router.handle(req);
  CHECK(calls == 1);
  CHECK(r.status == 204);
  CHECK(r.body == "99|payload");
  // The router, not the handler, names the route.
  CHECK(r.route == "/api/tokens/{id}");

  auto miss = router.handle(request("GET", "/api/tokens/99"));
  CHECK(calls == 1);
  CHECK(miss.status == 405);
  CHECK(miss.route == "/api/tokens/{id}");
}

TEST_CASE("Router method names are case-sensitive", "[http][router]") {
  Router router;
  router.add("GET", "/x", RunOn::kInline, tagged("x"));
  auto m = router.match("get", "/x");
  CHECK_FALSE(m.handler);
  CHECK(m.immediate.status == 405);
}

TEST_CASE("Router deferred handlers answer through their Responder", "[http][router]") {
  Router router;
  router.add_deferred("POST", "/later/{id}", RunOn::kWorker,
                      [](const HttpRequest&, const RouteParams& p, tokend::http::Responder respond) {
                        // Answers from another thread, after the handler returned.
                        std::thread([respond, id = std::string(p.get("id"))] {
                          HttpResponse r;
                          r.status = 201;
                          r.body = id;
                          respond(std::move(r));
                        }).detach();
                      });
  auto m = router.match("POST", "/later/7");
  CHECK(m.matched());
  CHECK_FALSE(m.handler);
  CHECK(m.run_on == RunOn::kWorker);
  CHECK(router.patterns() == std::vector<std::string>{"/later/{id}"});
  const HttpResponse r = router.handle(request("POST", "/later/7"));
  CHECK(r.status == 201);
  CHECK(r.body == "7");
  CHECK(r.route == "/later/{id}");
}

TEST_CASE("Responder: the first answer wins, and a dropped one answers 500", "[http][router]") {
  std::vector<int> sent;
  {
    tokend::http::Responder respond([&](HttpResponse&& r) { sent.push_back(r.status); });
    CHECK_FALSE(respond.done());
    HttpResponse a;
    a.status = 200;
    respond(std::move(a));
    HttpResponse b;
    b.status = 503;
    respond(std::move(b));  // ignored
    CHECK(respond.done());
  }
  CHECK(sent == std::vector<int>{200});
  sent.clear();
  std::string body;
  {
    tokend::http::Responder respond([&](HttpResponse&& r) {
      sent.push_back(r.status);
      body = r.body;
    });
    tokend::http::Responder copy = respond;  // the last copy going away answers
  }
  CHECK(sent == std::vector<int>{500});
  // The generic body: a stable code, no details.
  CHECK(body == R"({"error":"internal_error","message":"Something went wrong on our side."})");
}

TEST_CASE("Router: very deep paths are 404, very deep patterns are refused", "[http][router]") {
  Router router;
  router.add("GET", "/{a}/{b}", RunOn::kInline, tagged("ab"));
  std::string deep;
  for (int i = 0; i < 40; ++i) deep += "/x";
  auto m = router.match("GET", deep);
  CHECK_FALSE(m.matched());
  CHECK(m.immediate.status == 404);
  CHECK(tag_of(router.handle(request("GET", "/1/2"))) == "ab");
  CHECK_THROWS_AS(router.add("GET", deep, RunOn::kInline, tagged("deep")), std::invalid_argument);
}

TEST_CASE("Router: a route's fast path answers first, or hands on to its handler", "[http][router]") {
  Router router;
  std::atomic<int> handler_calls{0};
  router.add(
      "GET", "/api/user", RunOn::kWorker,
      [&handler_calls](const HttpRequest&, const RouteParams&) {
        ++handler_calls;
        HttpResponse r;
        r.status = 200;
        r.body = "from the handler";
        return r;
      },
      [](const HttpRequest& req, const RouteParams&) -> std::optional<HttpResponse> {
        if (req.header("authorization")) return std::nullopt;  // hand off
        HttpResponse r;
        r.status = 401;
        r.body = "from memory";
        return r;
      });
  HttpRequest plain;
  plain.method = "GET";
  plain.path = "/api/user";
  auto m = router.match("GET", "/api/user");
  REQUIRE(m.matched());
  REQUIRE(m.fast);
  CHECK(m.run_on == RunOn::kWorker);
  auto answered = router.handle(plain);
  CHECK(answered.status == 401);
  CHECK(answered.body == "from memory");
  CHECK(answered.route == "/api/user");
  CHECK(handler_calls == 0);

  HttpRequest with_token = plain;
  with_token.headers.emplace_back("authorization", "Bearer x");
  auto handed = router.handle(with_token);
  CHECK(handed.status == 200);
  CHECK(handed.body == "from the handler");
  CHECK(handler_calls == 1);
  // HEAD uses the GET route's fast path too.
  auto head = router.match("HEAD", "/api/user");
  CHECK(head.fast);
  // Routes without one have none.
  router.add("GET", "/plain", RunOn::kInline, tagged("plain"));
  CHECK_FALSE(router.match("GET", "/plain").fast);
}
