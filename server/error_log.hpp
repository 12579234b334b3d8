/// \file
/// The server's error log: the spdlog logger named "mempool". An application that registers its
/// own logger under that name before the server starts gets the server's lines there; otherwise
/// the first use makes one on stderr. The Server sets its level from ServerConfig::log_level.
#pragma once

#include <memory>
#include <string_view>

#include <spdlog/logger.h>

namespace mempool::server {

/// The logger (made on first use, flushed every second).
std::shared_ptr<spdlog::logger> error_log();

/// Sets its level ("trace" ... "off", as checked by the config).
void set_error_log_level(std::string_view level);

}  // namespace mempool::server
