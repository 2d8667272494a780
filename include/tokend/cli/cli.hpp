// The command line: `tokend serve` and `tokend user add|list|disable|enable|passwd`.
// Parses arguments (parse_command_line, command_line.hpp), loads the config,
// and calls app::serve or the store.
// Passwords are read from a terminal prompt (echo off) or the first line of
// standard input, never from argv (argv is visible to every local user in ps).
//
// Thread-safety: called once from main.
#pragma once

namespace tokend::cli {

// The process exit code: 0 success, 1 failure, 2 usage error.
int run(int argc, char** argv);

}  // namespace tokend::cli
