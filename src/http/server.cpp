#include "tokend/http/server.hpp"

#include <utility>

#include "http/listener.hpp"

namespace tokend::http {

HttpServer::HttpServer(ServerOptions options, const Router& router, Dispatch dispatch, metrics::Metrics& metrics,
                       std::vector<boost::asio::io_context*> contexts)
    : listener_(std::make_unique<Listener>(std::move(options), router, std::move(dispatch), metrics,
                                           std::move(contexts))) {}

HttpServer::~HttpServer() = default;

Status HttpServer::start() { return listener_->start(); }

std::uint16_t HttpServer::port() const { return listener_->port(); }

void HttpServer::shutdown(std::function<void()> drained) { listener_->shutdown(std::move(drained)); }

}  // namespace tokend::http
