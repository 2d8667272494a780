#include "tokend/http/client_address.hpp"

#include <algorithm>

#include "tokend/common/ip.hpp"
#include "tokend/common/text.hpp"

namespace tokend::http {

std::string client_address(std::string_view peer, const std::vector<std::pair<std::string, std::string>>& headers,
                           const std::vector<std::string>& trusted) {
  auto is_trusted = [&](std::string_view a) { return std::find(trusted.begin(), trusted.end(), a) != trusted.end(); };
  if (trusted.empty() || !is_trusted(peer)) return std::string(peer);
  std::string chain;
  for (const auto& [k, v] : headers) {
    if (iequals(k, "x-forwarded-for")) chain += (chain.empty() ? "" : ",") + v;
  }
  std::string_view rest = chain;
  while (!rest.empty()) {
    const auto comma = rest.rfind(',');
    std::string_view hop = comma == std::string_view::npos ? rest : rest.substr(comma + 1);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(0, comma);
    while (!hop.empty() && hop.front() == ' ') hop.remove_prefix(1);
    while (!hop.empty() && hop.back() == ' ') hop.remove_suffix(1);
    if (hop.empty()) continue;
    const std::string text = canonical_ip(hop);
    if (text.empty()) return std::string(peer);  // garbage in the chain: trust nothing from it
    if (!is_trusted(text)) return text;
  }
  return std::string(peer);
}

}  // namespace tokend::http
