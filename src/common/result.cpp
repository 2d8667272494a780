#include "tokend/common/result.hpp"

namespace tokend {

std::string_view to_string(ErrorCode code) {
  switch (code) {
    case ErrorCode::kBadResponse: return "bad_response";
    case ErrorCode::kConflict: return "conflict";
    case ErrorCode::kDuplicateField: return "duplicate_field";
    case ErrorCode::kInternalError: return "internal_error";
    case ErrorCode::kInvalidBody: return "invalid_body";
    case ErrorCode::kInvalidConfig: return "invalid_config";
    case ErrorCode::kInvalidField: return "invalid_field";
    case ErrorCode::kInvalidForm: return "invalid_form";
    case ErrorCode::kInvalidJson: return "invalid_json";
    case ErrorCode::kInvalidRequest: return "invalid_request";
    case ErrorCode::kInvalidScope: return "invalid_scope";
    case ErrorCode::kInvalidUrl: return "invalid_url";
    case ErrorCode::kListenFailed: return "listen_failed";
    case ErrorCode::kNotFound: return "not_found";
    case ErrorCode::kStorageError: return "storage_error";
    case ErrorCode::kTimeout: return "timeout";
    case ErrorCode::kTlsError: return "tls_error";
    case ErrorCode::kTooLarge: return "too_large";
    case ErrorCode::kUnreachable: return "unreachable";
    case ErrorCode::kUnsupportedMediaType: return "unsupported_media_type";
    case ErrorCode::kUsage: return "usage";
  }
  return "internal_error";
}

}  // namespace tokend
