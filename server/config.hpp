/// \file
/// The server's implementation (namespace mempool::server) reads the public configuration types
/// of <mempool/http/config.hpp>; this header names them here once, so its files say `Limits`.
#pragma once

#include <mempool/http/config.hpp>

namespace mempool::server {

using http::Builtin;
using http::ConfigError;
using http::Limits;
using http::ListenAddress;
using http::RouteConfig;
using http::ServerConfig;
using http::Timeouts;

}  // namespace mempool::server
