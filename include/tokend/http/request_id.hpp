// The request id (X-Request-Id): a client's or proxy's id is kept when it is
// short and plain, so one id follows a request through every hop's logs;
// anything else is replaced by a fresh random one, so a header cannot put
// line breaks, escapes or megabytes into the access log and the audit trail.
//
// Thread-safety: safe from any thread (make_request_id keeps its state per
// thread, seeded from OpenSSL's RNG).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tokend::http {

inline constexpr std::size_t kMaxRequestIdBytes = 128;

// True when `id` is 1 to 128 characters of [A-Za-z0-9._:-].
bool acceptable_request_id(std::string_view id);

// A fresh id in the form of a version 4 UUID, 36 characters, lower-case hex,
// e.g. "3f2c1b0e-9a8d-4c7b-b6a5-0f1e2d3c4b5a": unique (per thread a random
// 64-bit prefix and a numbered, mixed suffix), not secret.
std::string make_request_id();

// The id of a request with these header fields: the X-Request-Id value
// (name in any case) when there is exactly one and it is acceptable, else a
// fresh one.
std::string request_id_for(const std::vector<std::pair<std::string, std::string>>& headers);

}  // namespace tokend::http
