// Registry: the configured authenticators by name, built from config.auth at
// start. The table of types (type name -> factory) is in src/auth/registry.cpp:
// adding an authenticator type is one line there.
//
// Thread-safety: immutable after build(); find() is safe from any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokend/auth/authenticator.hpp"
#include "tokend/auth/authenticator_factory.hpp"
#include "tokend/common/result.hpp"

namespace tokend::auth {

class Registry final {
 public:
  // Every enabled method of config.auth, or the first configuration error.
  static Result<Registry> build(const FactoryContext& ctx);

  // The authenticator named `name`, or nullptr (unknown or disabled).
  Authenticator* find(std::string_view name) const;
  // Methods that take a username and password (for POST /api/login).
  std::vector<Authenticator*> password_methods() const;
  const std::vector<std::unique_ptr<Authenticator>>& all() const { return methods_; }

  // For tests: a registry holding exactly these.
  static Registry of(std::vector<std::unique_ptr<Authenticator>> methods);

 private:
  std::vector<std::unique_ptr<Authenticator>> methods_;
};

}  // namespace tokend::auth
