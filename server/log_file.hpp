/// \file
/// LogFile: an spdlog sink over a file that can be switched to another file, closed, or reopened
/// under the same name while loggers write to it: logrotate's `postrotate` (SIGUSR1) and a reload
/// (SIGHUP) that names another file. Every line is written whole under the sink's lock, so a line
/// lands in the old file or the new one, never half in each and never lost.
///
/// A file carries a tag, set with it by open(): the access log keeps its line format there, so a
/// line formatted before a reload switched file and format together is formatted again rather
/// than written into the new file in the old format.
///
/// Thread safety: every member may be called from any thread (spdlog's base_sink mutex).
/// Failure policy: open() and reopen() throw std::system_error naming the file when it cannot be
/// opened (the sink is then closed: lines go to stderr, or nowhere, as constructed).
#pragma once

#include <filesystem>
#include <mutex>
#include <optional>
#include <string_view>

#include <spdlog/details/file_helper.h>
#include <spdlog/sinks/base_sink.h>

namespace mempool::server {

class LogFile final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  /// While no file is open, lines go to stderr if `stderr_when_closed`, else nowhere.
  explicit LogFile(bool stderr_when_closed) : stderr_when_closed_(stderr_when_closed) {}

  /// Appends to `file` from now on, tagged `tag` (the previous file, if any, is flushed and
  /// closed; the same path is opened again, as nginx does on a reload).
  void open(const std::filesystem::path& file, unsigned tag = 0);
  /// Writes `line` and a newline, unless the file's tag is no longer `tag` (then false: format the
  /// line for the new tag and write it again). Nowhere when closed, as constructed.
  bool write_tagged(std::string_view line, unsigned tag);
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
  unsigned tag_ = 0;                           ///< given with it to open()
  const bool stderr_when_closed_;
};

}  // namespace mempool::server
