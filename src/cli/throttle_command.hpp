// `tokend throttle list` and `tokend throttle unlock --user NAME | --address
// IP`: the login throttle's locks in the configured database (shared by every
// instance on it), also while no server runs.
//
// Thread-safety: called once from cli::run.
#pragma once

#include "tokend/audit/audit_log.hpp"
#include "tokend/cli/command_line.hpp"
#include "tokend/config/config.hpp"

namespace tokend::cli {

// Exit code: 0 listed, or unlocked; 1 nothing to unlock (no failures recorded
// for that username or address) or a database error; 2 usage (an empty name).
// REQUIRES: cl.command is kThrottleList or kThrottleUnlock.
// An unlock is recorded to `audit` (may be null) as "throttle.unlocked", actor "cli".
int throttle_command(const config::Config& config, const CommandLine& cl, audit::AuditLog* audit);

}  // namespace tokend::cli
