// Building the audit sink from the configuration, for the server and the CLI
// alike (one rule for where the trail goes), and the config.loaded event.
//
// Thread-safety: call at start, from one thread.
#pragma once

#include <memory>

#include "tokend/audit/json_lines_log.hpp"
#include "tokend/common/result.hpp"
#include "tokend/config/config.hpp"

namespace tokend::auth { class Registry; }

namespace tokend::app {

// The sink of audit.path, or a null pointer when audit.enabled is false.
// `cli`: a CLI command, whose "-" goes to standard error (its standard output
// is the command's answer). Error kInvalidConfig when the file cannot be
// opened.
Result<std::unique_ptr<audit::JsonLinesAuditLog>> open_audit(const config::Config& config, bool cli = false);

// Records config.loaded: the configuration file, the database driver, the
// enabled sign-in methods (names and types; no settings, no secrets).
void record_config_loaded(audit::AuditLog* audit, const config::Config& config, const auth::Registry& registry);

}  // namespace tokend::app
