// The factory type every authenticator implementation provides, and what a
// factory may use. Apart from the registry (the table of factories) so that
// the registry includes the implementations and never the reverse.
//
// Thread-safety: factories run once, at start, on one thread.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "tokend/auth/authenticator.hpp"
#include "tokend/common/result.hpp"

namespace tokend::config { struct Config; }
namespace tokend::store { class Store; }
namespace tokend::metrics { class Metrics; }

namespace tokend::auth {

class PasswordHasher;

// What a factory may use. All references outlive the authenticators.
struct FactoryContext {
  const config::Config& config;
  store::Store& store;
  metrics::Metrics& metrics;
  PasswordHasher& hasher;
};

// Validates `settings` (the object under config.auth[name]) and builds the
// authenticator; Error{ErrorCode::kInvalidConfig, "<name>.<key>: why"} when invalid.
using Factory = Result<std::unique_ptr<Authenticator>> (*)(
    const std::string& name, const nlohmann::json& settings, const FactoryContext& ctx);

}  // namespace tokend::auth
