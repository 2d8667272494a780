// Fuzzes the HTTP request path as the server reads a request (src/http/server.cpp):
// the head must end within max_header_bytes, Beast's request_parser gets the
// same header and body limits, check_request_head (src/http/request_head.cpp)
// judges the parsed head, the body is decoded (chunked included), and an
// accepted request is then read the way the routes read it: its credentials
// (bearer_token, the session cookie) and its body (parse_body, both dialects).
// Routes that reach the store are the end-to-end suite's; this harness covers
// every parser between the socket and them.
//
// Checks, besides "no crash, no sanitizer report, no leak":
//   - an accepted head has exactly one Host on HTTP/1.1, at most one of each
//     singleton header, and a Transfer-Encoding only as a lone "chunked" on
//     HTTP/1.1 without Content-Length (the smuggling rules);
//   - the header fields the request keeps are those of the head: the
//     trailers of a chunked body never become headers;
//   - a decoded body is never larger than the body limit.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "api/caller.hpp"
#include "api/request_body.hpp"
#include "tokend/http/message.hpp"
#include "tokend/http/request_head.hpp"

namespace {

namespace bhttp = boost::beast::http;
namespace net = boost::asio;

constexpr std::size_t kMaxHeaderBytes = 8192;  // limits.max_header_bytes' default
constexpr std::size_t kMaxBodyBytes = 65536;   // limits.max_body_bytes' default

void require(bool ok) {
  if (!ok) std::abort();
}

int count(const std::vector<tokend::http::HeadField>& fields, std::string_view name) {
  int n = 0;
  for (const auto& f : fields) n += tokend::http::iequals(f.name, name) ? 1 : 0;
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  // As scan_head: the whole head, up to its CRLF CRLF, within the limit.
  const auto end = input.substr(0, kMaxHeaderBytes).find("\r\n\r\n");
  if (end == std::string_view::npos) return 0;  // 431, or waits for more bytes
  const std::size_t head_len = end + 4;
  // As parse_head: a folded line is refused before Beast sees the head.
  if (tokend::http::has_folded_line(input.substr(0, head_len))) return 0;  // 400

  bhttp::request_parser<bhttp::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(kMaxHeaderBytes));
  parser.body_limit(kMaxBodyBytes);
  boost::beast::error_code ec;
  const std::size_t used = parser.put(net::buffer(input.data(), head_len), ec);
  if (ec || !parser.is_header_done()) return 0;  // a refused head: 400, 413 or 431

  const auto& msg = parser.get();
  tokend::http::HttpRequest request;
  request.method = std::string(msg.method_string());
  request.target = std::string(msg.target());
  std::vector<tokend::http::HeadField> fields;
  for (const auto& f : msg) {
    request.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  }
  for (const auto& [k, v] : request.headers) fields.push_back({k, v});
  tokend::http::HeadPolicy policy;
  if (size % 2 == 1) policy.server_names = {"tokens.example.org", "localhost:8080"};
  const auto verdict = tokend::http::check_request_head(msg.method_string(), msg.version(), fields, policy);
  if (!verdict.ok()) {
    require(verdict.status >= 400 && verdict.status < 600 && !verdict.error.empty());
    return 0;
  }
  if (msg.version() == 11) require(count(fields, "host") == 1);
  for (const char* name : {"host", "authorization", "origin", "cookie", "content-length", "content-type", "expect"}) {
    require(count(fields, name) <= 1);
  }
  if (count(fields, "transfer-encoding") > 0) {
    require(msg.version() == 11 && count(fields, "transfer-encoding") == 1 && count(fields, "content-length") == 0);
    require(tokend::http::iequals(*request.header("transfer-encoding"), "chunked"));
  }

  // The body, as read_body does (the rest of the input is what the client sent).
  if (!parser.is_done()) {
    std::string_view rest = input.substr(used);
    while (!rest.empty() && !ec && !parser.is_done()) {
      const std::size_t n = parser.put(net::buffer(rest.data(), rest.size()), ec);
      if (n == 0) break;
      rest.remove_prefix(n);
    }
    if (ec == bhttp::error::need_more) ec = {};
    if (!parser.is_done()) return 0;  // incomplete or refused: 400/413, or a timeout
  }
  request.body = parser.get().body();
  require(request.body.size() <= kMaxBodyBytes);
  // Trailers were merged into Beast's field list; the request kept the head's.
  require(request.headers.size() == fields.size());

  const auto q = request.target.find('?');
  request.path = request.target.substr(0, q);
  (void)tokend::api::bearer_token(request);
  (void)request.cookie("tokend_session");
  (void)request.cookie("__Host-tokend_session");
  (void)tokend::api::parse_body(request, tokend::api::BodyDialect::kStrict);
  (void)tokend::api::parse_body(request, tokend::api::BodyDialect::kSingleQuotedJsonToo);
  return 0;
}
