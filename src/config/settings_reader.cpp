#include "tokend/config/settings_reader.hpp"

#include <nlohmann/json.hpp>

namespace tokend::config {

SettingsReader::SettingsReader(const nlohmann::json& settings, std::string path)
    : settings_(settings), path_(std::move(path)) {}

Error SettingsReader::error(std::string_view key, std::string_view why) const {
  std::string where = path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  return Error{ErrorCode::kInvalidConfig, where + ": " + std::string(why)};
}

bool SettingsReader::has(std::string_view key) const { return settings_.is_object() && settings_.contains(key); }

const nlohmann::json* SettingsReader::find(std::string_view key) const {
  read_.emplace(key);
  if (!settings_.is_object()) return nullptr;
  auto it = settings_.find(key);
  return it == settings_.end() ? nullptr : &*it;
}

Status SettingsReader::check_object() const {
  if (settings_.is_object()) return ok_status();
  return Error{ErrorCode::kInvalidConfig, (path_.empty() ? "the configuration" : path_) + ": must be an object"};
}

Status SettingsReader::check_keys(const std::function<bool(std::string_view)>& known) const {
  if (auto st = check_object(); !st) return st;
  for (const auto& item : settings_.items()) {
    if (!known(item.key())) return error(item.key(), "unknown setting");
  }
  return ok_status();
}

Status SettingsReader::check_unknown() const {
  return check_keys([this](std::string_view key) { return read_.find(key) != read_.end(); });
}

Result<std::optional<std::string>> SettingsReader::string(std::string_view key) const {
  const nlohmann::json* v = find(key);
  if (!v) return std::optional<std::string>{};
  if (!v->is_string()) return error(key, "must be a string");
  std::string out = v->get<std::string>();
  // A NUL would cut the value short wherever it becomes a C string (a path,
  // a DN handed to libldap): never the value that was checked.
  if (out.find('\0') != std::string::npos) return error(key, "must not contain NUL");
  return std::optional<std::string>{std::move(out)};
}

Result<std::optional<bool>> SettingsReader::boolean(std::string_view key) const {
  const nlohmann::json* v = find(key);
  if (!v) return std::optional<bool>{};
  if (!v->is_boolean()) return error(key, "must be true or false");
  return std::optional<bool>{v->get<bool>()};
}

Result<std::optional<std::int64_t>> SettingsReader::integer(std::string_view key, std::int64_t min,
                                                            std::int64_t max) const {
  const nlohmann::json* v = find(key);
  if (!v) return std::optional<std::int64_t>{};
  const bool in_range = v->is_number_integer() &&
                        (v->is_number_unsigned() ? v->get<std::uint64_t>() <= static_cast<std::uint64_t>(max) &&
                                                       (min <= 0 || v->get<std::uint64_t>() >= static_cast<std::uint64_t>(min))
                                                 : v->get<std::int64_t>() >= min && v->get<std::int64_t>() <= max);
  if (!in_range) {
    return error(key, "must be an integer from " + std::to_string(min) + " to " + std::to_string(max));
  }
  return std::optional<std::int64_t>{v->is_number_unsigned() ? static_cast<std::int64_t>(v->get<std::uint64_t>())
                                                             : v->get<std::int64_t>()};
}

Result<std::optional<std::vector<std::string>>> SettingsReader::strings(std::string_view key) const {
  const nlohmann::json* v = find(key);
  if (!v) return std::optional<std::vector<std::string>>{};
  std::vector<std::string> out;
  bool ok = v->is_array();
  if (ok) {
    for (const auto& item : *v) {
      if (!item.is_string() || item.get_ref<const std::string&>().empty() ||
          item.get_ref<const std::string&>().find('\0') != std::string::npos) {
        ok = false;
        break;
      }
      out.push_back(item.get<std::string>());
    }
  }
  if (!ok) return error(key, "must be an array of non-empty strings");
  return std::optional<std::vector<std::string>>{std::move(out)};
}

Result<SettingsReader> SettingsReader::section(std::string_view key) const {
  static const nlohmann::json kEmpty = nlohmann::json::object();
  const nlohmann::json* v = find(key);
  const std::string path = path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  if (!v) return SettingsReader(kEmpty, path);
  if (!v->is_object()) return error(key, "must be an object");
  return SettingsReader(*v, path);
}

Status SettingsReader::read(std::string_view key, std::string& out) const {
  auto v = string(key);
  if (!v) return v.error();
  if (*v) out = std::move(**v);
  return ok_status();
}

Status SettingsReader::read(std::string_view key, bool& out) const {
  auto v = boolean(key);
  if (!v) return v.error();
  if (*v) out = **v;
  return ok_status();
}

Status SettingsReader::read(std::string_view key, std::vector<std::string>& out) const {
  auto v = strings(key);
  if (!v) return v.error();
  if (*v) out = std::move(**v);
  return ok_status();
}

Status first_error(std::initializer_list<Status> results) {
  for (const auto& r : results) {
    if (!r) return r;
  }
  return ok_status();
}

}  // namespace tokend::config
