#include "access_log.hpp"

#include <spdlog/logger.h>
#include <spdlog/sinks/basic_file_sink.h>

namespace mempool::server {

AccessLog::AccessLog(const std::optional<std::filesystem::path>& file) {
  if (!file) return;
  logger_ = std::make_shared<spdlog::logger>("access",
                                             std::make_shared<spdlog::sinks::basic_file_sink_mt>(file->string()));
  logger_->set_pattern("%v");
  logger_->set_level(spdlog::level::info);
}

void AccessLog::write(const http::Request& req, int status, std::uint64_t bytes,
                      std::string_view log_date) const noexcept {
  if (!logger_) return;
  const auto header = [&](std::string_view name) { return req.header(name).value_or("-"); };
  try {
    logger_->info("{} - - [{}] \"{} {} HTTP/{}.{}\" {} {} \"{}\" \"{}\"",
                  req.remote_address.empty() ? "-" : req.remote_address, log_date,
                  req.method_name.empty() ? "-" : req.method_name, req.target, req.version_major,
                  req.version_minor, status, bytes, header("Referer"), header("User-Agent"));
  } catch (...) {
    // a log line is not worth a connection
  }
}

void AccessLog::flush() const noexcept {
  if (!logger_) return;
  try {
    logger_->flush();
  } catch (...) {
  }
}

}  // namespace mempool::server
