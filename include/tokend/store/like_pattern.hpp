// like_contains_pattern: the one way a store turns a search text into a SQL
// LIKE pattern, for every backend (SQLite and PostgreSQL read the pattern the
// same way with `ESCAPE '\'`).
//
// Thread-safety: a pure function.
#pragma once

#include <string>
#include <string_view>

namespace tokend::store {

// "%<text>%" with every `\`, `%` and `_` of `text` escaped by a backslash, so
// that they match only themselves: `LIKE ? ESCAPE '\'` then finds the values
// that contain `text` literally. "" gives "%%" (everything).
std::string like_contains_pattern(std::string_view text);

}  // namespace tokend::store
