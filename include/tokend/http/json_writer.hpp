// JsonWriter: writes a JSON object straight into a string, for the answers on
// hot paths (GET /api/user, a new token). Building an nlohmann::json document
// costs a map node and a string per key, then a serialization pass; this
// writes the same text in one pass with one growing buffer.
//
// Strings are written as nlohmann's dump() writes valid UTF-8: as is, with `"`
// `\` and control characters escaped. Every byte that is not part of
// well-formed UTF-8 is replaced by U+FFFD (nlohmann's error_handler_t::replace
// writes one per invalid sequence instead), so the output is always valid JSON
// whatever a provider or directory put into a name.
//
// Thread-safety: a plain value type.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tokend::http {

// Appends `s` as a JSON string literal (with the quotes) to `out`.
void append_json_string(std::string& out, std::string_view s);

class JsonWriter final {
 public:
  JsonWriter& begin_object();
  JsonWriter& end_object();
  // A member's name; the next call writes its value.
  JsonWriter& key(std::string_view name);
  JsonWriter& value(std::string_view s);
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(std::int64_t n);
  // true or false. A separate name, not value(bool): a bool would otherwise
  // pick the integer overload silently, and an int the bool one.
  JsonWriter& boolean(bool b);
  JsonWriter& null();
  // An array of strings as one value: ["a","b"].
  JsonWriter& value(const std::vector<std::string>& strings);

  // The text written so far; the writer is empty afterwards.
  std::string take();

 private:
  void separate();
  std::string out_;
  bool first_ = true;  // no member written yet in the current object
};

}  // namespace tokend::http
