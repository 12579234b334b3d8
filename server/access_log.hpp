/// \file
/// AccessLog: one line per response, in nginx's combined format, to a file or nowhere (DESIGN
/// §4: the access log, the last stage of the data flow). Shared by every reactor: lines are
/// written whole under the sink's lock into its buffer, which flush() writes out: each reactor
/// calls it once a second and when it stops.
///
/// Failure policy: the constructor throws when the file cannot be opened (the server reports it
/// at start); write() never throws: a log line is not worth a connection.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string_view>

#include <mempool/http/request.hpp>

namespace spdlog {
class logger;
}

namespace mempool::server {

class AccessLog {
 public:
  /// Appends to `file`; nullopt: off.
  explicit AccessLog(const std::optional<std::filesystem::path>& file);

  bool enabled() const noexcept { return logger_ != nullptr; }
  /// `remote - - [date] "METHOD TARGET HTTP/x.y" status bytes "referer" "user-agent"`.
  /// `log_date` is the reactor's cached "06/Nov/1994:08:49:37 +0000".
  void write(const http::Request& req, int status, std::uint64_t bytes, std::string_view log_date) const noexcept;
  /// Writes the buffered lines to the file.
  void flush() const noexcept;

 private:
  std::shared_ptr<spdlog::logger> logger_;
};

}  // namespace mempool::server
