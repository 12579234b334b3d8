#include "error_log.hpp"

#include <chrono>
#include <mutex>
#include <string>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

namespace mempool::server {

std::shared_ptr<spdlog::logger> error_log() {
  static std::mutex made;
  const std::lock_guard lock(made);
  if (auto existing = spdlog::get("mempool")) return existing;
  auto logger = spdlog::stderr_color_mt("mempool");
  spdlog::flush_every(std::chrono::seconds(1));
  return logger;
}

void set_error_log_level(std::string_view level) {
  error_log()->set_level(spdlog::level::from_str(std::string(level)));
}

}  // namespace mempool::server
