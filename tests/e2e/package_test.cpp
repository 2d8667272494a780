// End-to-end: the Debian package, built by `cpack -G DEB` from this build
// (nothing is rebuilt): its control data, its files, its systemd unit
// (systemd-analyze verify), and its maintainer scripts, run against stub
// commands so that the machine running the test is not changed (no user
// created, no statoverride, no systemctl).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "support/process.hpp"

namespace fs = std::filesystem;

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// A shell script without its comment lines.
std::string without_comments(const std::string& script) {
  std::istringstream in(script);
  std::string out;
  for (std::string line; std::getline(in, line);) {
    const auto first = line.find_first_not_of(" \t");
    if (first != std::string::npos && line[first] == '#') continue;
    out += line + "\n";
  }
  return out;
}

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/tokend-package-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!std::getenv("TOKEND_KEEP_TEST_DIRS")) fs::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// Builds the package into `out`; its path.
std::string build_package(const std::string& out) {
  auto r = e2e::run_process({TOKEND_CPACK_COMMAND, "-G", "DEB", "--config",
                             std::string(TOKEND_BUILD_DIR) + "/CPackConfig.cmake", "-B", out});
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  for (const auto& e : fs::directory_iterator(out)) {
    if (e.path().extension() == ".deb") return e.path().string();
  }
  FAIL("cpack wrote no .deb into " << out);
  return "";
}

// Stub commands that only write their name and arguments to calls.log;
// `getent` and `dpkg-statoverride --list` answer as the scenario says.
void write_stubs(const std::string& dir, bool user_exists, bool override_exists) {
  fs::create_directories(dir);
  const char* names[] = {"addgroup", "adduser", "install", "systemctl", "rm", "rmdir", "getent", "dpkg-statoverride"};
  for (const char* name : names) {
    std::string body = "#!/bin/sh\necho \"" + std::string(name) + " $*\" >> " + dir + "/calls.log\n";
    if (std::string(name) == "getent") body += user_exists ? "exit 0\n" : "exit 2\n";
    if (std::string(name) == "dpkg-statoverride") {
      body += std::string("[ \"$1\" = --list ] && exit ") + (override_exists ? "0" : "1") + "\n";
    }
    body += "exit 0\n";
    const std::string path = dir + "/" + name;
    std::ofstream(path) << body;
    fs::permissions(path, fs::perms::owner_all);
  }
}

// Runs a maintainer script with only the stubs on PATH: a command that is
// not stubbed fails the script (set -e), so nothing real is ever run.
e2e::ProcessResult run_script(const std::string& script, const std::string& stubs, const std::string& args) {
  return e2e::run_shell("env -i PATH=" + stubs + " /bin/sh " + script + " " + args + " 2>&1");
}

}  // namespace

