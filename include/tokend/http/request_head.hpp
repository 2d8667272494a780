// check_request_head: the rules a request head must follow before tokend
// reads its body or routes it (RFC 9112 framing, singleton headers, Host,
// Expect), as one plain function over the parsed request line and fields. The
// Beast session calls it once per request; it includes no Beast, so unit
// tests and fuzz harnesses can call it directly.
//
// Thread-safety: a pure function; HeadPolicy is immutable once built.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tokend::http {

// One header field as received: name and value (surrounding whitespace
// already stripped by the HTTP parser).
struct HeadField {
  std::string_view name;
  std::string_view value;
};

struct HeadPolicy {
  // Accepted Host values, lower-cased: "name" (any port) or "name:port";
  // IPv6 literals in brackets. Empty: any Host (no allow-list).
  std::vector<std::string> server_names;
};

// The outcome of check_request_head. On a refusal the connection must be
// closed after the answer: the framing of what follows cannot be trusted.
struct HeadVerdict {
  int status = 0;       // 0: acceptable; else 400, 417, 421 or 505
  std::string_view error;  // JSON error code (static text), when refused
  std::string message;     // JSON error message, when refused
  bool expect_continue = false;  // acceptable and the client waits for "100 Continue"
  bool ok() const { return status == 0; }
};

// Checks a request head in one pass over its fields. `version` is 10 for
// HTTP/1.0, 11 for HTTP/1.1 (major * 10 + minor).
//
// Refusals (status, error):
//  - 505 http_version_not_supported: a version other than 1.0 and 1.1.
//  - 400 bad_transfer_encoding: Transfer-Encoding on HTTP/1.0, repeated, with
//    Content-Length, or other than exactly "chunked" (RFC 9112 §6.1, §6.3:
//    anything not ending in chunked cannot be framed; tokend decodes no other
//    coding).
//  - 400 bad_content_length: Content-Length not a plain decimal number.
//  - 400 duplicate_header: Host, Authorization, Origin, Cookie,
//    Content-Length, Content-Type or Expect more than once.
//  - 400 missing_host: no Host on HTTP/1.1, or none while an allow-list is set.
//  - 400 bad_host: a Host value that is not host[:port].
//  - 421 misdirected_request: a Host not in policy.server_names (when set).
//  - 417 expectation_failed: an Expect other than "100-continue".
// The first rule broken, in the order of the fields, wins; the checks that
// need every field (missing Host, allow-list, Expect) come last.
HeadVerdict check_request_head(std::string_view method, int version, std::span<const HeadField> fields,
                               const HeadPolicy& policy);

// True when `head` (the raw request head: request line, field lines, the
// empty line) folds a line: a line after the first begins with SP or HTAB
// (RFC 9112 §5.2 obs-fold, or whitespace before the first field, §2.2). The
// server refuses such a head with 400 before parsing it: Beast joins a folded
// line to the field above, so "Transfer-Encoding:" CRLF " chunked" framed the
// body as chunked here while a proxy in front that does not unfold sees no
// coding, which is how requests are smuggled.
bool has_folded_line(std::string_view head);

// True when `host` (a Host value) is allowed by `server_names` (as in
// HeadPolicy); always true for an empty list.
bool host_allowed(std::string_view host, const std::vector<std::string>& server_names);

}  // namespace tokend::http
