#include "api/request_body.hpp"

#include <boost/url/encoding_opts.hpp>
#include <boost/url/pct_string_view.hpp>

#include "tokend/common/text.hpp"
#include "tokend/http/relaxed_json.hpp"

namespace tokend::api {

namespace {

std::string media_type(std::string_view content_type) {
  const auto semi = content_type.find(';');
  std::string_view t = content_type.substr(0, semi);
  while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
  while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
  return ascii_lower(t);
}

}  // namespace

// Form encoding (WHATWG application/x-www-form-urlencoded): "+" is a space,
// "%XX" a byte. Bytes that a strict encoder would have escaped pass as they
// are, because curl sends `--data "password=correct horse battery"` with raw
// spaces; only a broken escape ("%4", "%zz") is refused.
Result<std::string> form_decode(std::string_view s) {
  auto pct = boost::urls::make_pct_string_view(boost::urls::string_view(s.data(), s.size()));
  if (!pct) return Error{ErrorCode::kInvalidForm, "The form body has a bad percent-encoding."};
  boost::urls::encoding_opts opts;
  opts.space_as_plus = true;
  return pct->decode(opts);
}

Result<nlohmann::json> parse_form(std::string_view body) {
  nlohmann::json out = nlohmann::json::object();
  std::size_t i = 0;
  while (i <= body.size()) {
    const auto amp = body.find('&', i);
    const auto end = amp == std::string_view::npos ? body.size() : amp;
    std::string_view pair = body.substr(i, end - i);
    if (!pair.empty()) {
      const auto eq = pair.find('=');
      if (eq == std::string_view::npos) return Error{ErrorCode::kInvalidForm, "Each form field needs the shape name=value."};
      auto name = form_decode(pair.substr(0, eq));
      if (!name) return name.error();
      auto value = form_decode(pair.substr(eq + 1));
      if (!value) return value.error();
      // Refused rather than first-wins or last-wins: two parts of a stack
      // that pick different copies of a field is how checks get bypassed.
      if (out.contains(*name)) {
        return Error{ErrorCode::kDuplicateField, "The body gives a field more than once."};
      }
      out[*name] = std::move(*value);
    }
    if (amp == std::string_view::npos) break;
    i = amp + 1;
  }
  return out;
}

Result<nlohmann::json> parse_body(const http::HttpRequest& request, BodyDialect dialect) {
  const auto ct = request.header("content-type");
  if (request.body.empty() && !ct) return nlohmann::json::object();
  const std::string type = ct ? media_type(*ct) : std::string();
  if (type == "application/x-www-form-urlencoded") return parse_form(request.body);
  if (type == "application/json" || (type.empty() && request.body.empty())) {
    if (request.body.empty()) return nlohmann::json::object();
    // nlohmann's parser stops at a NUL byte as if the input ended there, so
    // `{"username":"a"}\0<anything>` would pass with its tail unread. A raw
    // NUL is never valid JSON (inside a string it must be escaped): refuse it.
    // Found by fuzz_request_body.
    if (request.body.find('\0') != std::string::npos) {
      return Error{ErrorCode::kInvalidJson, "The request body is not valid JSON."};
    }
    auto doc = http::parse_json(request.body);
    if (!doc && doc.error().code == ErrorCode::kInvalidJson && dialect == BodyDialect::kSingleQuotedJsonToo) {
      auto relaxed = http::parse_single_quoted_json(request.body);
      if (relaxed || relaxed.error().code == ErrorCode::kDuplicateField) doc = std::move(relaxed);
    }
    if (!doc) {
      if (doc.error().code == ErrorCode::kDuplicateField) return doc.error();
      return Error{ErrorCode::kInvalidJson, "The request body is not valid JSON."};
    }
    if (!doc->is_object()) return Error{ErrorCode::kInvalidBody, "The request body must be a JSON object."};
    return std::move(*doc);
  }
  return Error{ErrorCode::kUnsupportedMediaType,
               "Send the body as application/x-www-form-urlencoded or application/json."};
}

BodyKind body_kind(const http::HttpRequest& request) {
  const auto ct = request.header("content-type");
  return ct && media_type(*ct) == "application/x-www-form-urlencoded" ? BodyKind::kForm : BodyKind::kJson;
}

http::HttpResponse body_error(const Error& e) {
  if (e.code == ErrorCode::kUnsupportedMediaType) return http::error_response(415, e.code_name(), e.message);
  return http::error_response(400, e.code_name(), e.message);
}

Result<std::optional<std::string>> string_field(const nlohmann::json& body, const char* name) {
  if (!body.contains(name) || body.at(name).is_null()) return std::optional<std::string>{};
  if (!body.at(name).is_string()) return Error{ErrorCode::kInvalidField, std::string("The field '") + name + "' must be a string."};
  return std::optional<std::string>(body.at(name).get<std::string>());
}

}  // namespace tokend::api
