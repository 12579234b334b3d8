#include "server.hpp"

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/spdlog.h>

#include <asio/io_context.hpp>
#include <thread>

#include "reactor.hpp"
#include "shared.hpp"

namespace mempool::server {

namespace {

unsigned reactor_count(const ServerConfig& config) {
  if (config.reactors != 0) return config.reactors;
  return std::max(1u, std::thread::hardware_concurrency());
}

std::shared_ptr<spdlog::logger> open_access_log(const ServerConfig& config) {
  if (!config.access_log) return nullptr;
  auto logger = std::make_shared<spdlog::logger>(
      "access", std::make_shared<spdlog::sinks::basic_file_sink_mt>(config.access_log->string()));
  logger->set_pattern("%v");
  logger->set_level(spdlog::level::info);
  logger->flush_on(spdlog::level::err);  // lines are flushed by spdlog::flush_every in main
  return logger;
}

}  // namespace

asio::ip::tcp::endpoint resolve_listen(const ListenAddress& listen) {
  asio::io_context io;
  asio::ip::tcp::resolver resolver(io);
  const auto results = resolver.resolve(listen.host, std::to_string(listen.port),
                                        asio::ip::tcp::resolver::numeric_service);
  return *results.begin();
}

Server::Server(ServerConfig config) {
  const auto endpoint = resolve_listen(config.listen);
  const unsigned count = reactor_count(config);
  auto access_log = open_access_log(config);
  shared_ = std::make_unique<Shared>(std::move(config), count, std::move(access_log));
  for (unsigned i = 0; i < count; ++i) reactors_.push_back(std::make_unique<Reactor>(i, *shared_));
  // The first reactor picks the port (port 0 in tests); the others join it on SO_REUSEPORT.
  reactors_.front()->listen(endpoint);
  const auto bound = reactors_.front()->local_endpoint();
  for (std::size_t i = 1; i < reactors_.size(); ++i) reactors_[i]->listen(bound);
}

Server::~Server() {
  stop();
  wait();
}

void Server::start() {
  for (auto& r : reactors_) r->start();
}

asio::ip::tcp::endpoint Server::endpoint() const { return reactors_.front()->local_endpoint(); }

void Server::stop() {
  for (auto& r : reactors_) r->stop();
}

void Server::wait() {
  for (auto& r : reactors_) r->join();
}

unsigned Server::reactors() const noexcept { return static_cast<unsigned>(reactors_.size()); }

std::vector<ReactorSnapshot> Server::snapshots() const {
  std::vector<ReactorSnapshot> all;
  for (unsigned i = 0; i < reactors(); ++i) all.push_back(shared_->scoreboard.read(i));
  return all;
}

}  // namespace mempool::server
