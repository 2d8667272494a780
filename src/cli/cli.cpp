#include "tokend/cli/cli.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "tokend/app/app.hpp"
#include "tokend/auth/username.hpp"
#include "tokend/auth/userpass/password_hasher.hpp"
#include "tokend/config/config.hpp"
#include "tokend/log/log.hpp"
#include "tokend/store/sqlite/sqlite_store.hpp"

namespace tokend::cli {

namespace {

constexpr const char* kMainHelp = R"(tokend - a server that issues API access tokens

Usage:
  tokend serve [--config FILE] [--listen HOST:PORT] [--db PATH]
  tokend user add <username> [--email EMAIL] [--display-name NAME] [--config FILE] [--db PATH]
  tokend user list [--config FILE] [--db PATH]
  tokend user disable <username> [--config FILE] [--db PATH]
  tokend user enable <username> [--config FILE] [--db PATH]
  tokend user passwd <username> [--config FILE] [--db PATH]
  tokend --version

Run `tokend <command> --help` for the details of a command.
)";

constexpr const char* kServeHelp = R"(Usage: tokend serve [--config FILE] [--listen HOST:PORT] [--db PATH]

Starts the HTTP server and serves until SIGINT or SIGTERM, then finishes the
requests in flight and exits 0.

  --config FILE       JSON configuration (see docs/configuration.md); defaults apply without it
  --listen HOST:PORT  overrides "listen" (default 127.0.0.1:8080; port 0 picks a free port)
  --db PATH           overrides "database.path" (default ./data/tokend.db)
)";

constexpr const char* kUserHelp = R"(Usage: tokend user <add|list|disable|enable|passwd> ... [--config FILE] [--db PATH]

  add <username> [--email EMAIL] [--display-name NAME]
        creates a local account; the password is read from the terminal
        (asked twice), or from the first line of standard input when it is
        not a terminal:   echo 'secret password' | tokend user add alice
  list  lists the accounts: id, username, email, state
  disable <username>
        disables an account and revokes all its tokens and sessions at once
  enable <username>
        enables an account again (its old tokens stay revoked)
  passwd <username>
        sets a new password (read like for add)

Usernames are trimmed and lower-cased: "Alice " and "alice" are one account.
The database is the one of --db, else of the configuration's database.path.
)";

struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;
  bool help = false;
};

// Parses "--name value" pairs; false (with a message) on an unknown option.
bool parse_args(int argc, char** argv, int first, const std::vector<std::string>& known, Args& out) {
  for (int i = first; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      out.help = true;
    } else if (a.rfind("--", 0) == 0) {
      bool ok = false;
      for (const auto& k : known) ok = ok || k == a;
      if (!ok) {
        std::cerr << "tokend: unknown option " << a << "\n";
        return false;
      }
      if (i + 1 >= argc) {
        std::cerr << "tokend: " << a << " needs a value\n";
        return false;
      }
      out.options[a] = argv[++i];
    } else {
      out.positional.push_back(a);
    }
  }
  return true;
}

Result<config::Config> load(const Args& args) {
  auto it = args.options.find("--config");
  auto c = config::load_config(it == args.options.end() ? std::string() : it->second);
  if (!c) return c;
  if (auto db = args.options.find("--db"); db != args.options.end()) c->database.path = db->second;
  if (auto l = args.options.find("--listen"); l != args.options.end()) {
    if (auto s = config::parse_listen(l->second, c->listen); !s) return s.error();
  }
  return c;
}

// Reads a password without echo from a terminal, or one line from a pipe.
Result<std::string> read_password(const config::PasswordConfig& pc) {
  std::string pw;
  if (isatty(STDIN_FILENO)) {
    auto prompt = [](const char* text) -> std::string {
      std::cerr << text << std::flush;
      termios old{};
      tcgetattr(STDIN_FILENO, &old);
      termios quiet = old;
      quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
      tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
      std::string line;
      std::getline(std::cin, line);
      tcsetattr(STDIN_FILENO, TCSANOW, &old);
      std::cerr << "\n";
      return line;
    };
    pw = prompt("Password: ");
    if (prompt("Repeat password: ") != pw) return Error{ErrorCode::kUsage, "the passwords do not match"};
  } else {
    if (!std::getline(std::cin, pw)) return Error{ErrorCode::kUsage, "no password on standard input"};
    if (!pw.empty() && pw.back() == '\r') pw.pop_back();
  }
  if (pw.size() < pc.min_length) {
    return Error{ErrorCode::kUsage, "the password must have at least " + std::to_string(pc.min_length) + " bytes"};
  }
  if (pw.size() > pc.max_bytes) {
    return Error{ErrorCode::kUsage, "the password must have at most " + std::to_string(pc.max_bytes) + " bytes"};
  }
  return pw;
}

