// AuditLog: one record per security event (token issued, rotated, revoked;
// login succeeded or failed; account created, linked, disabled, enabled; admin
// role granted; throttle lock set and lifted; configuration loaded). The
// server writes them as JSON lines to their own file or standard output
// (docs/operations.md, "Audit log", has the schema).
//
// Nothing secret ever goes into an Event: no password, token, cookie, session
// id or provider token, not even a digest of one. Identify a token by its id,
// an account by its id and username.
//
// Thread-safety: record() is called from many worker threads at once.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace tokend::audit {

struct Event {
  std::string event;       // dotted name: "token.issued", "login.failed", "account.disabled", ...
  std::string actor;       // who did it: "user:<id>", "admin:<id>", "cli", "system", or the username as typed
  std::string subject;     // what it was done to: "token:<id>", "user:<id>", "username:<name>", "address:<ip>"
  std::string client;      // client address; empty outside an HTTP request
  std::string request_id;  // the request's X-Request-Id; empty outside an HTTP request
  nlohmann::json detail = nlohmann::json::object();  // event-specific fields (method, reason, ...)
};

class AuditLog {
 public:
  virtual ~AuditLog() = default;
  // Records `event` with the current time. Never throws, never blocks on the
  // network; a write error is logged (once) and the event counted as lost.
  virtual void record(const Event& event) = 0;
};

// Where a request came from, handed down from the routes to the services as
// plain values (the services know nothing of HTTP). Empty outside a request
// (the CLI, the server's start).
struct RequestContext {
  std::string client;      // client address (HttpRequest::peer)
  std::string request_id;  // HttpRequest::request_id
};

// Fills `event.client` and `event.request_id` from `rc` and records it; does
// nothing when `log` is null (auditing off).
void record(AuditLog* log, Event event, const RequestContext& rc = {});

// A username as someone typed it, fit for an audit line: control and bidi
// characters escaped (log::printable), at most 128 bytes (longer input is cut
// and marked with "...").
std::string typed_username(std::string_view text);

}  // namespace tokend::audit
