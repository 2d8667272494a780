// Fuzzes request bodies: application/x-www-form-urlencoded, strict JSON and
// the single-quoted JSON the provider routes take (api/request_body.cpp,
// http/relaxed_json.cpp).
//
// Input: one selector byte (the Content-Type and dialect), then the body.
// Checks, besides "no crash, no sanitizer report":
//   - a parsed body is always a JSON object; a form gives only string values;
//   - the relaxed parser accepts every strict JSON object within its depth
//     limit and reads it the same way (only the quoting is relaxed);
//   - nothing the relaxed parser accepts is nested deeper than its limit.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

#include "api/request_body.hpp"
#include "tokend/http/relaxed_json.hpp"

namespace {

int depth(const nlohmann::json& v) {
  if (!v.is_structured()) return 0;
  int d = 0;
  for (const auto& item : v) d = std::max(d, depth(item));
  return d + 1;
}

void require(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  static const char* const kContentTypes[] = {
      "application/x-www-form-urlencoded", "application/json", "Application/JSON ; charset=utf-8", "text/plain", nullptr};
  const std::uint8_t selector = data[0];
  const std::string body(reinterpret_cast<const char*>(data) + 1, size - 1);

  tokend::http::HttpRequest request;
  request.method = "POST";
  if (const char* ct = kContentTypes[selector % 5]) request.headers.emplace_back("Content-Type", ct);
  request.body = body;
  const auto dialect = (selector & 0x80) != 0 ? tokend::api::BodyDialect::kSingleQuotedJsonToo
                                              : tokend::api::BodyDialect::kStrict;
  if (auto parsed = tokend::api::parse_body(request, dialect)) {
    require(parsed->is_object());
    // Found: a JSON body with a NUL and a tail was accepted with the tail unread.
    require(selector % 5 == 0 || body.find('\0') == std::string::npos);
  } else {
    (void)tokend::api::body_error(parsed.error());
  }

  if (auto form = tokend::api::parse_form(body)) {
    require(form->is_object());
    for (const auto& [name, value] : form->items()) {
      require(value.is_string());
      (void)tokend::api::string_field(*form, name.c_str());
    }
  }

  auto relaxed = tokend::http::parse_single_quoted_json(body);
  if (relaxed) {
    require(relaxed->is_object());
    require(depth(*relaxed) <= tokend::http::kMaxRelaxedJsonDepth);
  }
  // A raw NUL ends nlohmann's input early; parse_body refuses such bodies.
  const auto strict = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (body.find('\0') == std::string::npos && !strict.is_discarded() && strict.is_object() && depth(strict) <= tokend::http::kMaxRelaxedJsonDepth) {
    // nlohmann keeps the last copy of a repeated key; tokend refuses such a
    // body (parse_json, at every level), and so must the relaxed parser.
    auto checked = tokend::http::parse_json(body);
    if (!checked && checked.error().code == tokend::ErrorCode::kDuplicateField) {
      require(!relaxed.ok() && relaxed.error().code == tokend::ErrorCode::kDuplicateField);
    } else {
      require(relaxed.ok() && *relaxed == strict);
    }
  }
  return 0;
}
