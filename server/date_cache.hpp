/// \file
/// DateCache: the current time formatted once per second per reactor, for the Date header
/// (DESIGN §5: it changes each second) and the access log, so no request formats a date.
#pragma once

#include <ctime>
#include <string_view>

namespace mempool::server {

class DateCache {
 public:
  /// Reformats if the second changed.
  void update(std::time_t now) noexcept;
  /// "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
  std::string_view date_header() const noexcept { return {header_, header_size}; }
  /// "06/Nov/1994:08:49:37 +0000", the access log's format
  std::string_view log_date() const noexcept { return {log_, log_size}; }

 private:
  static constexpr std::size_t header_size = 37;
  static constexpr std::size_t log_size = 26;
  std::time_t second_ = -1;
  char header_[header_size + 1] = {};
  char log_[log_size + 1] = {};
};

}  // namespace mempool::server
