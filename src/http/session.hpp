// The connections of one HttpServer: a session per connection (plain TCP or
// TLS) that reads a request (the whole head within max_header_bytes, Beast's
// parser with the body limit, every step under a deadline), routes it, runs
// the handler inline or on a pool (SharedState::dispatch), and writes the
// answer, with keep-alive; then a lingering close. Structure from Beast's
// advanced_server_flex example: a CRTP Session base with the HTTP logic, and
// PlainSession / SslSession for the two streams.
//
// This header names only Asio's socket; Beast stays in session.cpp, the one
// Beast translation unit of the server.
//
// Thread-safety: each session lives on the io_context its socket belongs to
// (one thread), so its handlers never run concurrently; answers computed on a
// pool are posted back to it.
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include <memory>
#include <string>

#include "http/shared_state.hpp"

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

namespace tokend::http {

// Registers a session for `socket` (accepted from `peer`, canonical text) in
// `shared` and starts it on the socket's executor: with the TLS handshake
// first when `tls` is set.
// REQUIRES: `tls`, when set, outlives every session (the listener owns it).
void start_session(boost::asio::ip::tcp::socket&& socket, boost::asio::ssl::context* tls,
                   std::shared_ptr<SharedState> shared, std::string peer);

}  // namespace tokend::http
