/// \file
/// The server's error log: the spdlog logger named "mempool". An application that registers its
/// own logger under that name before the server starts gets the server's lines there; otherwise
/// the first use makes one writing to stderr, or to the file set_error_log_file() names. The
/// Server sets its level from ServerConfig::log_level and its file from ServerConfig::error_log.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>

#include <spdlog/logger.h>

namespace mempool::server {

/// The logger (made on first use; flushed every line until start_error_log_flusher()).
std::shared_ptr<spdlog::logger> error_log();

/// Flushes the logger every second from a thread of spdlog's, instead of every line. The Server
/// calls it when it starts; a master process (master.hpp) never does: it forks, and must stay
/// single-threaded.
void start_error_log_flusher();

/// Sets its level ("trace" ... "off", as checked by the config).
void set_error_log_level(std::string_view level);

/// Writes the server's own logger to `file` from now on (nullopt: stderr). Nothing for a logger
/// the application registered. Throws std::system_error if the file cannot be opened.
void set_error_log_file(const std::optional<std::filesystem::path>& file);

/// Opens the error log's file again under its name (SIGUSR1, after logrotate moved it).
void reopen_error_log();

}  // namespace mempool::server
