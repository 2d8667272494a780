// SettingsReader: reads the typed fields of one JSON settings object (a config
// section, one authenticator's object), with one error convention for all of
// them: Error{ErrorCode::kInvalidConfig, "<path>.<key>: <why>"}, the `why`
// worded alike everywhere ("must be a string", "must be true or false",
// "must be an integer from 1 to 64", "unknown setting", ...).
//
// Each getter returns the value, nullopt when the key is absent, or the error
// when it has another type or is out of range; the read(...) forms assign to
// `out` only when the key is present, so `out` holds the default otherwise.
// Every key asked for is remembered, so that check_unknown() can refuse the
// others (a typo must not pass silently).
//
// Thread-safety: one reader per thread; the JSON must outlive it.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "tokend/common/result.hpp"

namespace tokend::config {

class SettingsReader {
 public:
  // `path` names the object in errors: "" (the document), "limits", "ldap".
  // REQUIRES: `settings` outlives the reader.
  SettingsReader(const nlohmann::json& settings, std::string path);

  // Error{kInvalidConfig, "<path>.<key>: <why>"} ("<key>: <why>" at the root).
  Error error(std::string_view key, std::string_view why) const;
  // True when the object has `key` (not counted as read).
  bool has(std::string_view key) const;

  // Counts `key` as read for check_unknown(), for a key read by other means
  // (an array of objects, each read by a reader of its own).
  void mark_read(std::string_view key) const { read_.emplace(key); }

  // Ok when the settings are a JSON object; else "<path>: must be an object".
  Status check_object() const;
  // Ok when the settings are an object and `known(key)` holds for every key;
  // else the first other key: "<path>.<key>: unknown setting".
  Status check_keys(const std::function<bool(std::string_view)>& known) const;
  // Ok when every key of the object was asked for by a getter or section();
  // else the first other one: "<path>.<key>: unknown setting".
  Status check_unknown() const;

  // "must be a string"; a NUL byte is refused ("must not contain NUL").
  Result<std::optional<std::string>> string(std::string_view key) const;
  // "must be true or false".
  Result<std::optional<bool>> boolean(std::string_view key) const;
  // "must be an integer from <min> to <max>".
  Result<std::optional<std::int64_t>> integer(std::string_view key, std::int64_t min, std::int64_t max) const;
  // "must be an array of non-empty strings".
  Result<std::optional<std::vector<std::string>>> strings(std::string_view key) const;
  // The reader of the object at `key` (an empty object when absent), its path
  // "<path>.<key>"; "must be an object" when it is something else.
  Result<SettingsReader> section(std::string_view key) const;

  Status read(std::string_view key, std::string& out) const;
  Status read(std::string_view key, bool& out) const;
  Status read(std::string_view key, std::vector<std::string>& out) const;
  // An integer within [min, max]; by default any value of T that is not negative.
  template <typename T>
    requires(std::is_integral_v<T> && !std::is_same_v<T, bool>)
  Status read(std::string_view key, T& out, std::int64_t min = 0, std::int64_t max = max_of<T>()) const {
    auto v = integer(key, min, max);
    if (!v) return v.error();
    if (*v) out = static_cast<T>(**v);
    return ok_status();
  }

  const std::string& path() const { return path_; }

 private:
  template <typename T>
  static constexpr std::int64_t max_of() {
    using Limit = std::numeric_limits<T>;
    return Limit::max() > static_cast<std::make_unsigned_t<T>>(std::numeric_limits<std::int64_t>::max())
               ? std::numeric_limits<std::int64_t>::max()
               : static_cast<std::int64_t>(Limit::max());
  }
  const nlohmann::json* find(std::string_view key) const;

  const nlohmann::json& settings_;
  std::string path_;
  mutable std::set<std::string, std::less<>> read_;  // keys asked for, for check_unknown()
};

// The first error among `results` (evaluated in order, as written), or Ok.
Status first_error(std::initializer_list<Status> results);

}  // namespace tokend::config
