// App: builds every object of a running server from a Config (store, pools,
// authenticators, services, router, HTTP server), runs it until SIGINT or
// SIGTERM, and tears it down in order: HTTP drained, pools drained, pending
// token-use times written, database closed.
//
// Thread-safety: serve() is called once, from main.
#pragma once

#include "tokend/config/config.hpp"

namespace tokend::app {

// Serves until a signal; 0 after a clean shutdown, 1 when start-up failed
// (the reason is logged).
int serve(const config::Config& config);

}  // namespace tokend::app
