/// \file
/// Server: the reactors, started and stopped together. Each reactor listens on the same address
/// with SO_REUSEPORT; the kernel spreads connections between them.
#pragma once

#include <asio/ip/tcp.hpp>

#include <memory>
#include <vector>

#include "config.hpp"
#include "scoreboard.hpp"

namespace mempool::server {

class Reactor;
class Shared;

class Server {
 public:
  /// Binds every reactor's acceptor (throws std::system_error if the address is unusable).
  explicit Server(ServerConfig config);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void start();
  /// The address actually bound (port 0 in the config picks one).
  asio::ip::tcp::endpoint endpoint() const;
  /// Graceful stop; any thread, any number of times.
  void stop();
  /// Returns once every reactor has finished.
  void wait();

  unsigned reactors() const noexcept;
  /// The reactors' last published figures (after wait(): their final ones).
  std::vector<ReactorSnapshot> snapshots() const;

 private:
  std::unique_ptr<Shared> shared_;
  std::vector<std::unique_ptr<Reactor>> reactors_;
};

/// The first address `host` resolves to (a literal, or a name such as localhost).
asio::ip::tcp::endpoint resolve_listen(const ListenAddress& listen);

}  // namespace mempool::server
