// CommandLine: what `tokend ...` was asked to do, parsed from argv (with
// CLI11) without doing any of it, so that the command line is testable on
// its own. cli::run() parses, then runs the command.
//
// Thread-safety: parse_command_line is a pure function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tokend/common/result.hpp"

namespace tokend::cli {

enum class Command {
  kHelp,     // print CommandLine::help on stdout, exit 0
  kVersion,  // tokend --version
  kServe,    // tokend serve
  kUserAdd,
  kUserList,
  kUserDisable,
  kUserEnable,
  kUserPasswd,
  kUserGrantAdmin,   // tokend user grant-admin NAME
  kUserRevokeAdmin,  // tokend user revoke-admin NAME
  kTokenList,        // tokend token list [--user NAME] [--limit N]
  kTokenRevoke,      // tokend token revoke ID
  kHashSecret,  // tokend hash-secret: the argon2id hash of a secret read from stdin
  kThrottleList,    // tokend throttle list: the usernames and addresses locked now
  kThrottleUnlock,  // tokend throttle unlock --user NAME | --address IP
  kDbCopy,      // tokend db copy --from FILE: a SQLite database into the configured (empty) one
};

struct CommandLine {
  Command command = Command::kHelp;
  std::string help;  // kHelp: the usage text of the command that was asked about
  std::optional<std::string> config_file;  // --config (every command but --version)
  std::optional<std::string> db_path;      // --db
  std::optional<std::string> listen;       // --listen (serve only), not yet validated
  std::string username;      // user verbs; token list --user (empty: every account): as typed, not yet normalised
  std::string email;         // add only
  std::string display_name;  // add only
  bool admin = false;        // user add --admin
  std::int64_t token_id = 0;  // token revoke: >= 1
  std::size_t limit = 1000;   // token list --limit: 1 to 100000
  std::optional<std::string> throttle_user;     // throttle unlock --user (exactly one of the two)
  std::optional<std::string> throttle_address;  // throttle unlock --address
  std::string copy_from;     // db copy: the SQLite file to copy from
};

// Parses `args`, argv without the program name. Each command accepts only
// its own options; "--name value", "--name=value" and "--" (what follows is
// a positional argument even when it starts with "-") work everywhere.
// Passwords are never taken from the command line.
// Errors (code kUsage, exit code 2), with the message to print: no command,
// an unknown command, option or extra argument, an option without its value,
// a missing username, a token id that is not a whole number from 1, a
// --limit outside 1..100000. The message ends with a hint to run --help.
Result<CommandLine> parse_command_line(const std::vector<std::string>& args);

}  // namespace tokend::cli
