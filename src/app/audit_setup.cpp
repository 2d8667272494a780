#include "tokend/app/audit_setup.hpp"

#include "tokend/auth/registry.hpp"

namespace tokend::app {

Result<std::unique_ptr<audit::JsonLinesAuditLog>> open_audit(const config::Config& config, bool cli) {
  if (!config.audit.enabled) return std::unique_ptr<audit::JsonLinesAuditLog>();
  return audit::JsonLinesAuditLog::open(config.audit.path, cli);
}

void record_config_loaded(audit::AuditLog* audit, const config::Config& config, const auth::Registry& registry) {
  if (!audit) return;
  nlohmann::json methods = nlohmann::json::array();
  for (const auto& m : registry.all()) methods.push_back({{"name", m->name()}, {"type", m->type()}});
  // Names and types only: method settings hold client secrets and bind
  // passwords, and the database path of another driver may hold a password.
  audit::record(audit, audit::Event{"config.loaded", "system", "config", "", "",
                                    {{"file", config.source_file.empty() ? nlohmann::json(nullptr)
                                                                         : nlohmann::json(config.source_file)},
                                     {"methods", std::move(methods)},
                                     {"database", config.database.driver},
                                     {"version", TOKEND_VERSION}}});
}

}  // namespace tokend::app
