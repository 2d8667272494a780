// `tokend hash-secret [--config FILE]`: reads a secret (the first line of
// standard input) and prints its argon2id PHC string, at the cost of the
// configuration's passwords section, for introspection.clients[].secret_hash.
// The secret never appears in argv (visible in ps).
//
// Thread-safety: called once from cli::run.
#pragma once

#include <optional>
#include <string>

namespace tokend::cli {

// Exit code: 0 printed, 1 hashing or config failure, 2 usage (no secret, or
// shorter than 16 or longer than 1024 bytes). The command line is parsed by
// parse_command_line (command_line.hpp).
int hash_secret_command(const std::optional<std::string>& config_path);

}  // namespace tokend::cli
