#include "tokend/http/relaxed_json.hpp"

#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tokend::http {

namespace {

Error invalid(std::string message) { return Error{ErrorCode::kInvalidJson, std::move(message)}; }

}  // namespace

Result<nlohmann::json> parse_json(std::string_view body) {
  using Event = nlohmann::json::parse_event_t;
  // The keys seen so far in each object being read, innermost last.
  std::vector<std::set<std::string, std::less<>>> open;
  bool duplicate = false;
  auto value = nlohmann::json::parse(
      body.begin(), body.end(),
      [&](int, Event event, nlohmann::json& parsed) {
        if (event == Event::object_start) {
          open.emplace_back();
        } else if (event == Event::object_end) {
          if (!open.empty()) open.pop_back();
        } else if (event == Event::key && !open.empty() && parsed.is_string()) {
          if (!open.back().insert(parsed.get_ref<const std::string&>()).second) duplicate = true;
        }
        return true;
      },
      /*allow_exceptions=*/false);
  if (value.is_discarded()) return invalid("not valid JSON");
  if (duplicate) return Error{ErrorCode::kDuplicateField, "The body gives a field more than once."};
  return value;
}

Result<nlohmann::json> parse_single_quoted_json(std::string_view body) {
  // Rewrite single-quoted strings into double-quoted ones and hand the result
  // to the strict parser, which then judges everything else. The rewrite
  // copies double-quoted strings untouched so that a quote inside one is not
  // mistaken for the start of a string.
  std::string out;
  out.reserve(body.size() + 16);
  int depth = 0;
  std::size_t i = 0;
  while (i < body.size()) {
    const char c = body[i];
    if (c == '"') {
      out.push_back(c);
      ++i;
      bool closed = false;
      while (i < body.size()) {
        const char d = body[i];
        out.push_back(d);
        ++i;
        if (d == '\\') {
          if (i >= body.size()) break;
          out.push_back(body[i]);
          ++i;
        } else if (d == '"') {
          closed = true;
          break;
        }
      }
      if (!closed) return invalid("unterminated string");
    } else if (c == '\'') {
      out.push_back('"');
      ++i;
      bool closed = false;
      while (i < body.size()) {
        const char d = body[i];
        ++i;
        if (d == '\\') {
          if (i >= body.size()) break;
          const char e = body[i];
          ++i;
          if (e == '\'') {
            out.push_back('\'');
          } else {
            // Other escapes are JSON's; the strict parser checks them.
            out.push_back('\\');
            out.push_back(e);
          }
        } else if (d == '\'') {
          closed = true;
          break;
        } else if (d == '"') {
          out += "\\\"";
        } else {
          out.push_back(d);
        }
      }
      if (!closed) return invalid("unterminated string");
      out.push_back('"');
    } else {
      if (c == '{' || c == '[') {
        // Bounded nesting: a body of a thousand '[' must not cost a deep
        // recursion anywhere down the line.
        if (++depth > kMaxRelaxedJsonDepth) return invalid("nested too deeply");
      } else if (c == '}' || c == ']') {
        --depth;
      }
      out.push_back(c);
      ++i;
    }
  }

  auto value = parse_json(out);
  if (!value) {
    if (value.error().code == ErrorCode::kDuplicateField) return value.error();
    return invalid("not valid JSON, even with single-quoted strings");
  }
  if (!value->is_object()) return invalid("the body must be a JSON object");
  return value;
}

}  // namespace tokend::http
