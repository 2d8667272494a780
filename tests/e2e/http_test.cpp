// End-to-end: the HTTP layer's error statuses, limits and timeouts.
#include <catch2/catch.hpp>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "support/process.hpp"

using e2e::TokendProcess;

namespace {

// Every byte the server sends on `fd` until it closes the connection, or
// until `timeout_ms` have passed (so a server that never closes fails the
// test in seconds instead of hanging it).
std::string read_until_close(int fd, int timeout_ms = 15000) {
  std::string in;
  char buf[4096];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) break;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    in.append(buf, static_cast<std::size_t>(n));
  }
  return in;
}

// Sends `raw` on one connection and returns every byte the server sends back
// until it closes the connection (several pipelined answers, as they are).
std::string send_all_read_all(std::uint16_t port, const std::string& raw) {
  int fd = e2e::connect_to(port);
  REQUIRE(fd >= 0);
  REQUIRE(::send(fd, raw.data(), raw.size(), 0) == static_cast<ssize_t>(raw.size()));
  std::string in = read_until_close(fd);
  ::close(fd);
  return in;
}

}  // namespace

TEST_CASE("unknown routes are 404 and wrong methods 405 with Allow", "[e2e][http]") {
  TokendProcess t;
  auto r = t.get("/api/nope");
  CHECK(r.status == 404);
  CHECK(r.json()["error"] == "not_found");
  CHECK(r.header("content-type") == "application/json");
  auto m = e2e::http(t.port(), "PUT", "/api/user");
  CHECK(m.status == 405);
  CHECK(m.json()["error"] == "method_not_allowed");
  CHECK(m.header("allow") == "GET, HEAD");
  auto tokens = e2e::http(t.port(), "PATCH", "/api/tokens/5");
  CHECK(tokens.status == 405);
  CHECK(tokens.header("allow") == "DELETE");
  auto provider = t.post("/api/authenticate/nosuch", R"({"email":"a@b.c","info":{"accessToken":"x"}})");
  CHECK(provider.status == 404);
  CHECK(provider.json()["error"] == "unknown_provider");
}

TEST_CASE("a body over the limit is 413 and the server keeps serving", "[e2e][http]") {
  TokendProcess t(nlohmann::json{{"limits", {{"max_body_bytes", 4096}}}});
  auto r = t.post("/api/authenticate/userpass", std::string(5000, 'x'));
  CHECK(r.status == 413);
  CHECK(r.json()["error"] == "payload_too_large");
  // Announced but never sent: refused from the header alone.
  auto announced = e2e::raw_http(t.port(),
                                 "POST /api/authenticate/userpass HTTP/1.1\r\nHost: x\r\nContent-Type: "
                                 "application/json\r\nContent-Length: 100000000\r\n\r\n");
  CHECK(announced.status == 413);
  CHECK(t.get("/healthz").status == 200);
}

TEST_CASE("a header flood is 431", "[e2e][http]") {
  TokendProcess t;
  std::string raw = "GET /healthz HTTP/1.1\r\nHost: x\r\n";
  for (int i = 0; i < 2000; ++i) raw += "X-Flood-" + std::to_string(i) + ": " + std::string(20, 'a') + "\r\n";
  raw += "\r\n";
  auto r = e2e::raw_http(t.port(), raw);
  CHECK(r.status == 431);
  CHECK(r.json()["error"] == "headers_too_large");
  auto big = e2e::raw_http(t.port(), "GET /healthz HTTP/1.1\r\nHost: x\r\nCookie: " + std::string(20000, 'c') + "\r\n\r\n");
  CHECK(big.status == 431);
  CHECK(t.get("/healthz").status == 200);
}

