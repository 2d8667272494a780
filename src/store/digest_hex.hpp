// The digest of a tokens or sessions row from its hex text (as the export
// queries of both backends select it: SQLite's hex(), PostgreSQL's encode()).
//
// Thread-safety: a pure function.
#pragma once

#include <optional>
#include <string_view>

#include "tokend/crypto/crypto.hpp"

namespace tokend::store {

// nullopt unless `hex` is exactly 64 hex digits (either case).
inline std::optional<crypto::Sha256> digest_from_hex(std::string_view hex) {
  crypto::Sha256 d{};
  if (hex.size() != d.size() * 2) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < d.size(); ++i) {
    const int hi = nibble(hex[2 * i]);
    const int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    d[i] = static_cast<unsigned char>(hi * 16 + lo);
  }
  return d;
}

}  // namespace tokend::store
