// `tokend hash-secret [--config FILE]`: reads a secret (the first line of
// standard input) and prints its argon2id PHC string, at the cost of the
// configuration's passwords section, for introspection.clients[].secret_hash.
// The secret never appears in argv (visible in ps).
//
// Thread-safety: called once from cli::run.
#pragma once

namespace tokend::cli {

// Exit code: 0 printed, 1 hashing or config failure, 2 usage (no secret, or
// shorter than 16 bytes).
int hash_secret_command(int argc, char** argv);

}  // namespace tokend::cli
