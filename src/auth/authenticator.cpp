#include "tokend/auth/authenticator.hpp"

#include <cassert>

namespace tokend::auth {

std::string_view to_string(FailureKind kind) {
  switch (kind) {
    case FailureKind::kNone:
      return "none";
    case FailureKind::kInvalidCredentials:
      return "invalid_credentials";
    case FailureKind::kThrottled:
      return "throttled";
    case FailureKind::kUpstreamDown:
      return "upstream_down";
    case FailureKind::kUpstreamTimeout:
      return "upstream_timeout";
    case FailureKind::kUpstreamBadAnswer:
      return "upstream_bad_answer";
    case FailureKind::kStorageError:
      return "storage_error";
    case FailureKind::kServerBusy:
      return "server_busy";
  }
  return "unknown";
}

AuthOutcome AuthOutcome::accepted(Identity identity) {
  AuthOutcome o;
  o.kind = Kind::kAccepted;
  o.identity = std::move(identity);
  o.failure = FailureKind::kNone;
  return o;
}

AuthOutcome AuthOutcome::rejected(std::string reason) {
  AuthOutcome o;
  o.kind = Kind::kRejected;
  o.reason = std::move(reason);
  o.failure = FailureKind::kInvalidCredentials;
  return o;
}

AuthOutcome AuthOutcome::failed(FailureKind failure, std::string reason) {
  assert(failure != FailureKind::kNone && failure != FailureKind::kInvalidCredentials);
  AuthOutcome o;
  o.kind = Kind::kFailed;
  o.reason = std::move(reason);
  o.failure = failure;
  return o;
}

}  // namespace tokend::auth
