#include "tokend/http/response_head.hpp"

#include <array>
#include <ctime>

#include "tokend/common/text.hpp"

namespace tokend::http {

namespace {

// A header name or value that could end the header line.
bool breaks_line(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

}  // namespace

bool is_bodiless_status(int status) { return status < 200 || status == 204 || status == 304; }

std::size_t write_response_head(const HttpResponse& r, std::string_view reason, std::string_view date,
                                const HeadOptions& options, std::string& h) {
  std::size_t dropped = 0;
  h.clear();
  h += "HTTP/1.1 ";
  h += std::to_string(r.status);
  h += ' ';
  h += reason;
  h += "\r\nServer: tokend\r\nDate: ";
  h += date;
  h += "\r\n";
  bool nosniff = false;
  for (const auto& [k, v] : r.headers) {
    // The server owns the framing headers.
    if (iequals(k, "content-length") || iequals(k, "transfer-encoding") || iequals(k, "connection")) continue;
    if (k.empty() || breaks_line(k) || breaks_line(v) || k.find_first_of(": \t") != std::string::npos) {
      ++dropped;
      continue;
    }
    if (iequals(k, "x-content-type-options")) nosniff = true;
    h += k;
    h += ": ";
    h += v;
    h += "\r\n";
  }
  if (!nosniff) h += "X-Content-Type-Options: nosniff\r\n";
  if (!is_bodiless_status(r.status)) {
    h += "Content-Length: ";
    h += std::to_string(r.body.size());  // for HEAD, that of the GET
    h += "\r\n";
  }
  if (!options.keep_alive) {
    h += "Connection: close\r\n";
  } else if (options.http10) {
    h += "Connection: keep-alive\r\n";
  }
  h += "\r\n";
  return dropped;
}

std::string_view http_date() {
  thread_local std::time_t cached = -1;
  thread_local std::array<char, 40> buf{};
  thread_local std::size_t len = 0;
  const std::time_t now = std::time(nullptr);
  if (now != cached) {
    std::tm tm{};
    gmtime_r(&now, &tm);
    len = std::strftime(buf.data(), buf.size(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
    cached = now;
  }
  return {buf.data(), len};
}

}  // namespace tokend::http
