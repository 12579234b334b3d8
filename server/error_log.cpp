#include "error_log.hpp"

#include <chrono>
#include <mutex>
#include <string>

#include <spdlog/spdlog.h>

#include "log_file.hpp"

namespace mempool::server {

namespace {

std::mutex made;
std::shared_ptr<LogFile> own_sink;  ///< the sink of the logger made here; null if the application made it

}  // namespace

std::shared_ptr<spdlog::logger> error_log() {
  const std::lock_guard lock(made);
  if (auto existing = spdlog::get("mempool")) return existing;
  own_sink = std::make_shared<LogFile>(true);
  auto logger = std::make_shared<spdlog::logger>("mempool", own_sink);
  spdlog::initialize_logger(logger);
  logger->flush_on(spdlog::level::trace);  // until a flusher thread may run
  return logger;
}

void start_error_log_flusher() {
  static std::once_flag started;
  std::call_once(started, [] {
    const auto logger = error_log();
    bool own = false;
    {
      const std::lock_guard lock(made);
      own = own_sink != nullptr;
    }
    if (own) logger->flush_on(spdlog::level::off);  // spdlog's default: the flusher does it
    spdlog::flush_every(std::chrono::seconds(1));
  });
}

void set_error_log_level(std::string_view level) {
  error_log()->set_level(spdlog::level::from_str(std::string(level)));
}

void set_error_log_file(const std::optional<std::filesystem::path>& file) {
  error_log();
  std::shared_ptr<LogFile> sink;
  {
    const std::lock_guard lock(made);
    sink = own_sink;
  }
  if (!sink || sink->file() == file) return;
  if (file) {
    sink->open(*file);
  } else {
    sink->close();
  }
}

void reopen_error_log() {
  std::shared_ptr<LogFile> sink;
  {
    const std::lock_guard lock(made);
    sink = own_sink;
  }
  if (sink) sink->reopen();
}

}  // namespace mempool::server
