// RunOn: where a piece of work may run. Named by the HTTP routes (each route's
// handler) and by the authenticators (their authenticate() calls); app/ maps
// each value to one of its pools. Here, apart from both, so that auth/ does
// not depend on http/.
//
// kInline: on the I/O thread, only for work that never blocks (metrics,
// static answers, an in-memory lookup). kWorker: the bounded worker pool
// (SQLite, password hashing). kUpstream: the pool for calls to other servers
// (LDAP, OAuth providers), so a hanging provider cannot starve the database
// work. kBulk: a small pool of its own for answers that grow with the data
// (token listings), so they never queue in front of token validation.
//
// Thread-safety: a plain enum.
#pragma once

namespace tokend {

enum class RunOn { kInline, kWorker, kUpstream, kBulk };

}  // namespace tokend
