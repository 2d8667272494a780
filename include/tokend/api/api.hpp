// The JSON API: builds the Router with every endpoint of docs/api.md. Handlers
// are thin: they parse the request, call the services, and shape the answer.
//
// Thread-safety: the Router is built once; handlers run concurrently on the
// worker pools and share only thread-safe services.
#pragma once

#include "tokend/http/router.hpp"

namespace tokend::config { struct Config; }
namespace tokend::store { class Store; }
namespace tokend::metrics { class Metrics; }
namespace tokend::auth {
class Registry;
class LoginService;
class LoginThrottle;
class PasswordHasher;
}
namespace tokend::token { class TokenService; }
namespace tokend::audit { class AuditLog; }
namespace tokend::session { class SessionService; }

namespace tokend::api {

// Everything the handlers use. All references outlive the router.
struct ApiContext {
  const config::Config& config;
  store::Store& store;
  metrics::Metrics& metrics;
  auth::Registry& registry;
  auth::LoginService& login;
  token::TokenService& tokens;
  session::SessionService& sessions;
  // Checks introspection client secrets (POST /api/introspect); without one,
  // HTTP Basic introspection clients are refused.
  auth::PasswordHasher* hasher = nullptr;
  // Counts wrong introspection client secrets like wrong passwords (the
  // login service keeps the same brake for logins).
  auth::LoginThrottle* throttle = nullptr;
  // Where security events go (audit/audit_log.hpp); null: not recorded.
  audit::AuditLog* audit = nullptr;
};

// Registers every route on `router`.
void register_routes(http::Router& router, ApiContext& ctx);

}  // namespace tokend::api
