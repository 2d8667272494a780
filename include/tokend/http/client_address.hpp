// The client address of a request: the connection's peer, or behind a trusted
// reverse proxy the client it forwarded for (X-Forwarded-For). Beast-free, so
// that it has unit tests of its own; used by the session for logs, the
// throttle's per-address count and AuthRequest::peer.
//
// Thread-safety: a pure function.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tokend::http {

// `peer` when `trusted_proxies` is empty or does not hold `peer`; otherwise the
// rightmost X-Forwarded-For hop (all such headers joined in order, comma
// separated) that is not a trusted proxy itself, in canonical form
// (tokend/common/ip.hpp). Hops further left were written by the client and
// may lie, so they are never read past the first untrusted one. `peer` again
// when a hop is not an IP address (garbage in the chain: trust nothing from
// it) or when every hop is a trusted proxy.
// REQUIRES: `peer` and `trusted_proxies` are canonical (canonical_ip).
std::string client_address(std::string_view peer, const std::vector<std::pair<std::string, std::string>>& headers,
                           const std::vector<std::string>& trusted_proxies);

}  // namespace tokend::http
