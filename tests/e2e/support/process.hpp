// Test support: running the real tokend binary and talking HTTP to it.
//
// TokendProcess starts `tokend serve` in a fresh temporary folder with its own
// SQLite file and log, on a free loopback port (port 0; the port is read from
// the "listening on" log line), and stops it in the destructor, where a
// non-zero exit or a sanitizer report in its stderr fails the running test.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace e2e {

struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased; repeated names joined with "\n"
  std::string body;
  nlohmann::json json() const;
  std::string header(const std::string& lower_name) const;
};

// One request over a fresh loopback connection ("Connection: close").
Response http(std::uint16_t port, const std::string& method, const std::string& target, const std::string& body = "",
              const std::map<std::string, std::string>& headers = {});

// Sends `raw` bytes as they are and reads the answer until the server closes.
Response raw_http(std::uint16_t port, const std::string& raw, int timeout_ms = 15000);

// The value of one series in GET /metrics ("name" or "name{k=\"v\"}",
// exactly as rendered); -1 when the series is not there.
long long metric(std::uint16_t port, const std::string& series);

// A connected loopback socket (for slow clients); -1 on failure. A
// receive_buffer_bytes above 0 is set before connecting, so the window is
// negotiated that small (a client that reads slowly).
int connect_to(std::uint16_t port, int receive_buffer_bytes = 0);

struct ProcessResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};

// Runs `argv` with `stdin_data` on its standard input and waits for it. A
// sanitizer report in its output is a test failure (FAIL_CHECK).
ProcessResult run_process(const std::vector<std::string>& argv, const std::string& stdin_data = "");

// The text of the first sanitizer report (ASan, LSan, UBSan, TSan) in a
// process's output, from the line it starts on; "" if there is none.
std::string sanitizer_report(const std::string& output);

// Runs a shell command line (for the documentation's curl lines, verbatim).
ProcessResult run_shell(const std::string& command);

class TokendProcess {
 public:
  // Starts tokend with the defaults below, patched with `config` (a JSON merge
  // patch: {"tokens": {"lifetime_days": 0}} changes only that).
  explicit TokendProcess(const nlohmann::json& config = nlohmann::json::object(), bool start_now = true);
  ~TokendProcess();
  TokendProcess(const TokendProcess&) = delete;
  TokendProcess& operator=(const TokendProcess&) = delete;

  // The tokend binary that start() and cli() run: binary_path() unless set
  // (an installed copy, tests/e2e/install_test.cpp). Before start().
  void use_binary(const std::string& path) { binary_ = path; }

  void start();                      // throws std::runtime_error if it does not come up
  int terminate(int timeout_ms = 15000);  // SIGTERM; the exit code (-1 if it had to be killed)
  void kill9();
  void restart() { start(); }

  std::uint16_t port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const std::string& dir() const { return dir_; }
  std::string config_path() const { return dir_ + "/config.json"; }
  std::string db_path() const { return dir_ + "/tokend.db"; }
  std::string log() const;  // the whole log so far
  pid_t pid() const { return pid_; }

  // `tokend user add` through the real CLI; throws if it fails.
  void add_user(const std::string& username, const std::string& password, const std::string& email = "",
                const std::string& display_name = "");
  // `tokend user <args...> --config <cfg>`.
  ProcessResult cli(std::vector<std::string> args, const std::string& stdin_data = "");

  // Logs in with userpass and returns the token (REQUIREs a 200).
  std::string login(const std::string& username, const std::string& password);

  Response get(const std::string& target, const std::map<std::string, std::string>& headers = {}) {
    return http(port_, "GET", target, "", headers);
  }
  Response post(const std::string& target, const std::string& body,
                const std::map<std::string, std::string>& headers = {}) {
    return http(port_, "POST", target, body, headers);
  }

 private:
  std::string dir_;
  std::string binary_;  // binary_path() unless use_binary()
  nlohmann::json config_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  std::size_t log_offset_ = 0;
};

// Waits out the validation cache's bound on other writers
// (validation_cache.max_staleness_ms, 500 ms by default, and a margin): a
// change committed by another process (the CLI on the SQLite file, another
// instance) is seen by every validation sent after this returns
// (docs/operations.md, "Validation from memory"). Call it after such a change
// and before the validation that must see it.
void wait_for_other_writers();

// Waits (at most 5 s, else FAILs) until the validation cache of the instance
// on `port` has loaded and may answer from memory (it loads in the
// background at start).
void wait_cache_fresh(std::uint16_t port);

// "Authorization: Bearer <token>".
std::map<std::string, std::string> bearer(const std::string& token);

// 256 lower-case hex characters.
bool is_token(const std::string& s);

std::string binary_path();
std::string source_dir();

}  // namespace e2e
