// Logging setup on spdlog. One logger ("tokend") for everything; the access log
// is one line per request at info level through the same logger.
//
// Secrets policy: nothing in tokend logs a password, a token, a session cookie
// or a provider access token. Code logs usernames, ids, outcomes and reason
// categories only. redact() exists for the few places that must log text that
// came from a client (a request target), to cut anything that looks like a
// credential out of it.
//
// Thread-safety: spdlog loggers are thread-safe; init() runs once at start,
// shutdown() once at exit.
#pragma once

#include <string>
#include <string_view>

#include "tokend/common/result.hpp"

namespace tokend::log {

// Sets the level ("trace".."error") and the sink (stderr, or `file` appended).
// Lines are written by a background thread (callers never wait on the disk).
Status init(std::string_view level, const std::string& file);

// Writes every queued line and stops the logging thread. Call before exit.
void shutdown();

// Reopens the log file (log.file) by its name, for log rotation (SIGHUP):
// lines after the call go to a file of that name, created if it was renamed
// away. True when a file was reopened, false when logging goes to stderr.
// Error (kStorageError) when the file cannot be opened; logging then goes on
// into the old file. Lines still queued when it is called may land in
// either file, none is lost.
Result<bool> reopen();

// `text` with every run of 32+ hex or base64url characters, and the values of
// query parameters named like a secret (token, password, code, ...), replaced by "[redacted]".
std::string redact(std::string_view text);

// `text` fit for one log line: control characters (a newline could forge a
// second line) written as \xNN, and cut at 128 bytes. For client-chosen
// values such as a typed username.
std::string printable(std::string_view text);

}  // namespace tokend::log
