// End-to-end: the idle and write timeouts, and the length limits on login
// fields (username_too_long, email_too_long, access_token_too_long).
#include <catch2/catch.hpp>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <thread>

#include "support/process.hpp"

using e2e::TokendProcess;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// Reads from `fd` until the server closes the connection or `timeout_ms`
// pass. Returns the bytes read; `closed` tells which of the two happened.
std::string read_until_close(int fd, int timeout_ms, bool& closed) {
  std::string in;
  char buf[65536];
  closed = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    pollfd p{fd, POLLIN, 0};
    if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) return in;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      closed = true;  // EOF, or a reset: either way the server let go
      return in;
    }
    in.append(buf, static_cast<std::size_t>(n));
  }
}


std::size_t count(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("a keep-alive connection with no next request is closed at the idle timeout", "[e2e][limits]") {
  TokendProcess t(nlohmann::json{{"limits", {{"idle_timeout_ms", 1000}, {"read_timeout_ms", 20000}}}});
  const int fd = e2e::connect_to(t.port());
  REQUIRE(fd >= 0);
  const std::string req = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
  REQUIRE(::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size()));
  // The answer comes, the connection stays open for a next request...
  bool closed = false;
  std::string in;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (in.find("{\"status\":\"ok\"}") == std::string::npos && !closed &&
         std::chrono::steady_clock::now() < deadline) {
    in += read_until_close(fd, 200, closed);
  }
  REQUIRE(in.rfind("HTTP/1.1 200 OK", 0) == 0);
  REQUIRE_FALSE(closed);
  // ...and is closed about idle_timeout_ms after the answer, not at the
  // 20 s read timeout and not never.
  const auto answered = std::chrono::steady_clock::now();
  const std::string rest = read_until_close(fd, 10000, closed);
  const double idle = seconds_since(answered);
  ::close(fd);
  CHECK(rest.empty());
  CHECK(closed);
  // `answered` is taken when the read loop above returns, up to one 200 ms
  // poll after the answer arrived: the lower bound allows for that.
  CHECK(idle >= 0.6);
  CHECK(idle < 3.0);
  CHECK(t.get("/healthz").status == 200);
}

TEST_CASE("a client that stops reading its answers is cut off at the write timeout", "[e2e][limits]") {
  TokendProcess t(nlohmann::json{{"limits", {{"write_timeout_ms", 1000}, {"read_timeout_ms", 20000}}}});
  // A small receive window: the server's writes block soon.
  const int c = e2e::connect_to(t.port(), 4096);
  REQUIRE(c >= 0);
  // 400 pipelined requests for the 23 kB script: about 9 MB of answers, more
  // than any socket buffers hold. The client then reads nothing for a while.
  const std::string one = "GET /app.js HTTP/1.1\r\nHost: x\r\n\r\n";
  std::string raw;
  for (int i = 0; i < 400; ++i) raw += one;
  std::size_t sent = 0;
  while (sent < raw.size()) {
    pollfd p{c, POLLOUT, 0};
    if (::poll(&p, 1, 5000) <= 0) break;
    const auto n = ::send(c, raw.data() + sent, raw.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n <= 0 && errno != EAGAIN) break;
    if (n > 0) sent += static_cast<std::size_t>(n);
  }
  REQUIRE(sent == raw.size());
  // The behaviour under test is a timeout: this waits it out (there is no
  // event to wait for short of reading, which is what this client must not do).
  std::this_thread::sleep_for(std::chrono::milliseconds(3000));
  bool closed = false;
  const std::string in = read_until_close(c, 10000, closed);
  ::close(c);
  const std::size_t answers = count(in, "HTTP/1.1 200 OK");
  INFO("received " << in.size() << " bytes, " << answers << " answers");
  // What sat in the buffers arrives, then the connection ends: the server
  // gave up on the stalled write instead of waiting for this client forever.
  CHECK(closed);
  CHECK(answers < 400);
  CHECK(t.get("/healthz").status == 200);
}

TEST_CASE("login fields over their limits get their own 400 codes", "[e2e][limits]") {
  // A provider method, so that the provider routes exist; nothing listens at
  // its address, and these checks come before any call to it.
  TokendProcess t(nlohmann::json{
      {"auth",
       {{"userpass", {{"type", "userpass"}}},
        {"github", {{"type", "github"}, {"api_url", "https://127.0.0.1:1"}, {"proxy", ""}}}}}});
  auto provider = [&](const std::string& email, const std::string& token) {
    return t.post("/api/authenticate/github",
                  nlohmann::json{{"email", email}, {"info", {{"accessToken", token}}}}.dump());
  };
  SECTION("username: 256 bytes are checked, 257 are too long, on both login routes") {
    for (const std::string route : {"/api/authenticate/userpass", "/api/login"}) {
      INFO(route);
      auto at_limit =
          t.post(route, nlohmann::json{{"username", std::string(256, 'u')}, {"password", "a password"}}.dump());
      CHECK(at_limit.status == 401);
      CHECK(at_limit.json()["error"] == "invalid_credentials");
      auto over = t.post(route, nlohmann::json{{"username", std::string(257, 'u')}, {"password", "a password"}}.dump());
      CHECK(over.status == 400);
      CHECK(over.json()["error"] == "username_too_long");
      CHECK(over.json()["message"].is_string());
    }
  }
  SECTION("email: 320 bytes go to the provider, 321 are too long") {
    const std::string local(64, 'e');
    const std::string at_limit = local + "@" + std::string(320 - 65, 'd');
    REQUIRE(at_limit.size() == 320);
    auto ok = provider(at_limit, "tok-alice");
    CHECK(ok.status == 503);  // it got as far as calling the (absent) provider
    CHECK(ok.json()["error"] == "upstream_unavailable");
    auto over = provider(at_limit + "d", "tok-alice");
    CHECK(over.status == 400);
    CHECK(over.json()["error"] == "email_too_long");
  }
  SECTION("access token: 8192 bytes go to the provider, 8193 are too long") {
    auto ok = provider("alice@example.com", std::string(8192, 't'));
    CHECK(ok.status == 503);
    CHECK(ok.json()["error"] == "upstream_unavailable");
    auto over = provider("alice@example.com", std::string(8193, 't'));
    CHECK(over.status == 400);
    CHECK(over.json()["error"] == "access_token_too_long");
  }
}
