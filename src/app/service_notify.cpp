#include "tokend/app/service_notify.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace tokend::app {

// Hand-written rather than libsystemd's sd_notify(): the protocol is one
// datagram on an AF_UNIX socket (systemd's sd_notify(3), "Notes"), and a
// dependency on libsystemd would be the only reason to link it.
Result<bool> notify_socket(std::string_view socket_name, std::string_view message) {
  if (socket_name.empty()) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  // An abstract name is '@' then the name; on the wire the '@' is a NUL
  // byte and the address length counts exactly the name (no terminator).
  const bool abstract = socket_name.front() == '@';
  if (!abstract && socket_name.front() != '/') {
    return Error{ErrorCode::kInvalidConfig, "NOTIFY_SOCKET is neither an absolute path nor an abstract name"};
  }
  if (socket_name.size() >= sizeof(addr.sun_path)) {
    return Error{ErrorCode::kInvalidConfig, "NOTIFY_SOCKET is too long"};
  }
  std::memcpy(addr.sun_path, socket_name.data(), socket_name.size());
  if (abstract) addr.sun_path[0] = '\0';
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_name.size() + (abstract ? 0 : 1));

  const int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Error{ErrorCode::kUnreachable, std::string("notify socket: ") + std::strerror(errno)};
  // MSG_DONTWAIT: called on an I/O thread, which must never block; a
  // receiver whose queue is full gets an error (logged), not a stall.
  const ssize_t sent = ::sendto(fd, message.data(), message.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
                                reinterpret_cast<const sockaddr*>(&addr), len);
  const int err = errno;
  ::close(fd);
  if (sent < 0) return Error{ErrorCode::kUnreachable, std::string("notify socket: ") + std::strerror(err)};
  if (static_cast<std::size_t>(sent) != message.size()) {
    return Error{ErrorCode::kUnreachable, "notify socket: message cut short"};
  }
  return true;
}

Result<bool> notify_service_manager(std::string_view message) {
  const char* name = std::getenv("NOTIFY_SOCKET");
  return notify_socket(name ? std::string_view(name) : std::string_view(), message);
}

}  // namespace tokend::app