TEST_CASE("cpack -G DEB builds a package with the server, its web page, unit, config and maintainer scripts",
          "[e2e][package]") {
  TempDir tmp;
  const std::string deb = build_package(tmp.path() + "/out");
  CHECK(fs::path(deb).filename() == "tokend_" TOKEND_TEST_VERSION "_amd64.deb");

  // Control data.
  auto info = e2e::run_process({"/usr/bin/dpkg-deb", "-I", deb});
  REQUIRE(info.exit_code == 0);
  CHECK(contains(info.output, "Package: tokend\n"));
  CHECK(contains(info.output, "Version: " TOKEND_TEST_VERSION "\n"));
  CHECK(contains(info.output, "Architecture: amd64\n"));
  for (const char* script : {" postinst", " prerm", " postrm", " conffiles"}) {
    CHECK(contains(info.output, script));
  }
  auto depends = e2e::run_process({"/usr/bin/dpkg-deb", "-f", deb, "Depends"});
  REQUIRE(depends.exit_code == 0);
  // Computed by dpkg-shlibdeps from the binary's libraries, plus adduser
  // (the postinst) and procps (/bin/kill, the unit's ExecReload).
  for (const char* dep : {"adduser", "procps", "libc6", "libssl3", "libsqlite3-0", "libargon2-1", "libldap-2.5-0",
                          "libspdlog1.10", "libstdc++6"}) {
    INFO("Depends: " << depends.output);
    CHECK(contains(depends.output, dep));
  }

  // Files, owned by root, config private.
  auto list = e2e::run_process({"/usr/bin/dpkg-deb", "-c", deb});
  REQUIRE(list.exit_code == 0);
  INFO(list.output);
  CHECK(contains(list.output, "-rwxr-xr-x root/root"));
  for (const char* f : {" ./usr/bin/tokend\n", " ./usr/share/tokend/web/index.html\n", " ./usr/share/tokend/web/app.js\n",
                        " ./usr/lib/systemd/system/tokend.service\n", " ./etc/tokend/config.json\n",
                        " ./usr/share/doc/tokend/examples/example.json\n"}) {
    CHECK(contains(list.output, f));
  }
  CHECK(contains(list.output, "-rw-r----- root/root"));
  CHECK_FALSE(contains(list.output, "unit_tests"));
  CHECK_FALSE(contains(list.output, "e2e_tests"));
  CHECK_FALSE(contains(list.output, "/usr/local"));
  CHECK_FALSE(contains(list.output, " ./usr/etc"));

  const std::string root = tmp.path() + "/root", control = tmp.path() + "/control";
  REQUIRE(e2e::run_process({"/usr/bin/dpkg-deb", "-x", deb, root}).exit_code == 0);
  REQUIRE(e2e::run_process({"/usr/bin/dpkg-deb", "-e", deb, control}).exit_code == 0);
  CHECK(read_file(control + "/conffiles") == "/etc/tokend/config.json\n");
  const std::string unit = read_file(root + "/usr/lib/systemd/system/tokend.service");
  CHECK(contains(unit, "\nExecStart=/usr/bin/tokend serve --config /etc/tokend/config.json\n"));
  CHECK(contains(unit, "\nExecReload=/bin/kill -HUP $MAINPID\n"));
  CHECK(contains(unit, "\nUser=tokend\n"));
  CHECK(contains(unit, "\nStateDirectory=tokend\n"));
  // The packaged configuration points the database into the StateDirectory
  // and leaves web.root to its default (the installed page).
  const std::string conf = read_file(root + "/etc/tokend/config.json");
  CHECK(contains(conf, "\"path\": \"/var/lib/tokend/tokend.db\""));
  CHECK_FALSE(contains(conf, "\"root\""));
}

TEST_CASE("the packaged unit passes systemd-analyze verify, and no library needs an executable stack",
          "[e2e][package]") {
  TempDir tmp;
  const std::string deb = build_package(tmp.path() + "/out");
  const std::string root = tmp.path() + "/root";
  REQUIRE(e2e::run_process({"/usr/bin/dpkg-deb", "-x", deb, root}).exit_code == 0);

  // verify needs ExecStart's binary to exist: point it at the extracted one.
  const std::string unit_dir = tmp.path() + "/units";
  fs::create_directories(unit_dir);
  auto sed = e2e::run_shell("sed -e 's|/usr/bin/tokend|" + root + "/usr/bin/tokend|' " + root +
                            "/usr/lib/systemd/system/tokend.service > " + unit_dir + "/tokend.service");
  REQUIRE(sed.exit_code == 0);
  // It prints a line for every unknown key or bad value, and still exits 0.
  auto verify = e2e::run_shell("systemd-analyze verify " + unit_dir + "/tokend.service 2>&1");
  INFO(verify.output);
  CHECK(verify.exit_code == 0);
  CHECK(verify.output.empty());

  // MemoryDenyWriteExecute=yes: the binary and every library it loads mark
  // their stack non-executable (an "RWE" GNU_STACK would need W+X memory).
  auto stacks = e2e::run_shell("b=" + root + "/usr/bin/tokend; for f in $b $(ldd $b | awk '/=> \\// {print $3}'); do "
                               "printf '%s ' $f; readelf -lW $f | grep GNU_STACK || echo NONE; done");
  INFO(stacks.output);
  REQUIRE(stacks.exit_code == 0);
  CHECK(contains(stacks.output, "libargon2"));
  CHECK(contains(stacks.output, "libcrypto"));
  CHECK(contains(stacks.output, "libldap"));
  CHECK_FALSE(contains(stacks.output, "RWE"));
  CHECK_FALSE(contains(stacks.output, "NONE"));
}

