// Boost's assertion handler for the fuzz build (BOOST_ENABLE_ASSERT_DEBUG_HANDLER,
// set by the top-level CMakeLists.txt with TOKEND_FUZZ): every failed Boost
// assertion aborts, as assert() would, except one that is known to be wrong.
//
// Boost.Beast 1.81's basic_parser::parse_chunk_header asserts `n >= 5` when
// it is called again after the last chunk of a chunked body ("0\r\n") while
// the trailer has not fully arrived. Without a CRLF left over from a previous
// chunk, 3 or 4 bytes are valid there, and the code after the assertion
// handles them (it looks for the end of the trailer and asks for more):
// upstream fixed the assertion itself (boostorg/beast pull request 2861,
// 2024). Release builds do not check Boost assertions at all. The fuzzer found
// it with a response whose body is only "0\r\n" plus a partial trailer; it is
// let through here so that fuzzing goes on past it, with AddressSanitizer
// still watching every byte the parser reads.
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace boost {

void assertion_failed(char const* expr, char const* function, char const* file, long line) {
  if (std::strcmp(expr, "n >= 5") == 0 && std::strstr(file, "beast/http/impl/basic_parser.ipp") != nullptr) return;
  std::fprintf(stderr, "Boost assertion failed: %s in %s (%s:%ld)\n", expr, function, file, line);
  std::abort();
}

void assertion_failed_msg(char const* expr, char const* msg, char const* function, char const* file, long line) {
  std::fprintf(stderr, "Boost assertion failed: %s (%s) in %s (%s:%ld)\n", expr, msg, function, file, line);
  std::abort();
}

}  // namespace boost