TEST_CASE("garbage instead of HTTP is a JSON 400", "[e2e][http]") {
  TokendProcess t;
  auto r = e2e::raw_http(t.port(), "HELLO THERE\r\n\r\n");
  CHECK(r.status == 400);
  CHECK(r.json()["error"] == "bad_request");
  auto target = e2e::raw_http(t.port(), "GET http://evil.example/ HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(target.status == 400);
}

TEST_CASE("keep-alive serves several requests on one connection and HEAD has no body", "[e2e][http]") {
  TokendProcess t;
  std::string raw;
  for (int i = 0; i < 3; ++i) raw += "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  raw += "HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  const std::string in = send_all_read_all(t.port(), raw);
  std::size_t count = 0, pos = 0;
  while ((pos = in.find("HTTP/1.1 200 OK", pos)) != std::string::npos) {
    ++count;
    ++pos;
  }
  CHECK(count == 4);
  // Three JSON bodies; the HEAD answer carries the length but no body.
  std::size_t bodies = 0;
  pos = 0;
  while ((pos = in.find("{\"status\":\"ok\"}", pos)) != std::string::npos) {
    ++bodies;
    ++pos;
  }
  CHECK(bodies == 3);
}

TEST_CASE("response heads: Date, Content-Length, Connection for HTTP/1.0 and 1.1", "[e2e][http]") {
  TokendProcess t;
  auto r = t.get("/healthz");
  CHECK(r.status == 200);
  CHECK(r.header("content-length") == std::to_string(r.body.size()));
  CHECK(r.header("server") == "tokend");
  CHECK(r.header("x-content-type-options") == "nosniff");
  // RFC 9110 IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
  const std::string date = r.header("date");
  CHECK(date.size() == 29);
  CHECK(date.substr(25) == " GMT");
  // An HTTP/1.0 client asking for keep-alive is told it got it, and gets a
  // second answer on the same connection; one that does not ask is closed.
  std::string raw = "GET /healthz HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /healthz HTTP/1.0\r\n\r\n";
  const std::string in = send_all_read_all(t.port(), raw);
  const auto second = in.find("HTTP/1.1 200 OK", 1);
  REQUIRE(in.rfind("HTTP/1.1 200 OK", 0) == 0);
  REQUIRE(second != std::string::npos);
  CHECK(in.substr(0, second).find("Connection: keep-alive\r\n") != std::string::npos);
  CHECK(in.substr(second).find("Connection: close\r\n") != std::string::npos);
}

TEST_CASE("slow clients do not block others and are cut off at the read timeout", "[e2e][http]") {
  TokendProcess t(nlohmann::json{{"limits", {{"read_timeout_ms", 1500}, {"idle_timeout_ms", 3000}}}});
  std::vector<int> slow;
  for (int i = 0; i < 50; ++i) {
    int fd = e2e::connect_to(t.port());
    REQUIRE(fd >= 0);
    const std::string partial = "POST /api/authenticate/userpass HTTP/1.1\r\nHost: x\r\nX-Slow: ";
    ::send(fd, partial.data(), partial.size(), 0);
    slow.push_back(fd);
  }
  // While fifty connections hang mid-header, others are served normally.
  for (int i = 0; i < 10; ++i) CHECK(t.get("/healthz").status == 200);
  // Dripping a byte now and then does not extend the deadline.
  const auto start = std::chrono::steady_clock::now();
  bool closed = false;
  while (!closed && std::chrono::steady_clock::now() - start < std::chrono::seconds(10)) {
    ::send(slow[0], "a", 1, MSG_NOSIGNAL);
    char c;
    const auto n = ::recv(slow[0], &c, 1, MSG_DONTWAIT);
    closed = n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  CHECK(closed);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(5));
  for (int fd : slow) ::close(fd);
  CHECK(t.get("/healthz").status == 200);
}

TEST_CASE("a full worker queue answers 503 with Retry-After", "[e2e][http]") {
  // One worker, one queue slot, and a deliberately slow hash: of twelve
  // simultaneous logins at most two can be running or waiting.
  TokendProcess t(nlohmann::json{{"threads", {{"workers", 1}, {"worker_queue", 1}}},
                   {"passwords", {{"memory_kib", 65536}, {"iterations", 4}}}});
  t.add_user("alice", "alices password");
  std::vector<int> statuses(12);
  std::vector<std::string> retry(12);
  std::vector<std::string> codes(12);
  std::vector<std::thread> threads;
  for (int i = 0; i < 12; ++i) {
    threads.emplace_back([&, i] {
      auto r = t.post("/api/authenticate/userpass", R"({"username":"alice","password":"alices password"})");
      statuses[i] = r.status;
      retry[i] = r.header("retry-after");
      const auto j = r.json();
      if (j.is_object() && j.contains("error")) codes[i] = j["error"].get<std::string>();
    });
  }
  for (auto& th : threads) th.join();
  int ok = 0, busy = 0;
  for (int i = 0; i < 12; ++i) {
    if (statuses[i] == 200) ++ok;
    if (statuses[i] == 503) {
      ++busy;
      CHECK(retry[i] == "1");
      CHECK(codes[i] == "server_busy");
    }
  }
  CHECK(ok >= 1);
  CHECK(busy >= 1);
  CHECK(ok + busy == 12);
}

TEST_CASE("GET /healthz and /metrics", "[e2e][http]") {
  TokendProcess t;
  t.add_user("alice", "alices password");
  CHECK(t.get("/healthz").json()["status"] == "ok");
  t.login("alice", "alices password");
  t.post("/api/authenticate/userpass", R"({"username":"alice","password":"wrong password"})");
  auto m = t.get("/metrics");
  REQUIRE(m.status == 200);
  CHECK(m.header("content-type").rfind("text/plain; version=0.0.4", 0) == 0);
  CHECK(m.body.find("tokend_http_requests_total{route=\"/api/authenticate/userpass\",status=\"200\"} 1") !=
        std::string::npos);
  CHECK(m.body.find("tokend_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"+Inf\"}") !=
        std::string::npos);
  CHECK(m.body.find("tokend_tokens_issued_total{source=\"userpass\"} 1") != std::string::npos);
  CHECK(m.body.find("tokend_failed_logins_total{method=\"userpass\"} 1") != std::string::npos);
}

TEST_CASE("GET /livez answers from memory and GET /healthz asks the database", "[e2e][http]") {
  TokendProcess t;
  auto live = t.get("/livez");
  CHECK(live.status == 200);
  CHECK(live.json()["status"] == "ok");
  CHECK(live.header("cache-control") == "no-store");
  CHECK(e2e::http(t.port(), "HEAD", "/livez").status == 200);
  auto ready = t.get("/healthz");
  CHECK(ready.status == 200);
  CHECK(ready.json() == nlohmann::json{{"status", "ok"}});
  // Many probes in a row: all answered (within a second they share one
  // database check; tests/unit/store/health_check_test.cpp).
  for (int i = 0; i < 20; ++i) CHECK(t.get("/healthz").status == 200);
  CHECK(e2e::metric(t.port(), "tokend_http_requests_total{route=\"/livez\",status=\"200\"}") == 2);
}

TEST_CASE("an endless chunk extension cannot grow the server's memory", "[e2e][http]") {
  TokendProcess t;
  int fd = e2e::connect_to(t.port());
  REQUIRE(fd >= 0);
  const std::string head =
      "POST /api/authenticate/userpass HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n1;";
  REQUIRE(::send(fd, head.data(), head.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(head.size()));
  // 8 MiB of chunk extension, far more than headers + body limits allow.
  const std::string junk(64 * 1024, 'a');
  std::size_t sent = 0;
  for (int i = 0; i < 128; ++i) {
    const auto n = ::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL);
    if (n <= 0) break;  // the server gave up on us: good
    sent += static_cast<std::size_t>(n);
  }
  const std::string in = read_until_close(fd);
  ::close(fd);
  INFO("sent " << sent << " bytes; answer: " << in.substr(0, 200));
  CHECK(in.find("HTTP/1.1 413") == 0);
  CHECK(in.find("payload_too_large") != std::string::npos);
  CHECK(sent < 8u * 1024 * 1024);
  CHECK(t.get("/healthz").status == 200);
}
