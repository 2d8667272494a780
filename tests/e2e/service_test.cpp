// End-to-end: tokend as a systemd service. Type=notify (READY=1 once the
// port answers, STOPPING=1 on SIGTERM, sent to $NOTIFY_SOCKET) and SIGHUP
// (reopen the log file for logrotate; the server keeps serving).
#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <thread>

#include "support/process.hpp"

using e2e::bearer;
using e2e::TokendProcess;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// systemd's side of the notify protocol: an abstract AF_UNIX datagram
// socket, named in NOTIFY_SOCKET as "@name".
class NotifyReceiver {
 public:
  NotifyReceiver() {
    std::random_device rd;
    name_ = "@tokend-e2e-notify-" + std::to_string(::getpid()) + "-" + std::to_string(rd());
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path + 1, name_.data() + 1, name_.size() - 1);
    const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_.size());
    REQUIRE(::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), len) == 0);
  }
  ~NotifyReceiver() { ::close(fd_); }
  const std::string& name() const { return name_; }
  // The next datagram, or "<none>" after `seconds` without one.
  std::string receive(int seconds) {
    timeval tv{seconds, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n < 0 ? std::string("<none>") : std::string(buf, static_cast<std::size_t>(n));
  }

 private:
  std::string name_;
  int fd_ = -1;
};

// A loopback port nobody listens on right now.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

int count(const std::string& text, const std::string& part) {
  int n = 0;
  for (auto at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
  return n;
}

bool has_line(const std::string& message, const std::string& line) {
  std::istringstream in(message);
  for (std::string l; std::getline(in, l);) {
    if (l == line) return true;
  }
  return false;
}

}  // namespace

TEST_CASE("tokend sends READY=1 to NOTIFY_SOCKET only once its port answers, and STOPPING=1 on SIGTERM",
          "[e2e][service]") {
  NotifyReceiver systemd;
  const int port = free_port();
  TokendProcess t({{"listen", {{"port", port}}}}, /*start_now=*/false);
  t.add_user("alice", "alices password");

  // The moment READY=1 arrives, the port must answer: checked from this
  // thread right then, while start() below is still waiting for the log.
  std::string ready;
  int status_at_ready = 0;
  std::thread watcher([&] {
    ready = systemd.receive(30);
    if (ready != "<none>") status_at_ready = e2e::http(static_cast<std::uint16_t>(port), "GET", "/healthz").status;
  });
  REQUIRE(::setenv("NOTIFY_SOCKET", systemd.name().c_str(), 1) == 0);
  try {
    t.start();
  } catch (...) {
    ::unsetenv("NOTIFY_SOCKET");
    watcher.join();
    throw;
  }
  ::unsetenv("NOTIFY_SOCKET");  // the child has its copy
  watcher.join();
  CHECK(has_line(ready, "READY=1"));
  CHECK(status_at_ready == 200);
  REQUIRE(t.port() == port);

  // Serving as usual; nothing else was sent while it served.
  const std::string token = t.login("alice", "alices password");
  CHECK(t.get("/api/user", bearer(token)).status == 200);
  CHECK(systemd.receive(1) == "<none>");

  CHECK(t.terminate() == 0);
  const std::string stopping = systemd.receive(10);
  CHECK(has_line(stopping, "STOPPING=1"));
}

TEST_CASE("tokend without NOTIFY_SOCKET starts as before, and a dead notify socket does not stop it",
          "[e2e][service]") {
  SECTION("unset") {
    ::unsetenv("NOTIFY_SOCKET");
    TokendProcess t;
    CHECK(t.get("/healthz").status == 200);
  }
  SECTION("a socket nobody listens on: logged, and serving anyway") {
    REQUIRE(::setenv("NOTIFY_SOCKET", "@tokend-e2e-nobody-listens-here", 1) == 0);
    TokendProcess t({}, /*start_now=*/false);
    try {
      t.start();
    } catch (...) {
      ::unsetenv("NOTIFY_SOCKET");
      throw;
    }
    ::unsetenv("NOTIFY_SOCKET");
    CHECK(t.get("/healthz").status == 200);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (t.log().find("cannot notify the service manager") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    CHECK(t.log().find("cannot notify the service manager") != std::string::npos);
  }
}

TEST_CASE("SIGHUP reopens the log file after logrotate renamed it, and the server keeps serving",
          "[e2e][service]") {
  TokendProcess t;
  t.add_user("alice", "alices password");
  const std::string token = t.login("alice", "alices password");
  const std::string log_path = t.dir() + "/tokend.log";

  for (int round = 1; round <= 2; ++round) {
    // What logrotate does (without copytruncate): rename, then signal.
    const std::string rotated = log_path + "." + std::to_string(round);
    std::filesystem::rename(log_path, rotated);
    REQUIRE(::kill(t.pid(), SIGHUP) == 0);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (read_file(log_path).find("reload done: 1 reopened, 0 failed") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    INFO("round " << round << ", new log: " << read_file(log_path));
    REQUIRE(read_file(log_path).find("reload done: 1 reopened, 0 failed") != std::string::npos);

    // Still serving: the same token works, a new login works, and their
    // access lines go to the new file, not the renamed one.
    CHECK(t.get("/api/user", bearer(token)).status == 200);
    CHECK(e2e::is_token(t.login("alice", "alices password")));
    CHECK(t.log().find("path=/api/user status=200") != std::string::npos);
    // This round's reopen is logged in the new file only; the renamed file
    // holds the previous round's (the file that was current until now).
    CHECK(count(read_file(log_path), "reload done") == 1);
    CHECK(count(read_file(rotated), "reload done") == round - 1);
  }
  // The first file holds what came before the first rotation.
  CHECK(read_file(log_path + ".1").find("login ok: method=userpass user=alice") != std::string::npos);
  // And SIGTERM still ends it cleanly (exit 0, checked by TokendProcess too).
  CHECK(t.terminate() == 0);
}
