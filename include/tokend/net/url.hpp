// URLs, authorities and origins, parsed with Boost.URL (RFC 3986), with the
// rules tokend applies to every one of them: a host is a registered name,
// IPv4 or a bracketed IPv6 address (no IPvFuture, no percent-encoded names:
// they would reach SNI, Host headers and logs in two spellings); a port has
// at most 5 digits and is at most 65535. Boost.URL stays in url.cpp.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "tokend/common/result.hpp"

namespace tokend::net {

// The parts of an absolute URL.
struct UrlParts {
  std::string scheme;                   // lower-case
  std::string host;                     // lower-case; IPv6 without brackets; may be empty
  std::optional<std::uint16_t> port;    // when the URL names one (0 included)
  std::optional<std::string> userinfo;  // "user:password", percent-decoded, when present
  std::string target;                   // path and query as given (percent-encoded); may be empty
  bool has_fragment = false;
};

// Parses an absolute URL ("scheme://authority/path?query#fragment").
// Errors (kInvalidUrl): not an absolute URL by RFC 3986 (spaces, control
// characters, bad percent-encoding...), a host or port against the rules above.
Result<UrlParts> parse_url(std::string_view text);

struct HostPort {
  std::string host;  // lower-case; IPv6 without brackets
  std::optional<std::uint16_t> port;
};

// Parses "host[:port]" ("[v6][:port]"). Errors (kInvalidUrl): user
// information, an empty host, an empty or bad port, anything else that is not
// an RFC 3986 authority.
Result<HostPort> parse_host_port(std::string_view text);

// "host:port", with IPv6 addresses in brackets.
std::string host_port_text(std::string_view host, std::uint16_t port);

// The canonical form of a web origin, "scheme://host[:port]": scheme and
// host lower-case, IPv6 in brackets, the scheme's default port (80 for
// http, 443 for https) dropped, so that "HTTPS://Portal.Example:443/" and
// "https://portal.example" are one origin. Errors (kInvalidUrl): a scheme
// other than http and https, user information, no host, a path other than
// "/", a query or a fragment.
Result<std::string> normalize_origin(std::string_view text);

// The canonical origin (as normalize_origin) of an absolute http(s) URL such
// as a Referer; path, query and fragment are ignored. Errors as
// normalize_origin, except for the path, query and fragment.
Result<std::string> origin_of_url(std::string_view url);

}  // namespace tokend::net
