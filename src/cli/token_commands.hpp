// `tokend token list [--user NAME] [--limit N]` and `tokend token revoke ID`:
// the admin API's token operations on the configured database, for when the
// server is down (docs/operations.md, "Administrators"). A token value or
// digest is never printed: the store does not have the value, and the digest
// is not shown.
//
// Thread-safety: called once from cli::run.
#pragma once

#include "tokend/cli/command_line.hpp"
#include "tokend/audit/audit_log.hpp"
#include "tokend/store/store.hpp"

namespace tokend::cli {

// REQUIRES: cl.command is kTokenList or kTokenRevoke.
// Exit code: 0 done; 1 no such user (list --user) or no such live token
// (revoke), or the database failed; 2 an invalid username.
// Revocations are recorded to `audit` (may be null) as "token.revoked", actor "cli".
int run_token_command(const CommandLine& cl, store::Store& store, audit::AuditLog* audit);

}  // namespace tokend::cli
