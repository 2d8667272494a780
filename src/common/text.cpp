#include "tokend/common/text.hpp"

namespace tokend {

namespace {
char lower_char(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
}  // namespace

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower_char(c);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower_char(a[i]) != lower_char(b[i])) return false;
  }
  return true;
}

bool istarts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

bool printable_utf8(std::string_view s, BidiControls bidi) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t extra;
    char32_t cp;
    if (c < 0x80) {
      extra = 0;
      cp = c;
    } else if ((c >> 5) == 0x6) {
      extra = 1;
      cp = c & 0x1f;
    } else if ((c >> 4) == 0xe) {
      extra = 2;
      cp = c & 0x0f;
    } else if ((c >> 3) == 0x1e) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;  // not a UTF-8 lead byte
    }
    for (std::size_t k = 1; k <= extra; ++k) {
      if (i + k >= s.size()) return false;
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 0x2) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr char32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra]) return false;                  // overlong encoding
    if (cp >= 0xd800 && cp <= 0xdfff) return false;      // UTF-16 surrogate
    if (cp > 0x10ffff) return false;                     // beyond Unicode
    if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) return false;  // C0, DEL, C1 controls
    if (bidi == BidiControls::kRefuse && ((cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069))) {
      return false;
    }
    i += extra + 1;
  }
  return true;
}

}  // namespace tokend
