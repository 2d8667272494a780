// Relaxed parsing of the one non-standard body the original API documents:
//
//   curl ... --data "{'email':'<your email>', 'info': { 'accessToken': '<your OAuth token>' }}"
//
// JSON with single-quoted strings. People copy documentation, so
// POST /api/authenticate/<provider> must take it verbatim. This is not a
// JSON5 parser: only the quoting is relaxed, everything else must be strict
// JSON, and anything still malformed is an error.
//
// Thread-safety: a pure function.
#pragma once

#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "tokend/common/result.hpp"

namespace tokend::http {

// The most deeply nested arrays/objects a relaxed body may have: the bodies
// this exists for have two levels.
inline constexpr int kMaxRelaxedJsonDepth = 16;

// Parses `body` as strict JSON (any value) and refuses an object, at any
// depth, that gives one key twice: nlohmann would keep the last copy and a
// form parser the first, and two readers that disagree on which copy counts
// are how checks get bypassed, so neither wins.
// Errors: "duplicate_field" (a repeated key), "invalid_json" (anything else).
Result<nlohmann::json> parse_json(std::string_view body);

// Parses `body` as JSON in which strings may also be single-quoted. Inside a
// single-quoted string, `\'` is a quote and `"` is a plain character; the
// other escapes are JSON's. Double-quoted strings keep JSON's rules.
// On success: the parsed value, which is always an object.
// Error code "invalid_json" when: a string is unterminated; an escape or any
// other part is not valid JSON; the value is not an object; the nesting is
// deeper than kMaxRelaxedJsonDepth. Error "duplicate_field" as parse_json().
Result<nlohmann::json> parse_single_quoted_json(std::string_view body);

}  // namespace tokend::http
