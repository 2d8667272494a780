// CommandLine: what `tokend ...` was asked to do, parsed from argv (with
// CLI11) without doing any of it, so that the command line is testable on
// its own. cli::run() parses, then runs the command.
//
// Thread-safety: parse_command_line is a pure function.
#pragma once

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
  kHashSecret,  // tokend hash-secret: the argon2id hash of a secret read from stdin
  kThrottleList,    // tokend throttle list: the usernames and addresses locked now
  kThrottleUnlock,  // tokend throttle unlock --user NAME | --address IP
};

struct CommandLine {
  Command command = Command::kHelp;
  std::string help;  // kHelp: the usage text of the command that was asked about
  std::optional<std::string> config_file;  // --config (every command but --version)
  std::optional<std::string> db_path;      // --db
  std::optional<std::string> listen;       // --listen (serve only), not yet validated
  std::string username;      // add, disable, enable, passwd: as typed, not yet normalised
  std::string email;         // add only
  std::string display_name;  // add only
  std::optional<std::string> throttle_user;     // throttle unlock --user (exactly one of the two)
  std::optional<std::string> throttle_address;  // throttle unlock --address
};

// Parses `args`, argv without the program name. Each command accepts only
// its own options; "--name value", "--name=value" and "--" (what follows is
// a positional argument even when it starts with "-") work everywhere.
// Passwords are never taken from the command line.
// Errors (code kUsage, exit code 2), with the message to print: no command,
// an unknown command, option or extra argument, an option without its value,
// a missing username. The message ends with a hint to run --help.
Result<CommandLine> parse_command_line(const std::vector<std::string>& args);

}  // namespace tokend::cli
