#include "tokend/net/url.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <boost/url/authority_view.hpp>
#include <boost/url/host_type.hpp>
#include <boost/url/parse.hpp>
#include <boost/url/url_view.hpp>

#include "tokend/common/text.hpp"

namespace tokend::net {

namespace urls = boost::urls;

namespace {

// The host and port of a parsed URL or authority (both have the same
// accessors), under tokend's rules.
template <class View>
Result<HostPort> host_port_of(const View& v) {
  HostPort out;
  switch (v.host_type()) {
    case urls::host_type::name:
      // A percent-encoded name has a second spelling of the same host.
      if (v.encoded_host().find('%') != std::string_view::npos) {
        return Error{ErrorCode::kInvalidUrl, "percent-encoded host name"};
      }
      break;
    case urls::host_type::ipv4:
    case urls::host_type::ipv6:
      break;
    case urls::host_type::ipvfuture:
      return Error{ErrorCode::kInvalidUrl, "unsupported IP address"};
    case urls::host_type::none:
      return Error{ErrorCode::kInvalidUrl, "empty host"};
  }
  const auto address = v.encoded_host_address();
  out.host = ascii_lower(std::string_view(address.data(), address.size()));
  if (out.host.empty()) return Error{ErrorCode::kInvalidUrl, "empty host"};
  if (v.has_port()) {
    // The grammar makes the port digits only; an empty port ("host:") is
    // legal RFC 3986 but always a typo here.
    const auto text = v.port();
    unsigned value = 0;
    if (text.empty() || text.size() > 5 ||
        std::from_chars(text.data(), text.data() + text.size(), value).ec != std::errc{} || value > 65535) {
      return Error{ErrorCode::kInvalidUrl, "invalid port"};
    }
    out.port = static_cast<std::uint16_t>(value);
  }
  return out;
}

std::uint16_t default_port(std::string_view scheme) { return scheme == "https" ? 443 : 80; }

// "host", or "[v6]" for an IPv6 address.
void append_host(std::string& out, std::string_view host) {
  const bool v6 = host.find(':') != std::string_view::npos;
  if (v6) out += '[';
  out += host;
  if (v6) out += ']';
}

std::string origin_text(const UrlParts& u) {
  std::string out = u.scheme;
  out += "://";
  append_host(out, u.host);
  if (u.port && *u.port != default_port(u.scheme)) {
    out += ':';
    out += std::to_string(*u.port);
  }
  return out;
}

// The checks an origin and the origin of a URL share.
Result<UrlParts> web_url(std::string_view text) {
  auto u = parse_url(text);
  if (!u) return u.error();
  if (u->scheme != "http" && u->scheme != "https") return Error{ErrorCode::kInvalidUrl, "not an http or https URL"};
  if (u->userinfo) return Error{ErrorCode::kInvalidUrl, "user information in an origin"};
  if (u->host.empty()) return Error{ErrorCode::kInvalidUrl, "empty host"};
  return u;
}

}  // namespace

Result<UrlParts> parse_url(std::string_view text) {
  auto r = urls::parse_uri(urls::string_view(text.data(), text.size()));
  if (!r) return Error{ErrorCode::kInvalidUrl, "not a valid absolute URL"};
  const urls::url_view& v = *r;
  UrlParts out;
  out.scheme = ascii_lower(std::string_view(v.scheme().data(), v.scheme().size()));
  if (v.has_authority()) {
    if (v.host_type() != urls::host_type::none || v.has_port()) {
      auto hp = host_port_of(v);
      if (!hp) return hp.error();
      out.host = std::move(hp->host);
      out.port = hp->port;
    }
    if (v.has_userinfo()) out.userinfo = v.userinfo();
  }
  const auto path = v.encoded_path();
  // After an authority the path is empty or starts with "/" (RFC 3986
  // path-abempty); Boost.URL 1.81 reads "https://host:12a/" as port 12 and
  // path "a/", which must not pass as a URL on port 12.
  if (v.has_authority() && !path.empty() && path.front() != '/') {
    return Error{ErrorCode::kInvalidUrl, "not a valid absolute URL"};
  }
  out.target.assign(path.data(), path.size());
  if (v.has_query()) {
    const auto query = v.encoded_query();
    out.target += "?";
    out.target.append(query.data(), query.size());
  }
  out.has_fragment = v.has_fragment();
  return out;
}

Result<HostPort> parse_host_port(std::string_view text) {
  auto r = urls::parse_authority(urls::string_view(text.data(), text.size()));
  if (!r) return Error{ErrorCode::kInvalidUrl, "not HOST[:PORT]"};
  if (r->has_userinfo()) return Error{ErrorCode::kInvalidUrl, "user information is not allowed"};
  return host_port_of(*r);
}

std::string host_port_text(std::string_view host, std::uint16_t port) {
  std::string out;
  append_host(out, host);
  out += ':';
  out += std::to_string(port);
  return out;
}

Result<std::string> normalize_origin(std::string_view text) {
  auto u = web_url(text);
  if (!u) return u.error();
  // An origin is scheme, host and port only; a trailing "/" is a common way
  // to write one and is dropped, anything more is not an origin.
  if (!u->target.empty() && u->target != "/") return Error{ErrorCode::kInvalidUrl, "an origin has no path or query"};
  if (u->has_fragment) return Error{ErrorCode::kInvalidUrl, "an origin has no fragment"};
  return origin_text(*u);
}

Result<std::string> origin_of_url(std::string_view url) {
  auto u = web_url(url);
  if (!u) return u.error();
  return origin_text(*u);
}

}  // namespace tokend::net
