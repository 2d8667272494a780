// Fuzzes the configuration file (config/config.cpp): the text as `tokend
// serve --config` reads it (JSON with comments), and the "HOST:PORT" form of
// `listen` on its own.
//
// Input: one selector byte, then the text. Checks, besides "no crash, no
// sanitizer report": an accepted configuration has values in the documented
// ranges (a port that fits, an auth object), and a listen address that
// parses has a host.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "tokend/config/config.hpp"

namespace {

void require(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 2 == 0) {
    if (auto config = tokend::config::parse_config_text(text)) {
      require(config->auth.is_object());
      require(config->threads.io_threads >= 1 && config->threads.workers >= 1);
    } else {
      require(config.error().code == tokend::ErrorCode::kInvalidConfig);
    }
  } else {
    tokend::config::ListenConfig listen;
    if (auto st = tokend::config::parse_listen(text, listen)) {
      require(!listen.host.empty());
    } else {
      require(st.error().code == tokend::ErrorCode::kInvalidConfig);
    }
  }
  return 0;
}
