#include "tokend/cli/command_line.hpp"

#include <algorithm>
#include <optional>

#include <CLI/CLI.hpp>

namespace tokend::cli {

namespace {

constexpr const char* kUserFooter = R"(
Usernames are trimmed and lower-cased: "Alice " and "alice" are one account.
The password is read from the terminal (asked twice), or from the first line
of standard input when it is not a terminal:
  echo 'secret password' | tokend user add alice
The database is the one of --db, else of the configuration's database.path.)";

void add_store_options(CLI::App& app, CommandLine& out) {
  app.add_option("--config", out.config_file, "JSON configuration (see docs/configuration.md)")->type_name("FILE");
  app.add_option("--db", out.db_path, "overrides \"database.path\" (default ./data/tokend.db)")->type_name("PATH");
}

void add_username(CLI::App& app, CommandLine& out) {
  app.add_option("username", out.username, "the account's username")->required()->type_name("USERNAME");
}

// The full name of the deepest command that was reached ("tokend user add"),
// for the hint after an error.
std::string command_path(const CLI::App& app) {
  std::string path = app.get_name();
  const CLI::App* current = &app;
  while (!current->get_subcommands().empty()) {
    current = current->get_subcommands().front();
    path += " " + current->get_name();
  }
  return path;
}

// CLI11 takes the next argument as an option's value whatever it looks like,
// so `--email --db x` would set the e-mail to "--db". An option that takes a
// value (of any of `commands`) must get one that does not start with "-";
// `--name=-value` still passes one that does. Returns the option that lacks
// its value, if any.
std::optional<std::string> option_without_value(const std::vector<std::string>& args,
                                                std::initializer_list<const CLI::App*> commands) {
  auto takes_value = [&](const std::string& name) {
    return std::any_of(commands.begin(), commands.end(), [&](const CLI::App* c) {
      const CLI::Option* o = c->get_option_no_throw(name);
      return o != nullptr && o->get_type_size() > 0;
    });
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--") break;  // the rest are positional arguments
    if (args[i].rfind("--", 0) != 0 || !takes_value(args[i])) continue;
    if (i + 1 == args.size() || (args[i + 1].size() > 1 && args[i + 1].front() == '-')) return args[i];
    ++i;  // skip the value
  }
  return std::nullopt;
}

}  // namespace

Result<CommandLine> parse_command_line(const std::vector<std::string>& args) {
  CommandLine out;
  CLI::App app("tokend - a server that issues API access tokens", "tokend");
  app.require_subcommand(0, 1);
  bool version = false;
  app.add_flag("--version", version, "print the version and exit");

  CLI::App* serve = app.add_subcommand(
      "serve",
      "Start the HTTP server; serve until SIGINT or SIGTERM, then finish the requests in flight and exit 0.");
  serve->add_option("--config", out.config_file, "JSON configuration (see docs/configuration.md); defaults apply without it")
      ->type_name("FILE");
  serve->add_option("--listen", out.listen,
                    "overrides \"listen\" (default 127.0.0.1:8080; [::1]:8080 for IPv6; port 0 picks a free port)")
      ->type_name("HOST:PORT");
  serve->add_option("--db", out.db_path, "overrides \"database.path\" (default ./data/tokend.db)")->type_name("PATH");

  CLI::App* user = app.add_subcommand("user", "Manage local accounts (the userpass method) in the database.");
  user->require_subcommand(1);
  user->footer(kUserFooter);
  CLI::App* add = user->add_subcommand("add", "Create a local account; the password is read from the terminal or stdin.");
  add_username(*add, out);
  add->add_option("--email", out.email, "the account's e-mail address")->type_name("EMAIL");
  add->add_option("--display-name", out.display_name, "the name shown on the web page")->type_name("NAME");
  add_store_options(*add, out);
  CLI::App* list = user->add_subcommand("list", "List the accounts: id, username, email, state.");
  add_store_options(*list, out);
  CLI::App* disable =
      user->add_subcommand("disable", "Disable an account and revoke all its tokens and sessions at once.");
  add_username(*disable, out);
  add_store_options(*disable, out);
  CLI::App* enable = user->add_subcommand("enable", "Enable an account again (its old tokens stay revoked).");
  add_username(*enable, out);
  add_store_options(*enable, out);
  CLI::App* passwd = user->add_subcommand(
      "passwd", "Set a new password (read like for add) and end the account's browser sessions.");
  add_username(*passwd, out);
  add_store_options(*passwd, out);
  for (CLI::App* verb : {add, list, disable, enable, passwd}) verb->footer(kUserFooter);
  CLI::App* hash_secret = app.add_subcommand(
      "hash-secret",
      "Print the argon2id hash of the secret on standard input's first line (16 to 1024 bytes), for "
      "introspection.clients[].secret_hash.");
  hash_secret->add_option("--config", out.config_file, "JSON configuration: its passwords section sets the cost")
      ->type_name("FILE");
  CLI::App* throttle = app.add_subcommand("throttle", "Inspect and lift login throttle locks in the database.");
  throttle->require_subcommand(1);
  CLI::App* throttle_list =
      throttle->add_subcommand("list", "List the usernames and addresses locked now: failures, until when.");
  add_store_options(*throttle_list, out);
  CLI::App* unlock = throttle->add_subcommand(
      "unlock", "Lift the lock of a username (every login method) or of a client address (an IPv6 address: its /64).");
  auto* by_user = unlock->add_option("--user", out.throttle_user, "the username to unlock")->type_name("NAME");
  auto* by_addr = unlock->add_option("--address", out.throttle_address, "the client address to unlock")->type_name("IP");
  by_user->excludes(by_addr);
  add_store_options(*unlock, out);
  // Set last: a subcommand copies its parent's footer when it is created.
  app.footer("\nRun 'tokend <command> --help' for the details of a command.");

  // `tokend help` has always meant `tokend --help`.
  if (args.size() == 1 && args[0] == "help") {
    out.help = app.help();
    return out;
  }
  if (args.empty()) return Error{ErrorCode::kUsage, "a command is required\n\n" + app.help()};

  const bool wants_help = std::any_of(args.begin(), std::find(args.begin(), args.end(), "--"),
                                      [](const std::string& a) { return a == "--help" || a == "-h"; });
  std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 takes them last first
  try {
    if (auto option = option_without_value(args, {serve, add, list, disable, enable, passwd, hash_secret, throttle_list, unlock});
        option && !wants_help) {
      // Parsed anyway, to name the command in the hint; the error is ours.
      try {
        app.parse(reversed);
      } catch (const CLI::ParseError&) {
      }
      return Error{ErrorCode::kUsage, *option + " needs a value (write " + *option +
                                          "=VALUE for a value that starts with -)\nRun '" + command_path(app) +
                                          " --help' for the usage."};
    }
    app.parse(reversed);
  } catch (const CLI::CallForHelp&) {
    // app.help() describes the deepest command given, e.g. `user add`.
    out.command = Command::kHelp;
    out.help = app.help();
    return out;
  } catch (const CLI::ParseError& e) {
    return Error{ErrorCode::kUsage, std::string(e.what()) + "\nRun '" + command_path(app) + " --help' for the usage."};
  }

  if (version) {
    if (!app.get_subcommands().empty()) {
      return Error{ErrorCode::kUsage, "--version takes no command\nRun 'tokend --help' for the usage."};
    }
    out.command = Command::kVersion;
    return out;
  }
  if (serve->parsed()) {
    out.command = Command::kServe;
  } else if (add->parsed()) {
    out.command = Command::kUserAdd;
  } else if (list->parsed()) {
    out.command = Command::kUserList;
  } else if (disable->parsed()) {
    out.command = Command::kUserDisable;
  } else if (enable->parsed()) {
    out.command = Command::kUserEnable;
  } else if (passwd->parsed()) {
    out.command = Command::kUserPasswd;
  } else if (hash_secret->parsed()) {
    out.command = Command::kHashSecret;
  } else if (throttle_list->parsed()) {
    out.command = Command::kThrottleList;
  } else if (unlock->parsed()) {
    if (!out.throttle_user && !out.throttle_address) {
      return Error{ErrorCode::kUsage,
                   "throttle unlock needs --user NAME or --address IP\nRun 'tokend throttle unlock --help' for the usage."};
    }
    out.command = Command::kThrottleUnlock;
  } else {
    return Error{ErrorCode::kUsage, "a command is required\nRun 'tokend --help' for the usage."};
  }
  return out;
}

}  // namespace tokend::cli
