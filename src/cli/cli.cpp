#include "tokend/cli/cli.hpp"

#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "tokend/app/app.hpp"
#include "tokend/app/audit_setup.hpp"
#include "tokend/auth/username.hpp"
#include "tokend/auth/userpass/password_hasher.hpp"
#include "cli/hash_secret.hpp"
#include "cli/token_commands.hpp"
#include "cli/throttle_command.hpp"
#include "tokend/cli/command_line.hpp"
#include "tokend/config/config.hpp"
#include "tokend/log/log.hpp"
#include "tokend/store/open.hpp"

namespace tokend::cli {

namespace {

Result<config::Config> load(const CommandLine& cl) {
  auto c = config::load_config(cl.config_file.value_or(std::string()));
  if (!c) return c;
  if (cl.db_path) c->database.path = *cl.db_path;
  if (cl.listen) {
    if (auto s = config::parse_listen(*cl.listen, c->listen); !s) return s.error();
  }
  return c;
}

// The one place the CLI opens the store.
Result<std::unique_ptr<store::Store>> open_store(const config::Config& cfg) { return store::open(cfg.database); }

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

int user_command(const CommandLine& cl) {
  auto cfg = load(cl);
  if (!cfg) {
    std::cerr << "tokend: " << cfg.error().message << "\n";
    return 1;
  }
  // Quiet logs: the command's own output is what the operator reads.
  (void)log::init("warn", "");
  auto store = open_store(*cfg);
  if (!store) {
    std::cerr << "tokend: " << store.error().message << "\n";
    return 1;
  }
  if (cl.command == Command::kUserList) {
    auto users = (*store)->list_users();
    if (!users) {
      std::cerr << "tokend: " << users.error().message << "\n";
      return 1;
    }
    std::printf("%-6s %-32s %-32s %-8s %s\n", "ID", "USERNAME", "EMAIL", "STATE", "ROLE");
    for (const auto& u : *users) {
      // Names may come from a directory or a provider: never let them put
      // escape sequences on the operator's terminal.
      std::printf("%-6lld %-32s %-32s %-8s %s\n", static_cast<long long>(u.id), log::printable(u.username).c_str(),
                  log::printable(u.email).c_str(), u.disabled ? "disabled" : "enabled", u.admin ? "admin" : "-");
    }
    return 0;
  }
  const std::string username = auth::normalize_username(cl.username);
  if (!auth::valid_username(username)) {
    std::cerr << "tokend: a username has 1 to 128 bytes of UTF-8 and no control characters\n";
    return 2;
  }
  // Account changes go to the server's audit destination (the same
  // configuration); a command that cannot record does not change anything.
  auto audit_log = app::open_audit(*cfg, /*cli=*/true);
  if (!audit_log) {
    std::cerr << "tokend: " << audit_log.error().message << "\n";
    return 1;
  }
  audit::AuditLog* audit = audit_log->get();
  const auto record = [audit](const char* event, const store::User& u, nlohmann::json detail) {
    detail["username"] = u.username;
    audit::record(audit, audit::Event{event, "cli", "user:" + std::to_string(u.id), "", "", std::move(detail)});
  };
  auth::PasswordHasher hasher(cfg->passwords);
  if (cl.command == Command::kUserAdd) {
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
    store::NewUser nu{username, cl.email, cl.display_name, *hash, cl.admin};
    auto u = (*store)->create_user(nu);
    if (!u) {
      std::cerr << "tokend: " << (u.error().code == ErrorCode::kConflict ? "the user " + username + " exists already"
                                                                 : u.error().message)
                << "\n";
      return 1;
    }
    record("account.created", *u, {{"method", "userpass"}, {"source", "cli"}});
    std::cout << "created user " << u->username << " (id " << u->id << ")" << (u->admin ? ", an admin" : "")
              << "\n";
    return 0;
  }
  auto found = (*store)->find_user_by_username(username);
  if (!found) {
    std::cerr << "tokend: no user " << username << "\n";
    return 1;
  }
  const store::User& u = *found;
  if (cl.command == Command::kUserPasswd) {
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
    record("password.changed", u, {{"sessions_ended", true}});
    std::cout << "password of " << log::printable(u.username) << " changed; its browser sessions were ended\n";
    return 0;
  }
  if (cl.command == Command::kUserGrantAdmin || cl.command == Command::kUserRevokeAdmin) {
    const bool grant = cl.command == Command::kUserGrantAdmin;
    if (auto s = (*store)->set_admin(u.id, grant, now_ms()); !s) {
      std::cerr << "tokend: " << s.error().message << "\n";
      return 1;
    }
    record(grant ? "admin.granted" : "admin.revoked", u, nlohmann::json::object());
    std::cout << "user " << log::printable(u.username)
              << (grant ? " is an admin\n" : " is no longer an admin\n");
    return 0;
  }
  const bool disable = cl.command == Command::kUserDisable;
  if (auto s = (*store)->set_disabled(u.id, disable, now_ms()); !s) {
    std::cerr << "tokend: " << s.error().message << "\n";
    return 1;
  }
  // Disabling revokes every token and session of the account at once (one
  // transaction): one event says so, with the revocation as its detail.
  record(disable ? "account.disabled" : "account.enabled", u,
         disable ? nlohmann::json{{"tokens_revoked", true}, {"sessions_ended", true}} : nlohmann::json::object());
  std::cout << "user " << u.username << (disable ? " disabled; its tokens and sessions are revoked\n" : " enabled\n");
  return 0;
}

// tokend token list|revoke: on the configured database, like the user verbs.
int token_command(const CommandLine& cl) {
  auto cfg = load(cl);
  if (!cfg) {
    std::cerr << "tokend: " << cfg.error().message << "\n";
    return 1;
  }
  (void)log::init("warn", "");
  auto store = open_store(*cfg);
  if (!store) {
    std::cerr << "tokend: " << store.error().message << "\n";
    return 1;
  }
  // A revocation goes to the server's audit destination; a command that
  // cannot record does not change anything.
  auto audit_log = app::open_audit(*cfg, /*cli=*/true);
  if (!audit_log) {
    std::cerr << "tokend: " << audit_log.error().message << "\n";
    return 1;
  }
  return run_token_command(cl, **store, audit_log->get());
}

// tokend db copy --from FILE: reads the whole SQLite file (which must exist:
// opening would create an empty one) and writes it into the configured
// database in one transaction; refuses a target that is not empty.
int db_copy_command(const CommandLine& cl) {
  auto cfg = load(cl);
  if (!cfg) {
    std::cerr << "tokend: " << cfg.error().message << "\n";
    return 1;
  }
  std::error_code ec;
  if (!std::filesystem::is_regular_file(cl.copy_from, ec)) {
    std::cerr << "tokend: --from " << cl.copy_from << ": no such database file\n";
    return 1;
  }
  if (cfg->database.driver == "sqlite" &&
      std::filesystem::equivalent(cfg->database.path, cl.copy_from, ec)) {
    std::cerr << "tokend: --from names the configured database itself\n";
    return 1;
  }
  config::DatabaseConfig from;
  from.path = cl.copy_from;
  auto source = store::open(from);
  if (!source) {
    std::cerr << "tokend: " << cl.copy_from << ": " << source.error().message << "\n";
    return 1;
  }
  auto target = open_store(*cfg);
  if (!target) {
    std::cerr << "tokend: " << target.error().message << "\n";
    return 1;
  }
  auto contents = (*source)->export_contents();
  if (!contents) {
    std::cerr << "tokend: reading " << cl.copy_from << ": " << contents.error().message << "\n";
    return 1;
  }
  if (auto s = (*target)->import_contents(*contents); !s) {
    if (s.error().is_conflict()) {
      std::cerr << "tokend: the target database (database." << (cfg->database.driver == "sqlite" ? "path" : "url")
                << ") is not empty: db copy only fills an empty database; nothing was copied\n";
    } else {
      std::cerr << "tokend: copying failed, nothing was copied: " << s.error().message << "\n";
    }
    return 1;
  }
  std::cout << "copied " << contents->users.size() << " accounts, " << contents->links.size() << " linked identities, "
            << contents->tokens.size() << " tokens, " << contents->sessions.size() << " sessions into the "
            << cfg->database.driver << " database\n";
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

int serve_command(const CommandLine& cl) {
  auto cfg = load(cl);
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
  const std::vector<std::string> args(argv + std::min(argc, 1), argv + argc);
  auto cl = parse_command_line(args);
  if (!cl) {
    std::cerr << "tokend: " << cl.error().message << "\n";
    return 2;
  }
  switch (cl->command) {
    case Command::kHelp:
      std::cout << cl->help;
      return 0;
    case Command::kVersion:
      std::cout << "tokend " << TOKEND_VERSION << "\n";
      return 0;
    case Command::kServe:
      return serve_command(*cl);
    case Command::kHashSecret:
      return hash_secret_command(cl->config_file);
    case Command::kThrottleList:
    case Command::kThrottleUnlock: {
      auto cfg = load(*cl);
      if (!cfg) {
        std::cerr << "tokend: " << cfg.error().message << "\n";
        return 1;
      }
      (void)log::init("warn", "");  // the command's own output is what the operator reads
      auto audit_log = app::open_audit(*cfg, /*cli=*/true);
      if (!audit_log) {
        std::cerr << "tokend: " << audit_log.error().message << "\n";
        return 1;
      }
      return throttle_command(*cfg, *cl, audit_log->get());
    }
    case Command::kDbCopy:
      return db_copy_command(*cl);
    case Command::kUserAdd:
    case Command::kUserList:
    case Command::kUserDisable:
    case Command::kUserEnable:
    case Command::kUserPasswd:
    case Command::kUserGrantAdmin:
    case Command::kUserRevokeAdmin:
      break;
    case Command::kTokenList:
    case Command::kTokenRevoke:
      return token_command(*cl);
  }
  return user_command(*cl);
}

}  // namespace tokend::cli
