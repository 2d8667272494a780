// Request bodies: application/x-www-form-urlencoded (what `curl --data` sends)
// and application/json, both read into one JSON object so that handlers read
// fields the same way whatever the client sent.
//
// Thread-safety: pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "tokend/common/result.hpp"
#include "tokend/http/message.hpp"

namespace tokend::api {

// One value of application/x-www-form-urlencoded text: "+" is a space,
// "%XX" a byte, other bytes as they are. Error "invalid_form" for a broken
// escape ("%4", "%zz").
Result<std::string> form_decode(std::string_view text);

// Decodes a form body into {"name": "value", ...}. Errors: "invalid_form" for
// bad percent-encoding or a name without '='; "duplicate_field" for a name
// given twice (JSON bodies follow the same rule: one value per field).
Result<nlohmann::json> parse_form(std::string_view body);

enum class BodyDialect { kStrict, kSingleQuotedJsonToo };

// The request's body as a JSON object. An empty body is an empty object.
// Errors (code -> HTTP status, see body_error()): "unsupported_media_type"
// (neither form nor JSON), "invalid_json", "invalid_form", "invalid_body"
// (JSON that is not an object), "duplicate_field" (an object, at any depth,
// or a form that names one field twice).
Result<nlohmann::json> parse_body(const http::HttpRequest& request, BodyDialect dialect = BodyDialect::kStrict);

// How the body was sent: a form's values are all text, JSON's are typed.
enum class BodyKind { kJson, kForm };
// kForm when the request's Content-Type is application/x-www-form-urlencoded.
BodyKind body_kind(const http::HttpRequest& request);

// The error response for a parse_body() error.
http::HttpResponse body_error(const Error& e);

// A string field of `body`: nullopt when absent or null; Error "invalid_field"
// when present but not a string.
Result<std::optional<std::string>> string_field(const nlohmann::json& body, const char* name);

}  // namespace tokend::api
