// End-to-end injected fault: tokend runs out of file descriptors. Its
// RLIMIT_NOFILE is lowered (prlimit(2) on the running process) to a few more
// than it has open, then more connections are opened than that. What a user
// would check: a connection that was open before keeps being answered, a new
// one is not refused, and once descriptors free up the listener accepts
// again by itself (it answers the waiting connection and new ones).
#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "support/process.hpp"

using e2e::bearer;
using e2e::TokendProcess;

namespace {

using Clock = std::chrono::steady_clock;

template <typename F>
bool wait_until(F done, double seconds) {
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  while (!done()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

int open_descriptors(pid_t pid) {
  int n = 0;
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++n;
  }
  return n;
}

// A client socket that closes itself.
struct Socket {
  int fd = -1;
  explicit Socket(int f) : fd(f) {}
  Socket(Socket&& o) noexcept : fd(o.fd) { o.fd = -1; }
  Socket& operator=(Socket&&) = delete;
  ~Socket() {
    if (fd >= 0) ::close(fd);
  }
};

bool send_all(int fd, const std::string& data) {
  std::size_t sent = 0;
  while (sent < data.size()) {
    const ssize_t n = ::send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  return true;
}

// Reads one response (head and Content-Length body) from a keep-alive
// connection within `timeout_ms`; its status, or 0 when none came in time.
int read_status(int fd, int timeout_ms) {
  std::string in;
  const auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  std::size_t need = std::string::npos;
  for (;;) {
    const auto head_end = in.find("\r\n\r\n");
    if (head_end != std::string::npos && need == std::string::npos) {
      std::string head = in.substr(0, head_end);
      for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      const auto cl = head.find("content-length:");
      need = head_end + 4 + (cl == std::string::npos ? 0 : std::strtoul(head.c_str() + cl + 15, nullptr, 10));
    }
    if (need != std::string::npos && in.size() >= need) return std::atoi(in.substr(9, 3).c_str());
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return 0;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left)) <= 0) return 0;
    char buf[4096];
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return 0;
    in.append(buf, static_cast<std::size_t>(n));
  }
}

std::string get_user(std::uint16_t port, const std::string& token) {
  return "GET /api/user HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) + "\r\nAuthorization: Bearer " + token +
         "\r\n\r\n";
}

}  // namespace

TEST_CASE("faults: out of file descriptors, open connections keep working and accepting resumes by itself",
          "[e2e][faults]") {
  // One worker and one I/O thread: the worker's database connection is open
  // before the limit is lowered (the fault under test is the listener's).
  TokendProcess t(nlohmann::json{{"threads", {{"workers", 1}, {"io_threads", 1}}}});
  t.add_user("alice", "alices password");
  const std::string token = t.login("alice", "alices password");

  Socket kept(e2e::connect_to(t.port()));
  REQUIRE(kept.fd >= 0);
  REQUIRE(send_all(kept.fd, get_user(t.port(), token)));
  REQUIRE(read_status(kept.fd, 5000) == 200);

  // A few descriptors more than tokend holds now.
  const int before = open_descriptors(t.pid());
  REQUIRE(before > 0);
  const rlim_t limit = static_cast<rlim_t>(before + 4);
  const rlimit low{limit, limit};
  REQUIRE(::prlimit(t.pid(), RLIMIT_NOFILE, &low, nullptr) == 0);

  // More connections than that: the first few are accepted, then accept()
  // fails with EMFILE and the rest wait in the listen backlog.
  std::vector<Socket> idle;
  for (int i = 0; i < 32; ++i) {
    idle.emplace_back(e2e::connect_to(t.port()));
    REQUIRE(idle.back().fd >= 0);
  }
  REQUIRE(wait_until([&] { return t.log().find("accept failed: Too many open files") != std::string::npos; }, 10));
  const int exhausted = open_descriptors(t.pid());

  // The connection opened before still gets its answers.
  for (int i = 0; i < 3; ++i) {
    REQUIRE(send_all(kept.fd, get_user(t.port(), token)));
    CHECK(read_status(kept.fd, 5000) == 200);
  }
  CHECK(open_descriptors(t.pid()) == exhausted);  // answered without taking a descriptor more

  // A new client is not refused (the kernel queues it in the listen
  // backlog) and is answered once descriptors free up, without a restart.
  Socket waiting(e2e::connect_to(t.port()));
  REQUIRE(waiting.fd >= 0);
  REQUIRE(send_all(waiting.fd, get_user(t.port(), token)));
  idle.clear();
  CHECK(read_status(waiting.fd, 10000) == 200);
  CHECK(t.get("/api/user", bearer(token)).status == 200);
  CHECK(t.get("/metrics").status == 200);
  REQUIRE(send_all(kept.fd, get_user(t.port(), token)));
  CHECK(read_status(kept.fd, 5000) == 200);
  CHECK(t.terminate() == 0);
}
