// Fuzzes the HTTPS client's reading of a hostile provider's response
// (net/https_client.cpp, parse_response(): the same Beast parser, limits and
// error mapping as HttpsClient::send()): status line, headers, chunked and
// sized bodies, early EOF.
//
// Input: 3 bytes that pick the header limit, the body limit and the size of
// each read, then the bytes the server sends before closing. Checks, besides
// "no crash, no sanitizer report, no leak":
//   - a response is returned only within the limits: the body is at most
//     max_body_bytes, status line and headers at most max_header_bytes;
//   - the status is 200..599 (found: Beast took "000"; a 1xx is not an answer);
//   - every failure is one of the documented codes.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "tokend/net/https_client.hpp"

namespace {

// Names the failed check in the report.
#define require(ok)                                           \
  do {                                                        \
    if (!(ok)) {                                              \
      std::fprintf(stderr, "check failed: %s\n", #ok);        \
      std::abort();                                           \
    }                                                         \
  } while (0)

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 3) return 0;
  static constexpr std::size_t kHeaderLimits[] = {64, 256, 1024, 16 * 1024};
  static constexpr std::size_t kBodyLimits[] = {0, 16, 1024, 1024 * 1024};
  const std::size_t max_header = kHeaderLimits[data[0] % 4];
  const std::size_t max_body = kBodyLimits[data[1] % 4];
  const std::size_t read_size = data[2] % 17;  // 0: everything in one read
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 3, size - 3);

  auto response = tokend::net::parse_response(bytes, max_header, max_body, read_size);
  if (!response) {
    const auto& code = response.error().code;
    require(code == tokend::ErrorCode::kTooLarge || code == tokend::ErrorCode::kBadResponse);
    return 0;
  }
  require(response->status >= 200 && response->status <= 599);
  require(response->body.size() <= max_body);
  // "HTTP/1.1 200 \r\n" at least, then "name: value\r\n" per field.
  std::size_t header_bytes = 15;
  for (const auto& [name, value] : response->headers) header_bytes += name.size() + value.size() + 4;
  require(header_bytes <= max_header + 2);
  require(response->body.size() <= bytes.size());
  return 0;
}
