#include "tokend/token/scopes.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace tokend::token {

namespace {

using nlohmann::json;

bool declared_name(std::string_view name, const std::vector<config::ScopeConfig>& declared) {
  return std::any_of(declared.begin(), declared.end(), [&](const auto& s) { return s.name == name; });
}

// `names` kept once each, in the order of `declared`.
std::vector<std::string> in_declared_order(const std::vector<std::string>& names,
                                           const std::vector<config::ScopeConfig>& declared) {
  std::vector<std::string> out;
  for (const auto& s : declared) {
    if (std::find(names.begin(), names.end(), s.name) != names.end()) out.push_back(s.name);
  }
  return out;
}

}  // namespace

bool valid_scope_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxScopeNameBytes) return false;
  // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
  return std::all_of(name.begin(), name.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u >= 0x21 && u <= 0x7e && u != '"' && u != '\\';
  });
}

std::vector<std::string> split_scopes(std::string_view text) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    const std::size_t start = i;
    while (i < text.size() && text[i] != ' ') ++i;
    if (i > start) out.emplace_back(text.substr(start, i - start));
  }
  return out;
}

std::string join_scopes(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) {
    if (!out.empty()) out += ' ';
    out += n;
  }
  return out;
}

std::vector<std::string> default_scopes(const std::vector<config::ScopeConfig>& declared) {
  std::vector<std::string> out;
  for (const auto& s : declared) {
    if (s.is_default) out.push_back(s.name);
  }
  return out;
}

Result<std::optional<std::vector<std::string>>> requested_scopes(const json& body,
                                                                 const std::vector<config::ScopeConfig>& declared) {
  const bool has_plural = body.contains("scopes") && !body["scopes"].is_null();
  const bool has_singular = body.contains("scope") && !body["scope"].is_null();
  if (has_plural && has_singular) {
    return Error{ErrorCode::kInvalidField, "Give either 'scopes' or 'scope', not both."};
  }
  if (!has_plural && !has_singular) return std::optional<std::vector<std::string>>{};
  const json& v = has_plural ? body["scopes"] : body["scope"];
  std::vector<std::string> names;
  if (v.is_string()) {
    names = split_scopes(v.get_ref<const std::string&>());
  } else if (v.is_array()) {
    if (v.size() > kMaxScopes) return Error{ErrorCode::kInvalidScope, "Too many scopes."};
    for (const auto& e : v) {
      if (!e.is_string()) return Error{ErrorCode::kInvalidField, "'scopes' must be an array of strings."};
      names.push_back(e.get<std::string>());
    }
  } else {
    return Error{ErrorCode::kInvalidField, "'scopes' must be an array of strings."};
  }
  if (names.size() > kMaxScopes) return Error{ErrorCode::kInvalidScope, "Too many scopes."};
  for (const auto& n : names) {
    // The name is not echoed: it is the client's text, and the message goes
    // back in a JSON body and maybe into logs.
    if (!declared_name(n, declared)) return Error{ErrorCode::kInvalidScope, "Unknown scope."};
  }
  return std::optional<std::vector<std::string>>{in_declared_order(names, declared)};
}

std::optional<std::string> scopes_to_store(const std::optional<std::vector<std::string>>& asked,
                                           const std::vector<config::ScopeConfig>& declared) {
  // Security: a token asked with an explicit list holds at most that list.
  // Only a token asked for nothing is NULL, and only while nothing is
  // declared; stored NULL it would gain every scope later declared default.
  if (asked) return join_scopes(*asked);
  if (declared.empty()) return std::nullopt;
  return join_scopes(default_scopes(declared));
}

std::vector<std::string> effective_scopes(const std::optional<std::string>& stored,
                                          const std::vector<config::ScopeConfig>& declared) {
  if (!stored) return default_scopes(declared);
  return in_declared_order(split_scopes(*stored), declared);
}

bool has_scopes(const std::vector<std::string>& held, const std::vector<std::string>& required) {
  return std::all_of(required.begin(), required.end(),
                     [&](const std::string& r) { return std::find(held.begin(), held.end(), r) != held.end(); });
}

}  // namespace tokend::token
