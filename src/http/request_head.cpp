#include "tokend/http/request_head.hpp"

#include <cstddef>

#include "tokend/http/message.hpp"

namespace tokend::http {

namespace {

// The header names with a rule of their own. Each field name is classified
// once, by length first, so the common case (an unrelated header) costs a
// switch and at most a few short compares.
enum Tracked : int {
  kHost,
  kAuthorization,
  kOrigin,
  kCookie,
  kContentLength,
  kContentType,
  kTransferEncoding,
  kExpect,
  kTrackedCount,
  kOther = kTrackedCount,
};

int classify(std::string_view name) {
  switch (name.size()) {
    case 4:
      return iequals(name, "host") ? kHost : kOther;
    case 6:
      if (iequals(name, "origin")) return kOrigin;
      if (iequals(name, "cookie")) return kCookie;
      if (iequals(name, "expect")) return kExpect;
      return kOther;
    case 12:
      return iequals(name, "content-type") ? kContentType : kOther;
    case 13:
      return iequals(name, "authorization") ? kAuthorization : kOther;
    case 14:
      return iequals(name, "content-length") ? kContentLength : kOther;
    case 17:
      return iequals(name, "transfer-encoding") ? kTransferEncoding : kOther;
    default:
      return kOther;
  }
}

constexpr std::string_view kDisplayName[kTrackedCount] = {
    "Host", "Authorization", "Origin", "Cookie", "Content-Length", "Content-Type", "Transfer-Encoding", "Expect",
};

HeadVerdict refuse(int status, std::string_view error, std::string message) {
  HeadVerdict v;
  v.status = status;
  v.error = error;
  v.message = std::move(message);
  return v;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// RFC 3986 reg-name / IPv4 characters (unreserved, sub-delims, pct-encoded).
bool is_host_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c)) return true;
  switch (c) {
    case '-': case '.': case '_': case '~': case '%': case '!': case '$': case '&': case '\'':
    case '(': case ')': case '*': case '+': case ',': case ';': case '=':
      return true;
    default:
      return false;
  }
}

// host [":" port], host a reg-name, an IPv4 address or "[" IPv6 "]".
// An empty value is refused too: tokend serves origin-form targets only, for
// which RFC 9112 §3.2 wants the authority's host.
bool valid_host(std::string_view h) {
  if (h.empty()) return false;
  std::size_t i = 0;
  if (h[0] == '[') {
    const auto close = h.find(']');
    if (close == std::string_view::npos || close < 2) return false;
    for (std::size_t k = 1; k < close; ++k) {
      const char c = h[k];
      if (!(is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' || c == '.')) return false;
    }
    i = close + 1;
  } else {
    while (i < h.size() && is_host_char(h[i])) ++i;
    if (i == 0) return false;
  }
  if (i == h.size()) return true;
  if (h[i] != ':') return false;
  ++i;
  if (h.size() - i > 5) return false;
  for (; i < h.size(); ++i) {
    if (!is_digit(h[i])) return false;
  }
  return true;
}

// The port part of an allow-list entry: "name:port" or "[v6]:port".
bool has_port(std::string_view entry) {
  const auto colon = entry.rfind(':');
  if (colon == std::string_view::npos) return false;
  if (entry.front() == '[') return colon > entry.rfind(']');
  return true;
}

}  // namespace

bool has_folded_line(std::string_view head) {
  for (auto pos = head.find("\r\n"); pos != std::string_view::npos && pos + 2 < head.size();
       pos = head.find("\r\n", pos + 2)) {
    const char next = head[pos + 2];
    if (next == ' ' || next == '\t') return true;
  }
  return false;
}

bool host_allowed(std::string_view host, const std::vector<std::string>& server_names) {
  if (server_names.empty()) return true;
  for (const auto& entry : server_names) {
    if (iequals(host, entry)) return true;
    // An entry without a port allows the name on any port.
    if (host.size() > entry.size() + 1 && host[entry.size()] == ':' && !has_port(entry) &&
        iequals(host.substr(0, entry.size()), entry)) {
      const auto port = host.substr(entry.size() + 1);
      bool digits = port.size() <= 5;
      for (char c : port) digits = digits && is_digit(c);
      if (digits) return true;
    }
  }
  return false;
}

HeadVerdict check_request_head(std::string_view /*method*/, int version, std::span<const HeadField> fields,
                               const HeadPolicy& policy) {
  if (version != 10 && version != 11) {
    return refuse(505, "http_version_not_supported", "Only HTTP/1.0 and HTTP/1.1 are served.");
  }
  const HeadField* seen[kTrackedCount] = {};
  for (const HeadField& f : fields) {
    const int kind = classify(f.name);
    if (kind == kOther) continue;
    if (seen[kind]) {
      if (kind == kTransferEncoding) {
        // Two codings at least, or chunked twice (RFC 9112 §7.1 forbids it).
        return refuse(400, "bad_transfer_encoding", "Only \"Transfer-Encoding: chunked\" is accepted.");
      }
      // Security: with two values, parts of the system could read different
      // ones (the first Origin passes the CSRF check, a proxy logs the other).
      return refuse(400, "duplicate_header",
                    "The " + std::string(kDisplayName[kind]) + " header must appear at most once.");
    }
    seen[kind] = &f;
    switch (kind) {
      case kTransferEncoding:
        // RFC 9112 §6.1: HTTP/1.0 has no chunked framing; a 1.0 recipient
        // (or a proxy) could read the body as the next request.
        if (version == 10) {
          return refuse(400, "bad_transfer_encoding", "HTTP/1.0 requests cannot use Transfer-Encoding.");
        }
        // RFC 9112 §6.3: a coding list not ending in chunked has no length;
        // any other coding ("gzip, chunked") is one tokend cannot decode.
        if (!iequals(f.value, "chunked")) {
          return refuse(400, "bad_transfer_encoding", "Only \"Transfer-Encoding: chunked\" is accepted.");
        }
        break;
      case kContentLength: {
        // 1*DIGIT only: no list form ("5, 5"), no sign, no spaces.
        bool digits = !f.value.empty();
        for (char c : f.value) digits = digits && is_digit(c);
        if (!digits) return refuse(400, "bad_content_length", "Content-Length must be a decimal number.");
        break;
      }
      case kHost:
        if (!valid_host(f.value)) return refuse(400, "bad_host", "The Host header is not a valid host[:port].");
        break;
      default:
        break;
    }
  }
  if (seen[kTransferEncoding] && seen[kContentLength]) {
    // RFC 9112 §6.3: the two disagree on where the body ends; a proxy in
    // front may have picked the other one (request smuggling).
    return refuse(400, "bad_transfer_encoding", "Transfer-Encoding and Content-Length cannot both be sent.");
  }
  if (!seen[kHost]) {
    if (version == 11 || !policy.server_names.empty()) {
      return refuse(400, "missing_host", "The request has no Host header.");
    }
  } else if (!host_allowed(seen[kHost]->value, policy.server_names)) {
    return refuse(421, "misdirected_request", "This server does not answer for that host name.");
  }
  HeadVerdict ok;
  if (seen[kExpect]) {
    if (!iequals(seen[kExpect]->value, "100-continue")) {
      return refuse(417, "expectation_failed", "The only expectation supported is \"100-continue\".");
    }
    // RFC 9110 §10.1.1: a 100-continue from an HTTP/1.0 client is ignored.
    ok.expect_continue = version == 11;
  }
  return ok;
}

}  // namespace tokend::http
