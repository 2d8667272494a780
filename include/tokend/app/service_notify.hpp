// Service readiness notification: the sd_notify(3) protocol spoken by hand,
// so that `Type=notify` works without linking libsystemd. A message is a
// few "KEY=value" lines ("READY=1", "STOPPING=1", "STATUS=...") sent as one
// datagram to the AF_UNIX socket named by $NOTIFY_SOCKET: a path, or an
// abstract socket name when it starts with '@'.
//
// Thread-safety: stateless; each call opens and closes its own socket.
#pragma once

#include <string>
#include <string_view>

#include "tokend/common/result.hpp"

namespace tokend::app {

// Sends `message` to the socket `socket_name` (the value of NOTIFY_SOCKET).
// Returns true when it was sent, false when `socket_name` is empty (not
// started by a service manager: nothing to do). Errors: kInvalidConfig for a
// name that is neither an absolute path nor '@'-abstract or is too long;
// kUnreachable when the socket cannot be created or the datagram not sent.
Result<bool> notify_socket(std::string_view socket_name, std::string_view message);

// notify_socket() with the value of $NOTIFY_SOCKET ("" when unset).
Result<bool> notify_service_manager(std::string_view message);

}  // namespace tokend::app
