// Result<T>: the value of an operation that can fail in an expected way, or the
// Error that says why. Expected failures (wrong password, unknown token, a
// directory that is down) are values, never exceptions; exceptions are kept for
// startup failures and bugs.
//
// Thread-safety: plain value types; no shared state.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace tokend {

// ErrorCode says what kind of failure an Error is. Code branches on it (with
// ==, or the predicates below), never on a string; the snake_case name from
// to_string() exists only for the JSON error bodies clients read.
enum class ErrorCode {
  kBadResponse,
  kConflict,
  kDuplicateField,
  kInternalError,
  kInvalidBody,
  kInvalidConfig,
  kInvalidField,
  kInvalidForm,
  kInvalidJson,
  kInvalidRequest,
  kInvalidScope,
  kInvalidUrl,
  kListenFailed,
  kNotFound,
  kStorageError,
  kTimeout,
  kTlsError,
  kTooLarge,
  kUnreachable,
  kUnsupportedMediaType,
  kUsage,  // stays last: result_test walks every code up to it
};

// The stable snake_case name of `code`, as written in JSON error bodies
// ("not_found", "invalid_json", ...).
std::string_view to_string(ErrorCode code);

// Error carries a code and a message for a person. Details that must not reach
// a client (SQL, exception texts, upstream answers) belong in the log, never in
// `message`.
//
// "Not found" has one spelling everywhere: ErrorCode::kNotFound
// (is_not_found()). A row that would break a uniqueness rule is kConflict.
struct Error {
  ErrorCode code;
  std::string message;

  bool is_not_found() const { return code == ErrorCode::kNotFound; }
  bool is_conflict() const { return code == ErrorCode::kConflict; }
  bool is_timeout() const { return code == ErrorCode::kTimeout; }
  bool is_unreachable() const { return code == ErrorCode::kUnreachable; }
  bool is_storage_error() const { return code == ErrorCode::kStorageError; }
  bool is_too_large() const { return code == ErrorCode::kTooLarge; }
  bool is_duplicate_field() const { return code == ErrorCode::kDuplicateField; }
  std::string_view code_name() const { return to_string(code); }
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}          // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}      // NOLINT: implicit by design

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }

  // REQUIRES: ok()
  T& value() & { assert(ok()); return std::get<T>(v_); }
  const T& value() const& { assert(ok()); return std::get<T>(v_); }
  T&& value() && { assert(ok()); return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  // REQUIRES: !ok()
  const Error& error() const { assert(!ok()); return std::get<Error>(v_); }

 private:
  std::variant<T, Error> v_;
};

// Status is a Result without a value.
struct Ok {};
using Status = Result<Ok>;
inline Status ok_status() { return Ok{}; }

}  // namespace tokend
