#include "support/process.hpp"

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <catch2/catch.hpp>

namespace e2e {

std::string binary_path() { return TOKEND_BINARY; }
std::string source_dir() { return TOKEND_SOURCE_DIR; }

nlohmann::json Response::json() const {
  auto j = nlohmann::json::parse(body, nullptr, false);
  return j;
}

std::string Response::header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

int connect_to(std::uint16_t port, int receive_buffer_bytes) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  // Set before connecting, so that the window is negotiated small.
  if (receive_buffer_bytes > 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &receive_buffer_bytes, sizeof receive_buffer_bytes);
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

namespace {

Response parse_response(const std::string& raw) {
  Response r;
  const auto head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) return r;
  std::istringstream head(raw.substr(0, head_end));
  std::string line;
  std::getline(head, line);
  if (line.size() >= 12) r.status = std::atoi(line.substr(9, 3).c_str());
  while (std::getline(head, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, colon);
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    auto& slot = r.headers[name];
    slot = slot.empty() ? value : slot + "\n" + value;
  }
  r.body = raw.substr(head_end + 4);
  return r;
}

}  // namespace

Response raw_http(std::uint16_t port, const std::string& raw, int timeout_ms) {
  int fd = connect_to(port);
  if (fd < 0) return {};
  std::size_t sent = 0;
  while (sent < raw.size()) {
    const auto n = ::send(fd, raw.data() + sent, raw.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;  // the server may answer (413/431) and close before reading it all
    sent += static_cast<std::size_t>(n);
  }
  std::string in;
  char buf[65536];
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    const auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    in.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return parse_response(in);
}

Response http(std::uint16_t port, const std::string& method, const std::string& target, const std::string& body,
              const std::map<std::string, std::string>& headers) {
  std::string req = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                    "\r\nConnection: close\r\n";
  bool has_type = false;
  for (const auto& [k, v] : headers) {
    req += k + ": " + v + "\r\n";
    if (k == "Content-Type") has_type = true;
  }
  if (!body.empty() && !has_type) req += "Content-Type: application/json\r\n";
  if (!body.empty() || method == "POST" || method == "PUT") req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  req += "\r\n" + body;
  return raw_http(port, req, 30000);
}

void wait_for_other_writers() { std::this_thread::sleep_for(std::chrono::milliseconds(600)); }

void wait_cache_fresh(std::uint16_t port) {
  for (int i = 0; i < 200; ++i) {
    if (metric(port, "tokend_validation_cache_fresh") == 1) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  FAIL("the validation cache never became fresh");
}

long long metric(std::uint16_t port, const std::string& series) {
  const Response r = http(port, "GET", "/metrics");
  if (r.status != 200) return -1;
  std::istringstream lines(r.body);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 && line[series.size()] == ' ') {
      return std::stoll(line.substr(series.size() + 1));
    }
  }
  return -1;
}

std::string sanitizer_report(const std::string& output) {
  // How every AddressSanitizer, LeakSanitizer, UndefinedBehaviorSanitizer and
  // ThreadSanitizer report begins (plain finds: a log can be megabytes).
  static const char* const kMarkers[] = {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                                         "ERROR: ThreadSanitizer", "WARNING: ThreadSanitizer",
                                         ": runtime error: ", "SUMMARY: UndefinedBehaviorSanitizer"};
  std::size_t first = std::string::npos;
  for (const char* marker : kMarkers) first = std::min(first, output.find(marker));
  if (first == std::string::npos) return {};
  const auto start = output.rfind('\n', first);
  return output.substr(start == std::string::npos ? 0 : start + 1, 8000);
}

