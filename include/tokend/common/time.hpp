// Wall-clock helpers. Times are milliseconds since the Unix epoch (UTC) in an
// int64_t everywhere in tokend; kNever is the far-future sentinel of a token
// that does not expire, which the original API prints as
// "292278994-08-17T07:12:55.807Z" (Java's Long.MAX_VALUE milliseconds).
//
// Thread-safety: all functions are pure or read the system clock; safe anywhere.
#pragma once

#include <cstdint>
#include <limits>
#include <string>

namespace tokend {

using TimeMs = std::int64_t;
inline constexpr TimeMs kNever = std::numeric_limits<std::int64_t>::max();

// The current time in milliseconds since the epoch.
TimeMs now_ms();
// Milliseconds on a monotonic clock (steady_clock): for intervals and
// deadlines, which a step of the wall clock (NTP, a resumed VM) must not move.
// Not a date.
TimeMs steady_ms();

// Formats `t` as ISO-8601 UTC with milliseconds, e.g. "2027-03-01T12:00:00.000Z".
// Years beyond 9999 are printed in full, so kNever gives the original API's text.
std::string format_iso8601(TimeMs t);

}  // namespace tokend
