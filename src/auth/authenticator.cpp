#include "tokend/auth/authenticator.hpp"

namespace tokend::auth {

AuthOutcome AuthOutcome::accepted(Identity identity) {
  AuthOutcome o;
  o.kind = Kind::kAccepted;
  o.identity = std::move(identity);
  o.status = 200;
  return o;
}

AuthOutcome AuthOutcome::rejected(std::string reason) {
  AuthOutcome o;
  o.kind = Kind::kRejected;
  o.reason = std::move(reason);
  o.status = 401;
  return o;
}

AuthOutcome AuthOutcome::failed(int status, std::string reason) {
  AuthOutcome o;
  o.kind = Kind::kFailed;
  o.reason = std::move(reason);
  o.status = status;
  return o;
}

}  // namespace tokend::auth
