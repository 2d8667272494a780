#include "tokend/common/ip.hpp"

#include <arpa/inet.h>

#include <algorithm>

namespace tokend {

std::string canonical_ip(std::string_view text) {
  // inet_pton reads a C string: an embedded NUL would end it early.
  if (text.find('\0') != std::string_view::npos) return {};
  const std::string c_text(text);
  unsigned char buf[sizeof(in6_addr)];
  char out[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, c_text.c_str(), buf) == 1) return inet_ntop(AF_INET, buf, out, sizeof out);
  if (inet_pton(AF_INET6, c_text.c_str(), buf) != 1) return {};
  static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(kMapped, kMapped + 12, buf)) return inet_ntop(AF_INET, buf + 12, out, sizeof out);
  return inet_ntop(AF_INET6, buf, out, sizeof out);
}

}  // namespace tokend
