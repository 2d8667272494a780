// Scopes: the operator declares them in the configuration (config::ScopeConfig);
// a token carries a subset, chosen when it is issued. These functions read a
// request's scopes, check them against the declared ones, and say which
// scopes a stored token holds.
//
// Storage: a token row keeps its scopes as one space-separated text, or NULL.
// NULL means "the configured defaults, as they are now": rows written before
// scopes existed, and tokens issued while no scope was configured, so that
// every token of a server that never declared scopes behaves alike once it
// does. A token issued while scopes are configured stores its list, possibly
// empty.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "tokend/common/result.hpp"
#include "tokend/config/config.hpp"

namespace tokend::token {

inline constexpr std::size_t kMaxScopeNameBytes = 64;
inline constexpr std::size_t kMaxScopes = 64;
inline constexpr std::size_t kMaxScopeDescriptionBytes = 200;

// True when `name` is an RFC 6749 scope-token (visible ASCII without '"' and
// '\\', so no space and nothing that breaks a quoted header parameter) of 1 to
// kMaxScopeNameBytes bytes.
bool valid_scope_name(std::string_view name);

// The parts of a space-separated scope list ("a b"), in order; runs of spaces
// count as one, so "" gives none.
std::vector<std::string> split_scopes(std::string_view text);

// "a b": the names joined with one space.
std::string join_scopes(const std::vector<std::string>& names);

// The names of the declared scopes marked default, in configured order.
std::vector<std::string> default_scopes(const std::vector<config::ScopeConfig>& declared);

// The scopes a request asks for: nullopt when it names none (the caller then
// grants the defaults). JSON: "scopes": ["a", "b"] (an array of strings; a
// space-separated string is accepted too). Form: "scope=a b" (OAuth style) or
// "scopes=a b". Each name must be declared, and is kept once, in the order of
// `declared`.
// Errors: kInvalidField when the field has the wrong type or both spellings are
// given; kInvalidScope when a name is not declared (or no scope is declared at
// all and a non-empty list is asked for).
Result<std::optional<std::vector<std::string>>> requested_scopes(const nlohmann::json& body,
                                                                 const std::vector<config::ScopeConfig>& declared);

// What to store for a new token given what was asked (requested_scopes):
// the asked list as text whenever one was asked (an explicit "[]" is "",
// none, forever); when nothing was asked, nullopt (NULL, "the defaults") if
// no scope is declared, else the current defaults as text.
std::optional<std::string> scopes_to_store(const std::optional<std::vector<std::string>>& asked,
                                           const std::vector<config::ScopeConfig>& declared);

// The scopes a token holds now: its stored list (NULL: the current defaults),
// without names no longer declared (a removed scope grants nothing), in
// configured order.
std::vector<std::string> effective_scopes(const std::optional<std::string>& stored,
                                          const std::vector<config::ScopeConfig>& declared);

// True when every name of `required` is in `held`.
bool has_scopes(const std::vector<std::string>& held, const std::vector<std::string>& required);

}  // namespace tokend::token
