#include "acceptor.hpp"

#include <asio/bind_allocator.hpp>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <string_view>
#include <utility>

#include "error_log.hpp"

namespace mempool::server {

namespace {

constexpr std::string_view service_unavailable =
    "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 24\r\n"
    "Connection: close\r\n\r\n503 Service Unavailable\n";

std::string address_text(const asio::ip::tcp::endpoint& endpoint) {
  const auto address = endpoint.address();
  return (address.is_v6() ? "[" + address.to_string() + "]" : address.to_string()) + ":" +
         std::to_string(endpoint.port());
}

}  // namespace

Acceptor::Acceptor(asio::io_context& io, HandlerMemory& memory, http::ReactorCounters& counters, Admit admit,
                   unsigned reactor) noexcept
    : acceptor_(io.get_executor()), memory_(memory), counters_(counters), admit_(admit), reactor_(reactor) {}

int Acceptor::open_listener(const asio::ip::tcp::endpoint& endpoint) {
  asio::io_context io;  // (once, at start)
  ListeningSocket listener(io.get_executor());
  try {
    listener.open(endpoint.protocol());
    listener.set_option(ListeningSocket::reuse_address(true));
    const int on = 1;  // every reactor binds the same port; the kernel spreads the connections
    if (::setsockopt(listener.native_handle(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
      throw std::system_error(errno, std::generic_category(), "SO_REUSEPORT");
    }
    listener.bind(endpoint);
    listener.listen(asio::socket_base::max_listen_connections);
    listener.non_blocking(true);  // accept_queued() stops at EAGAIN instead of waiting
  } catch (const std::system_error& e) {
    throw std::system_error(e.code(), "cannot listen on " + address_text(endpoint));
  }
  return listener.release();
}

void Acceptor::adopt(int listener) {
  std::error_code ec;
  sockaddr_storage address{};
  socklen_t length = sizeof address;
  const bool v6 = ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) == 0 &&
                  address.ss_family == AF_INET6;
  acceptor_.assign(v6 ? asio::ip::tcp::v6() : asio::ip::tcp::v4(), listener, ec);
  if (ec) {
    ::close(listener);
    throw std::system_error(ec, "cannot accept on an inherited listening socket");
  }
  acceptor_.non_blocking(true);
}

void Acceptor::check_unclaimed(const asio::ip::tcp::endpoint& endpoint) {
  if (endpoint.port() == 0) return;
  asio::io_context io;  // (once, at start)
  asio::ip::tcp::acceptor probe(io);
  std::error_code ec;
  probe.open(endpoint.protocol(), ec);
  if (!ec) probe.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) probe.bind(endpoint, ec);
  if (ec == asio::error::address_in_use) {
    throw std::system_error(ec, "cannot listen on " + address_text(endpoint) +
                                    ": another process (or server) is listening there");
  }
}

asio::ip::tcp::endpoint Acceptor::local_endpoint() const { return acceptor_.local_endpoint(); }

void Acceptor::start() noexcept { accept(); }

void Acceptor::resume() noexcept {
  if (!paused_ || closed_) return;
  paused_ = false;
  accept();
}

void Acceptor::close() noexcept {
  closed_ = true;
  if (!acceptor_.is_open()) return;
  // release() takes the socket out of the reactor's epoll set (close() would leave it there while
  // another descriptor of it is open) and ends the pending accept.
  std::error_code ec;
  const int listener = acceptor_.release(ec);
  if (ec) {
    acceptor_.close(ec);
  } else {
    ::close(listener);
  }
}

void Acceptor::accept() noexcept {
  acceptor_.async_accept(peer_, asio::bind_allocator(HandlerAllocator<void>(memory_),
                                                     [this](std::error_code ec, Socket socket) {
                                                       on_accept(ec, std::move(socket));
                                                     }));
}

void Acceptor::on_accept(std::error_code ec, Socket socket) noexcept {
  if (ec == asio::error::operation_aborted || closed_) return;
  if (ec) return pause(ec);
  take(socket);
  if (accept_queued()) accept();
}

bool Acceptor::accept_queued() noexcept {
  for (unsigned taken = 1; taken < max_accepts_per_wakeup && !closed_; ++taken) {
    Socket socket(acceptor_.get_executor());  // no allocation: the socket's state lives in it
    std::error_code ec;
    acceptor_.accept(socket, peer_, ec);
    if (ec == asio::error::would_block) return true;
    if (ec == asio::error::connection_aborted) continue;  // the client gave up while queued
    if (ec) {
      pause(ec);
      return false;
    }
    take(socket);
  }
  return !closed_;
}

void Acceptor::take(Socket& socket) noexcept {
  ++counters_.accepts;
  if (!admit_.admit(admit_.owner, socket, peer_)) refuse(socket);
}

void Acceptor::pause(std::error_code ec) noexcept {
  // Out of descriptors, most likely: the owner's next tick resumes rather than spin.
  try {
    error_log()->warn("reactor {}: accept failed: {}", reactor_, ec.message());
  } catch (...) {
  }
  paused_ = true;
}

void Acceptor::refuse(Socket& socket) noexcept {
  ++counters_.refused;
  (void)::send(socket.native_handle(), service_unavailable.data(), service_unavailable.size(),
               MSG_NOSIGNAL | MSG_DONTWAIT);
  std::error_code ec;
  socket.close(ec);
}

}  // namespace mempool::server
