// The head of an HTTP/1.1 response as tokend writes it (status line, Server,
// Date, the handler's headers, X-Content-Type-Options, Content-Length,
// Connection), formatted in one buffer so that the session can send head and
// body in one gathered write. Beast-free, so that it has unit tests of its own.
//
// Thread-safety: pure functions, except http_date() (a per-thread cache).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "tokend/http/message.hpp"

namespace tokend::http {

// True for the statuses that carry no body and no Content-Length
// (RFC 9110 §8.6 and §6.4.1): 1xx, 204, 304.
bool is_bodiless_status(int status);

// How the connection goes on after this response.
struct HeadOptions {
  bool keep_alive = true;  // false: "Connection: close"
  bool http10 = false;     // an HTTP/1.0 client kept alive: "Connection: keep-alive"
};

// Writes the head of `response` into `out` (cleared first), ending with the
// empty line: "HTTP/1.1 <status> <reason>", "Server: tokend", "Date: <date>",
// then the handler's headers except the framing ones the server owns
// (Content-Length, Transfer-Encoding, Connection), "X-Content-Type-Options:
// nosniff" unless the handler set it, "Content-Length: <body size>" unless the
// status is bodiless (for HEAD, that of the GET), and the Connection header
// `options` call for. A handler header whose name is empty or holds a colon,
// space or tab, or whose name or value holds CR, LF or NUL, is left out (a
// handler bug must not become response splitting).
// Returns the number of headers left out (the caller logs them).
std::size_t write_response_head(const HttpResponse& response, std::string_view reason, std::string_view date,
                                const HeadOptions& options, std::string& out);

// The Date header's value for now (RFC 9110 §6.6.1: "Sun, 06 Nov 1994
// 08:49:37 GMT"), formatted at most once a second per thread.
std::string_view http_date();

}  // namespace tokend::http
