/// \file
/// AccessLog: one line per response, to a file or nowhere (DESIGN §4: the access log, the last
/// stage of the data flow), in nginx's combined format or as JSON lines:
///
///   combined  127.0.0.1 - - [06/Nov/1994:08:49:37 +0000] "GET / HTTP/1.1" 200 13 "-" "curl/7.88"
///   json      {"time_local":"06/Nov/1994:08:49:37 +0000","remote_addr":"127.0.0.1",
///              "request":"GET / HTTP/1.1","status":200,"bytes_sent":13,
///              "http_referer":"","http_user_agent":"curl/7.88"}
///
/// Escaping, as nginx does it: in combined, '"', '\' and every byte outside printable ASCII
/// become \xHH (nginx's `escape=default`); in JSON, '"' and '\' are backslashed and every byte
/// below 0x20 or above 0x7e becomes \u00HH, so each line is valid JSON whatever the client sent.
///
/// Shared by every reactor: lines are written whole under the sink's lock into its buffer, which
/// flush() writes out (each reactor calls it once a second and when it stops). configure() (a
/// reload) and reopen() (SIGUSR1, logrotate) may run from any thread meanwhile: a line lands in
/// the old file or the new one, never lost.
///
/// Failure policy: the constructor, configure() and reopen() throw std::system_error when the file
/// cannot be opened (configure() then keeps the previous file); write() never throws: a log line
/// is not worth a connection.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>

#include <mempool/http/config.hpp>
#include <mempool/http/request.hpp>

namespace mempool::server {

class LogFile;

class AccessLog {
 public:
  /// Appends to `file`; nullopt: off.
  AccessLog(const std::optional<std::filesystem::path>& file, http::AccessLogFormat format);

  bool enabled() const noexcept { return enabled_.load(std::memory_order_relaxed); }
  /// One line for a response. `log_date` is the reactor's cached "06/Nov/1994:08:49:37 +0000".
  void write(const http::Request& req, int status, std::uint64_t bytes, std::string_view log_date) const noexcept;
  /// Writes the buffered lines to the file.
  void flush() const noexcept;
  /// Another file (or off) and format, from the next line on: a reload.
  void configure(const std::optional<std::filesystem::path>& file, http::AccessLogFormat format);
  /// Opens the file again under its name (after logrotate moved it).
  void reopen();

 private:
  std::shared_ptr<LogFile> file_;  ///< tagged with the format its lines are in
  std::atomic<bool> enabled_{false};
  std::atomic<http::AccessLogFormat> format_;
};

/// The line write() logs, without its newline (for tests and for write()).
std::string access_log_line(const http::Request& req, int status, std::uint64_t bytes, std::string_view log_date,
                            http::AccessLogFormat format);

}  // namespace mempool::server