TEST_CASE("the maintainer scripts create the user, leave the service disabled and stopped, and purge cleanly",
          "[e2e][package]") {
  TempDir tmp;
  const std::string deb = build_package(tmp.path() + "/out");
  const std::string control = tmp.path() + "/control";
  REQUIRE(e2e::run_process({"/usr/bin/dpkg-deb", "-e", deb, control}).exit_code == 0);
  for (const char* s : {"/postinst", "/prerm", "/postrm"}) {
    CHECK((fs::status(control + s).permissions() & fs::perms::others_exec) != fs::perms::none);
    CHECK(e2e::run_process({"/bin/sh", "-n", control + s}).exit_code == 0);
    // Whatever the machine: never enabled or started by the package (the
    // commands, not the comments that tell the operator how to).
    const std::string text = without_comments(read_file(control + s));
    CHECK_FALSE(contains(text, "systemctl enable"));
    CHECK_FALSE(contains(text, "systemctl start"));
    CHECK_FALSE(contains(text, "--now"));
  }

  {
    INFO("first install: the group, the user, the statoverride");
    const std::string stubs = tmp.path() + "/stubs-install";
    write_stubs(stubs, /*user_exists=*/false, /*override_exists=*/false);
    auto r = run_script(control + "/postinst", stubs, "configure ''");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    const std::string calls = read_file(stubs + "/calls.log");
    INFO(calls);
    CHECK(contains(calls, "addgroup --system --quiet tokend\n"));
    CHECK(contains(calls, "adduser --system --quiet --ingroup tokend --home /var/lib/tokend --no-create-home"));
    CHECK(contains(calls, "--shell /usr/sbin/nologin"));
    CHECK(contains(calls, "dpkg-statoverride --update --add root tokend 0640 /etc/tokend/config.json\n"));
    CHECK_FALSE(contains(calls, "enable"));
    CHECK_FALSE(contains(calls, " start"));
  }
  {
    INFO("reinstall or upgrade: the user and the statoverride exist, nothing is created again");
    const std::string stubs = tmp.path() + "/stubs-upgrade";
    write_stubs(stubs, /*user_exists=*/true, /*override_exists=*/true);
    auto r = run_script(control + "/postinst", stubs, "configure 0.0.9");
    INFO(r.output);
    REQUIRE(r.exit_code == 0);
    const std::string calls = read_file(stubs + "/calls.log");
    INFO(calls);
    CHECK_FALSE(contains(calls, "addgroup"));
    CHECK_FALSE(contains(calls, "adduser"));
    CHECK_FALSE(contains(calls, "--add"));
  }
  {
    INFO("remove, then purge: stopped and disabled, user kept, state and statoverride gone");
    const std::string stubs = tmp.path() + "/stubs-purge";
    write_stubs(stubs, /*user_exists=*/true, /*override_exists=*/true);
    auto prerm = run_script(control + "/prerm", stubs, "remove");
    INFO(prerm.output);
    REQUIRE(prerm.exit_code == 0);
    auto purge = run_script(control + "/postrm", stubs, "purge");
    INFO(purge.output);
    REQUIRE(purge.exit_code == 0);
    const std::string calls = read_file(stubs + "/calls.log");
    INFO(calls);
    CHECK(contains(calls, "systemctl disable --quiet tokend.service\n"));
    CHECK(contains(calls, "dpkg-statoverride --remove /etc/tokend/config.json\n"));
    CHECK(contains(calls, "rm -rf /var/lib/tokend\n"));
    CHECK_FALSE(contains(calls, "deluser"));
    CHECK_FALSE(contains(calls, "userdel"));
  }
  {
    INFO("an upgrade's prerm leaves the service running");
    const std::string stubs = tmp.path() + "/stubs-prerm-upgrade";
    write_stubs(stubs, true, true);
    auto r = run_script(control + "/prerm", stubs, "upgrade 0.1.1");
    REQUIRE(r.exit_code == 0);
    CHECK(read_file(stubs + "/calls.log").empty());
  }
}

