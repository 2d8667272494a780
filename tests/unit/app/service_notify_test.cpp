#include <catch2/catch.hpp>

#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <cstring>
#include <random>
#include <string>

#include "tokend/app/service_notify.hpp"
#include "unit/support/temp_dir.hpp"

using tokend::app::notify_service_manager;
using tokend::app::notify_socket;

namespace {

// A datagram socket bound like systemd's notification socket: `name` is a
// path, or an abstract name when it starts with '@'.
class Receiver {
 public:
  explicit Receiver(const std::string& name) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, name.data(), name.size());
    const bool abstract = name.front() == '@';
    if (abstract) addr.sun_path[0] = '\0';
    const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + (abstract ? 0 : 1));
    REQUIRE(::bind(fd_, reinterpret_cast<const sockaddr*>(&addr), len) == 0);
    timeval tv{2, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  ~Receiver() { ::close(fd_); }
  // The next datagram; "<none>" after 2 s without one.
  std::string receive() {
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
    return n < 0 ? std::string("<none>") : std::string(buf, static_cast<std::size_t>(n));
  }

 private:
  int fd_ = -1;
};

std::string unique_abstract_name() {
  std::random_device rd;
  return "@tokend-notify-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd());
}

}  // namespace

TEST_CASE("notify_socket sends the message as one datagram to an abstract socket", "[app][notify]") {
  const std::string name = unique_abstract_name();
  Receiver r(name);
  auto sent = notify_socket(name, "READY=1\nSTATUS=listening");
  REQUIRE(sent.ok());
  CHECK(*sent);
  CHECK(r.receive() == "READY=1\nSTATUS=listening");
  REQUIRE(notify_socket(name, "STOPPING=1").ok());
  CHECK(r.receive() == "STOPPING=1");
}

TEST_CASE("notify_socket sends to a socket named by a path", "[app][notify]") {
  tokend::testing::TempDir dir;
  const std::string path = dir.file("notify.sock");
  Receiver r(path);
  auto sent = notify_socket(path, "READY=1");
  REQUIRE(sent.ok());
  CHECK(*sent);
  CHECK(r.receive() == "READY=1");
}

TEST_CASE("notify_service_manager reads NOTIFY_SOCKET and does nothing without it", "[app][notify]") {
  const std::string name = unique_abstract_name();
  Receiver r(name);
  SECTION("set") {
    REQUIRE(::setenv("NOTIFY_SOCKET", name.c_str(), 1) == 0);
    auto sent = notify_service_manager("READY=1");
    ::unsetenv("NOTIFY_SOCKET");
    REQUIRE(sent.ok());
    CHECK(*sent);
    CHECK(r.receive() == "READY=1");
  }
  SECTION("unset: not sent, not an error") {
    ::unsetenv("NOTIFY_SOCKET");
    auto sent = notify_service_manager("READY=1");
    REQUIRE(sent.ok());
    CHECK_FALSE(*sent);
  }
}

TEST_CASE("notify_socket refuses bad names and reports a missing socket", "[app][notify]") {
  CHECK(notify_socket("relative/path", "READY=1").error().code == tokend::ErrorCode::kInvalidConfig);
  CHECK(notify_socket("/" + std::string(200, 'x'), "READY=1").error().code == tokend::ErrorCode::kInvalidConfig);
  // Nobody bound this name: the send fails (ECONNREFUSED), and says so.
  auto gone = notify_socket(unique_abstract_name(), "READY=1");
  REQUIRE_FALSE(gone.ok());
  CHECK(gone.error().code == tokend::ErrorCode::kUnreachable);
}