ProcessResult run_process(const std::vector<std::string>& argv, const std::string& stdin_data) {
  int in_pipe[2], out_pipe[2];
  if (pipe(in_pipe) != 0 || pipe(out_pipe) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(in_pipe[0], 0);
    dup2(out_pipe[1], 1);
    dup2(out_pipe[1], 2);
    close(in_pipe[1]);
    close(out_pipe[0]);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  close(in_pipe[0]);
  close(out_pipe[1]);
  if (!stdin_data.empty()) (void)!write(in_pipe[1], stdin_data.data(), stdin_data.size());
  close(in_pipe[1]);
  ProcessResult r;
  char buf[4096];
  ssize_t n;
  while ((n = read(out_pipe[0], buf, sizeof buf)) > 0) r.output.append(buf, static_cast<std::size_t>(n));
  close(out_pipe[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  // A sanitizer report in any child (a tokend CLI run, mostly) fails the
  // test that ran it, even one that expects a non-zero exit code.
  if (const auto report = sanitizer_report(r.output); !report.empty()) {
    FAIL_CHECK("sanitizer report from " << argv.front() << ":\n" << report);
  }
  return r;
}

ProcessResult run_shell(const std::string& command) {
  return run_process({"/bin/sh", "-c", command + " 2>&1"});
}

std::map<std::string, std::string> bearer(const std::string& token) { return {{"Authorization", "Bearer " + token}}; }

bool is_token(const std::string& s) {
  return s.size() == 256 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

namespace {
std::string read_whole(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

TokendProcess::TokendProcess(const nlohmann::json& config, bool start_now) : binary_(binary_path()) {
  char tmpl[] = "/tmp/tokend-e2e-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
  dir_ = tmpl;
  config_ = {{"listen", {{"host", "127.0.0.1"}, {"port", 0}}},
             {"database", {{"path", dir_ + "/tokend.db"}}},
             {"log", {{"file", dir_ + "/tokend.log"}, {"level", "debug"}}},
             {"web", {{"root", source_dir() + "/web"}}},
             {"shutdown_timeout_ms", 10000}};
  if (config.is_object()) config_.merge_patch(config);
  std::ofstream(config_path()) << config_.dump(2);
  if (start_now) start();
}

TokendProcess::~TokendProcess() {
  // Teardown is where a server that went wrong is noticed even when the test
  // did not look: it must still be running and exit 0 on SIGTERM, and its
  // stderr must hold no sanitizer report (a sanitizer build stops the server
  // with exit code 86 at the first report, or at exit for a leak).
  bool reported = false;
  if (pid_ > 0) {
    const int code = terminate(15000);
    if (code != 0) {
      FAIL_CHECK("tokend (" << dir_ << ") exited with " << code << " at teardown, not 0; its stderr:\n"
                            << read_whole(dir_ + "/stderr.log").substr(0, 8000));
      reported = true;
    }
  }
  if (const auto report = sanitizer_report(read_whole(dir_ + "/stderr.log")); !reported && !report.empty()) {
    FAIL_CHECK("sanitizer report from tokend (" << dir_ << "):\n" << report);
  }
  if (!std::getenv("TOKEND_KEEP_TEST_DIRS")) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string TokendProcess::log() const {
  // tokend logs from a background thread: wait until the file has stopped
  // growing (at most a second) so a line logged before a response was sent
  // is there when the test reads it.
  auto read = [this] {
    std::ifstream in(dir_ + "/tokend.log");
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  std::string text = read();
  for (int i = 0; i < 20; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    std::string again = read();
    if (again.size() == text.size()) return again;
    text = std::move(again);
  }
  return text;
}

void TokendProcess::start() {
  log_offset_ = read_whole(dir_ + "/tokend.log").size();
  pid_ = fork();
  if (pid_ == 0) {
    const int out = ::open((dir_ + "/stderr.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    dup2(out, 1);
    dup2(out, 2);
    const std::string bin = binary_, cfg = config_path();
    execl(bin.c_str(), bin.c_str(), "serve", "--config", cfg.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  static const std::regex kListening("listening on [^ ]*:([0-9]+)");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string l = read_whole(dir_ + "/tokend.log");
    std::smatch m;
    const std::string fresh = l.size() > log_offset_ ? l.substr(log_offset_) : std::string();
    if (std::regex_search(fresh, m, kListening)) {
      port_ = static_cast<std::uint16_t>(std::stoi(m[1]));
      return;
    }
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("tokend exited at start: " + fresh + read_whole(dir_ + "/stderr.log"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("tokend did not start listening within 20 s");
}

int TokendProcess::terminate(int timeout_ms) {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  int status = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return -1;
}

void TokendProcess::kill9() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  int status = 0;
  waitpid(pid_, &status, 0);
  pid_ = -1;
}

ProcessResult TokendProcess::cli(std::vector<std::string> args, const std::string& stdin_data) {
  std::vector<std::string> argv{binary_, "user"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--config");
  argv.push_back(config_path());
  return run_process(argv, stdin_data);
}

void TokendProcess::add_user(const std::string& username, const std::string& password, const std::string& email,
                             const std::string& display_name) {
  std::vector<std::string> args{"add", username};
  if (!email.empty()) {
    args.push_back("--email");
    args.push_back(email);
  }
  if (!display_name.empty()) {
    args.push_back("--display-name");
    args.push_back(display_name);
  }
  auto r = cli(args, password + "\n");
  if (r.exit_code != 0) throw std::runtime_error("tokend user add failed: " + r.output);
}

std::string TokendProcess::login(const std::string& username, const std::string& password) {
  nlohmann::json body = {{"username", username}, {"password", password}};
  auto r = post("/api/authenticate/userpass", body.dump());
  if (r.status != 200) throw std::runtime_error("login failed: " + std::to_string(r.status) + " " + r.body);
  return r.json()["token"].get<std::string>();
}

}  // namespace e2e
