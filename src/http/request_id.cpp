#include "tokend/http/request_id.hpp"

#include "tokend/common/text.hpp"
#include "tokend/crypto/crypto.hpp"

namespace tokend::http {

bool acceptable_request_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxRequestIdBytes) return false;
  for (const char c : id) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == ':' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string make_request_id() {
  // A random (version 4) UUID: the form tracing tools expect, and never a run
  // of 32 hex digits, which log checks (bench/soak, log::redact) rightly
  // treat as a leaked secret.
  std::string b = crypto::random_bytes(16);
  b[6] = static_cast<char>((static_cast<unsigned char>(b[6]) & 0x0f) | 0x40);
  b[8] = static_cast<char>((static_cast<unsigned char>(b[8]) & 0x3f) | 0x80);
  const std::string h = crypto::to_hex(b);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

std::string request_id_for(const std::vector<std::pair<std::string, std::string>>& headers) {
  const std::string* found = nullptr;
  for (const auto& [name, value] : headers) {
    if (!iequals(name, "X-Request-Id")) continue;
    // Two ids: which one would the next hop believe? Neither.
    if (found) return make_request_id();
    found = &value;
  }
  if (found && acceptable_request_id(*found)) return *found;
  return make_request_id();
}

}  // namespace tokend::http
