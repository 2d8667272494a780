// IP addresses as text: the one canonical spelling, so that an address from a
// socket, from X-Forwarded-For and from config.trusted_proxies compare equal
// exactly when they are the same address.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace tokend {

// The canonical text of the IPv4 or IPv6 address `text` (inet_ntop's
// spelling: "::1", "2001:db8::1"), with an IPv4-mapped IPv6 address
// (::ffff:1.2.3.4, as a dual-stack socket reports IPv4 peers) written as the
// IPv4 address it is; "" when `text` is not an IP address (host names, ranges,
// ports, IPv6 zone ids).
std::string canonical_ip(std::string_view text);

}  // namespace tokend
