#include "tokend/store/like_pattern.hpp"

namespace tokend::store {

std::string like_contains_pattern(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out.push_back('%');
  for (const char c : text) {
    // Security: without the escape a search for "_" or "%" would match every
    // account, and a search text is outside input (the admin API's ?search=).
    if (c == '\\' || c == '%' || c == '_') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('%');
  return out;
}

}  // namespace tokend::store
