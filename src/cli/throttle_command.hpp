// `tokend throttle list` and `tokend throttle unlock --user NAME | --address
// IP`: the login throttle's locks in the configured database (shared by every
// instance on it), also while no server runs.
//
// Thread-safety: called once from cli::run.
#pragma once

#include "tokend/cli/command_line.hpp"
#include "tokend/config/config.hpp"

namespace tokend::cli {

// Exit code: 0 listed, or unlocked; 1 nothing to unlock (no failures recorded
// for that username or address) or a database error; 2 usage (an empty name).
// REQUIRES: cl.command is kThrottleList or kThrottleUnlock.
int throttle_command(const config::Config& config, const CommandLine& cl);

}  // namespace tokend::cli
