/// \file
/// What a server does once at start, before its reactors run, in whichever process binds the
/// sockets: the Server in a single process, the master in master/worker mode (master.hpp).
#pragma once

#include <asio/ip/tcp.hpp>

#include <mempool/http/config.hpp>

namespace spdlog {
class logger;
}

namespace mempool::server {

using http::ListenAddress;
using http::ServerConfig;

/// The first address `listen.host` resolves to (a literal, or a name such as localhost).
asio::ip::tcp::endpoint resolve(const ListenAddress& listen);

/// Raises the soft RLIMIT_NOFILE to the hard limit (nginx's worker_rlimit_nofile, without the
/// extra directive) and checks it against the descriptors `config` may hold open at once in one
/// process: its connections, an open-file cache per reactor that serves files, and its listening
/// sockets. Short of that: a warning naming the numbers (the server still starts; an accept that
/// finds no descriptor pauses, see Acceptor). Short of even the listeners (and stdin, stdout,
/// stderr): std::runtime_error.
void raise_descriptor_limit(const ServerConfig& config, unsigned reactors, spdlog::logger& log);

/// dup(descriptor); throws std::system_error when the process has no descriptor left.
int duplicate(int descriptor);

}  // namespace mempool::server
