#include "tokend/auth/username.hpp"

#include "tokend/common/text.hpp"

namespace tokend::auth {

std::string normalize_username(std::string_view raw) {
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; };
  while (!raw.empty() && is_space(raw.front())) raw.remove_prefix(1);
  while (!raw.empty() && is_space(raw.back())) raw.remove_suffix(1);
  std::string out(raw);
  for (auto& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool valid_username(std::string_view s) {
  return !s.empty() && s.size() <= 128 && printable_utf8(s, BidiControls::kAllow);
}

}  // namespace tokend::auth
