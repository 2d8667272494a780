// ResponseReader: how the HTTPS client reads one response off a connection.
// Internal to src/net/ (it includes Beast): https_client.cpp reads from TLS
// connections with it, response_parser.cpp from bytes in memory, so that the
// fuzzer exercises exactly the parser the client runs.
//
// Thread-safety: one reader per read; not shared.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/error.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "tokend/common/result.hpp"
#include "tokend/net/https_client.hpp"

namespace tokend::net {

// What reads one response off a connection: the parser with its limits and
// the buffer. The buffer only holds bytes not yet parsed; the body limit bounds
// the body and the header limit the header, so memory stays bounded whatever
// the provider sends. Shared by send() and parse_response(), so that the
// fuzzer exercises exactly the parser the client runs.
//
// Beast's header_limit alone is not the limit we document: it bounds the
// status line and the fields each on their own (so a header of twice the
// limit passes), and chunked trailers are not counted at all, yet land among
// the header fields. So the header is read first and measured on the wire
// (check_header), and trailers are dropped (release): a provider cannot use
// them to add or override headers such as Link or X-RateLimit-Remaining.
struct ResponseReader {
  ResponseReader(std::size_t max_header_bytes, std::size_t max_body_bytes)
      : max_header(max_header_bytes), buffer(max_header_bytes + 64 * 1024) {
    parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(max_header_bytes, UINT32_MAX)));
    parser.body_limit(max_body_bytes);
    parser.on_chunk_header(on_chunk);
  }
  ResponseReader(const ResponseReader&) = delete;
  ResponseReader& operator=(const ResponseReader&) = delete;

  // After read_header(), which returns the bytes the parser consumed, that
  // is the status line and fields with their CRLFs: too_large when over the
  // limit.
  Status check_header(std::size_t header_bytes) const {
    if (header_bytes > max_header) return Error{ErrorCode::kTooLarge, "response header over the size limit"};
    return ok_status();
  }

  // The error for a failed read that is not a timeout.
  static Error read_error(const boost::system::error_code& ec) {
    if (ec == boost::beast::http::error::body_limit || ec == boost::beast::http::error::header_limit || ec == boost::beast::http::error::buffer_overflow) {
      return Error{ErrorCode::kTooLarge, "response over the size limit"};
    }
    if (ec == boost::asio::error::connection_reset) return Error{ErrorCode::kUnreachable, "connection reset"};
    return Error{ErrorCode::kBadResponse, "invalid response: " + ec.message()};
  }

  // The parsed response, without trailer fields; "bad_response" when the
  // status is not 200..599 (Beast takes any three digits, "000" included).
  // Security: an interim 1xx (100 Continue, 103 Early Hints) is not the
  // answer, and its final response follows on the same connection. Taken as
  // the answer, the connection went back to the pool with that final response
  // still to come, and the next request on it (another user's token check)
  // read it as its own. tokend sends no Expect, so a 1xx is refused and the
  // connection is not reused.
  // REQUIRES: the read succeeded.
  Result<ClientResponse> release() {
    auto res = parser.release();
    if (res.result_int() < 100 || res.result_int() > 599) {
      return Error{ErrorCode::kBadResponse, "invalid response: status " + std::to_string(res.result_int())};
    }
    if (res.result_int() < 200) {
      return Error{ErrorCode::kBadResponse, "interim response " + std::to_string(res.result_int()) + " instead of an answer"};
    }
    ClientResponse out;
    out.status = static_cast<int>(res.result_int());
    std::size_t n = 0;
    for (const auto& field : res) {
      if (header_fields && n++ == *header_fields) break;
      out.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    out.body = std::move(res.body());
    return out;
  }

  std::size_t max_header;
  boost::beast::flat_buffer buffer;
  boost::beast::http::response_parser<boost::beast::http::string_body> parser;
  // The number of header fields, recorded at the last chunk: what follows it
  // are trailers.
  std::optional<std::size_t> header_fields;
  std::function<void(std::uint64_t, std::string_view, boost::system::error_code&)> on_chunk =
      [this](std::uint64_t size, std::string_view, boost::system::error_code&) {
        if (size == 0) {
          const auto& fields = parser.get().base();
          header_fields = static_cast<std::size_t>(std::distance(fields.begin(), fields.end()));
        }
      };
};

}  // namespace tokend::net
