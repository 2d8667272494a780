// HttpRequest and HttpResponse: the HTTP layer's plain value types. The Beast
// session converts to and from them, so that the router, the handlers and their
// tests never include Beast or Asio (one Beast translation unit costs ~20 s of
// compile time; these headers cost nothing).
//
// Thread-safety: plain value types.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "tokend/common/text.hpp"

namespace tokend::http {

// Header names compare case-insensitively (RFC 9110 §5.1): tokend::iequals.
using tokend::iequals;

struct HttpRequest {
  std::string method;   // "GET", "POST", ...
  std::string target;   // the request target as received: path and query
  std::string path;     // decoded-free path part of target (no query)
  std::string query;    // after '?', raw; tokend never reads secrets from it
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string peer;     // client IP address, no port
  bool tls = false;     // true when the connection is TLS
  std::string request_id;  // this request's id (X-Request-Id), for logs and the audit trail

  // The first header named `name` (case-insensitive), if any.
  std::optional<std::string_view> header(std::string_view name) const;

  // The value of cookie `name` from the Cookie header(s), if any.
  std::optional<std::string> cookie(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Set by the router: the route pattern that handled the request, for metrics
  // and the access log (never the raw path, which may hold identifiers).
  std::string route;

  void set_header(std::string name, std::string value);
  std::optional<std::string_view> header(std::string_view name) const;
};

// 200-type JSON response with `Content-Type: application/json`.
HttpResponse json_response(int status, const nlohmann::json& body);
// The same, for a body already written as JSON text (JsonWriter).
HttpResponse json_text_response(int status, std::string body);

// The one shape of every error: {"error": code, "message": message}.
// `retry_after_s` > 0 adds a Retry-After header (429, 503).
HttpResponse error_response(int status, std::string_view code, std::string_view message,
                            int retry_after_s = 0);

// 204 No Content.
HttpResponse no_content();

}  // namespace tokend::http
