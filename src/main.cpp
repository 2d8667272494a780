// tokend: parse the command line and run. Everything else lives in the library.
#include <exception>
#include <iostream>

#include "tokend/cli/cli.hpp"

int main(int argc, char** argv) {
  try {
    return tokend::cli::run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "tokend: fatal: " << e.what() << "\n";
    return 1;
  }
}
