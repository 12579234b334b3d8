/// \file
/// LogFile: an spdlog sink over a file that can be switched to another file, closed, or reopened
/// under the same name while loggers write to it: logrotate's `postrotate` (SIGUSR1) and a reload
/// (SIGHUP) that names another file. Every line is written whole under the sink's lock, so a line
/// lands in the old file or the new one, never half in each and never lost.
///
/// Thread safety: every member may be called from any thread (spdlog's base_sink mutex).
/// Failure policy: open() and reopen() throw std::system_error naming the file when it cannot be
/// opened (the sink is then closed: lines go to stderr, or nowhere, as constructed).
#pragma once

#include <filesystem>
#include <mutex>
#include <optional>

#include <spdlog/details/file_helper.h>
#include <spdlog/sinks/base_sink.h>

namespace mempool::server {

class LogFile final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  /// While no file is open, lines go to stderr if `stderr_when_closed`, else nowhere.
  explicit LogFile(bool stderr_when_closed) : stderr_when_closed_(stderr_when_closed) {}

  /// Appends to `file` from now on (the previous file, if any, is flushed and closed).
  void open(const std::filesystem::path& file);
  /// No file from now on.
  void close();
  /// Closes and opens the same path again (a rotated file is left to logrotate).
  void reopen();
  std::optional<std::filesystem::path> file();

 private:
  void sink_it_(const spdlog::details::log_msg& msg) override;
  void flush_() override;
  void open_locked(const std::filesystem::path& file);

  spdlog::details::file_helper helper_;
  std::optional<std::filesystem::path> file_;  ///< the file open now
  const bool stderr_when_closed_;
};

}  // namespace mempool::server
