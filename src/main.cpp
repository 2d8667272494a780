// tokend: parse the command line and run. Everything else lives in the library.
#include <csignal>
#include <exception>
#include <iostream>

#include "tokend/cli/cli.hpp"
#include "tokend/log/log.hpp"

int main(int argc, char** argv) {
  // A peer that goes away mid-write must be an error code on that write
  // (Asio, OpenSSL, libldap), never a signal that kills the server.
  std::signal(SIGPIPE, SIG_IGN);
  int code = 1;
  try {
    code = tokend::cli::run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "tokend: fatal: " << e.what() << "\n";
  }
  tokend::log::shutdown();  // the last lines, e.g. "tokend stopped"
  return code;
}
