#include "date_cache.hpp"

#include <cstdio>
#include <cstring>

#include <mempool/http/http_date.hpp>

namespace mempool::server {

void DateCache::update(std::time_t now) noexcept {
  if (now == second_) return;
  second_ = now;
  char date[29];
  const std::string_view http = http::format_http_date(now, date);
  std::snprintf(header_, sizeof header_, "Date: %.*s\r\n", static_cast<int>(http.size()), http.data());
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(log_, sizeof log_, "%d/%b/%Y:%H:%M:%S +0000", &tm);  // C locale month names
}

}  // namespace mempool::server