TEST_CASE("dpkg -i then dpkg --purge of the package, for real, inside a throwaway overlay of /etc, /usr and /var",
          "[e2e][package]") {
  TempDir tmp;
  const std::string deb = build_package(tmp.path() + "/out");
  const std::string t = tmp.path();
  // A private mount namespace whose /etc, /usr and /var are overlays with
  // their upper layers in the test's folder: dpkg, adduser and
  // dpkg-statoverride run for real, and every change they make is gone
  // when the namespace's last process exits (the machine keeps no user, no
  // file, no dpkg state). Needs root and overlayfs, as CI has (the storage
  // fault tests mount file systems too).
  const std::string script = t + "/inside.sh";
  // The layers live on a tmpfs of their own (gone with the namespace too):
  // an overlay's upper layer cannot be on an overlay, which a container's
  // /tmp often is.
  std::ofstream(script) << "set -e\n"
                           "L=" + t + "/layers\n"
                           "mkdir -p $L && mount -t tmpfs -o size=512m,mode=0755 tmpfs $L\n"
                           "for d in etc usr var; do\n"
                           "  mkdir -p $L/upper/$d $L/work/$d\n"
                           "  mount -t overlay overlay -o lowerdir=/$d,upperdir=$L/upper/$d,workdir=$L/work/$d /$d\n"
                           "done\n"
                           "dpkg -i " + deb + " >/dev/null\n"
                           "echo \"status: $(dpkg-query -W -f='${Status}' tokend)\"\n"
                           "echo \"user: $(getent passwd tokend | cut -d: -f1,6,7)\"\n"
                           "echo \"config: $(stat -c '%U:%G %a' /etc/tokend/config.json)\"\n"
                           "echo \"state: $(stat -c '%U:%G %a' /var/lib/tokend)\"\n"
                           "echo \"enabled: $(ls /etc/systemd/system/*.wants 2>/dev/null | grep -c tokend || true)\"\n"
                           // The packaged configuration parses, and the service user can create the database.
                           "echo 'a long password' | runuser -u tokend -- /usr/bin/tokend user add alice "
                           "--config /etc/tokend/config.json\n"
                           "echo \"db: $(stat -c '%U %a' /var/lib/tokend/tokend.db)\"\n"
                           "dpkg --purge tokend >/dev/null\n"
                           "echo \"after purge: $(ls /usr/bin/tokend /etc/tokend /var/lib/tokend 2>&1 | grep -c 'No such')\"\n"
                           "echo \"user kept: $(getent passwd tokend | cut -d: -f1)\"\n";
  auto r = e2e::run_shell("unshare --mount --propagation private /bin/sh " + script + " 2>&1");
  INFO(r.output);
  REQUIRE(r.exit_code == 0);
  CHECK(contains(r.output, "status: install ok installed\n"));
  CHECK(contains(r.output, "user: tokend:/var/lib/tokend:/usr/sbin/nologin\n"));
  CHECK(contains(r.output, "config: root:tokend 640\n"));
  CHECK(contains(r.output, "state: tokend:tokend 700\n"));
  CHECK(contains(r.output, "enabled: 0\n"));
  CHECK(contains(r.output, "created user alice (id 1)\n"));
  CHECK(contains(r.output, "db: tokend 600\n"));
  CHECK(contains(r.output, "after purge: 3\n"));
  CHECK(contains(r.output, "user kept: tokend\n"));
  // Outside the namespace nothing happened.
  CHECK_FALSE(fs::exists("/var/lib/tokend/tokend.db"));
}
