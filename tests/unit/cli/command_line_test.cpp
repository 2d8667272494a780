#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tokend/cli/command_line.hpp"

using tokend::ErrorCode;
using tokend::cli::Command;
using tokend::cli::CommandLine;
using tokend::cli::parse_command_line;

namespace {

CommandLine parsed(const std::vector<std::string>& args) {
  auto r = parse_command_line(args);
  INFO((r ? std::string() : r.error().message));
  REQUIRE(r.ok());
  return *r;
}

// The usage error's message; fails the test when the line was accepted.
std::string usage_error(const std::vector<std::string>& args) {
  auto r = parse_command_line(args);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == ErrorCode::kUsage);
  return r.error().message;
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("parse_command_line reads serve and its options", "[cli]") {
  auto plain = parsed({"serve"});
  CHECK(plain.command == Command::kServe);
  CHECK_FALSE(plain.config_file);
  CHECK_FALSE(plain.db_path);
  CHECK_FALSE(plain.listen);

  auto all = parsed({"serve", "--config", "/etc/tokend.json", "--listen", "[::1]:8080", "--db", "x.db"});
  CHECK(all.command == Command::kServe);
  CHECK(all.config_file == "/etc/tokend.json");
  CHECK(all.listen == "[::1]:8080");
  CHECK(all.db_path == "x.db");

  SECTION("--x=y") {
    auto eq = parsed({"serve", "--config=/etc/tokend.json", "--listen=127.0.0.1:0", "--db=a=b.db"});
    CHECK(eq.config_file == "/etc/tokend.json");
    CHECK(eq.listen == "127.0.0.1:0");
    CHECK(eq.db_path == "a=b.db");
  }
  SECTION("user options are not serve options") {
    CHECK(contains(usage_error({"serve", "--email", "a@b"}), "--email"));
    CHECK(contains(usage_error({"serve", "extra"}), "extra"));
  }
}

TEST_CASE("parse_command_line reads each user verb", "[cli]") {
  auto add = parsed({"user", "add", "Alice", "--email", "alice@example.org", "--display-name", "Alice Example",
                     "--config", "c.json", "--db", "d.db"});
  CHECK(add.command == Command::kUserAdd);
  CHECK(add.username == "Alice");  // normalised when the command runs
  CHECK(add.email == "alice@example.org");
  CHECK(add.display_name == "Alice Example");
  CHECK(add.config_file == "c.json");
  CHECK(add.db_path == "d.db");

  // Options before the username work too.
  auto before = parsed({"user", "add", "--email=bob@example.org", "bob"});
  CHECK(before.username == "bob");
  CHECK(before.email == "bob@example.org");

  auto list = parsed({"user", "list", "--db", "d.db"});
  CHECK(list.command == Command::kUserList);
  CHECK(list.db_path == "d.db");

  const std::vector<std::pair<std::string, Command>> named{
      {"disable", Command::kUserDisable}, {"enable", Command::kUserEnable}, {"passwd", Command::kUserPasswd}};
  for (const auto& [verb, command] : named) {
    INFO(verb);
    auto cl = parsed({"user", verb, "bob", "--config=c.json"});
    CHECK(cl.command == command);
    CHECK(cl.username == "bob");
    CHECK(cl.config_file == "c.json");
  }
}

TEST_CASE("parse_command_line: -- ends the options", "[cli]") {
  auto dash = parsed({"user", "add", "--db", "d.db", "--", "--weird-name"});
  CHECK(dash.command == Command::kUserAdd);
  CHECK(dash.username == "--weird-name");
  CHECK(dash.db_path == "d.db");
  auto disable = parsed({"user", "disable", "--", "-x"});
  CHECK(disable.username == "-x");
  // After -- nothing is an option: an unexpected second argument.
  CHECK(contains(usage_error({"user", "disable", "bob", "--", "--db"}), "--db"));
}

TEST_CASE("parse_command_line: an option without its value is a usage error", "[cli]") {
  // The next option is never taken as the value.
  CHECK(contains(usage_error({"user", "add", "alice", "--email", "--db", "d.db"}), "--email"));
  CHECK(contains(usage_error({"user", "add", "alice", "--display-name"}), "--display-name"));
  CHECK(contains(usage_error({"user", "list", "--db"}), "--db"));
  CHECK(contains(usage_error({"user", "passwd", "alice", "--config"}), "--config"));
  CHECK(contains(usage_error({"serve", "--listen"}), "--listen"));
  CHECK(contains(usage_error({"serve", "--config", "--db", "x"}), "--config"));
  // The message says where to look.
  CHECK(contains(usage_error({"user", "add", "alice", "--email"}), "tokend user add --help"));
}

TEST_CASE("parse_command_line: each verb accepts only its own options", "[cli]") {
  for (const std::vector<std::string>& bad : std::vector<std::vector<std::string>>{
           {"user", "list", "--email", "a@b"},
           {"user", "list", "--display-name", "A"},
           {"user", "disable", "bob", "--email", "a@b"},
           {"user", "enable", "bob", "--display-name", "B"},
           {"user", "passwd", "bob", "--email", "a@b"},
           {"user", "add", "bob", "--listen", "127.0.0.1:1"},
           {"user", "list", "--listen", "127.0.0.1:1"},
           {"user", "add", "bob", "--password", "secret"},
           {"user", "add", "bob", "--frobnicate"},
           {"serve", "--frobnicate"},
           {"--frobnicate"}}) {
    INFO(bad.back());
    usage_error(bad);
  }
}

TEST_CASE("parse_command_line: missing and extra arguments", "[cli]") {
  CHECK(contains(usage_error({}), "Usage"));
  usage_error({"frobnicate"});
  usage_error({"user"});
  usage_error({"user", "frobnicate"});
  for (const char* verb : {"add", "disable", "enable", "passwd"}) {
    INFO(verb);
    CHECK(contains(usage_error({"user", verb}), "username"));
    usage_error({"user", verb, "alice", "bob"});
  }
  usage_error({"user", "list", "alice"});
  usage_error({"--version", "serve"});
}

TEST_CASE("parse_command_line: --help on every command", "[cli]") {
  SECTION("the top level") {
    for (const std::vector<std::string>& args :
         std::vector<std::vector<std::string>>{{"--help"}, {"-h"}, {"help"}}) {
      auto cl = parsed(args);
      CHECK(cl.command == Command::kHelp);
      CHECK(contains(cl.help, "Usage"));
      CHECK(contains(cl.help, "serve"));
      CHECK(contains(cl.help, "user"));
      CHECK(contains(cl.help, "hash-secret"));
    }
  }
  SECTION("each command describes its own options") {
    const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> cases{
        {{"serve", "--help"}, {"--listen", "--config", "--db"}},
        {{"user", "--help"}, {"add", "list", "disable", "enable", "passwd"}},
        {{"user", "add", "--help"}, {"USERNAME", "--email", "--display-name", "--config", "--db"}},
        {{"user", "list", "-h"}, {"--config", "--db"}},
        {{"user", "disable", "--help"}, {"USERNAME", "--db"}},
        {{"user", "enable", "--help"}, {"USERNAME", "--db"}},
        {{"user", "passwd", "--help"}, {"USERNAME", "--db"}},
        {{"hash-secret", "--help"}, {"--config", "secret_hash"}},
    };
    for (const auto& [args, words] : cases) {
      INFO(args[args.size() - 2] << " " << args.back());
      auto cl = parsed(args);
      CHECK(cl.command == Command::kHelp);
      CHECK(contains(cl.help, "Usage"));
      for (const auto& w : words) CHECK(contains(cl.help, w));
    }
    CHECK_FALSE(contains(parsed({"user", "list", "--help"}).help, "--email"));
    CHECK_FALSE(contains(parsed({"serve", "--help"}).help, "--email"));
  }
  SECTION("--help wins over a missing username") { CHECK(parsed({"user", "add", "--help"}).command == Command::kHelp); }
}

TEST_CASE("parse_command_line: --version", "[cli]") { CHECK(parsed({"--version"}).command == Command::kVersion); }

TEST_CASE("parse_command_line reads hash-secret, which takes only --config", "[cli]") {
  CHECK(parsed({"hash-secret"}).command == Command::kHashSecret);
  auto with = parsed({"hash-secret", "--config=/etc/tokend.json"});
  CHECK(with.command == Command::kHashSecret);
  CHECK(with.config_file == "/etc/tokend.json");
  // The secret never comes from the command line.
  usage_error({"hash-secret", "s3cret-s3cret-s3cret"});
  CHECK(contains(usage_error({"hash-secret", "--db", "x.db"}), "--db"));
  CHECK(contains(usage_error({"hash-secret", "--config"}), "--config"));
}

TEST_CASE("parse_command_line reads throttle list and unlock", "[cli]") {
  auto list = parsed({"throttle", "list", "--db", "x.db"});
  CHECK(list.command == Command::kThrottleList);
  CHECK(list.db_path == "x.db");

  auto user = parsed({"throttle", "unlock", "--user", "Alice", "--config", "c.json"});
  CHECK(user.command == Command::kThrottleUnlock);
  CHECK(user.throttle_user == "Alice");
  CHECK_FALSE(user.throttle_address);
  CHECK(user.config_file == "c.json");

  auto addr = parsed({"throttle", "unlock", "--address=2001:db8::1"});
  CHECK(addr.command == Command::kThrottleUnlock);
  CHECK(addr.throttle_address == "2001:db8::1");
  CHECK_FALSE(addr.throttle_user);

  CHECK(contains(usage_error({"throttle", "unlock"}), "--user NAME or --address IP"));
  CHECK(contains(usage_error({"throttle", "unlock", "--user", "a", "--address", "10.0.0.1"}), "--address"));
  CHECK(contains(usage_error({"throttle", "unlock", "--user"}), "--user"));
  CHECK(contains(usage_error({"throttle"}), "throttle"));
  CHECK(contains(usage_error({"throttle", "list", "extra"}), "extra"));
}