int user_command(int argc, char** argv) {
  Args args;
  if (!parse_args(argc, argv, 2, {"--config", "--db", "--email", "--display-name"}, args)) return 2;
  if (args.help || args.positional.empty()) {
    std::cout << kUserHelp;
    return args.help ? 0 : 2;
  }
  const std::string verb = args.positional[0];
  const bool needs_name = verb == "add" || verb == "disable" || verb == "enable" || verb == "passwd";
  if ((needs_name && args.positional.size() != 2) || (verb == "list" && args.positional.size() != 1) ||
      (!needs_name && verb != "list")) {
    std::cerr << kUserHelp;
    return 2;
  }
  auto cfg = load(args);
  if (!cfg) {
    std::cerr << "tokend: " << cfg.error().message << "\n";
    return 1;
  }
  // Quiet logs: the command's own output is what the operator reads.
  (void)log::init("warn", "");
  auto store = store::sqlite::SqliteStore::open(cfg->database);
  if (!store) {
    std::cerr << "tokend: " << store.error().message << "\n";
    return 1;
  }
  if (verb == "list") {
    auto users = (*store)->list_users();
    if (!users) {
      std::cerr << "tokend: " << users.error().message << "\n";
      return 1;
    }
    std::printf("%-6s %-32s %-32s %s\n", "ID", "USERNAME", "EMAIL", "STATE");
    for (const auto& u : *users) {
      // Names may come from a directory or a provider: never let them put
      // escape sequences on the operator's terminal.
      std::printf("%-6lld %-32s %-32s %s\n", static_cast<long long>(u.id), log::printable(u.username).c_str(),
                  log::printable(u.email).c_str(),
                  u.disabled ? "disabled" : "enabled");
    }
    return 0;
  }
  const std::string username = auth::normalize_username(args.positional[1]);
  if (!auth::valid_username(username)) {
    std::cerr << "tokend: a username has 1 to 128 bytes of UTF-8 and no control characters\n";
    return 2;
  }
  auth::PasswordHasher hasher(cfg->passwords);
  if (verb == "add") {
    auto pw = read_password(cfg->passwords);
    if (!pw) {
      std::cerr << "tokend: " << pw.error().message << "\n";
      return 2;
    }
    auto hash = hasher.hash(*pw);
    if (!hash) {
      std::cerr << "tokend: " << hash.error().message << "\n";
      return 1;
    }
    store::NewUser nu{username, args.options["--email"], args.options["--display-name"], *hash};
    auto u = (*store)->create_user(nu);
    if (!u) {
      std::cerr << "tokend: " << (u.error().code == ErrorCode::kConflict ? "the user " + username + " exists already"
                                                                 : u.error().message)
                << "\n";
      return 1;
    }
    std::cout << "created user " << u->username << " (id " << u->id << ")\n";
    return 0;
  }
  auto found = (*store)->find_user_by_username(username);
  if (!found) {
    std::cerr << "tokend: no user " << username << "\n";
    return 1;
  }
  const store::User& u = *found;
  if (verb == "passwd") {
    auto pw = read_password(cfg->passwords);
    if (!pw) {
      std::cerr << "tokend: " << pw.error().message << "\n";
      return 2;
    }
    auto hash = hasher.hash(*pw);
    if (!hash || !(*store)->set_password_hash(u.id, *hash)) {
      std::cerr << "tokend: could not set the password\n";
      return 1;
    }
    // Whoever knew the old password may hold a browser session: end them
    // all. Tokens are separate credentials with their own revocation.
    if (auto s = (*store)->revoke_sessions(u.id, now_ms()); !s) {
      std::cerr << "tokend: password changed, but ending the sessions failed: " << s.error().message << "\n";
      return 1;
    }
    std::cout << "password of " << log::printable(u.username) << " changed; its browser sessions were ended\n";
    return 0;
  }
  const bool disable = verb == "disable";
  if (auto s = (*store)->set_disabled(u.id, disable, now_ms()); !s) {
    std::cerr << "tokend: " << s.error().message << "\n";
    return 1;
  }
  std::cout << "user " << u.username << (disable ? " disabled; its tokens and sessions are revoked\n" : " enabled\n");
  return 0;
}

// Each connection is a file descriptor: lift the soft limit (often 1024) up to
// the hard limit so limits.max_connections can be reached.
void raise_file_limit(std::size_t max_connections) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  const rlim_t want = std::min<rlim_t>(rl.rlim_max, static_cast<rlim_t>(max_connections) + 256);
  if (rl.rlim_cur < want) {
    rl.rlim_cur = want;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  if (rl.rlim_cur < static_cast<rlim_t>(max_connections) + 64) {
    spdlog::warn("open-file limit {} is below limits.max_connections {}: raise it (LimitNOFILE=)",
                 static_cast<unsigned long long>(rl.rlim_cur), max_connections);
  }
}

int serve_command(int argc, char** argv) {
  Args args;
  if (!parse_args(argc, argv, 2, {"--config", "--listen", "--db"}, args)) return 2;
  if (args.help) {
    std::cout << kServeHelp;
    return 0;
  }
  if (!args.positional.empty()) {
    std::cerr << kServeHelp;
    return 2;
  }
  auto cfg = load(args);
  if (!cfg) {
    std::cerr << "tokend: " << cfg.error().message << "\n";
    return 1;
  }
  if (auto s = log::init(cfg->log.level, cfg->log.file); !s) {
    std::cerr << "tokend: " << s.error().message << "\n";
    return 1;
  }
  spdlog::info("tokend {} starting", TOKEND_VERSION);
  raise_file_limit(cfg->limits.max_connections);
  return app::serve(*cfg);
}

}  // namespace

int run(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" ||
      std::string(argv[1]) == "help") {
    std::cout << kMainHelp;
    return argc < 2 ? 2 : 0;
  }
  const std::string cmd = argv[1];
  if (cmd == "--version") {
    std::cout << "tokend " << TOKEND_VERSION << "\n";
    return 0;
  }
  if (cmd == "serve") return serve_command(argc, argv);
  if (cmd == "user") return user_command(argc, argv);
  std::cerr << "tokend: unknown command " << cmd << "\n" << kMainHelp;
  return 2;
}

}  // namespace tokend::cli
