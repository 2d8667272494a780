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

std::string make_request_id() { return crypto::to_hex(crypto::random_bytes(16)); }

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
